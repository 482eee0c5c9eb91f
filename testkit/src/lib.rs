//! # facelens_testkit
//!
//! What every facelens test binary shares, so that no crate keeps its own copy: where the
//! labelled photos are (`testdata/faces` in the repository) and their labels. The photos are
//! part of every checkout, so a test that needs them fails, never skips, when they are missing.
//! A dev-dependency only; nothing here is built into the products.

use std::path::{Path, PathBuf};

/// `testdata/faces`: 50 labelled photos and `identities.csv` (see `testdata/README.md`).
///
/// # Panics
/// When the folder is missing from the checkout: the tests that call this check real photos.
#[must_use]
pub fn faces_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/faces");
    assert!(
        dir.join("identities.csv").is_file(),
        "{} is missing from this checkout (the labelled photos are part of the repository)",
        dir.display()
    );
    dir
}

/// The `(file, person)` rows of `identities.csv` in `dir`: the person of each labelled photo's
/// largest face.
///
/// # Panics
/// When the file cannot be read.
#[must_use]
pub fn identities(dir: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(dir.join("identities.csv"))
        .unwrap_or_else(|e| panic!("identities.csv in {}: {e}", dir.display()));
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let (f, p) = l.split_once(',')?;
            Some((f.trim().to_owned(), p.trim().to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_labelled_photos_are_here() {
        let dir = super::faces_dir();
        let rows = super::identities(&dir);
        assert!(rows.len() >= 40, "{}", rows.len());
        for (file, _) in &rows {
            assert!(dir.join(file).is_file(), "{file}");
        }
    }
}
