//! Filter tests.
