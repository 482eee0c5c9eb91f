//! Helpers shared by the desktop test binaries.

use std::path::Path;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use facelens_desktop::FacelensApp;

pub use facelens_testkit::faces_dir;

/// Steps the app (real time passes: the worker is a real thread) until `done` or a timeout.
#[allow(dead_code)] // the CLI test binary shares this module but drives no window
pub fn step_until(
    h: &mut Harness<'static, FacelensApp>,
    what: &str,
    done: impl Fn(&FacelensApp) -> bool,
) {
    let start = Instant::now();
    while !done(h.state()) {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "timed out waiting for {what}"
        );
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    h.run_steps(3);
}

/// The file names of `paths`, sorted.
#[allow(dead_code)] // not every test binary that shares this module uses it
pub fn sorted_file_names<'a>(paths: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut names: Vec<String> = paths
        .into_iter()
        .map(|p| {
            Path::new(p)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    names.sort();
    names
}
