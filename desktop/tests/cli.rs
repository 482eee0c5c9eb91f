//! The real `facelens` binary: JSON output, exit codes, one-line errors, the gallery round trip.

mod common;

use common::faces_dir;

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
    let Some(dir) = faces_dir() else { return };
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
    let Some(dir) = faces_dir() else { return };
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
