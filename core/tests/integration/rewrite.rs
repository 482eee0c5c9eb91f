//! The load-time rewrites (`facelens_core::onnx_rewrite`) against the pinned graphs, both run by
//! ONNX Runtime on real photo pixels: MTCNN's PRelu, the embedder's pruned channels.

use facelens_core::image_io::{DecodeLimits, decode_file};
use facelens_core::models::CheckedSession;
use facelens_core::models::embedder::cosine;
use facelens_core::onnx_rewrite::{prelu_as_affine, prune_dead_channels};
use facelens_core::preprocess::{Channels, Filter, RectPx, crop_resize, resize, to_nchw};
use facelens_core::runtime::SessionOptions;

use crate::fixtures::{faces_dir, identities, model_bytes, mtcnn_input, pipeline, store};

type Case = (&'static str, &'static str, Vec<usize>, Vec<f32>, usize);

#[test]
fn rewritten_mtcnn_nets_match_the_pinned_graphs() {
    let dir = faces_dir();
    let photo = decode_file(&dir.join("couple.jpg"), DecodeLimits::default()).expect("decodes");
    let opts = SessionOptions::default();
    let level = resize(&photo, 600, 418, Filter::Area);
    // Crops on a grid over the photo, faces and background alike.
    let crops = |side: u32| -> Vec<f32> {
        let mut data = Vec::new();
        for gy in 0..6 {
            for gx in 0..8 {
                let rect = RectPx {
                    x: gx * 280,
                    y: gy * 250,
                    w: 300,
                    h: 300,
                };
                data.extend(mtcnn_input(&crop_resize(&photo, rect, side, Filter::Area)));
            }
        }
        data
    };
    // (model, input name, input shape, input, PRelu nodes in the graph)
    let cases: [Case; 3] = [
        (
            "mtcnn_pnet",
            "input_1",
            vec![1, 600, 418, 3],
            mtcnn_input(&level),
            3,
        ),
        ("mtcnn_rnet", "input_2", vec![48, 24, 24, 3], crops(24), 4),
        ("mtcnn_onet", "input_3", vec![48, 48, 48, 3], crops(48), 5),
    ];
    for (id, input, shape, data, prelus) in cases {
        let rewritten = prelu_as_affine(&model_bytes(id)).expect("rewrites");
        assert_eq!(rewritten.replaced, prelus, "{id}: every PRelu replaced");

        let mut pinned = CheckedSession::load(store(), id, opts).expect("pinned graph loads");
        let mut ours = CheckedSession::load_rewritten(store(), id, opts, prelu_as_affine)
            .expect("rewritten graph loads and keeps the contract");
        let a = pinned.run(input, &shape, data.clone()).expect("runs");
        let b = ours.run(input, &shape, data).expect("runs");
        assert_eq!(a.len(), b.len());
        let mut worst = 0.0f32;
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.shape, y.shape, "{id}");
            for (u, v) in x.data.iter().zip(&y.data) {
                worst = worst.max((u - v).abs());
            }
        }
        eprintln!("{id}: {prelus} PRelu rewritten, largest output difference {worst:.2e}");
        assert!(worst < 1e-5, "{id}: {worst}");
    }
}

/// The embedder with its dead channels pruned (`prune_dead_channels`) against the pinned graph, on
/// the aligned crops of every face of the shared photos.
#[test]
fn pruned_embedder_matches_the_pinned_graph() {
    let dir = faces_dir();
    let pruned = prune_dead_channels(&model_bytes("fr_feature")).expect("prunes");
    // 16 of the 17 depthwise convolutions of this MobileFaceNet have some (3-58 %).
    assert!(
        pruned.replaced > 1000,
        "{} channels pruned",
        pruned.replaced
    );
    let opts = SessionOptions::default();
    let mut pinned = CheckedSession::load(store(), "fr_feature", opts).expect("pinned loads");
    let mut ours = CheckedSession::load_rewritten(store(), "fr_feature", opts, prune_dead_channels)
        .expect("pruned graph loads and keeps the contract");
    let mut crops = Vec::new();
    {
        let mut p = pipeline();
        for (file, _) in identities(&dir) {
            let r = p
                .analyze_file_full(&dir.join(&file), None)
                .expect("analyses");
            crops.extend(r.aligned);
        }
    }
    let (mut worst_cos, mut worst_abs) = (1.0f32, 0.0f32);
    for crop in &crops {
        let input = to_nchw(crop, Channels::Bgr, 1.0, [127.0; 3], [128.0; 3]);
        let a = pinned
            .run("input", &[1, 3, 112, 112], input.clone())
            .expect("runs");
        let b = ours.run("input", &[1, 3, 112, 112], input).expect("runs");
        worst_cos = worst_cos.min(cosine(&a[0].data, &b[0].data));
        for (u, v) in a[0].data.iter().zip(&b[0].data) {
            worst_abs = worst_abs.max((u - v).abs());
        }
    }
    eprintln!(
        "fr_feature: {} channels pruned; on {} faces lowest cosine {worst_cos:.7}, largest output difference {worst_abs:.2e}",
        pruned.replaced,
        crops.len()
    );
    assert!(crops.len() >= 40);
    assert!(worst_cos > 0.99999, "{worst_cos}");
}
