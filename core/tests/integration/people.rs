//! People: the shared labelled photos scanned into a library and grouped with the real models;
//! the library's edits on synthetic faces; both on a real SQLite gallery.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::AtomicBool;

use facelens_core::api::BoxPx;
use facelens_core::error::GalleryError;
use facelens_core::gallery::Gallery;
use facelens_core::models::embedder::EMBEDDING_DIM;
use facelens_core::people::cluster::Params;
use facelens_core::people::scan::{photo_key, scan};
use facelens_core::people::{NewScannedFace, People, ScannedFace};

use crate::fixtures::{faces_dir, identities, photo_files, pipeline};
use crate::gallery_store::Backend;

/// BCubed precision and recall of `groups` (item → group) against `truth` (item → label), over
/// the items that have a label.
fn bcubed(groups: &HashMap<String, u64>, truth: &HashMap<String, String>) -> (f64, f64) {
    let items: Vec<&String> = truth.keys().collect();
    let (mut p, mut r) = (0.0, 0.0);
    for i in &items {
        let gi = groups.get(*i);
        let same_group: Vec<&&String> = items
            .iter()
            .filter(|j| gi.is_some() && groups.get(**j) == gi)
            .collect();
        let same_label: Vec<&&String> = items.iter().filter(|j| truth[**j] == truth[*i]).collect();
        let both = same_group
            .iter()
            .filter(|j| truth[***j] == truth[*i])
            .count();
        // An ungrouped face is its own singleton.
        let (ng, nb) = if gi.is_some() {
            (same_group.len(), both)
        } else {
            (1, 1)
        };
        p += nb as f64 / ng as f64;
        r += nb as f64 / same_label.len() as f64;
    }
    let n = items.len() as f64;
    (p / n, r / n)
}

/// Face key (`file#index`) → group, for every grouped face.
fn grouping(people: &People<'_>) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    for g in people.groups().expect("groups") {
        for f in people.faces(Some(g.id)).expect("faces") {
            let file = Path::new(&f.photo)
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            out.insert(format!("{file}#{}", f.face_index), g.id);
        }
    }
    out
}

fn no_group_holds_one_photo_twice(people: &People<'_>) -> usize {
    let mut bad = 0;
    for g in people.groups().expect("groups") {
        let faces = people.faces(Some(g.id)).expect("faces");
        let photos: BTreeSet<&String> = faces.iter().map(|f| &f.photo).collect();
        if photos.len() != faces.len() {
            bad += 1;
        }
    }
    bad
}

fn copy_photos(from: &Path, files: &[String], to: &Path) {
    for f in files {
        std::fs::copy(from.join(f), to.join(f)).expect("copy photo");
    }
}

