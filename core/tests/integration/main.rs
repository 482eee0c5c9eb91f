//! Integration tests on the real provisioned models and the shared labelled photos.
//!
//! Models: provisioned on first use into `$FACELENS_MODELS_DIR` (CI runs `facelens models fetch`
//! first). Photos: `../shared/testdata/faces` beside the repository; tests that need them print
//! `SKIPPED` and pass when it is absent (a fresh clone without `shared/`), except under
//! `FACELENS_REQUIRE_TESTDATA` (set by CI), where a missing photo, reference or tool fails the test.
//! The gallery store tests need a real PostgreSQL and never skip (`tests/support/pg.rs`).

mod bad_input;
mod converter;
mod detection;
mod detection_sets;
mod fixtures;
mod fuzz_replay;
mod gallery_store;
mod identity;
mod int8;
mod native_pnet;
mod people;
mod rewrite;
