//! Unit tests of the store boundary's pure parts (the stores themselves are tested on real
//! databases in `tests/integration/gallery_store.rs`).

use super::*;

#[test]
fn names_must_be_visible_and_direction_safe() {
    assert_eq!(validate_name("  Ann Lee ").expect("ok"), "Ann Lee");
    assert!(validate_name("Zoë 李").is_ok());
    assert!(validate_name("\u{200B}\u{FEFF}").is_err());
    assert!(validate_name("\u{3164}").is_err());
    assert!(validate_name("a\u{202E}b").is_err());
    assert!(validate_name("a\u{2067}b").is_err());
    assert!(validate_name("a\u{7}b").is_err());
    assert!(validate_name(&"x".repeat(201)).is_err());
}

#[test]
fn embeddings_must_be_finite_unit_vectors() {
    let mut v = vec![0.0f32; EMBEDDING_DIM];
    v[0] = 1.0;
    assert_eq!(validate_embedding(&v).expect("unit"), v);
    v[0] = 1.005;
    let n = validate_embedding(&v).expect("within 1 %");
    assert!((n[0] - 1.0).abs() < 1e-6, "re-normalised");
    assert!(validate_embedding(&[3e38; EMBEDDING_DIM]).is_err());
    assert!(validate_embedding(&[1e-45; EMBEDDING_DIM]).is_err());
    assert!(validate_embedding(&[0.0; EMBEDDING_DIM]).is_err());
    v[3] = f32::INFINITY;
    assert!(validate_embedding(&v).is_err());
    assert!(matches!(
        validate_embedding(&[1.0]),
        Err(GalleryError::Dimension { .. })
    ));
}

#[test]
fn embedding_blobs_round_trip_little_endian() {
    let v: Vec<f32> = (0..EMBEDDING_DIM).map(|i| i as f32 * 0.25 - 3.0).collect();
    let b = embedding_to_le_bytes(&v);
    assert_eq!(b.len(), 2048);
    assert_eq!(b[4..8], (-2.75f32).to_le_bytes());
    assert_eq!(embedding_from_le_bytes(&b).expect("2048 bytes"), v);
    assert!(embedding_from_le_bytes(&b[..2044]).is_none());
}

#[test]
fn search_keeps_the_best_face_per_person() {
    let hit = |face_id, person_id, cosine| Hit {
        face_id,
        person_id,
        name: format!("p{person_id}"),
        cosine,
    };
    let m = best_per_person(
        vec![
            hit(1, 10, 0.3),
            hit(2, 10, 0.9),
            hit(3, 11, 0.5),
            hit(4, 12, 0.1),
        ],
        2,
    );
    assert_eq!(m.iter().map(|x| x.id).collect::<Vec<_>>(), [2, 3]);
    assert!(m[0].score > m[1].score);
}

#[test]
fn legacy_text_loses_its_control_characters() {
    assert_eq!(
        sanitise_legacy_text("a\u{1b}[2Jb\u{202E}"),
        "a\u{FFFD}[2Jb\u{FFFD}"
    );
}
