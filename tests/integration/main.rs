//! Integration tests: run the real `sendfilter` binary on temp dirs.

mod access;
mod bench;
mod bending;
mod csvfast;
mod demo;
mod filter;
mod harness;
mod inbound;
mod legal;
mod live;
mod normalize;
mod phonefast;
mod rights;
mod routes;
mod store;
