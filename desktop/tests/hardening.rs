//! The real `facelens` binary against the second round of attacks: writes that could destroy a
//! gallery, locations that could leak a password or create junk folders, lossy photo keys,
//! silently skipped entries, huge files, junk imports, and ONNX Runtime's telemetry.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::faces_dir;

fn facelens(gallery: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_facelens"))
        .arg("--gallery")
        .arg(gallery)
        .args(args)
        .output()
        .expect("runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 test path")
}

/// A 512-d unit vector, different for each seed.
fn unit(seed: u32) -> Vec<f32> {
    let mut v: Vec<f32> = (0..512u32)
        .map(|i| {
            ((i.wrapping_mul(2_654_435_761) ^ seed.wrapping_mul(40_503)) % 1000) as f32 - 500.0
        })
        .collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
    v
}

fn thumbnail_png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(112, 112, |x, y| image::Rgb([x as u8, y as u8, 90]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("png");
    out.into_inner()
}

fn face_line(name: &str, seed: u32, png: &[u8], enrolled_at: u64) -> String {
    let bytes: Vec<u8> = unit(seed).iter().flat_map(|x| x.to_le_bytes()).collect();
    serde_json::json!({
        "name": name,
        "source": "test",
        "enrolled_at_unix_s": enrolled_at,
        "embedding_f32le": STANDARD.encode(bytes),
        "thumbnail_png": STANDARD.encode(png),
    })
    .to_string()
}

fn export_file(dir: &Path, name: &str, header_faces: &str, lines: &[String]) -> PathBuf {
    let p = dir.join(name);
    let mut f = std::fs::File::create(&p).expect("create");
    writeln!(
        f,
        "{{\"format\":\"facelens-gallery\",\"version\":1,\"embedding_model\":\"{}\",\"faces\":{header_faces}}}",
        facelens_core::gallery::EMBEDDING_MODEL_ID
    )
    .expect("write");
    for l in lines {
        writeln!(f, "{l}").expect("write");
    }
    p
}

/// A gallery folder holding three faces, imported from an export file (no model needed).
fn gallery_with_faces(root: &Path) -> PathBuf {
    let g = root.join("G");
    let png = thumbnail_png();
    let lines: Vec<String> = (0..3)
        .map(|i| face_line(&format!("P{i}"), i, &png, 1_700_000_000))
        .collect();
    let file = export_file(root, "seed.jsonl", "3", &lines);
    let out = facelens(&g, &["gallery", "import", s(&file)]);
    assert!(out.status.success(), "{}", text(&out));
    g
}

fn face_count(g: &Path) -> usize {
    let out = facelens(g, &["gallery", "list"]);
    assert!(out.status.success(), "{}", text(&out));
    // "N entries in DIR"
    let t = text(&out);
    t.lines()
        .find_map(|l| {
            l.split_once(" entries in ")
                .and_then(|(n, _)| n.trim().parse().ok())
        })
        .unwrap_or_else(|| panic!("no count in {t}"))
}

#[test]
fn export_never_writes_over_the_gallery_a_device_a_link_or_a_foreign_file() {
    let root = tempfile::tempdir().expect("tempdir");
    let g = gallery_with_faces(root.path());
    assert_eq!(face_count(&g), 3);

    // Row 1: the gallery's own database, and any file in its folder.
    for target in [
        g.join("gallery.db"),
        g.join("gallery.db-wal"),
        g.join("new.jsonl"),
    ] {
        let out = facelens(&g, &["gallery", "export", s(&target)]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(text(&out).contains("will not write"), "{}", text(&out));
        assert!(
            text(&out).contains("gallery's own folder"),
            "{}",
            text(&out)
        );
    }
    assert_eq!(face_count(&g), 3, "the gallery is intact");

    // A device (as root this replaced /dev/full with a regular file).
    let out = facelens(&g, &["gallery", "export", "/dev/full"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("not a regular file"), "{}", text(&out));
    {
        use std::os::unix::fs::FileTypeExt;
        let t = std::fs::symlink_metadata("/dev/full")
            .expect("meta")
            .file_type();
        assert!(t.is_char_device(), "/dev/full is still a device");
    }

    // A link, a folder and a file facelens did not write.
    let mine = root.path().join("notes.txt");
    std::fs::write(&mine, "my notes").expect("write");
    let link = root.path().join("link.jsonl");
    std::os::unix::fs::symlink(&mine, &link).expect("symlink");
    for (target, why) in [
        (&link, "symbolic link"),
        (&root.path().to_path_buf(), "a folder"),
        (&mine, "not a facelens gallery export"),
    ] {
        let out = facelens(&g, &["gallery", "export", s(target)]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(text(&out).contains(why), "{why}: {}", text(&out));
    }
    assert_eq!(std::fs::read_to_string(&mine).expect("read"), "my notes");

    // A new file, then the same file again (an earlier export is replaced).
    let file = root.path().join("out.jsonl");
    for _ in 0..2 {
        let out = facelens(&g, &["gallery", "export", s(&file)]);
        assert!(out.status.success(), "{}", text(&out));
        assert!(text(&out).contains("exported 3 faces"), "{}", text(&out));
    }

    // Row 9: the temporary file of an export killed mid-way (its process gone) is removed by
    // the next export into that folder; another live process's is left alone.
    let dead = root
        .path()
        .join(".out.jsonl.facelens-export-4194303-AbCdEf.tmp");
    let alive = root.path().join(format!(
        ".out.jsonl.facelens-export-{}-AbCdEf.tmp",
        std::process::id()
    ));
    std::fs::write(&dead, "half an export").expect("write");
    std::fs::write(&alive, "an export in progress").expect("write");
    let out = facelens(&g, &["gallery", "export", s(&file)]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!dead.exists(), "a dead export's temporary file is cleaned");
    assert!(alive.exists(), "a running export's temporary file is kept");
    let leftovers: Vec<_> = std::fs::read_dir(root.path())
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp") && !n.contains(&std::process::id().to_string()))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_location_is_a_folder_or_a_postgres_url_and_never_prints_a_password() {
    let root = tempfile::tempdir().expect("tempdir");
    for bad in [
        "postgress://alice:pw7Secret@db.example/facelens",
        "mysql://alice:pw7Secret@db/x",
        "sqlite:///tmp/x.db",
        "file:///tmp/x",
        "postgres:alice:pw7Secret@db",
        "host=db user=alice password=pw7Secret dbname=x",
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_facelens"))
            .current_dir(root.path())
            .args(["--gallery", bad, "gallery", "list"])
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(1), "{bad}: {}", text(&out));
        assert!(
            text(&out).contains("invalid gallery location"),
            "{bad}: {}",
            text(&out)
        );
        assert!(!text(&out).contains("pw7Secret"), "{bad}: {}", text(&out));
    }
    let created: Vec<_> = std::fs::read_dir(root.path())
        .expect("dir")
        .flatten()
        .collect();
    assert!(created.is_empty(), "no folder was created: {created:?}");
}

#[test]
fn imports_check_pixels_times_duplicates_and_sizes() {
    let root = tempfile::tempdir().expect("tempdir");
    let g = root.path().join("G");
    let png = thumbnail_png();
    let good = face_line("Ann", 1, &png, 1_700_000_000);

    // Row 11: a PNG whose header is valid and whose pixels are random bytes.
    let mut noisy = png.clone();
    let start = noisy.len() / 3;
    let end = noisy.len() - 20;
    let mut x = 12_345u32;
    for b in &mut noisy[start..end] {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        *b = (x >> 16) as u8;
    }
    let cases = [
        (
            "noise",
            "2",
            vec![good.clone(), face_line("Bo", 2, &noisy, 1_700_000_000)],
            "thumbnail",
        ),
        (
            "time",
            "2",
            vec![good.clone(), face_line("Bo", 2, &png, u64::MAX)],
            "enrolled_at_unix_s",
        ),
        (
            "dupes",
            "2",
            vec![good.clone(), good.clone()],
            "repeats the face of line 2",
        ),
        ("header", "-1", vec![], "the header line is invalid"),
    ];
    for (name, header, lines, want) in cases {
        let file = export_file(root.path(), &format!("{name}.jsonl"), header, &lines);
        let out = facelens(&g, &["gallery", "import", s(&file)]);
        assert_eq!(out.status.code(), Some(1), "{name}: {}", text(&out));
        assert!(text(&out).contains(want), "{name}: {}", text(&out));
        assert_eq!(face_count(&g), 0, "{name}: nothing imported");
    }

    // Row 6: a one-line file far longer than any face line, and a huge (sparse) file, refused
    // without reading them whole.
    let long = root.path().join("long.jsonl");
    std::fs::write(&long, vec![b'x'; 6 << 20]).expect("write");
    let out = facelens(&g, &["gallery", "import", s(&long)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("longer than"), "{}", text(&out));
    let huge = root.path().join("huge.jsonl");
    std::fs::File::create(&huge)
        .and_then(|f| f.set_len(3 << 30))
        .expect("sparse file");
    let out = facelens(&g, &["gallery", "import", s(&huge)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("at most"), "{}", text(&out));

    // The good face alone goes in.
    let file = export_file(root.path(), "good.jsonl", "1", &[good]);
    let out = facelens(&g, &["gallery", "import", s(&file)]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(face_count(&g), 1);
}

#[test]
fn a_huge_image_file_is_refused_from_its_size() {
    let root = tempfile::tempdir().expect("tempdir");
    let big = root.path().join("big.jpg");
    std::fs::File::create(&big)
        .and_then(|f| f.set_len(3 << 30))
        .expect("sparse file");
    let out = facelens(&root.path().join("G"), &["analyze", s(&big)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("image files over 268435456 bytes are not read"),
        "{}",
        text(&out)
    );
}

/// Makes `depth` nested folders of a 200-character name under `root` (each step relative, so
/// the whole path may pass the OS's path limit), and copies `photo` into the deepest.
fn deep_folder(root: &Path, depth: usize, photo: &Path) {
    let name = "d".repeat(200);
    let script = format!(
        "cd '{}' && for i in $(seq 1 {depth}); do mkdir {name} && cd {name} || exit 1; done; cp '{}' deep.jpg",
        root.display(),
        photo.display()
    );
    // bash: dash's `cd` refuses a logical path past the limit.
    let st = Command::new("bash")
        .arg("-c")
        .arg(script)
        .status()
        .expect("bash");
    assert!(st.success());
}

#[test]
fn people_scan_keys_photos_exactly_and_reports_every_entry_it_skips() {
    let faces = faces_dir();
    use std::os::unix::ffi::OsStrExt;
    let root = tempfile::tempdir().expect("tempdir");
    let photos = root.path().join("photos");
    let outside = root.path().join("outside");
    std::fs::create_dir_all(&photos).expect("mkdir");
    std::fs::create_dir_all(&outside).expect("mkdir");
    let img1 = faces.join("img1.jpg");
    std::fs::copy(&img1, photos.join("ok.jpg")).expect("copy");
    // Row 5: two names that differ only in a byte that is not UTF-8.
    for b in [0xff_u8, 0xfe] {
        let bytes = [b'a', b, b'.', b'j', b'p', b'g'];
        std::fs::copy(&img1, photos.join(std::ffi::OsStr::from_bytes(&bytes))).expect("copy");
    }
    // Row 8: a link to a photo inside the folder (scanned, once), one to a photo outside (not
    // followed, reported), one to a folder (reported), and a path past the OS limit.
    std::os::unix::fs::symlink(photos.join("ok.jpg"), photos.join("inside-link.jpg"))
        .expect("symlink");
    std::fs::copy(faces.join("img2.jpg"), outside.join("far.jpg")).expect("copy");
    std::os::unix::fs::symlink(outside.join("far.jpg"), photos.join("outside-link.jpg"))
        .expect("symlink");
    std::os::unix::fs::symlink(&outside, photos.join("folder-link")).expect("symlink");
    deep_folder(&photos, 22, &img1);

    let g = root.path().join("G");
    let out = facelens(&g, &["people", "scan", "--json", s(&photos)]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "something was not scanned: {t}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json report");
    let listed = |key: &str| -> Vec<String> {
        report[key]
            .as_array()
            .into_iter()
            .flatten()
            .map(|u| {
                format!(
                    "{}: {}",
                    u["path"].as_str().unwrap_or(""),
                    u["error"].as_str().unwrap_or("")
                )
            })
            .collect()
    };
    let unreadable = listed("unreadable");
    let not_scanned = listed("not_scanned");
    assert_eq!(
        unreadable
            .iter()
            .filter(|u| u.contains("not valid UTF-8"))
            .count(),
        2,
        "both non-UTF-8 names refused, neither stored lossily: {unreadable:?}"
    );
    assert_eq!(
        report["scanned"], 1,
        "ok.jpg and its link are one photo: {t}"
    );
    assert_eq!(report["skipped"], 1, "{t}");
    let has = |needle: &str| not_scanned.iter().any(|n| n.contains(needle));
    assert!(has("outside-link.jpg: symbolic link to"), "{not_scanned:?}");
    assert!(
        has("folder-link: symbolic link to a folder"),
        "{not_scanned:?}"
    );
    assert!(
        has("too long"),
        "the path past the OS limit: {not_scanned:?}"
    );
}

#[test]
fn no_telemetry_or_device_id_is_created_anywhere() {
    let faces = faces_dir();
    let models = facelens_core::provision::resolve_models_dir(None);
    let home = tempfile::tempdir().expect("tempdir");
    let gallery = tempfile::tempdir().expect("tempdir");
    for args in [
        vec![
            "analyze".to_owned(),
            s(&faces.join("couple.jpg")).to_owned(),
        ],
        vec!["models".to_owned(), "list".to_owned()],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_facelens"))
            .args(&args)
            .env("HOME", home.path())
            .env("XDG_CACHE_HOME", home.path().join(".cache"))
            .env("XDG_DATA_HOME", home.path().join(".local/share"))
            .env("FACELENS_MODELS_DIR", &models)
            .env("FACELENS_GALLERY_DIR", gallery.path())
            .env_remove("ORT_DISABLE_TELEMETRY")
            .env_remove("ORT_TELEMETRY_DISABLED")
            .output()
            .expect("runs");
        assert!(out.status.success(), "{args:?}: {}", text(&out));
    }
    let mut created = Vec::new();
    for e in walk(home.path()) {
        created.push(
            e.strip_prefix(home.path())
                .unwrap_or(&e)
                .display()
                .to_string(),
        );
    }
    assert!(
        created.is_empty(),
        "a run with models and gallery elsewhere created in HOME: {created:?}"
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        out.push(e.path());
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(walk(&e.path()));
        }
    }
    out
}
