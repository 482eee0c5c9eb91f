//! The real `facelens` binary: JSON output, exit codes, one-line errors, the gallery round trip.

mod common;

use common::{faces_dir, sorted_file_names};

use std::path::Path;
use std::process::{Command, Output};

fn facelens(gallery: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_facelens"))
        .args(args)
        .env("FACELENS_GALLERY_DIR", gallery)
        .output()
        .expect("runs")
}

#[test]
fn bad_input_exits_1_with_one_line() {
    let g = tempfile::tempdir().expect("tempdir");
    let junk = g.path().join("notes.txt");
    std::fs::write(&junk, "not an image").expect("write");
    let out = facelens(g.path(), &["analyze", junk.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains("unsupported or unrecognised image format"),
        "{stderr}"
    );
    // A missing file names its cause once.
    let out = facelens(g.path(), &["analyze", "/nonexistent/photo.jpg"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("No such file").count(), 1, "{stderr}");
    // Usage errors are exit code 2.
    assert_eq!(facelens(g.path(), &["analyze"]).status.code(), Some(2));
    assert_eq!(
        facelens(g.path(), &["gallery", "delete", "999"])
            .status
            .code(),
        Some(1)
    );
}

#[test]
fn analyze_json_enrol_and_search() {
    let dir = faces_dir();
    let g = tempfile::tempdir().expect("tempdir");
    let couple = dir.join("couple.jpg");
    let out = facelens(
        g.path(),
        &["analyze", "--json", couple.to_str().expect("utf8")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(v["schema_version"], 1);
    let faces = v["faces"].as_array().expect("faces");
    assert_eq!(faces.len(), 2);
    for f in faces {
        assert_eq!(f["embedding"].as_array().map(Vec::len), Some(512));
        assert!(f["attributes"]["age"]["years"].as_f64().is_some());
        assert!(f["attributes"]["race"][0]["label"].is_string());
        assert!(f["detection"]["landmarks"]["eye_left"]["x"].is_number());
    }
    assert!(v["timings"]["detect_ms"].as_f64().is_some_and(|t| t > 0.0));

    let img1 = dir.join("img1.jpg");
    let out = facelens(
        g.path(),
        &[
            "enrol",
            "--name",
            "Person One",
            img1.to_str().expect("utf8"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = facelens(g.path(), &["gallery", "list"]);
    assert!(String::from_utf8_lossy(&list.stdout).contains("Person One"));
    let img2 = dir.join("img2.jpg");
    let out = facelens(g.path(), &["search", img2.to_str().expect("utf8")]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("Person One") && text.contains("same person"),
        "{text}"
    );
}

#[test]
fn a_closed_stdout_ends_the_listing_quietly() {
    let g = tempfile::tempdir().expect("tempdir");
    {
        let gallery = facelens_core::gallery::Gallery::open(g.path()).expect("gallery");
        let mut e = vec![0.0f32; 512];
        e[0] = 1.0;
        for k in 0..50 {
            e.rotate_right(1);
            gallery
                .enrol(
                    &format!("Person {k}"),
                    "x.jpg",
                    &e,
                    &image::RgbImage::new(4, 4),
                )
                .expect("enrol");
        }
    }
    // `facelens gallery list | head -0`: the reader is gone before the first line is written.
    let mut child = Command::new(env!("CARGO_BIN_EXE_facelens"))
        .args(["gallery", "list"])
        .env("FACELENS_GALLERY_DIR", g.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("waits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_low_quality_face_needs_force_to_enrol() {
    let dir = faces_dir();
    let g = tempfile::tempdir().expect("tempdir");
    let photo = dir.join("img62.jpg");
    let photo = photo.to_str().expect("utf8");
    let out = facelens(g.path(), &["analyze", "--json", photo]);
    assert!(out.status.success());
    let a: facelens_core::api::Analysis = serde_json::from_slice(&out.stdout).expect("json");
    let low = a
        .faces
        .iter()
        .position(|f| f.quality.as_ref().is_some_and(|q| q.low))
        .expect("img62 has a low-quality face (blurred, cut by the bottom edge)");
    let face = (low + 1).to_string();
    let enrol = |extra: &[&str]| {
        let mut args = vec!["enrol", "--name", "Blurred", "--face", face.as_str()];
        args.extend_from_slice(extra);
        args.push(photo);
        facelens(g.path(), &args)
    };
    let out = enrol(&[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("low quality") && stderr.contains("--force"),
        "{stderr}"
    );
    let list = facelens(g.path(), &["gallery", "list"]);
    assert!(!String::from_utf8_lossy(&list.stdout).contains("Blurred"));
    let out = enrol(&["--force"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = facelens(g.path(), &["gallery", "list"]);
    assert!(String::from_utf8_lossy(&list.stdout).contains("Blurred"));
}

#[test]
fn people_scan_list_name_and_find() {
    let dir = faces_dir();
    let g = tempfile::tempdir().expect("tempdir");
    let photos = tempfile::tempdir().expect("tempdir");
    let nested = photos.path().join("2024").join("summer");
    std::fs::create_dir_all(&nested).expect("mkdir");
    for f in ["img1.jpg", "img2.jpg", "img8.jpg", "img9.jpg"] {
        std::fs::copy(dir.join(f), photos.path().join(f)).expect("copy");
    }
    std::fs::copy(dir.join("img4.jpg"), nested.join("img4.jpg")).expect("copy");
    std::fs::write(nested.join("broken.png"), b"not a photo").expect("write");
    let p = photos.path().to_str().expect("utf8");
    let out = facelens(g.path(), &["people", "scan", p]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // An unreadable file is reported and makes the exit code 1; the rest is scanned.
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("scanned 5 of 6 photos"), "{stdout}");
    assert!(
        stdout.contains("unreadable:") && stdout.contains("broken.png"),
        "{stdout}"
    );
    assert!(stderr.contains("[6/6]"), "progress per photo: {stderr}");
    // A second scan analyses nothing again.
    let out = facelens(g.path(), &["people", "scan", p]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("(5 already in the library)"));

    let out = facelens(g.path(), &["people", "list", "--json"]);
    assert!(out.status.success());
    let list: facelens_api::wire::PeopleList =
        serde_json::from_slice(&out.stdout).expect("people list JSON");
    assert_eq!(list.groups.len(), 2, "{list:?}");
    assert_eq!(
        list.groups.iter().map(|g| g.faces).collect::<Vec<_>>(),
        vec![3, 2]
    );
    let ada = list.groups[0].id;
    let out = facelens(g.path(), &["people", "name", &ada.to_string(), "Ada"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Two groups named differently are not merged.
    let other = list.groups[1].id.to_string();
    assert!(
        facelens(g.path(), &["people", "name", &other, "Bea"])
            .status
            .success()
    );
    let out = facelens(g.path(), &["people", "merge", &ada.to_string(), &other]);
    assert_eq!(out.status.code(), Some(1));

    // The named person is recognised by `search`, and found across the scanned photos.
    let img5 = dir.join("img5.jpg");
    let img5 = img5.to_str().expect("utf8");
    let out = facelens(g.path(), &["search", img5]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Ada"));
    let out = facelens(g.path(), &["find", img5, "--json"]);
    assert!(out.status.success());
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).expect("find JSON");
    let files = sorted_file_names(
        found["photos"]
            .as_array()
            .expect("photos")
            .iter()
            .map(|p| p["photo"].as_str().expect("photo")),
    );
    assert_eq!(files, ["img1.jpg", "img2.jpg", "img4.jpg"]);
    let out = facelens(g.path(), &["find", &format!("{img5}:2")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("out of range"));

    // A group as JSON, and every face to CSV (never over a file).
    let out = facelens(g.path(), &["people", "show", &ada.to_string(), "--json"]);
    assert!(out.status.success());
    let shown: facelens_api::wire::GroupFaces =
        serde_json::from_slice(&out.stdout).expect("group JSON");
    assert_eq!((shown.group, shown.faces.len()), (ada, 3));
    let csv = photos.path().join("people.csv");
    let csv_s = csv.to_str().expect("utf8");
    let out = facelens(g.path(), &["people", "export", csv_s]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&csv).expect("csv");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "photo,face,x1,y1,x2,y2,quality,group,person");
    assert_eq!(lines.len(), 1 + 5, "{text}");
    assert_eq!(
        lines.iter().filter(|l| l.ends_with(",Ada")).count(),
        3,
        "{text}"
    );
    assert_eq!(
        lines.iter().filter(|l| l.ends_with(",Bea")).count(),
        2,
        "{text}"
    );
    let out = facelens(g.path(), &["people", "export", csv_s]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&csv).expect("csv"), text);
}

/// Issue 35 (anonymised export): every face covered so that facelens's own detector finds none,
/// EXIF gone, the original untouched, nothing overwritten; `--keep` leaves a named person as is.
#[test]
fn anonymise_covers_faces_strips_metadata_and_keeps_the_named() {
    let dir = faces_dir();
    let g = tempfile::tempdir().expect("tempdir");
    let out = tempfile::tempdir().expect("tempdir");
    let s = |p: &Path| p.to_str().expect("utf8").to_owned();
    let couple = dir.join("couple.jpg");
    let selfie = dir.join("selfie-many-people.jpg");
    let original = std::fs::read(&couple).expect("read");
    assert!(
        original.windows(6).any(|w| w == b"Exif\0\0"),
        "the input carries EXIF"
    );
    let run = |args: &[String]| {
        let mut all = vec!["anonymise".to_owned()];
        all.extend_from_slice(args);
        facelens(
            g.path(),
            &all.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    };
    let o = run(&[s(&couple), s(&selfie), "--out".into(), s(out.path())]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("2 face(s): 2 covered"), "{stdout}");
    assert!(stdout.contains("7 face(s): 7 covered"), "{stdout}");
    assert_eq!(
        std::fs::read(&couple).expect("read"),
        original,
        "original untouched"
    );
    for name in ["couple.jpg", "selfie-many-people.jpg"] {
        let copy = out.path().join(name);
        let bytes = std::fs::read(&copy).expect("the copy");
        assert!(!bytes.windows(4).any(|w| w == b"Exif"), "{name}: EXIF left");
        let a = facelens(g.path(), &["analyze", "--json", &s(&copy)]);
        let v: serde_json::Value = serde_json::from_slice(&a.stdout).expect("json");
        assert_eq!(
            v["faces"].as_array().map(Vec::len),
            Some(0),
            "{name}: a face is left"
        );
    }
    // Never over a file: the same run again refuses both photos.
    let o = run(&[s(&couple), s(&selfie), "--out".into(), s(out.path())]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr).matches("exists").count(),
        2
    );

    // --keep: person01 enrolled as Ada; a photo of her beside a stranger keeps her face only.
    let o = facelens(
        g.path(),
        &["enrol", "--name", "Ada", &s(&dir.join("img2.jpg"))],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let load = |f: &str| {
        let img = image::open(dir.join(f)).expect("photo").to_rgb8();
        let h = 700;
        let w = img.width() * h / img.height();
        image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle)
    };
    let (ada, other) = (load("img1.jpg"), load("img8.jpg"));
    let mut both = image::RgbImage::new(ada.width() + other.width(), 700);
    image::imageops::replace(&mut both, &ada, 0, 0);
    image::imageops::replace(&mut both, &other, i64::from(ada.width()), 0);
    let pair = out.path().join("pair.png");
    both.save(&pair).expect("save");
    let kept = tempfile::tempdir().expect("tempdir");
    let o = run(&[
        s(&pair),
        "--out".into(),
        s(kept.path()),
        "--keep".into(),
        "Ada".into(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("2 face(s): 1 covered, 1 kept"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let copy = image::open(kept.path().join("pair.png"))
        .expect("copy")
        .to_rgb8();
    // Ada's face box in the pair, as facelens finds it there.
    let a = facelens(g.path(), &["analyze", "--json", &s(&pair)]);
    let v: serde_json::Value = serde_json::from_slice(&a.stdout).expect("json");
    let ada_box = v["faces"]
        .as_array()
        .expect("faces")
        .iter()
        .find(|f| f["matches"][0]["name"] == "Ada")
        .map(|f| f["detection"]["bbox"].clone())
        .expect("Ada is found in the pair");
    let px = |k: &str| ada_box[k].as_f64().expect("coordinate") as u32;
    let (x1, y1, x2, y2) = (
        px("x1"),
        px("y1"),
        px("x2").min(both.width() - 1),
        px("y2").min(699),
    );
    for y in y1..=y2 {
        for x in x1..=x2 {
            assert_eq!(
                copy.get_pixel(x, y),
                both.get_pixel(x, y),
                "Ada's face changed at ({x},{y})"
            );
        }
    }
    assert_ne!(copy, both, "the stranger is covered");
    let a = facelens(
        g.path(),
        &["analyze", "--json", &s(&kept.path().join("pair.png"))],
    );
    let v: serde_json::Value = serde_json::from_slice(&a.stdout).expect("json");
    let faces = v["faces"].as_array().expect("faces");
    assert_eq!(faces.len(), 1, "only Ada is left");
    assert_eq!(faces[0]["matches"][0]["name"], "Ada");
}
