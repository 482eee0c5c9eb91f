//! The gallery store on real databases: the same behaviour tests on embedded SQLite and on a real
//! PostgreSQL with pgvector; then what only the embedded store has to prove across processes
//! (two writers, kill -9), and failed writes on a full disk and a read-only folder.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use facelens_core::GalleryError;
use facelens_core::gallery::{Gallery, GalleryLocation};
use facelens_core::models::embedder::{EMBEDDING_DIM, cosine, l2_normalize};
use image::RgbImage;

#[path = "../support/pg.rs"]
mod pg;

/// A deterministic pseudo-random unit vector.
pub fn unit(seed: u64) -> Vec<f32> {
    let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut v: Vec<f32> = (0..EMBEDDING_DIM)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let r = (x >> 40) as f32 / (1u64 << 24) as f32;
            r - 0.5
        })
        .collect();
    l2_normalize(&mut v);
    v
}

/// Where a test's gallery lives, and how to open it again.
pub enum Backend {
    Sqlite(tempfile::TempDir),
    Postgres(String),
}

impl Backend {
    pub fn sqlite() -> Self {
        Self::Sqlite(tempfile::tempdir().expect("tempdir"))
    }
    pub fn postgres() -> Self {
        Self::Postgres(pg::fresh_database(Path::new(env!("CARGO_TARGET_TMPDIR"))))
    }
    pub fn location(&self) -> GalleryLocation {
        match self {
            Self::Sqlite(d) => GalleryLocation::Dir(d.path().to_path_buf()),
            Self::Postgres(url) => GalleryLocation::Postgres(url.clone()),
        }
    }
    pub fn open(&self) -> Gallery {
        Gallery::open_location(&self.location()).expect("open gallery")
    }
}

fn both() -> [Backend; 2] {
    [Backend::sqlite(), Backend::postgres()]
}

fn enrol_search_rename_delete_and_reopen(b: &Backend) {
    let thumb = RgbImage::new(4, 4);
    let g = b.open();
    let a = g.enrol("Alice", "a.jpg", &unit(1), &thumb).expect("enrol");
    let bob = g.enrol("Bob", "b.jpg", &unit(2), &thumb).expect("enrol");
    let hits = g.search(&unit(2), 2).expect("search");
    assert_eq!(hits[0].id, bob);
    assert!((hits[0].cosine - 1.0).abs() < 1e-4 && hits[0].same_person);
    assert!(
        !hits[1].same_person,
        "random vectors are not the same person"
    );
    g.rename(a, "Alicia").expect("rename");
    assert_eq!(
        g.thumbnail_png(a).expect("thumb")[..4],
        [0x89, b'P', b'N', b'G']
    );
    drop(g);

    let g = b.open();
    assert_eq!(g.len().expect("len"), 2);
    assert_eq!(g.search(&unit(1), 1).expect("search")[0].name, "Alicia");
    g.delete(bob).expect("delete");
    assert!(matches!(g.delete(bob), Err(GalleryError::NoSuchEntry(_))));
    assert!(matches!(
        g.thumbnail_png(bob),
        Err(GalleryError::NoSuchEntry(_))
    ));
    drop(g);
    let g = b.open();
    let c = g.enrol("Carol", "c.jpg", &unit(3), &thumb).expect("enrol");
    assert!(c > bob, "ids are never reused, also after a reopen");
    assert_eq!(g.search(&unit(3), 1).expect("search")[0].id, c);

    // Pages by id: each starts after the last id of the one before; deleted ids leave no hole.
    let d = g.enrol("Dan", "d.jpg", &unit(4), &thumb).expect("enrol");
    let ids = |after, limit| -> Vec<u64> {
        g.entries_after(after, limit)
            .expect("page")
            .iter()
            .map(|e| e.id)
            .collect()
    };
    assert_eq!(ids(0, 2), [a, c]);
    assert_eq!(ids(c, 2), [d]);
    assert_eq!(ids(d, 2), Vec::<u64>::new());
    assert_eq!(ids(0, 0), Vec::<u64>::new());
    assert_eq!(ids(u64::MAX, 5), Vec::<u64>::new());
    assert_eq!(g.entries_after(a, 1).expect("page")[0].name, "Carol");
}

