//! Accuracy on the labelled photos: verification ROC AUC and TAR at fixed FAR, detection counts
//! at native and 4× size, and attribute predictions per person.

use std::collections::BTreeMap;
use std::path::Path;

use facelens_core::calibration::{SAME_PERSON_COSINE, roc_auc};
use facelens_core::models::embedder::cosine;
use facelens_core::preprocess::{Filter, resize};
use facelens_core::{Pipeline, PipelineConfig};

/// One labelled photo.
#[derive(Debug, Clone)]
pub struct PhotoResult {
    /// File name.
    pub file: String,
    /// Labelled person.
    pub person: String,
    /// Faces at native size.
    pub faces_native: usize,
    /// Faces at 4× size.
    pub faces_4x: usize,
    /// The largest face.
    pub largest: Option<Largest>,
}

/// What the report keeps of a photo's largest face.
#[derive(Debug, Clone)]
pub struct Largest {
    /// Identity embedding.
    pub embedding: Vec<f32>,
    /// Age estimate.
    pub age_years: f32,
    /// P(male).
    pub male_probability: f32,
    /// Most probable race.
    pub race: String,
    /// Most probable emotion.
    pub emotion: String,
}

/// Attributes of one labelled person over their photos.
#[derive(Debug, Clone)]
pub struct PersonSummary {
    /// Label.
    pub person: String,
    /// Photos with a face.
    pub photos: usize,
    /// Mean age.
    pub age_mean: f32,
    /// Spread of the age.
    pub age_sd: f32,
    /// Share of photos read as male.
    pub male_share: f32,
    /// Most frequent race (count).
    pub race: String,
    /// Most frequent emotion (count).
    pub emotion: String,
}

/// The verification summary.
#[derive(Debug, Clone)]
pub struct Verification {
    /// Same-person pairs.
    pub same: usize,
    /// Different-person pairs.
    pub different: usize,
    /// ROC AUC.
    pub auc: f64,
    /// (FAR target, threshold, TAR).
    pub tar_at_far: Vec<(f64, f32, f64)>,
    /// At the product threshold: (false accepts, false rejects).
    pub errors_at_threshold: (usize, usize),
}

/// Analyses every labelled photo.
///
/// # Errors
/// Model loading failures or an unreadable identities.csv.
pub fn photos(models: &Path, dir: &Path) -> anyhow::Result<Vec<PhotoResult>> {
    let text = std::fs::read_to_string(dir.join("identities.csv"))?;
    let mut p = Pipeline::load(
        &PipelineConfig {
            models_dir: Some(models.to_path_buf()),
            auto_provision: false,
            ..PipelineConfig::default()
        },
        &mut |_| {},
    )?;
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let Some((file, person)) = line.split_once(',') else {
            continue;
        };
        let path = dir.join(file.trim());
        let full = p.analyze_file_full(&path, None)?;
        let img = full.image.unwrap_or_default();
        let big = resize(&img, img.width() * 4, img.height() * 4, Filter::Bilinear);
        let faces_4x = p.analyze_image(&big, None)?.analysis.faces.len();
        let a = full.analysis;
        let largest = a.faces.first().map(|f| {
            let at = &f.attributes;
            Largest {
                embedding: f.embedding.clone(),
                age_years: at.age.years,
                male_probability: at.gender.male_probability,
                race: at.top_race().map(|l| l.label.clone()).unwrap_or_default(),
                emotion: at
                    .top_emotion()
                    .map(|l| l.label.clone())
                    .unwrap_or_default(),
            }
        });
        eprintln!("accuracy {file}: {} faces, {faces_4x} at 4x", a.faces.len());
        out.push(PhotoResult {
            file: file.trim().to_owned(),
            person: person.trim().to_owned(),
            faces_native: a.faces.len(),
            faces_4x,
            largest,
        });
    }
    Ok(out)
}

/// Verification over every pair of labelled photos (largest face each).
#[must_use]
pub fn verification(photos: &[PhotoResult]) -> Verification {
    let (mut same, mut diff) = (Vec::new(), Vec::new());
    let with: Vec<_> = photos
        .iter()
        .filter_map(|p| p.largest.as_ref().map(|l| (&p.person, &l.embedding)))
        .collect();
    for (i, a) in with.iter().enumerate() {
        for b in &with[i + 1..] {
            let c = cosine(a.1, b.1);
            if a.0 == b.0 {
                same.push(c);
            } else {
                diff.push(c);
            }
        }
    }
    let mut d_sorted = diff.clone();
    d_sorted.sort_by(|a, b| b.total_cmp(a));
    let tar_at_far = [1e-2, 1e-3]
        .iter()
        .map(|&far| {
            let allowed = (far * diff.len() as f64).floor() as usize;
            // Threshold just above the (allowed+1)-th strongest different-person score.
            let thr = d_sorted
                .get(allowed)
                .map_or(f32::NEG_INFINITY, |s| s + 1e-6);
            let tar = same.iter().filter(|&&s| s >= thr).count() as f64 / same.len().max(1) as f64;
            (far, thr, tar)
        })
        .collect();
    Verification {
        same: same.len(),
        different: diff.len(),
        auc: roc_auc(&same, &diff),
        tar_at_far,
        errors_at_threshold: (
            diff.iter().filter(|&&s| s >= SAME_PERSON_COSINE).count(),
            same.iter().filter(|&&s| s < SAME_PERSON_COSINE).count(),
        ),
    }
}

/// Per person: photos, mean age and its spread, share "male", most frequent race and emotion.
#[must_use]
pub fn per_person(photos: &[PhotoResult]) -> Vec<PersonSummary> {
    let mut by: BTreeMap<&str, Vec<&Largest>> = BTreeMap::new();
    for p in photos {
        if let Some(l) = &p.largest {
            by.entry(p.person.as_str()).or_default().push(l);
        }
    }
    let mode = |v: Vec<&String>| {
        let mut c: BTreeMap<&String, usize> = BTreeMap::new();
        for s in v {
            *c.entry(s).or_default() += 1;
        }
        c.into_iter()
            .max_by_key(|(_, n)| *n)
            .map(|(s, n)| format!("{s} ({n})"))
            .unwrap_or_default()
    };
    by.into_iter()
        .map(|(person, ls)| {
            let n = ls.len() as f32;
            let mean = ls.iter().map(|l| l.age_years).sum::<f32>() / n;
            let sd = (ls.iter().map(|l| (l.age_years - mean).powi(2)).sum::<f32>() / n).sqrt();
            let male = ls.iter().filter(|l| l.male_probability > 0.5).count() as f32 / n;
            PersonSummary {
                person: person.to_owned(),
                photos: ls.len(),
                age_mean: mean,
                age_sd: sd,
                male_share: male,
                race: mode(ls.iter().map(|l| &l.race).collect()),
                emotion: mode(ls.iter().map(|l| &l.emotion).collect()),
            }
        })
        .collect()
}
