//! The Rust TFJS→ONNX converter against an independent oracle: the tf2onnx conversions in
//! `../shared/models-reference` (test use only), run through ONNX Runtime on real face crops.

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
}

const CASES: [Case; 3] = [
    Case {
        id: "gear",
        reference: "race_gender_age_human_gear.onnx",
        input: "input_1",
        side: 198,
        channels: 3,
    },
    Case {
        id: "faceres",
        reference: "gender_age_desc_human_faceres_deep.onnx",
        input: "input_1:0",
        side: 224,
        channels: 3,
    },
    Case {
        id: "emotion",
        reference: "emotion_human_oarriaga_minixception.onnx",
        input: "input_1:0",
        side: 64,
        channels: 1,
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
fn face_crops() -> Option<Vec<image::RgbImage>> {
    let dir = faces_dir("converter equivalence")?;
    let mut crops = Vec::new();
    let mut p = pipeline();
    for f in ["couple.jpg", "selfie-many-people.jpg"] {
        let img = decode_file(&dir.join(f), DecodeLimits::default()).expect("decode");
        crops.extend(p.analyze_image(&img, None).expect("analyse").aligned);
    }
    Some(crops)
}

#[test]
fn converted_models_match_the_reference_on_real_faces() {
    let (Some(refs), Some(crops)) = (reference_dir("converter equivalence"), face_crops()) else {
        return;
    };
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
            let img = resize(crop, case.side, case.side, Filter::Area);
            let data = if case.channels == 1 {
                gray_input(&img)
            } else if case.id == "faceres" {
                to_nhwc(&img, 1.0, 0.0)
            } else {
                to_nhwc(&img, 1.0 / 255.0, 0.0)
            };
            let s = case.side as usize;
            let shape = vec![1usize, s, s, case.channels];
            let run = |sess: &mut ort::session::Session| -> Vec<(String, Vec<f32>)> {
                let t = Tensor::from_array((shape.clone(), data.clone())).expect("tensor");
                let out = sess.run(ort::inputs![case.input => t]).expect("run");
                entry
                    .outputs
                    .iter()
                    .map(|o| {
                        let (_, v) = out[o.name.as_str()]
                            .try_extract_tensor::<f32>()
                            .expect("f32 output");
                        (o.name.clone(), v.to_vec())
                    })
                    .collect()
            };
            for ((name, a), (_, b)) in run(&mut ours).into_iter().zip(run(&mut theirs)) {
                let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
                let diff = a
                    .iter()
                    .zip(&b)
                    .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
                assert!(
                    diff <= 1e-4 * scale,
                    "{} `{name}`: max |diff| {diff} vs scale {scale}",
                    case.id
                );
                worst = worst.max(diff / scale);
            }
        }
        eprintln!(
            "{}: {} real face crops, worst max|diff| / output scale = {worst:.2e}",
            case.id,
            crops.len()
        );
    }
}
