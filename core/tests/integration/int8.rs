//! The int8 models (made at provisioning, `facelens_core::quantize`) against the float models they
//! come from, on every face of the shared photos: the gates of the int8 default.

use facelens_core::image_io::image_files;
use facelens_core::models::embedder::cosine;
use facelens_core::runtime::SessionOptions;
use facelens_core::{Pipeline, PipelineConfig};

use crate::fixtures::{faces_dir, pipeline, store};

#[test]
fn int8_models_agree_with_float() {
    let dir = faces_dir();
    let config = PipelineConfig {
        models_dir: Some(store().dir().to_path_buf()),
        session: SessionOptions {
            int8: false,
            ..SessionOptions::default()
        },
        ..PipelineConfig::default()
    };
    let mut float = Pipeline::load(&config, &mut |_| {}).expect("float pipeline");
    let mut int8 = pipeline();
    let (mut faces, mut gender, mut race, mut emotion) = (0usize, 0usize, 0usize, 0usize);
    let (mut age_diff, mut min_cosine, mut worst) = (0.0f64, f32::INFINITY, String::new());
    let (mut male_diff, mut race_diff) = (0.0f32, 0.0f32);
    for photo in image_files(&dir) {
        let a = float.analyze_file(&photo, None).expect("float analyses");
        let b = int8.analyze_file(&photo, None).expect("int8 analyses");
        // Detection is float in both: the same faces, in the same order.
        assert_eq!(a.faces.len(), b.faces.len(), "{}", photo.display());
        for (i, (fa, fb)) in a.faces.iter().zip(&b.faces).enumerate() {
            faces += 1;
            let c = cosine(&fa.embedding, &fb.embedding);
            if c < min_cosine {
                min_cosine = c;
                worst = format!("{} face {i}", photo.display());
            }
            let (x, y) = (&fa.attributes, &fb.attributes);
            gender += usize::from(x.gender.label == y.gender.label);
            race += usize::from(x.top_race().map(|l| &l.label) == y.top_race().map(|l| &l.label));
            emotion +=
                usize::from(x.top_emotion().map(|l| &l.label) == y.top_emotion().map(|l| &l.label));
            age_diff += f64::from((x.age.years - y.age.years).abs());
            male_diff =
                male_diff.max((x.gender.male_probability - y.gender.male_probability).abs());
            for (p, q) in x.race.iter().zip(&y.race) {
                race_diff = race_diff.max((p.probability - q.probability).abs());
            }
        }
    }
    let share = |n: usize| n as f64 / faces.max(1) as f64;
    let mean_age_diff = age_diff / faces.max(1) as f64;
    eprintln!(
        "int8 vs float on {faces} faces: embedding cosine min {min_cosine:.4} ({worst}); \
         agreement gender {:.3}, race {:.3}, emotion {:.3}; age |diff| mean {mean_age_diff:.2} years; \
         largest probability change: male {male_diff:.3}, race {race_diff:.3}",
        share(gender),
        share(race),
        share(emotion)
    );
    assert!(faces >= 50, "{faces} faces");
    assert!(
        min_cosine >= 0.99,
        "embedding cosine {min_cosine} at {worst}"
    );
    for (what, n) in [("gender", gender), ("race", race), ("emotion", emotion)] {
        assert!(share(n) >= 0.98, "{what} agreement {}", share(n));
    }
    assert!(
        mean_age_diff <= 1.0,
        "age differs by {mean_age_diff} years on average"
    );
}
