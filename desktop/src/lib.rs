//! # facelens_desktop
//!
//! The `facelens` binary: the desktop window (no subcommand) and the command line (`analyze`,
//! `verify`, `enrol`, `search`, `gallery`, `models`). Everything lives in this library so tests can
//! drive it; `main.rs` only calls [`cli::main`].
//!
//! Modes: offline ([`backend::LocalBackend`]) or connected ([`remote::RemoteBackend`]: faces are
//! detected and aligned here, and only the crops go to a `facelens-server`), behind one trait.
//!
//! Threads: the UI thread only draws and turns input into [`app::Command`]s; one named worker
//! thread (`facelens-analysis`) owns the models and the gallery and runs every heavy job; file
//! dialogs run on their own named thread. Results come back over bounded channels with a repaint
//! request.
//!
//! Failure handling: every failure becomes words — a banner in the window (with the next step)
//! or one `error:` line and exit code 1 on the command line. Nothing is written to the gallery
//! unless the whole step succeeded.

pub mod app;
pub mod backend;
pub mod cli;
pub mod fetch;
pub mod remote;
mod report;
pub mod theme;
pub mod worker;

pub use app::{AppOptions, FacelensApp};
