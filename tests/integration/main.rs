//! Integration tests: run the real `sendfilter` binary on temp dirs.

mod access;
mod audit;
mod bench;
mod bending;
mod brand_names;
mod crash;
mod csvfast;
mod demo;
mod dpo;
mod durations;
mod filter;
mod handle;
mod harness;
mod inbound;
mod legal;
mod live;
mod normalize;
mod outputs;
mod phonefast;
mod rights;
mod routes;
mod serve;
mod spreadsheet;
mod store;
mod suppress_key;
mod webhooks;