#[test]
fn store_basics_on_both_backends() {
    for b in both() {
        enrol_search_rename_delete_and_reopen(&b);
    }
}

#[test]
fn a_person_has_many_faces_and_search_returns_one_hit_per_person() {
    for b in both() {
        let g = b.open();
        let t = RgbImage::new(2, 2);
        let f1 = g.enrol("Ann", "1.jpg", &unit(10), &t).expect("enrol");
        let f2 = g.enrol("Ann", "2.jpg", &unit(11), &t).expect("enrol");
        let f3 = g.enrol("Ben", "3.jpg", &unit(12), &t).expect("enrol");
        let e = g.entries().expect("entries");
        let pid = |id| e.iter().find(|x| x.id == id).expect("entry").person_id;
        assert_eq!(pid(f1), pid(f2), "one person, two faces");
        assert_ne!(pid(f1), pid(f3));
        let hits = g.search(&unit(10), 5).expect("search");
        assert_eq!(hits.len(), 2, "one hit per person: {hits:?}");
        assert_eq!(hits[0].id, f1);
        // Moving Ben's face to Ann: Ben is gone, Ann has three faces.
        g.rename(f3, "Ann").expect("rename");
        let e = g.entries().expect("entries");
        assert!(e.iter().all(|x| x.name == "Ann" && x.person_id == pid(f1)));
        assert_eq!(g.search(&unit(12), 5).expect("search").len(), 1);
    }
}

#[test]
fn search_finds_the_true_nearest_entries_also_after_deletes() {
    for b in both() {
        let g = b.open();
        let thumb = RgbImage::new(1, 1);
        let mut ids = Vec::new();
        for k in 0..150u64 {
            ids.push(
                g.enrol(&format!("p{k}"), "x", &unit(100 + k), &thumb)
                    .expect("enrol"),
            );
        }
        for &id in ids.iter().step_by(3) {
            g.delete(id).expect("delete");
        }
        let entries = g.entries().expect("entries");
        assert_eq!(entries.len(), 100);
        for q in 0..20u64 {
            let query = unit(10_000 + q);
            let mut truth: Vec<(f32, u64)> = entries
                .iter()
                .map(|e| (cosine(&query, &e.embedding), e.id))
                .collect();
            truth.sort_by(|a, b| b.0.total_cmp(&a.0));
            let found: Vec<u64> = g
                .search(&query, 5)
                .expect("search")
                .iter()
                .map(|m| m.id)
                .collect();
            let want: Vec<u64> = truth.iter().take(5).map(|t| t.1).collect();
            assert_eq!(found, want, "query {q}");
        }
    }
}

#[test]
fn bad_writes_are_refused_and_change_nothing() {
    for b in both() {
        let g = b.open();
        let t = RgbImage::new(1, 1);
        let ok = g.enrol("A", "a", &unit(1), &t).expect("enrol");
        let refused = [
            g.enrol("  ", "x", &unit(1), &t),
            g.enrol("\u{200B}\u{2060}", "x", &unit(1), &t),
            g.enrol("Eve\u{202E}gnp.exe", "x", &unit(1), &t),
            g.enrol("A", "x\u{1b}[31m", &unit(1), &t),
            g.enrol("A", "x\0y", &unit(1), &t),
            g.enrol("A", &"s".repeat(5000), &unit(1), &t),
            g.enrol("A", "x", &[0.0; 3], &t),
            g.enrol("A", "x", &[3e38; EMBEDDING_DIM], &t),
            g.enrol("A", "x", &[1e-45; EMBEDDING_DIM], &t),
            g.enrol("A", "x", &[f32::NAN; EMBEDDING_DIM], &t),
            g.enrol("A", "x", &unit(2), &RgbImage::new(7000, 7000)),
        ];
        for (i, r) in refused.iter().enumerate() {
            assert!(r.is_err(), "write {i} was accepted: {r:?}");
        }
        assert!(matches!(
            g.rename(ok, "\u{1b}]0;x"),
            Err(GalleryError::InvalidName(_))
        ));
        assert!(matches!(
            g.rename(u64::MAX, "x"),
            Err(GalleryError::NoSuchEntry(_))
        ));
        assert!(matches!(
            g.delete(42_000),
            Err(GalleryError::NoSuchEntry(_))
        ));
        let e = g.entries().expect("entries");
        assert_eq!(e.len(), 1);
        assert_eq!(
            (e[0].id, e[0].name.as_str(), e[0].source.as_str()),
            (ok, "A", "a")
        );
        // A stored embedding is a unit vector.
        let n: f32 = e[0].embedding.iter().map(|x| x * x).sum();
        assert!((n - 1.0).abs() < 1e-5);
    }
}

