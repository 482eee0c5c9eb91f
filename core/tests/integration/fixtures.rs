//! Shared fixtures: one pipeline per test binary, the labelled photos, helpers.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};

use facelens_core::provision::{ModelStore, resolve_models_dir};
use facelens_core::{Pipeline, PipelineConfig};

/// The models folder (provisioned on first call).
pub fn store() -> &'static ModelStore {
    static STORE: OnceLock<ModelStore> = OnceLock::new();
    STORE.get_or_init(|| {
        let store = ModelStore::new(resolve_models_dir(None));
        store
            .ensure(&mut |e| eprintln!("provision: {e:?}"))
            .unwrap_or_else(|e| panic!("models could not be provisioned: {e}"));
        store
    })
}

/// The one pipeline of this test binary (models load once; tests take turns).
pub fn pipeline() -> MutexGuard<'static, Pipeline> {
    static PIPELINE: OnceLock<Mutex<Pipeline>> = OnceLock::new();
    let m = PIPELINE.get_or_init(|| {
        let cfg = PipelineConfig {
            models_dir: Some(store().dir().to_path_buf()),
            ..PipelineConfig::default()
        };
        Mutex::new(Pipeline::load(&cfg, &mut |_| {}).unwrap_or_else(|e| panic!("pipeline: {e}")))
    });
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub use facelens_testkit::{faces_dir, identities};

/// `../shared/models-reference`, or `None` (after printing SKIPPED).
pub fn reference_dir(test: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/models-reference");
    if dir.is_dir() {
        Some(dir)
    } else {
        assert!(
            std::env::var_os("FACELENS_REQUIRE_TESTDATA").is_none(),
            "{} not found, and FACELENS_REQUIRE_TESTDATA is set (CI): this test may not skip",
            dir.display()
        );
        eprintln!("SKIPPED {test}: {} not found", dir.display());
        None
    }
}

/// `img` as MTCNN's nets read it: x-major (`[x][y][c]`), (v − 127.5) / 128.
pub fn mtcnn_input(img: &image::RgbImage) -> Vec<f32> {
    let mut out = Vec::with_capacity((img.width() * img.height() * 3) as usize);
    for x in 0..img.width() {
        for y in 0..img.height() {
            out.extend(
                img.get_pixel(x, y)
                    .0
                    .iter()
                    .map(|&v| (f32::from(v) - 127.5) / 128.0),
            );
        }
    }
    out
}

/// The pinned file of model `id`, as bytes.
pub fn model_bytes(id: &str) -> Vec<u8> {
    let entry = store().manifest().model(id).expect("in the manifest");
    std::fs::read(store().model_path(entry)).expect("reads")
}

/// The names of every photo (`*.jpg`) in `dir`, sorted.
pub fn photo_files(dir: &Path) -> Vec<String> {
    let mut all: Vec<String> = std::fs::read_dir(dir)
        .expect("photos")
        .filter_map(|e| {
            let n = e.ok()?.file_name().to_string_lossy().into_owned();
            n.ends_with(".jpg").then_some(n)
        })
        .collect();
    all.sort();
    all
}
