//! facelens's own P-Net kernels (`NativePnet`) against the pinned P-Net graph run by ONNX Runtime,
//! on pyramid levels of real photos, and the detector with either P-Net.

use facelens_core::api::Detection;
use facelens_core::image_io::{DecodeLimits, decode_file};
use facelens_core::models::CheckedSession;
use facelens_core::models::mtcnn::{MtcnnConfig, NativePnet};
use facelens_core::onnx_rewrite::prelu_as_affine;
use facelens_core::preprocess::{Filter, resize};
use facelens_core::runtime::SessionOptions;
use facelens_core::stages::Preprocessor;

use crate::fixtures::{faces_dir, model_bytes, mtcnn_input, photo_files, store};

#[test]
fn native_pnet_matches_the_pinned_graph_on_photo_levels() {
    let dir = faces_dir();
    let net = NativePnet::from_onnx(&model_bytes("mtcnn_pnet")).expect("the pinned P-Net reads");
    let mut pinned = CheckedSession::load(
        store(),
        "mtcnn_pnet",
        SessionOptions {
            intra_threads: 1,
            ..SessionOptions::default()
        },
    )
    .expect("pinned graph loads");
    // Level sizes of every parity, from one window to a large level, on three photos.
    let sizes = [
        (12, 12),
        (13, 12),
        (12, 13),
        (15, 14),
        (37, 13),
        (101, 77),
        (600, 418),
        (417, 600),
    ];
    let (mut worst_prob, mut worst_reg, mut levels) = (0.0f32, 0.0f32, 0);
    for file in ["couple.jpg", "selfie-many-people.jpg", "img49.jpg"] {
        let photo = decode_file(&dir.join(file), DecodeLimits::default()).expect("decodes");
        for (w, h) in sizes {
            let level = resize(&photo, w, h, Filter::Area);
            let out = pinned
                .run(
                    "input_1",
                    &[1, w as usize, h as usize, 3],
                    mtcnn_input(&level),
                )
                .expect("runs");
            let maps = net.run(&level).expect("a level of at least one window");
            let (reg, prob) = (&out[0], &out[1]);
            assert_eq!(
                (maps.w_out as i64, maps.h_out as i64),
                (prob.shape[1], prob.shape[2]),
                "{file} {w}x{h}"
            );
            assert_eq!(maps.prob.len(), prob.data.len());
            assert_eq!(maps.reg.len(), reg.data.len());
            for (a, b) in maps.prob.iter().zip(&prob.data) {
                worst_prob = worst_prob.max((a - b).abs());
            }
            for (a, b) in maps.reg.iter().zip(&reg.data) {
                worst_reg = worst_reg.max((a - b).abs());
            }
            levels += 1;
        }
    }
    eprintln!(
        "native P-Net vs ONNX Runtime on {levels} levels: largest difference {worst_prob:.2e} in probability, {worst_reg:.2e} in box regression"
    );
    assert!(
        worst_prob < 1e-5 && worst_reg < 1e-5,
        "{worst_prob} {worst_reg}"
    );
    assert!(
        net.run(&image::RgbImage::new(11, 40)).is_none(),
        "narrower than a window"
    );
}

#[test]
fn native_pnet_refuses_other_graphs() {
    for (what, bytes) in [
        ("R-Net", model_bytes("mtcnn_rnet")),
        (
            "P-Net with its PRelu rewritten",
            prelu_as_affine(&model_bytes("mtcnn_pnet"))
                .expect("rewrites")
                .bytes,
        ),
        ("not a model", b"not an onnx file".to_vec()),
    ] {
        let err = NativePnet::from_onnx(&bytes).expect_err(what);
        eprintln!("{what}: {err}");
        assert!(
            err.to_string().contains("not the pinned P-Net graph"),
            "{what}: {err}"
        );
    }
}

#[test]
fn both_pnets_find_the_same_faces() {
    let dir = faces_dir();
    let load = |native_pnet: bool| {
        Preprocessor::load(
            store(),
            SessionOptions {
                native_pnet,
                ..SessionOptions::default()
            },
        )
        .expect("detector loads")
    };
    let (mut native, mut ort) = (load(true), load(false));
    let cfg = MtcnnConfig::default();
    let sequential = MtcnnConfig {
        parallel_pyramid: false,
        ..cfg
    };
    let detections = |p: &mut Preprocessor,
                      img: &image::RgbImage,
                      c: &MtcnnConfig|
     -> Vec<Detection> { p.run(img, c).expect("detects").detections };
    let (mut faces, mut worst_px, mut worst_score) = (0, 0.0f32, 0.0f32);
    let files = photo_files(&dir);
    assert!(files.len() >= 50, "{} photos", files.len());
    for file in files {
        let path = dir.join(file);
        let img = decode_file(&path, DecodeLimits::default()).expect("decodes");
        let ours = detections(&mut native, &img, &cfg);
        assert_eq!(
            ours,
            detections(&mut native, &img, &sequential),
            "{path:?}: levels one after another"
        );
        let theirs = detections(&mut ort, &img, &cfg);
        assert_eq!(ours.len(), theirs.len(), "{path:?}");
        for (a, b) in ours.iter().zip(&theirs) {
            let (pa, pb) = (&a.bbox, &b.bbox);
            for d in [pa.x1 - pb.x1, pa.y1 - pb.y1, pa.x2 - pb.x2, pa.y2 - pb.y2] {
                worst_px = worst_px.max(d.abs());
            }
            worst_score = worst_score.max((a.score - b.score).abs());
        }
        faces += ours.len();
    }
    eprintln!(
        "native vs ONNX Runtime P-Net on the shared photos: {faces} faces each, boxes within {worst_px:.2} px, scores within {worst_score:.2e}"
    );
    assert!(
        worst_px <= 2.0 && worst_score < 1e-3,
        "{worst_px} {worst_score}"
    );
}
