//! Replays the fuzz targets' committed seeds and every crash they ever found (`fuzz/seeds/T`,
//! `fuzz/crashes/T`) through the same entry points (`facelens_core::fuzz_entry`): none may panic.
//! The sanitizer builds themselves run only under `bash fuzz/run.sh SECONDS`, not in CI.

use std::path::Path;

fn replay(target: &str, entry: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let n = facelens_core::fuzz_entry::replay(&root, target, entry).expect("readable");
    eprintln!("fuzz replay {target}: {n} inputs");
    assert!(n > 0, "fuzz/seeds/{target} is empty");
}

#[test]
fn image_seeds_and_crashes_replay() {
    replay("image", facelens_core::fuzz_entry::image);
}

#[test]
fn tfjs_seeds_and_crashes_replay() {
    replay("tfjs", facelens_core::fuzz_entry::tfjs);
}

#[test]
fn manifest_seeds_and_crashes_replay() {
    replay("manifest", facelens_core::fuzz_entry::manifest);
}
