//! Criterion benchmarks of each stage on real photos: decode, resize, normalise, NMS, alignment,
//! every model's session run, the detector as a whole, and a usearch search. Needs provisioned
//! models and `testdata/faces`; prints SKIPPED and measures nothing without them.
//!
//! `cargo bench -p facelens_core --bench stages` (bench/run.sh does it).

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};
use facelens_core::api::BoxPx;
use facelens_core::geometry::{Overlap, ScoredBox, nms};
use facelens_core::image_io::{self, DecodeLimits};
use facelens_core::models::age::AgeModel;
use facelens_core::models::embedder::Embedder;
use facelens_core::models::emotion::EmotionModel;
use facelens_core::models::faceres::FaceRes;
use facelens_core::models::gear::Gear;
use facelens_core::models::mtcnn::{Mtcnn, MtcnnConfig};
use facelens_core::preprocess::{Channels, Filter, align_face, resize, to_nchw};
use facelens_core::provision::{ModelStore, resolve_models_dir};
use facelens_core::runtime::SessionOptions;

fn photos() -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/faces");
    d.join("couple.jpg").is_file().then_some(d)
}

fn stages(c: &mut Criterion) {
    let Some(dir) = photos() else {
        eprintln!("SKIPPED stage benchmarks: testdata/faces absent");
        return;
    };
    let store = ModelStore::new(resolve_models_dir(None));
    if store.ensure(&mut |_| {}).is_err() {
        eprintln!("SKIPPED stage benchmarks: models could not be provisioned");
        return;
    }
    let opts = SessionOptions::default();
    let bytes = std::fs::read(dir.join("couple.jpg")).unwrap_or_default();
    let limits = DecodeLimits::default();
    let Ok(couple) = image_io::decode(&bytes, limits) else {
        return;
    };
    let single = image_io::decode_file(&dir.join("img5.jpg"), limits).unwrap_or_default();

    c.bench_function("decode/couple_jpeg_3.6MP", |b| {
        b.iter(|| image_io::decode(black_box(&bytes), limits));
    });
    c.bench_function("resize/couple_to_2000px_area", |b| {
        b.iter(|| resize(black_box(&couple), 2000, 1393, Filter::Area));
    });

    let Ok(mut mtcnn) = Mtcnn::load(&store, opts) else {
        return;
    };
    let cfg = MtcnnConfig::default();
    let Ok(found) = mtcnn.detect(&couple, &cfg) else {
        return;
    };
    let Some(face) = found.faces.first().cloned() else {
        return;
    };
    let pts = face.landmarks.as_array().map(|p| (p.x, p.y));
    let Some((aligned, _)) = align_face(&couple, &pts) else {
        return;
    };

    c.bench_function("normalise/aligned_112_to_nchw_bgr", |b| {
        b.iter(|| {
            to_nchw(
                black_box(&aligned),
                Channels::Bgr,
                1.0,
                [127.0; 3],
                [128.0; 3],
            )
        });
    });
    let boxes: Vec<ScoredBox> = (0..2000u16)
        .map(|i| {
            let (x, y) = (f32::from(i % 50) * 7.0, f32::from(i / 50) * 7.0);
            ScoredBox {
                x1: x,
                y1: y,
                x2: x + 24.0,
                y2: y + 24.0,
                score: f32::from(i % 97) / 97.0,
            }
        })
        .collect();
    c.bench_function("nms/2000_boxes_iou_0.5", |b| {
        b.iter(|| nms(black_box(&boxes), 0.5, Overlap::Union));
    });
    c.bench_function("align/similarity_warp_112", |b| {
        b.iter(|| align_face(black_box(&couple), black_box(&pts)));
    });
    c.bench_function("detect/mtcnn_single_face_330x512", |b| {
        b.iter(|| mtcnn.detect(black_box(&single), &cfg));
    });
    c.bench_function("detect/mtcnn_couple_2280x1588", |b| {
        b.iter(|| mtcnn.detect(black_box(&couple), &cfg));
    });

    let bbox: BoxPx = face.bbox;
    if let Ok(mut m) = Embedder::load(&store, opts) {
        c.bench_function("model/fr_feature_embed", |b| {
            b.iter(|| m.embed(black_box(&[&aligned])))
        });
    }
    if let Ok(mut m) = AgeModel::load(&store, opts) {
        c.bench_function("model/fr_age", |b| {
            b.iter(|| m.estimate(&couple, black_box(&bbox)))
        });
    }
    if let Ok(mut m) = FaceRes::load(&store, opts) {
        c.bench_function("model/faceres_deep", |b| {
            b.iter(|| m.run(&couple, black_box(&bbox)))
        });
    }
    if let Ok(mut m) = Gear::load(&store, opts) {
        c.bench_function("model/gear_race", |b| {
            b.iter(|| m.race(&couple, black_box(&bbox)))
        });
    }
    if let Ok(mut m) = EmotionModel::load(&store, opts) {
        c.bench_function("model/emotion", |b| {
            b.iter(|| m.classify(black_box(&aligned)))
        });
    }

    let index = usearch::Index::new(&usearch::IndexOptions {
        dimensions: 512,
        metric: usearch::MetricKind::Cos,
        quantization: usearch::ScalarKind::F32,
        connectivity: 0,
        expansion_add: 0,
        expansion_search: 0,
        multi: false,
    });
    if let Ok(index) = index
        && index.reserve(10_000).is_ok()
    {
        let mut v = vec![0f32; 512];
        for k in 0..10_000u64 {
            for (j, x) in v.iter_mut().enumerate() {
                let t = ((k * 31 + j as u64 * 17) % 1013) as f32;
                *x = (t * 0.013).sin();
            }
            let _ = index.add(k, &v);
        }
        c.bench_function("search/usearch_10k_top5", |b| {
            b.iter(|| index.search(black_box(&v), 5))
        });
        // What the gallery does up to `EXACT_SEARCH_MAX_ENTRIES` entries.
        c.bench_function("search/usearch_10k_exact_top5", |b| {
            b.iter(|| index.exact_search(black_box(&v), 5))
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(std::time::Duration::from_secs(1)).measurement_time(std::time::Duration::from_secs(3));
    targets = stages
}
criterion_main!(benches);