#[test]
fn two_handles_writing_at_once_lose_nothing_and_see_each_other() {
    for b in both() {
        let (g1, g2) = (b.open(), b.open());
        let t = RgbImage::new(1, 1);
        let run = |g: &Gallery, base: u64| -> Vec<u64> {
            (0..40)
                .map(|k| {
                    g.enrol(&format!("w{base}-{}", k % 7), "x", &unit(base + k), &t)
                        .expect("enrol")
                })
                .collect()
        };
        let (a, c) = std::thread::scope(|s| {
            let h1 = s.spawn(|| run(&g1, 1_000));
            let h2 = s.spawn(|| run(&g2, 2_000));
            (h1.join().expect("thread"), h2.join().expect("thread"))
        });
        let mut all: Vec<u64> = a.iter().chain(&c).copied().collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 80, "every id handed out once");
        assert_eq!(g1.len().expect("len"), 80);
        // Each handle finds what the other wrote.
        assert_eq!(g1.search(&unit(2_005), 1).expect("search")[0].id, c[5]);
        assert_eq!(g2.search(&unit(1_007), 1).expect("search")[0].id, a[7]);
        // A delete through one handle disappears from the other's searches.
        g2.delete(a[7]).expect("delete");
        assert_ne!(g1.search(&unit(1_007), 1).expect("search")[0].id, a[7]);
    }
}

