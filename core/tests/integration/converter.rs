//! The Rust TFJS→ONNX converter against two independent oracles, on real face crops:
//! - the tf2onnx conversions in `../shared/models-reference` (test use only), run by ONNX Runtime;
//! - the original TFJS graphs run by pure-JS `@tensorflow/tfjs` in Node (installed for the test).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use facelens_core::image_io::{DecodeLimits, decode_file};
use facelens_core::models::emotion::gray_input;
use facelens_core::preprocess::{Filter, resize, to_nhwc};
use facelens_core::provision::sha256_hex;
use facelens_core::runtime;
use ort::value::Tensor;

use crate::fixtures::{faces_dir, pipeline, reference_dir, store};

struct Case {
    id: &'static str,
    reference: &'static str,
    input: &'static str,
    side: u32,
    channels: usize,
    /// TF tensor names of the manifest's outputs, in manifest order (for the TFJS oracle).
    tf_outputs: &'static [&'static str],
}

const CASES: [Case; 3] = [
    Case {
        id: "gear",
        reference: "race_gender_age_human_gear.onnx",
        input: "input_1",
        side: 198,
        channels: 3,
        tf_outputs: &["Identity_2:0", "Identity_1:0", "Identity:0"],
    },
    Case {
        id: "faceres",
        reference: "gender_age_desc_human_faceres_deep.onnx",
        input: "input_1:0",
        side: 224,
        channels: 3,
        tf_outputs: &[
            "gender_pred/Sigmoid:0",
            "global_pooling/Mean:0",
            "age_pred/Softmax:0",
        ],
    },
    Case {
        id: "emotion",
        reference: "emotion_human_oarriaga_minixception.onnx",
        input: "input_1:0",
        side: 64,
        channels: 1,
        tf_outputs: &["Identity:0"],
    },
];

#[test]
fn conversion_is_deterministic_and_pinned() {
    let store = store();
    for case in &CASES {
        let entry = store.manifest().model(case.id).expect("entry");
        let conv = entry.convert.as_ref().expect("converted model");
        let json = std::fs::read(store.source_path(&conv.graph)).expect("graph source kept");
        let shards: Vec<Vec<u8>> = conv
            .weights
            .iter()
            .map(|w| std::fs::read(store.source_path(&w.path)).expect("weights kept"))
            .collect();
        let refs: Vec<&[u8]> = shards.iter().map(Vec::as_slice).collect();
        let t = std::time::Instant::now();
        let a = facelens_core::tfjs::convert(&json, &refs).expect("converts");
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        let b = facelens_core::tfjs::convert(&json, &refs).expect("converts again");
        assert_eq!(a, b, "{}: byte-identical output", case.id);
        assert_eq!(
            sha256_hex(&a),
            entry.sha256,
            "{}: matches the pinned sha256",
            case.id
        );
        let ops = facelens_core::tfjs::op_list(&json, &refs).expect("ops");
        eprintln!(
            "{}: {} bytes in {ms:.0} ms; TF ops {ops:?}",
            case.id,
            a.len()
        );
    }
}

/// Real face crops: the aligned faces of the couple and the selfie.
fn face_crops() -> Vec<image::RgbImage> {
    let dir = faces_dir();
    let mut crops = Vec::new();
    let mut p = pipeline();
    for f in ["couple.jpg", "selfie-many-people.jpg"] {
        let img = decode_file(&dir.join(f), DecodeLimits::default()).expect("decode");
        crops.extend(p.analyze_image(&img, None).expect("analyse").aligned);
    }
    crops
}

/// The model's input for a batch of aligned face crops (its own channels and scaling).
fn model_input(case: &Case, crops: &[image::RgbImage]) -> Vec<f32> {
    crops
        .iter()
        .flat_map(|crop| {
            let img = resize(crop, case.side, case.side, Filter::Area);
            if case.channels == 1 {
                gray_input(&img)
            } else if case.id == "faceres" {
                to_nhwc(&img, 1.0, 0.0)
            } else {
                to_nhwc(&img, 1.0 / 255.0, 0.0)
            }
        })
        .collect()
}

/// Runs an ONNX session; outputs in manifest order.
fn run_onnx(
    sess: &mut ort::session::Session,
    case: &Case,
    shape: &[usize],
    data: &[f32],
) -> Vec<Vec<f32>> {
    let entry = store().manifest().model(case.id).expect("entry");
    let t = Tensor::from_array((shape.to_vec(), data.to_vec())).expect("tensor");
    let out = sess.run(ort::inputs![case.input => t]).expect("run");
    entry
        .outputs
        .iter()
        .map(|o| {
            out[o.name.as_str()]
                .try_extract_tensor::<f32>()
                .expect("f32 output")
                .1
                .to_vec()
        })
        .collect()
}

