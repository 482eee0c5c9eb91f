//! Detection on real photos at native size and 4× upscaled; landmarks; attributes' obvious cases.

use std::path::Path;

use facelens_core::api::Analysis;
use facelens_core::image_io::{DecodeLimits, decode_file};
use facelens_core::models::embedder::{Embedder, cosine};
use facelens_core::models::mtcnn::MtcnnConfig;
use facelens_core::preprocess::{Filter, resize};
use facelens_core::runtime::SessionOptions;
use facelens_core::stages::{AttributeStage, FaceInput, Preprocessor};
use image::RgbImage;

use crate::fixtures::{faces_dir, pipeline, store};

/// A shared photo, upscaled `upscale`× (bilinear) as a phone's high-resolution photo of the
/// same scene would be.
fn load_scaled(dir: &Path, file: &str, upscale: u32) -> RgbImage {
    let img = decode_file(&dir.join(file), DecodeLimits::default()).expect("decodes");
    if upscale > 1 {
        resize(
            &img,
            img.width() * upscale,
            img.height() * upscale,
            Filter::Bilinear,
        )
    } else {
        img
    }
}

fn analyse(file: &str, upscale: u32) -> Analysis {
    let img = load_scaled(&faces_dir(), file, upscale);
    pipeline()
        .analyze_image(&img, None)
        .expect("analyses")
        .analysis
}

fn check_landmarks(a: &Analysis) {
    for (i, f) in a.faces.iter().enumerate() {
        let d = &f.detection;
        let l = &d.landmarks;
        assert!(
            d.bbox.contains(l.eye_left) && d.bbox.contains(l.eye_right),
            "face {i}: eyes inside the box"
        );
        assert!(
            l.eye_left.x < l.eye_right.x,
            "face {i}: image-left eye is left of image-right eye"
        );
        assert!(
            l.nose.y > l.eye_left.y.min(l.eye_right.y),
            "face {i}: nose below the eyes"
        );
        assert!(
            l.mouth_left.y > l.nose.y.min(l.eye_left.y),
            "face {i}: mouth below the eyes"
        );
        assert_eq!(f.embedding.len(), 512);
        let norm: f32 = f.embedding.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3, "embedding is L2-normalised");
        let race: f32 = f.attributes.race.iter().map(|r| r.probability).sum();
        let emo: f32 = f.attributes.emotion.iter().map(|r| r.probability).sum();
        assert!(
            (race - 1.0).abs() < 1e-3 && (emo - 1.0).abs() < 1e-3,
            "distributions sum to 1"
        );
        assert_eq!(f.attributes.race.len(), 5);
        assert_eq!(f.attributes.emotion.len(), 7);
        assert!((1.0..100.0).contains(&f.attributes.age.years));
        assert!(f.attributes.age.std_years >= 4.5);
    }
}

fn count(file: &str, expected: usize) {
    for upscale in [1, 4] {
        let a = analyse(file, upscale);
        eprintln!(
            "{file} ×{upscale}: {} faces ({} px wide)",
            a.faces.len(),
            a.width_px
        );
        assert_eq!(a.faces.len(), expected, "{file} at ×{upscale}");
        assert!(a.no_face_reason.is_none());
        check_landmarks(&a);
    }
}

#[test]
fn couple_has_two_faces_native_and_upscaled() {
    count("couple.jpg", 2);
}

#[test]
fn selfie_has_seven_faces_native_and_upscaled() {
    count("selfie-many-people.jpg", 7);
}

#[test]
fn gender_of_the_obvious_cases() {
    let a = analyse("couple.jpg", 1);
    // Left: a woman; right: a man.
    let mut faces = a.faces.clone();
    faces.sort_by(|x, y| x.detection.bbox.x1.total_cmp(&y.detection.bbox.x1));
    assert_eq!(
        faces[0].attributes.gender.label, "female",
        "{:?}",
        faces[0].attributes.gender
    );
    assert_eq!(
        faces[1].attributes.gender.label, "male",
        "{:?}",
        faces[1].attributes.gender
    );
    assert!(faces[0].attributes.gender.male_probability < 0.2);
    assert!(faces[1].attributes.gender.male_probability > 0.8);
    // Both are white; GEAR puts most of the mass there.
    for f in &faces {
        assert_eq!(
            f.attributes.top_race().map(|r| r.label.as_str()),
            Some("white")
        );
    }
}

#[test]
fn smiles_read_as_happy() {
    let a = analyse("selfie-many-people.jpg", 1);
    // The three broadly smiling men at the top and right of the selfie.
    let happy = a
        .faces
        .iter()
        .filter(|f| {
            f.attributes
                .top_emotion()
                .is_some_and(|e| e.label == "happy")
        })
        .count();
    eprintln!("selfie: {happy} of {} faces read as happy", a.faces.len());
    assert!(happy >= 4, "most faces in the selfie smile");
}

/// The selfie's faces as the detector cuts them (its own detector, not the shared pipeline's).
fn selfie_faces(dir: &Path) -> Vec<FaceInput> {
    let mut pre = Preprocessor::load(store(), SessionOptions::default()).expect("detector loads");
    let img =
        decode_file(&dir.join("selfie-many-people.jpg"), DecodeLimits::default()).expect("decodes");
    pre.run(&img, &MtcnnConfig::default())
        .expect("detects")
        .faces
}

