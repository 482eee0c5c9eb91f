//! Replays the config fuzz target's committed seeds and past crashes (`fuzz/seeds/config`,
//! `fuzz/crashes/config`) through its entry point: none may panic.

use std::path::Path;

#[test]
fn config_seeds_and_crashes_replay() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let n = facelens_core::fuzz_entry::replay(&root, "config", facelens_server::config::fuzz_entry)
        .expect("readable");
    assert!(n > 0, "fuzz/seeds/config is empty");
}
