//! Integration tests: run the real `sendfilter` binary on temp dirs.

mod harness;
mod normalize;
mod store;
