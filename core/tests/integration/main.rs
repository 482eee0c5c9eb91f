//! Integration tests on the real provisioned models and the labelled photos.
//!
//! Models: provisioned on first use into `$FACELENS_MODELS_DIR` (CI runs `facelens models fetch`
//! first). Photos: `testdata/faces` in the repository, so every clone runs every test for real; a
//! test that needs them fails if they are missing. The tf2onnx reference models live outside the
//! repository (`../shared/models-reference`); the test that needs them, like the one that needs
//! node, prints `SKIPPED` without them except under `FACELENS_REQUIRE_TESTDATA` (set by CI).
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
