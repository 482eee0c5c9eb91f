//! Verification quality on the labelled photos, and the gallery: enrol some photos of each person,
//! find them first for their other photos, also after a restart.

use std::collections::BTreeMap;

use crate::gallery_store::Backend;
use facelens_core::calibration::{SAME_PERSON_COSINE, roc_auc};
use facelens_core::models::embedder::cosine;

use crate::fixtures::{faces_dir, identities, pipeline};

/// (file, person, embedding of the largest face, aligned crop).
type Labelled = (String, String, Vec<f32>, image::RgbImage);

fn embeddings() -> Vec<Labelled> {
    let dir = faces_dir();
    let mut out = Vec::new();
    let mut p = pipeline();
    for (file, person) in identities(&dir) {
        let r = p
            .analyze_file_full(&dir.join(&file), None)
            .expect("analyses");
        let Some(face) = r.analysis.faces.first() else {
            panic!("{file}: no face ({:?})", r.analysis.no_face_reason);
        };
        out.push((file, person, face.embedding.clone(), r.aligned[0].clone()));
    }
    out
}

#[test]
fn same_person_pairs_score_above_different_person_pairs() {
    let e = embeddings();
    let (mut same, mut diff) = (Vec::new(), Vec::new());
    for i in 0..e.len() {
        for j in i + 1..e.len() {
            let c = cosine(&e[i].2, &e[j].2);
            if e[i].1 == e[j].1 {
                same.push(c)
            } else {
                diff.push(c)
            }
        }
    }
    let auc = roc_auc(&same, &diff);
    let far = diff.iter().filter(|&&c| c >= SAME_PERSON_COSINE).count();
    let frr = same.iter().filter(|&&c| c < SAME_PERSON_COSINE).count();
    let min_same = same.iter().copied().fold(f32::INFINITY, f32::min);
    let max_diff = diff.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    eprintln!(
        "verification: {} images, {} same / {} different pairs, AUC {auc:.4}; at cosine {SAME_PERSON_COSINE}: \
         {far} false accepts, {frr} false rejects; weakest same {min_same:.3}, strongest different {max_diff:.3}",
        e.len(),
        same.len(),
        diff.len()
    );
    assert!(auc > 0.995, "AUC {auc}");
    assert!(
        far as f64 <= 0.005 * diff.len() as f64,
        "FAR at the threshold: {far}"
    );
    assert!(
        frr as f64 <= 0.03 * same.len() as f64,
        "FRR at the threshold: {frr}"
    );
}

#[test]
fn gallery_finds_each_person_first_and_survives_a_restart() {
    let e = embeddings();
    for backend in [Backend::sqlite(), Backend::postgres()] {
        // Enrol the first two photos of each person; probe with the rest.
        let mut enrolled: BTreeMap<&str, usize> = BTreeMap::new();
        let mut probes = Vec::new();
        {
            let g = backend.open();
            for (file, person, emb, crop) in &e {
                let n = enrolled.entry(person).or_default();
                if *n < 2 {
                    g.enrol(person, file, emb, crop).expect("enrol");
                    *n += 1;
                } else {
                    probes.push((file, person, emb));
                }
            }
        }
        // Re-open: a restart must keep everything.
        let g = backend.open();
        assert_eq!(g.len().expect("len"), enrolled.values().sum::<usize>());
        let mut correct = 0;
        for (file, person, emb) in &probes {
            let hits = g.search(emb, 3).expect("search");
            if hits.first().is_some_and(|h| &h.name == *person) {
                correct += 1;
            } else {
                eprintln!("miss: {file} ({person}) -> {:?}", hits.first());
            }
        }
        eprintln!(
            "gallery ({}): {correct}/{} probes found their person first",
            g.location(),
            probes.len()
        );
        assert!(!probes.is_empty());
        assert!(
            correct * 100 >= probes.len() * 95,
            "{correct}/{}",
            probes.len()
        );
    }
}