/// Runs in a child process (see the tests below): enrols `FACELENS_CHILD_COUNT` faces (or until
/// killed) into `FACELENS_CHILD_GALLERY`, printing `ACK <id>` after each acknowledged enrol.
#[test]
#[ignore = "helper run in a child process by the multi-process tests"]
fn child_enrol_loop() {
    let Ok(dir) = std::env::var("FACELENS_CHILD_GALLERY") else {
        return;
    };
    let count: u64 = std::env::var("FACELENS_CHILD_COUNT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(u64::MAX);
    let seed: u64 = std::env::var("FACELENS_CHILD_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let g = Gallery::open_location(&GalleryLocation::parse(&dir).expect("location"))
        .expect("child open");
    let t = RgbImage::new(112, 112);
    for k in 0..count {
        let id = g
            .enrol(&format!("c{seed}-{}", k % 5), "child", &unit(seed + k), &t)
            .expect("child enrol");
        println!("ACK {id}");
    }
}

fn spawn_child(gallery: &str, count: Option<u64>, seed: u64) -> std::process::Child {
    let mut cmd = Command::new(std::env::current_exe().expect("current exe"));
    cmd.args([
        "gallery_store::child_enrol_loop",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("FACELENS_CHILD_GALLERY", gallery)
    .env("FACELENS_CHILD_SEED", seed.to_string())
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    if let Some(n) = count {
        cmd.env("FACELENS_CHILD_COUNT", n.to_string());
    }
    cmd.spawn().expect("spawn child")
}

fn acks(out: impl std::io::Read) -> Vec<u64> {
    BufReader::new(out)
        .lines()
        .map_while(Result::ok)
        // libtest prints "test name ... " without a newline before the test's own output.
        .filter_map(|l| {
            l.rsplit_once("ACK ")
                .and_then(|(_, s)| s.trim().parse().ok())
        })
        .collect()
}

#[test]
fn two_processes_enrolling_into_one_folder_lose_nothing() {
    for b in [Backend::sqlite(), Backend::postgres()] {
        let loc = b.location().to_string_with_secret();
        let kids: Vec<_> = [1u64, 2]
            .iter()
            .map(|&i| spawn_child(&loc, Some(20), i * 100_000))
            .collect();
        let mut acked = Vec::new();
        for mut k in kids {
            let out = k.stdout.take().expect("stdout");
            acked.extend(acks(out));
            assert!(k.wait().expect("wait").success());
        }
        assert_eq!(acked.len(), 40);
        let g = b.open();
        let ids: std::collections::BTreeSet<u64> =
            g.entries().expect("entries").iter().map(|e| e.id).collect();
        assert_eq!(ids.len(), 40, "40 faces stored");
        assert!(
            acked.iter().all(|id| ids.contains(id)),
            "every acknowledged id is present"
        );
    }
}

#[test]
fn kill_9_during_enrol_loses_no_acknowledged_face() {
    for b in [Backend::sqlite(), Backend::postgres()] {
        let loc = b.location().to_string_with_secret();
        let mut acked = Vec::new();
        // Kill at several moments: early, mid-stream, later (the child enrols continuously).
        for (round, wait_ms) in [40u64, 150, 320, 90, 500].iter().enumerate() {
            let mut kid = spawn_child(&loc, None, 1_000_000 * (round as u64 + 1));
            let out = kid.stdout.take().expect("stdout");
            let reader = std::thread::spawn(move || acks(out));
            std::thread::sleep(Duration::from_millis(400 + wait_ms));
            kid.kill().expect("kill -9");
            kid.wait().expect("wait");
            acked.extend(reader.join().expect("reader"));
        }
        assert!(
            !acked.is_empty(),
            "the children enrolled nothing before being killed"
        );
        let g = b.open();
        let ids: std::collections::BTreeSet<u64> =
            g.entries().expect("entries").iter().map(|e| e.id).collect();
        let lost: Vec<_> = acked.iter().filter(|id| !ids.contains(id)).collect();
        assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
        // The store is usable and its index agrees with it.
        let last = *acked.last().expect("one ack");
        let e = g.entry(last).expect("entry");
        assert_eq!(g.search(&e.embedding, 1).expect("search")[0].id, last);
        eprintln!(
            "kill -9: {} acknowledged, {} stored, 0 lost",
            acked.len(),
            ids.len()
        );
    }
}

#[test]
fn temporaries_left_by_a_killed_save_are_swept_on_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let g = dir.path().join("g");
    drop(Gallery::open(&g).expect("open"));
    let file = |name: &str, age_s: u64| {
        let p = g.join(name);
        std::fs::write(&p, b"half-written").expect("write");
        let t = std::time::SystemTime::now() - Duration::from_secs(age_s);
        std::fs::File::options()
            .write(true)
            .open(&p)
            .and_then(|f| f.set_modified(t))
            .expect("mtime");
        p
    };
    // A process that no longer exists (pids never reach 4e9), an old atomic-write temporary,
    // and what must stay: this process's own index temporary, a fresh temporary (a write in
    // progress elsewhere) and a file that is not ours.
    let dead = file("index.usearch.tmp4000000000", 5);
    let old = file(".tmpAbC123", 2 * 3600);
    let own = file(&format!("index.usearch.tmp{}", std::process::id()), 5);
    let fresh = file(".tmpXyZ789", 5);
    let other = file("notes.txt", 2 * 3600);
    let opened = Gallery::open(&g).expect("open");
    assert!(!dead.exists() && !old.exists(), "stale temporaries removed");
    assert!(
        own.exists() && fresh.exists() && other.exists(),
        "the rest kept"
    );
    assert_eq!(opened.len().expect("len"), 0);
}

/// Mounts a small tmpfs (root only). `None` with a note when mounting is not permitted here;
/// under `FACELENS_REQUIRE_TESTDATA` (CI) that is a failure instead.
fn tmpfs(size: &str) -> Option<(tempfile::TempDir, MountGuard)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir.path())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("FACELENS_REQUIRE_TESTDATA").is_none(),
            "cannot mount a tmpfs for the disk-full/read-only tests (CI runs as root)"
        );
        eprintln!("SKIPPED: mounting a tmpfs needs root");
        return None;
    }
    let guard = MountGuard(dir.path().to_path_buf());
    Some((dir, guard))
}