/// Largest |a − b| and the largest |b| (the output scale).
fn max_diff(a: &[f32], b: &[f32]) -> (f32, f32) {
    assert_eq!(a.len(), b.len(), "output sizes");
    let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
    let diff = a
        .iter()
        .zip(b)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
    (diff, scale)
}

#[test]
fn converted_models_match_the_tf2onnx_reference_on_real_faces() {
    let Some(refs) = reference_dir("converter equivalence") else {
        return;
    };
    let crops = face_crops();
    let store = store();
    let env = runtime::environment(&store.runtime_path()).expect("runtime");
    let opts = runtime::SessionOptions::default();
    for case in &CASES {
        let entry = store.manifest().model(case.id).expect("entry");
        let mut ours =
            runtime::session(env, case.id, &store.model_path(entry), opts).expect("ours");
        let mut theirs = runtime::session(env, "reference", &refs.join(case.reference), opts)
            .expect("reference");
        let mut worst = 0.0f32;
        for crop in &crops {
            let data = model_input(case, std::slice::from_ref(crop));
            let s = case.side as usize;
            let shape = [1usize, s, s, case.channels];
            let ours_out = run_onnx(&mut ours, case, &shape, &data);
            let ref_out = run_onnx(&mut theirs, case, &shape, &data);
            for ((a, b), spec) in ours_out.iter().zip(&ref_out).zip(&entry.outputs) {
                let (diff, scale) = max_diff(a, b);
                assert!(
                    diff <= 1e-4 * scale,
                    "{} `{}`: max |diff| {diff} vs scale {scale}",
                    case.id,
                    spec.name
                );
                worst = worst.max(diff / scale);
            }
        }
        eprintln!(
            "{} vs tf2onnx: {} real face crops, worst max|diff| / output scale = {worst:.2e}",
            case.id,
            crops.len()
        );
    }
}

/// `@tensorflow/tfjs` installed for the oracle (test use only), or `None` after printing SKIPPED.
fn tfjs_node_modules() -> Option<PathBuf> {
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !node_ok {
        assert!(
            std::env::var_os("FACELENS_REQUIRE_TESTDATA").is_none(),
            "node is not installed, and FACELENS_REQUIRE_TESTDATA is set (CI)"
        );
        eprintln!("SKIPPED TFJS oracle: node is not installed");
        return None;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tfjs-oracle");
    let modules = dir.join("node_modules");
    if !modules.join("@tensorflow/tfjs").is_dir() {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/package.json");
        std::fs::create_dir_all(&dir).expect("oracle dir");
        std::fs::copy(&manifest, dir.join("package.json")).expect("package.json");
        let status = Command::new("npm")
            .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "npm could not install @tensorflow/tfjs for the oracle"
        );
    }
    Some(modules)
}

#[test]
fn converted_models_match_tfjs_running_the_original_graphs() {
    let crops = face_crops();
    let Some(modules) = tfjs_node_modules() else {
        return;
    };
    let store = store();
    let env = runtime::environment(&store.runtime_path()).expect("runtime");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/run_tfjs.js");
    let tmp = tempfile::tempdir().expect("tempdir");
    // Two faces in one batch: also checks the batch dimension.
    let batch = &crops[..2];
    for case in &CASES {
        let entry = store.manifest().model(case.id).expect("entry");
        let conv = entry.convert.as_ref().expect("converted");
        let data = model_input(case, batch);
        let s = case.side as usize;
        let shape = [batch.len(), s, s, case.channels];
        let input = tmp.path().join(format!("{}.f32", case.id));
        std::fs::write(
            &input,
            data.iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<u8>>(),
        )
        .expect("input");
        let graph = store.source_path(&conv.graph);
        let out = Command::new("node")
            .env("NODE_PATH", &modules)
            .arg(&script)
            .arg(&graph)
            .arg(graph.parent().expect("sources dir"))
            .arg(&input)
            .arg(shape.map(|d| d.to_string()).join(","))
            .arg(case.tf_outputs.join(","))
            .output()
            .expect("node runs");
        assert!(
            out.status.success(),
            "{}: {}",
            case.id,
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let json = stdout.lines().last().expect("JSON line");
        let tfjs: BTreeMap<String, Vec<f32>> = serde_json::from_str(json).expect("oracle JSON");
        let opts = runtime::SessionOptions::default();
        let mut ours =
            runtime::session(env, case.id, &store.model_path(entry), opts).expect("ours");
        let ours_out = run_onnx(&mut ours, case, &shape, &data);
        let mut worst = 0.0f32;
        for (a, tf_name) in ours_out.iter().zip(case.tf_outputs) {
            let (diff, scale) = max_diff(a, &tfjs[*tf_name]);
            assert!(
                diff <= 1e-4 * scale,
                "{} `{tf_name}`: max |diff| {diff} vs scale {scale}",
                case.id
            );
            worst = worst.max(diff / scale);
        }
        eprintln!(
            "{} vs TFJS (pure JS, batch of 2): worst max|diff| / output scale = {worst:.2e}",
            case.id
        );
    }
}
