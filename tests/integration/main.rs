//! Integration tests: run the real `sendfilter` binary on temp dirs.

mod filter;
mod harness;
mod normalize;
mod store;