struct MountGuard(std::path::PathBuf);
impl Drop for MountGuard {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_fails_clearly_and_keeps_what_was_stored() {
    let Some((dir, _m)) = tmpfs("1m") else { return };
    let g = Gallery::open(dir.path()).expect("open");
    let t = RgbImage::from_fn(112, 112, |x, y| {
        image::Rgb([(x * 7 + y) as u8, (y * 3) as u8, 9])
    });
    let mut acked = Vec::new();
    let err = loop {
        match g.enrol("Filler", "x", &unit(acked.len() as u64 + 1), &t) {
            Ok(id) => acked.push(id),
            Err(e) => break e,
        }
        assert!(acked.len() < 10_000, "the 1 MiB disk never filled");
    };
    let msg = err.to_string();
    assert!(
        msg.contains("full") && msg.contains("gallery.db"),
        "unclear error: {msg}"
    );
    assert_eq!(
        g.len().expect("len"),
        acked.len(),
        "the failed write changed the count"
    );
    let first = g.entry(acked[0]).expect("entry");
    assert_eq!(
        g.search(&first.embedding, 1).expect("search")[0].id,
        acked[0]
    );
    drop(g);
    let g = Gallery::open(dir.path()).expect("reopen on a full disk");
    let ids: Vec<u64> = g.entries().expect("entries").iter().map(|e| e.id).collect();
    assert_eq!(ids, acked, "exactly the acknowledged faces survive");
}

#[test]
fn a_read_only_folder_fails_clearly_and_keeps_the_data() {
    let Some((dir, _m)) = tmpfs("8m") else { return };
    let t = RgbImage::new(112, 112);
    let (a, b) = {
        let g = Gallery::open(dir.path()).expect("open");
        (
            g.enrol("Ann", "a", &unit(1), &t).expect("enrol"),
            g.enrol("Ben", "b", &unit(2), &t).expect("enrol"),
        )
    };
    // The same folder, seen through a read-only bind mount.
    let ro = tempfile::tempdir().expect("tempdir");
    let mounted = |args: &[&str]| {
        Command::new("mount")
            .args(args)
            .status()
            .is_ok_and(|s| s.success())
    };
    let (src, dst) = (dir.path().to_string_lossy(), ro.path().to_string_lossy());
    assert!(mounted(&["--bind", &src, &dst]), "bind mount");
    let _ro_guard = MountGuard(ro.path().to_path_buf());
    assert!(
        mounted(&["-o", "remount,bind,ro", &dst]),
        "make it read-only"
    );
    let msg = Gallery::open(ro.path())
        .expect_err("a read-only gallery cannot be opened for writing")
        .to_string();
    assert!(msg.contains("gallery.db"), "no path in: {msg}");
    assert!(msg.contains("read-only"), "unclear: {msg}");
    // Nothing was lost or changed.
    let g = Gallery::open(dir.path()).expect("open read-write");
    let e = g.entries().expect("entries");
    assert_eq!(
        e.iter()
            .map(|x| (x.id, x.name.as_str()))
            .collect::<Vec<_>>(),
        [(a, "Ann"), (b, "Ben")]
    );
    assert_eq!(g.search(&unit(2), 1).expect("search")[0].id, b);
}

#[test]
fn an_old_json_gallery_is_migrated_with_a_backup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let e1 = unit(1);
    let e2 = unit(2);
    let json = serde_json::json!({
        "schema": 1, "next_id": 9,
        "entries": [
            {"id": 3, "name": "Old Ann", "source": "a.jpg", "enrolled_at_unix_s": 100, "embedding": e1},
            {"id": 5, "name": "Old Ben\u{1b}[2J", "source": "b.jpg", "enrolled_at_unix_s": 200, "embedding": e2},
        ]
    });
    std::fs::write(dir.path().join("gallery.json"), json.to_string()).expect("write");
    std::fs::create_dir_all(dir.path().join("thumbs")).expect("thumbs");
    let mut png = std::io::Cursor::new(Vec::new());
    RgbImage::new(112, 112)
        .write_to(&mut png, image::ImageFormat::Png)
        .expect("png");
    std::fs::write(dir.path().join("thumbs/3.png"), png.get_ref()).expect("write");

    let g = Gallery::open(dir.path()).expect("open migrates");
    let e = g.entries().expect("entries");
    assert_eq!(e.iter().map(|x| x.id).collect::<Vec<_>>(), [3, 5]);
    assert_eq!(e[0].name, "Old Ann");
    assert!(
        !e[1].name.contains('\u{1b}'),
        "control characters are not carried over"
    );
    assert_eq!(g.thumbnail_png(3).expect("thumb"), png.into_inner());
    assert_eq!(g.search(&e2, 1).expect("search")[0].id, 5);
    assert!(
        g.enrol("New", "n", &unit(3), &RgbImage::new(1, 1))
            .expect("enrol")
            >= 9,
        "ids continue after next_id"
    );
    assert!(
        dir.path().join("backup-json/gallery.json").is_file(),
        "backup kept"
    );
    assert!(!dir.path().join("gallery.json").exists());
    drop(g);
    assert_eq!(
        Gallery::open(dir.path())
            .expect("reopen")
            .len()
            .expect("len"),
        3,
        "imported once"
    );

