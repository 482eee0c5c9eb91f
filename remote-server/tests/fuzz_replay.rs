//! Replays the config fuzz target's committed seeds and past crashes (`fuzz/seeds/config`,
//! `fuzz/crashes/config`) through its entry point: none may panic.

use std::path::Path;

#[test]
fn config_seeds_and_crashes_replay() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut n = 0;
    for dir in ["seeds", "crashes"] {
        let Ok(files) = std::fs::read_dir(root.join(dir).join("config")) else {
            continue;
        };
        for f in files.flatten() {
            facelens_server::config::fuzz_entry(&std::fs::read(f.path()).expect("readable"));
            n += 1;
        }
    }
    assert!(n > 0, "fuzz/seeds/config is empty");
}
