//! # facelens_desktop
//!
//! The `facelens` binary: the command line today (`analyze`, `verify`, `enrol`, `search`,
//! `gallery`, `models`), and the desktop window in a later step. Everything lives in this library so
//! tests can drive it; `main.rs` only calls [`cli::main`].
//!
//! Failure handling: every command turns a [`facelens_core::CoreError`] into one line on stderr and
//! a non-zero exit code; nothing is written to the gallery unless the whole step succeeded.

pub mod cli;
mod report;
