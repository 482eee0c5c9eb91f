//! # facelens_desktop
//!
//! The `facelens` binary: the desktop window (no subcommand) and the command line (`analyze`,
//! `verify`, `enrol`, `search`, `gallery`, `people`, `find`, `models`). Everything lives in this
//! library so tests can drive it; `main.rs` only calls [`cli::main`].
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

/// `println!` for command output: when stdout is a closed pipe (`facelens gallery list | head -1`),
/// the process ends quietly with success, like other command-line tools, instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::write_stdout_line(format_args!($($arg)*))
    };
}

/// Writes one line to stdout; on a broken pipe, exits 0 (the reader has all it wanted).
#[doc(hidden)]
pub fn write_stdout_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: writing to stdout: {e}");
        std::process::exit(1);
    }
}

mod anonymise_cli;
pub mod app;
pub mod backend;
pub mod cli;
pub mod fetch;
pub mod people;
mod people_cli;
pub mod progress;
pub mod remote;
mod report;
pub mod theme;
pub mod worker;

pub use app::{AppOptions, FacelensApp};
