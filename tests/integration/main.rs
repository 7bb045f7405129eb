//! Integration tests: run the real `sendfilter` binary on temp dirs.

mod access;
mod bench;
mod csvfast;
mod demo;
mod filter;
mod harness;
mod inbound;
mod legal;
mod live;
mod normalize;
mod outputs;
mod phonefast;
mod rights;
mod store;