#[test]
fn scanning_the_labelled_photos_groups_them_by_person() {
    let dir = faces_dir();
    // The labelled face of each labelled photo is its largest (index 0).
    let truth: HashMap<String, String> = identities(&dir)
        .into_iter()
        .map(|(file, person)| (format!("{file}#0"), person))
        .collect();
    assert_eq!(truth.len(), 48);
    let all = photo_files(&dir);
    // Two imports: half the photos, then the rest (incremental), into one library.
    let photos = tempfile::tempdir().expect("tempdir");
    let (first, second) = all.split_at(all.len() / 2);
    copy_photos(&dir, first, photos.path());
    let g = tempfile::tempdir().expect("tempdir");
    let gallery = Gallery::open(g.path()).expect("gallery");
    let people = gallery.people();
    let params = Params::default();
    let cancel = AtomicBool::new(false);
    let mut seen = Vec::new();
    let mut p = pipeline();
    let r1 = scan(&mut p, &people, photos.path(), &params, &cancel, &mut |s| {
        seen.push((s.done, s.total, s.eta_ms.is_some()));
    })
    .expect("scan");
    assert_eq!(r1.scanned, first.len());
    assert!(r1.unreadable.is_empty(), "{:?}", r1.unreadable);
    assert_eq!(seen.len(), first.len(), "one progress report per photo");
    assert_eq!(
        seen.last().map(|s| (s.0, s.1)),
        Some((first.len(), first.len()))
    );
    assert!(seen.iter().all(|s| s.2), "an ETA from the first photo on");

    copy_photos(&dir, second, photos.path());
    std::fs::write(photos.path().join("broken.jpg"), b"not a photo").expect("write");
    let r2 = scan(
        &mut p,
        &people,
        photos.path(),
        &params,
        &cancel,
        &mut |_| {},
    )
    .expect("scan");
    assert_eq!(
        r2.skipped,
        first.len(),
        "photos scanned before are not analysed again"
    );
    assert_eq!(r2.scanned, second.len());
    assert_eq!(r2.unreadable.len(), 1, "{:?}", r2.unreadable);
    assert!(r2.unreadable[0].path.ends_with("broken.jpg"));

    let groups = grouping(&people);
    let (precision, recall) = bcubed(&groups, &truth);
    eprintln!(
        "people on the labelled photos (two imports): BCubed precision {precision:.3}, recall {recall:.3}; {} groups",
        people.groups().expect("groups").len()
    );
    assert!(precision >= 0.95, "precision {precision:.3}");
    assert!(recall >= 0.95, "recall {recall:.3}");
    assert_eq!(no_group_holds_one_photo_twice(&people), 0);

    // Deterministic: the same photos in one import into a fresh library give the same groups
    // (as partitions; ids may differ), and a full re-cluster gives them again.
    let partition = |m: &HashMap<String, u64>| -> BTreeSet<BTreeSet<String>> {
        let mut by: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
        for (k, g) in m {
            by.entry(*g).or_default().insert(k.clone());
        }
        by.into_values().collect()
    };
    let g2 = tempfile::tempdir().expect("tempdir");
    let gallery2 = Gallery::open(g2.path()).expect("gallery");
    let people2 = gallery2.people();
    scan(
        &mut p,
        &people2,
        photos.path(),
        &params,
        &cancel,
        &mut |_| {},
    )
    .expect("scan");
    let once = grouping(&people2);
    people2.recluster(&params).expect("recluster");
    assert_eq!(partition(&grouping(&people2)), partition(&once));
    let (p1, r1) = bcubed(&once, &truth);
    eprintln!(
        "people on the labelled photos (one import): BCubed precision {p1:.3}, recall {r1:.3}"
    );
    assert!(p1 >= 0.95 && r1 >= 0.95, "{p1:.3} {r1:.3}");

    // Name the group of img1's face: its faces join the gallery, and a new photo of that person
    // is recognised by name and found across the scanned photos.
    let key = photo_key(&photos.path().join("img1.jpg")).expect("UTF-8 path");
    let ada = group_where(&people, |f| f.photo == key && f.face_index == 0).expect("img1's group");
    let enrolled = people.name(ada, "Ada").expect("name");
    assert!(enrolled >= 5, "{enrolled}");
    assert_eq!(gallery.len().expect("len"), enrolled);
    let person = &truth["img1.jpg#0"];
    let a = p
        .analyze_file(&dir.join("img2.jpg"), Some(&gallery))
        .expect("analyze");
    assert_eq!(a.faces[0].matches[0].name, "Ada");
    let found = people.find(&a.faces[0].embedding, 100).expect("find");
    let labelled: Vec<&String> = truth
        .iter()
        .filter(|(_, v)| *v == person)
        .map(|(k, _)| k)
        .collect();
    let hits: BTreeSet<String> = found
        .iter()
        .map(|m| {
            let file = Path::new(&m.photo).file_name().expect("name");
            format!("{}#{}", file.to_string_lossy(), m.face_index)
        })
        .collect();
    for l in &labelled {
        assert!(hits.contains(*l), "find missed {l}: {hits:?}");
    }
    assert!(
        found.windows(2).all(|w| w[0].cosine >= w[1].cosine),
        "best first"
    );
    // A named group is never merged or split by a re-cluster.
    let before = people.faces(Some(ada)).expect("faces").len();
    people.recluster(&params).expect("recluster");
    assert_eq!(people.faces(Some(ada)).expect("faces").len(), before);
}

fn unit(axis: usize, tilt_axis: usize, tilt: f32) -> Vec<f32> {
    let mut v = vec![0.0; EMBEDDING_DIM];
    v[axis] = 1.0;
    v[tilt_axis] += tilt;
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / n).collect()
}

fn add(people: &People<'_>, path: &str, faces: &[(Vec<f32>, bool)]) -> Vec<u64> {
    let thumb = image::RgbImage::new(112, 112);
    let new: Vec<NewScannedFace<'_>> = faces
        .iter()
        .enumerate()
        .map(|(i, (e, low))| NewScannedFace {
            bbox: BoxPx {
                x1: 10.0 * i as f32,
                y1: 0.0,
                x2: 10.0 * i as f32 + 50.0,
                y2: 50.0,
            },
            quality: if *low { 0.1 } else { 0.9 },
            low_quality: *low,
            embedding: e,
            thumbnail: &thumb,
        })
        .collect();
    people.add_photo(path, 640, 480, &new).expect("add photo")
}

/// The group holding a face that matches `pred`.
fn group_where(people: &People<'_>, pred: impl Fn(&ScannedFace) -> bool) -> Option<u64> {
    people
        .groups()
        .expect("groups")
        .into_iter()
        .find(|g| people.faces(Some(g.id)).expect("faces").iter().any(&pred))
        .map(|g| g.id)
}

fn group_of(people: &People<'_>, face: u64) -> Option<u64> {
    group_where(people, |f| f.id == face)
}

#[test]
fn library_edits_keep_the_rules_and_fail_whole_on_sqlite() {
    library_edits_keep_the_rules_and_fail_whole(&Backend::sqlite());
}

#[test]
fn library_edits_keep_the_rules_and_fail_whole_on_postgres() {
    library_edits_keep_the_rules_and_fail_whole(&Backend::postgres());
}

