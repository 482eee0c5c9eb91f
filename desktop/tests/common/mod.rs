//! Helpers shared by the desktop test binaries.

use std::path::{Path, PathBuf};

/// `../shared/testdata/faces`, or `None` (after printing SKIPPED) when it is absent.
pub fn faces_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/faces");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: {} not found (shared test photos absent)",
            dir.display()
        );
        None
    }
}