#[test]
fn concurrent_and_sequential_attribute_models_agree() {
    let dir = faces_dir();
    let mut stage =
        AttributeStage::load(store(), SessionOptions::default()).expect("attribute models load");
    let faces = selfie_faces(&dir);
    let faces: Vec<&FaceInput> = faces.iter().collect();
    assert_eq!(faces.len(), 7);
    stage.concurrent = true;
    let concurrent = stage.analyze(&faces).expect("analyses");
    stage.concurrent = false;
    let sequential = stage.analyze(&faces).expect("analyses");
    assert_eq!(concurrent, sequential);
    assert!(
        concurrent
            .iter()
            .all(|a| a.age.years > 0.0 && !a.race.is_empty())
    );
}

#[test]
fn the_embedder_gives_the_same_vectors_in_both_layouts_and_batched() {
    let dir = faces_dir();
    let faces = selfie_faces(&dir);
    let embed_all = |blocked_layout: bool| {
        let opts = SessionOptions {
            blocked_layout,
            choose_layout: false,
            ..SessionOptions::default()
        };
        let mut e = Embedder::load(store(), opts).expect("embedder loads");
        faces
            .iter()
            .map(|f| e.embed(&[&f.aligned]).expect("embeds").remove(0))
            .collect::<Vec<_>>()
    };
    let (blocked, plain) = (embed_all(true), embed_all(false));
    assert_eq!(blocked.len(), 7);
    for (a, b) in blocked.iter().zip(&plain) {
        let cos = cosine(a, b);
        assert!(cos > 0.9999, "cosine {cos}");
    }
    // The layout chosen at load is one of the two.
    let mut fastest = Embedder::load(store(), SessionOptions::default()).expect("loads");
    let v = fastest
        .embed(&[&faces[0].aligned])
        .expect("embeds")
        .remove(0);
    let cos = cosine(&v, &blocked[0]);
    assert!(cos > 0.9999, "cosine {cos}");
    // All seven faces in one run give each face's vector of a run of its own.
    let crops: Vec<&image::RgbImage> = faces.iter().map(|f| &f.aligned).collect();
    let batched = fastest.embed(&crops).expect("embeds a batch");
    assert_eq!(batched.len(), 7);
    for (crop, b) in crops.iter().zip(&batched) {
        let one = fastest.embed(&[crop]).expect("embeds").remove(0);
        let cos = cosine(&one, b);
        assert!(cos > 0.99999, "batched vs single: cosine {cos}");
    }
    assert!(fastest.embed(&[]).expect("no faces").is_empty());
}

#[test]
fn a_photo_without_faces_says_why() {
    let img = image::RgbImage::from_fn(320, 240, |x, y| {
        image::Rgb([(x % 255) as u8, (y % 255) as u8, 128])
    });
    let a = pipeline()
        .analyze_image(&img, None)
        .expect("analyses")
        .analysis;
    assert!(a.faces.is_empty());
    let reason = a.no_face_reason.expect("a reason");
    eprintln!("no-face reason: {reason}");
    assert!(
        reason.contains("scored") || reason.contains("candidate"),
        "{reason}"
    );
}

#[test]
fn exact_face_counts_on_every_labelled_photo() {
    let dir = faces_dir();
    // Counted by eye: img54 has two real background people, img59 a man cut by the left edge,
    // img16 a blurred woman with glasses cut by the left edge, img62 a blurred person at the
    // bottom edge and a man's face (eyes and nose) cut by the bottom-right corner; img8 must not
    // gain a mirror-illusion face.
    let expected = |f: &str| match f {
        "img54.jpg" | "img62.jpg" => 3,
        "img16.jpg" | "img59.jpg" => 2,
        _ => 1,
    };
    let mut p = pipeline();
    let mut wrong = Vec::new();
    let rows = crate::fixtures::identities(&dir);
    for upscale in [1, 4] {
        for (file, _) in &rows {
            let img = load_scaled(&dir, file, upscale);
            let n = p
                .analyze_image(&img, None)
                .expect("analyses")
                .analysis
                .faces
                .len();
            if n != expected(file) {
                wrong.push(format!(
                    "{file} ×{upscale}: {n} faces, expected {}",
                    expected(file)
                ));
            }
        }
    }
    eprintln!(
        "exact counts: {}/{} photo scales right (native and ×4)",
        2 * rows.len() - wrong.len(),
        2 * rows.len()
    );
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// ONNX Runtime's P-Net (`native_pnet: false`; facelens's own kernels have their own tests in
/// `native_pnet.rs`) in every way it can run the pyramid.
#[test]
fn parallel_sequential_and_whole_level_pyramids_find_the_same_faces() {
    let dir = faces_dir();
    let mut p = Preprocessor::load(
        store(),
        SessionOptions {
            native_pnet: false,
            ..SessionOptions::default()
        },
    )
    .expect("detector loads");
    let default = MtcnnConfig::default();
    for file in [
        "couple.jpg",
        "selfie-many-people.jpg",
        "img49.jpg",
        "img62.jpg",
    ] {
        let img = decode_file(&dir.join(file), DecodeLimits::default()).expect("decodes");
        let mut run = |detector: MtcnnConfig| p.run(&img, &detector).expect("detects").detections;
        let now = run(default);
        assert!(!now.is_empty(), "{file}");
        for (what, detector) in [
            (
                "levels one after another",
                MtcnnConfig {
                    parallel_pyramid: false,
                    ..default
                },
            ),
            (
                "whole levels, no strips",
                MtcnnConfig {
                    pnet_strip_px: 0,
                    ..default
                },
            ),
            (
                "narrow strips",
                MtcnnConfig {
                    pnet_strip_px: 20_000,
                    ..default
                },
            ),
        ] {
            assert_eq!(now, run(detector), "{file}: {what}");
        }
    }
}
