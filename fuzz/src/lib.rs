//! Shared code of rumor's fuzz targets.
//!
//! [`props`], [`text_props`] and [`node_driver`] use only `std` and `rumor`: the main crate's
//! `tests/replay.rs` includes them with `#[path]`, so the committed corpus
//! and regressions are checked by the same code on every `cargo test`.
//! [`frames`] builds well-formed frames from `arbitrary::Unstructured`.

pub mod frames;
pub mod node_driver;
pub mod props;
pub mod text_props;
