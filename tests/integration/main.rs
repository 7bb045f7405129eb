//! Integration tests: run the real `sendfilter` binary on temp dirs.

mod bench;
mod demo;
mod filter;
mod harness;
mod live;
mod normalize;
mod store;