fn library_edits_keep_the_rules_and_fail_whole(b: &Backend) {
    let gallery = b.open();
    let people = gallery.people();
    let params = Params::default();
    // Person A on axis 0, person B on axis 1; one photo shows both; one face is low quality.
    let a1 = add(&people, "/p/1.jpg", &[(unit(0, 10, 0.2), false)]);
    let a2 = add(&people, "/p/2.jpg", &[(unit(0, 11, 0.2), false)]);
    let both = add(
        &people,
        "/p/3.jpg",
        &[(unit(0, 12, 0.2), false), (unit(1, 13, 0.2), false)],
    );
    let b1 = add(&people, "/p/4.jpg", &[(unit(1, 14, 0.2), false)]);
    let low = add(&people, "/p/5.jpg", &[(unit(0, 15, 0.2), true)]);
    assert!(matches!(
        people.add_photo("/p/1.jpg", 1, 1, &[]),
        Err(GalleryError::PeopleConflict(_))
    ));
    let r = people.cluster(&params).expect("cluster");
    assert_eq!((r.grouped, r.unsorted, r.groups_opened), (5, 1, 2));
    let ga = group_of(&people, a1[0]).expect("A grouped");
    let gb = group_of(&people, b1[0]).expect("B grouped");
    assert_ne!(ga, gb);
    assert_eq!(group_of(&people, a2[0]), Some(ga));
    assert_eq!(group_of(&people, both[0]), Some(ga));
    assert_eq!(group_of(&people, both[1]), Some(gb));
    assert_eq!(
        group_of(&people, low[0]),
        None,
        "low quality stays unsorted"
    );
    assert_eq!(people.faces(None).expect("unsorted").len(), 1);

    // Merging A and B would put two faces of photo 3 in one group: refused, nothing changed.
    assert!(matches!(
        people.merge(ga, gb),
        Err(GalleryError::PeopleConflict(_))
    ));
    assert_eq!(people.groups().expect("groups").len(), 2);
    // Moving B's face of photo 3 into A: refused the same way.
    assert!(matches!(
        people.move_face(both[1], Some(ga)),
        Err(GalleryError::PeopleConflict(_))
    ));

    // Naming enrols the group's faces in the gallery; a second group cannot take the name.
    assert_eq!(people.name(ga, "Alice").expect("name"), 3);
    assert_eq!(gallery.len().expect("len"), 3);
    assert!(matches!(
        people.name(gb, "Alice"),
        Err(GalleryError::PeopleConflict(_))
    ));
    assert_eq!(
        gallery.len().expect("len"),
        3,
        "a refused name enrols nothing"
    );
    assert!(matches!(
        people.name(ga, "\u{1b}[31mEvil"),
        Err(GalleryError::InvalidName(_))
    ));
    // Renaming moves the enrolled faces to the new name.
    people.name(ga, "Alice B.").expect("rename");
    let names: BTreeSet<String> = gallery
        .entries()
        .expect("entries")
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, BTreeSet::from(["Alice B.".to_owned()]));

    // Taking a face out of the named group takes it out of the gallery too.
    people.move_face(a2[0], None).expect("remove");
    assert_eq!(gallery.len().expect("len"), 2);
    assert_eq!(people.faces(None).expect("unsorted").len(), 2);

    // A new photo of A joins the named group (and the gallery); a re-cluster keeps the named
    // group whole and leaves the face the user took out where it is.
    let a6 = add(&people, "/p/6.jpg", &[(unit(0, 16, 0.2), false)]);
    people.cluster(&params).expect("cluster");
    assert_eq!(group_of(&people, a6[0]), Some(ga));
    assert_eq!(gallery.len().expect("len"), 3);
    people.recluster(&params).expect("recluster");
    assert_eq!(group_of(&people, a6[0]), Some(ga));
    assert_eq!(group_of(&people, a2[0]), None);
    let f = people.faces(None).expect("unsorted");
    assert!(f.iter().any(|x| x.id == a2[0] && x.placed_by_user));

    // find: every photo showing A, best face per photo, best first.
    let hits = people.find(&unit(0, 20, 0.1), 10).expect("find");
    let photos: BTreeSet<&str> = hits.iter().map(|h| h.photo.as_str()).collect();
    assert_eq!(
        photos,
        BTreeSet::from(["/p/1.jpg", "/p/2.jpg", "/p/3.jpg", "/p/5.jpg", "/p/6.jpg"])
    );
    assert!(hits.iter().all(|h| h.face_index == 0));

    // Unknown ids are errors, not panics.
    assert!(matches!(
        people.name(999, "X"),
        Err(GalleryError::NoSuchGroup(999))
    ));
    assert!(matches!(
        people.move_face(999, None),
        Err(GalleryError::NoSuchFace(999))
    ));
    assert!(matches!(
        people.merge(ga, u64::MAX),
        Err(GalleryError::NoSuchGroup(_))
    ));
}