    // A corrupt old gallery is an error, and nothing is moved.
    let bad = tempfile::tempdir().expect("tempdir");
    std::fs::write(bad.path().join("gallery.json"), b"{ not json").expect("write");
    assert!(matches!(
        Gallery::open(bad.path()),
        Err(GalleryError::Corrupt { .. })
    ));
    assert!(bad.path().join("gallery.json").is_file());
}

#[test]
fn export_moves_a_gallery_between_backends_and_bad_files_change_nothing() {
    let file_dir = tempfile::tempdir().expect("tempdir");
    let file = file_dir.path().join("gallery.jsonl");
    let from = Backend::sqlite();
    let thumb = RgbImage::from_fn(112, 112, |x, y| image::Rgb([x as u8, y as u8, 7]));
    {
        let g = from.open();
        for k in 0..12u64 {
            g.enrol_face(&facelens_core::gallery::NewFace {
                name: &format!("P{}", k % 4),
                source: &format!("{k}.jpg"),
                embedding: &unit(500 + k),
                thumbnail: &thumb,
                detector_score: Some(0.99),
            })
            .expect("enrol");
        }
        assert_eq!(g.export(&file).expect("export"), 12);
    }
    let to = Backend::postgres();
    let g = to.open();
    g.enrol("P1", "already.jpg", &unit(9_999), &thumb)
        .expect("enrol");
    assert_eq!(g.import(&file).expect("import"), 12);
    let e = g.entries().expect("entries");
    assert_eq!(e.len(), 13);
    let p1: Vec<_> = e.iter().filter(|x| x.name == "P1").collect();
    assert_eq!(
        p1.len(),
        4,
        "imported faces join the person of the same name"
    );
    assert!(p1.iter().all(|x| x.person_id == p1[0].person_id));
    let hit = &g.search(&unit(507), 1).expect("search")[0];
    assert_eq!((hit.name.as_str(), hit.cosine > 0.9999), ("P3", true));
    let src = from.open().entries().expect("entries");
    let moved = e.iter().find(|x| x.source == "7.jpg").expect("moved face");
    assert_eq!(
        moved.embedding,
        src.iter()
            .find(|x| x.source == "7.jpg")
            .expect("source")
            .embedding
    );
    assert_eq!(moved.detector_score, Some(0.99));
    let mut png = std::io::Cursor::new(Vec::new());
    thumb
        .write_to(&mut png, image::ImageFormat::Png)
        .expect("png");
    assert_eq!(g.thumbnail_png(moved.id).expect("thumb"), png.into_inner());

    // Bad files: refused with a reason, and the gallery is unchanged.
    let text = std::fs::read_to_string(&file).expect("read");
    let mut lines: Vec<&str> = text.lines().collect();
    let foreign = text.replacen("fr_feature@", "other_model@", 1);
    let truncated = lines[..6].join("\n");
    let last = lines.len() - 1;
    let bad_face = lines[last].replacen("\"name\":\"", "\"name\":\"\u{202E}", 1);
    lines[last] = &bad_face;
    let one_bad = lines.join("\n");
    for (what, body, says) in [
        ("foreign model", foreign.as_str(), "model"),
        ("truncated", truncated.as_str(), "truncated"),
        ("one bad face at the end", one_bad.as_str(), "line 13"),
        (
            "not an export",
            "{\"hello\": 1}\n",
            "not a facelens gallery export",
        ),
        ("empty", "", "empty"),
    ] {
        let bad = file_dir.path().join("bad.jsonl");
        std::fs::write(&bad, body).expect("write");
        let err = g.import(&bad).expect_err(what).to_string();
        assert!(err.contains(says), "{what}: {err}");
        assert_eq!(g.len().expect("len"), 13, "{what} changed the gallery");
    }
}
