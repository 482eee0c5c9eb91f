//! The real desktop app driven by egui_kittest: real models, real worker thread, real gallery in
//! a temporary folder. Screens are rendered when a GPU adapter (or a software one such as
//! lavapipe) is available and compared with the committed `tests/snapshots/*.png` (status bar
//! excluded); `UPDATE_SNAPSHOTS=1` rewrites them. Without a renderer the step says SKIPPED (and
//! fails under `FACELENS_REQUIRE_TESTDATA`).

mod common;

use common::{faces_dir, sorted_file_names, step_until};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use facelens_desktop::app::{Command, Settings, Status, View};
use facelens_desktop::worker::Source;
use facelens_desktop::{AppOptions, FacelensApp};

fn harness(gallery: &Path) -> Harness<'static, FacelensApp> {
    let gallery = gallery.to_path_buf();
    Harness::builder()
        .with_size([1280.0, 820.0])
        .build_eframe(move |cc| {
            FacelensApp::with_settings(
                &cc.egui_ctx,
                Settings::default(),
                AppOptions {
                    gallery: Some(gallery.to_string_lossy().into_owned()),
                    ..AppOptions::default()
                },
            )
        })
}

fn ready(h: &mut Harness<'static, FacelensApp>) {
    step_until(h, "models", |a| {
        a.status
            != Status::Loading {
                lines: vec![],
                done: 0,
                total: 0,
            }
            && !matches!(a.status, Status::Loading { .. })
    });
    assert_eq!(h.state().status, Status::Ready, "models loaded");
}

/// Height of the status bar at the bottom of the window, in pixels: it shows timings and the
/// photo's path, which differ from run to run and machine to machine, so comparisons leave it out.
const STATUS_BAR_PX: u32 = 28;

/// Renders the window and compares it (without the status bar) with the committed
/// `tests/snapshots/{name}.png`; `UPDATE_SNAPSHOTS=1` writes the new image instead. On a mismatch
/// the new image and a diff are written beside it and the test fails.
fn save_snapshot(h: &mut Harness<'static, FacelensApp>, name: &str) {
    match h.render() {
        Ok(img) => {
            let (w, height) = img.dimensions();
            let body =
                image::imageops::crop_imm(&img, 0, 0, w, height.saturating_sub(STATUS_BAR_PX))
                    .to_image();
            let options = egui_kittest::SnapshotOptions::new()
                .output_path(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots"))
                // Anti-aliased edges may differ a little between renderers and CPUs (lavapipe's
                // rasteriser follows the CPU's vector width); a changed label or layout moves
                // thousands of pixels.
                .max_failed_pixels(300);
            if let Err(e) = egui_kittest::try_image_snapshot_options(&body, name, &options) {
                panic!("snapshot {name}: {e}");
            }
        }
        Err(e) => {
            assert!(
                std::env::var_os("FACELENS_REQUIRE_TESTDATA").is_none(),
                "snapshot {name}: no renderer ({e}), and FACELENS_REQUIRE_TESTDATA is set (CI)"
            );
            eprintln!("SKIPPED snapshot {name}: no renderer ({e})");
        }
    }
}

/// A drop as the OS delivers it: a path, or bytes without one.
#[derive(Debug)]
struct TestDrop {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl egui::DroppedFile for TestDrop {
    fn path(&self) -> &Path {
        &self.path
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        Ok(self.bytes.clone())
    }
}

#[test]
fn group_photo_is_analysed_and_shown() {
    let dir = faces_dir();
    let g = tempfile::tempdir().expect("tempdir");
    let mut h = harness(g.path());
    ready(&mut h);
    save_snapshot(&mut h, "empty");
    // Exactly what a file drop produces.
    h.state_mut().push(Command::Open(Source::File(
        dir.join("selfie-many-people.jpg"),
    )));
    // The UI keeps drawing while the worker analyses: record the longest frame (reported only).
    let mut longest = Duration::ZERO;
    let mut frames = 0;
    let start = Instant::now();
    while h.state().current.is_none() || h.state().is_busy() {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "timed out waiting for analysis"
        );
        let t = Instant::now();
        h.step();
        longest = longest.max(t.elapsed());
        frames += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    eprintln!(
        "while analysing ({:.0} ms): {frames} frames, longest frame {:.1} ms",
        start.elapsed().as_secs_f64() * 1000.0,
        longest.as_secs_f64() * 1000.0
    );
    h.run_steps(3);
    let n = h
        .state()
        .current
        .as_ref()
        .map_or(0, |c| c.analysis.faces.len());
    assert_eq!(n, 7);
    h.get_by_label("7 face(s)");
    h.get_by_label_contains("Face 1 of 7");
    h.get_by_label_contains("Age:");
    h.get_by_label_contains("Gender:");
    assert!(
        h.query_all_by_label_contains("happy").count() >= 2,
        "emotion bar and summary"
    );
    h.get_by_label_contains("detect");
    // Arrow keys move between faces.
    h.key_press(egui::Key::ArrowRight);
    h.run_steps(2);
    assert_eq!(h.state().selected, Some(1));
    h.get_by_label_contains("Face 2 of 7");
    save_snapshot(&mut h, "group_photo");
}

#[test]
fn a_dropped_non_image_shows_an_error() {
    let g = tempfile::tempdir().expect("tempdir");
    let notes = g.path().join("notes.txt");
    std::fs::write(&notes, "not a photo").expect("write");
    let mut h = harness(&g.path().join("gallery"));
    ready(&mut h);
    h.input_mut().dropped_files.push(Arc::new(TestDrop {
        path: notes,
        bytes: Vec::new(),
    }));
    step_until(&mut h, "error", |a| a.error.is_some());
    h.get_by_label_contains("unsupported or unrecognised image format");
    // Bytes without a path (a browser drag) go the same way.
    h.state_mut().push(Command::DismissError);
    step_until(&mut h, "the error dismissed", |a| a.error.is_none());
    h.input_mut().dropped_files.push(Arc::new(TestDrop {
        path: PathBuf::new(),
        bytes: b"<html>".to_vec(),
    }));
    step_until(&mut h, "error", |a| a.error.is_some());
    h.get_by_label_contains("dropped image");
    save_snapshot(&mut h, "error");
}

#[test]
fn enrol_then_search_finds_the_person_and_import_reports_failures() {
    let dir = faces_dir();
    let g = tempfile::tempdir().expect("tempdir");
    let mut h = harness(&g.path().join("gallery"));
    ready(&mut h);
    h.state_mut()
        .push(Command::Open(Source::File(dir.join("img1.jpg"))));
    step_until(&mut h, "analysis", |a| a.current.is_some() && !a.is_busy());
    h.get_by_label("Enrol as").click();
    h.run_steps(2);
    h.get_by_label("Enrol as").type_text("Person One");
    h.run_steps(2);
    h.get_by_label("Enrol").click();
    h.run_steps(2);
    assert_eq!(h.state().error, None);
    step_until(&mut h, "enrolment", |a| a.gallery.len() == 1);
    h.get_by_label_contains("1 face(s) enrolled");
    // Another photo of the same person finds her first.
    h.state_mut()
        .push(Command::Open(Source::File(dir.join("img2.jpg"))));
    step_until(&mut h, "analysis", |a| {
        a.current
            .as_ref()
            .is_some_and(|c| c.source == Source::File(dir.join("img2.jpg")))
            && !a.is_busy()
    });
    let top = h
        .state()
        .current
        .as_ref()
        .and_then(|c| c.analysis.faces[0].matches.first().cloned());
    assert!(
        top.as_ref()
            .is_some_and(|m| m.name == "Person One" && m.same_person),
        "{top:?}"
    );
    h.get_by_label_contains("Person One:");

    // Folder import: two people in sub-folders, plus a file that is not a photo.
    let import = g.path().join("import");
    for (person, file) in [
        ("Ann", "img3.jpg"),
        ("Ann", "img12.jpg"),
        ("Bo", "img8.jpg"),
    ] {
        std::fs::create_dir_all(import.join(person)).expect("mkdir");
        std::fs::copy(dir.join(file), import.join(person).join(file)).expect("copy");
    }
    std::fs::write(import.join("Bo/broken.jpg"), b"\xff\xd8\xff garbage").expect("write");
    h.state_mut().push(Command::ImportFolder(import));
    step_until(&mut h, "import", |a| {
        a.import.is_none() && a.import_report.is_some()
    });
    let (enrolled, failures, cancelled) = h.state().import_report.clone().expect("report");
    assert_eq!(
        (enrolled, failures.len(), cancelled),
        (3, 1, false),
        "{failures:?}"
    );
    assert_eq!(h.state().gallery.len(), 4);
    h.get_by_label_contains("3 enrolled, 1 failed");
    save_snapshot(&mut h, "gallery_after_import");
}

#[test]
fn a_low_quality_face_shows_its_badge_and_enrols_only_when_confirmed() {
    let dir = faces_dir();
    let g = tempfile::tempdir().expect("tempdir");
    let mut h = harness(&g.path().join("gallery"));
    ready(&mut h);
    // img62: the man in front, plus a blurred person cut by the bottom edge.
    h.state_mut()
        .push(Command::Open(Source::File(dir.join("img62.jpg"))));
    step_until(&mut h, "analysis", |a| a.current.is_some() && !a.is_busy());
    let faces = h
        .state()
        .current
        .as_ref()
        .map(|c| c.analysis.faces.clone())
        .unwrap_or_default();
    let quality = |i: usize| faces[i].quality.clone().expect("every face has a quality");
    assert!(!quality(0).low, "{:?}", quality(0));
    let low = (0..faces.len())
        .find(|&i| quality(i).low)
        .expect("a low-quality face in img62");
    assert!(
        quality(low)
            .reasons
            .iter()
            .any(|r| r.contains("cut by the frame") || r.contains("blurred")),
        "{:?}",
        quality(low)
    );
    h.state_mut().push(Command::Select(Some(low)));
    h.run_steps(2);
    h.get_by_label_contains("(low)");
    h.get_by_label("Enrol as").click();
    h.run_steps(2);
    h.get_by_label("Enrol as").type_text("Blurred");
    h.run_steps(2);
    h.get_by_label("Enrol").click();
    h.run_steps(3);
    assert!(h.state().confirm_enrol.is_some(), "asks first");
    h.get_by_label_contains("low quality for recognition");
    h.run_steps(5);
    assert_eq!(
        h.state().gallery.len(),
        0,
        "nothing enrolled before the answer"
    );
    h.get_by_label("Enrol anyway").click();
    step_until(&mut h, "enrolment", |a| a.gallery.len() == 1);
    assert!(h.state().confirm_enrol.is_none());
}

#[test]
fn people_view_scans_names_and_finds_a_person() {
    let dir = faces_dir();
    let g = tempfile::tempdir().expect("tempdir");
    let photos = tempfile::tempdir().expect("tempdir");
    // Three photos of one person, two of another.
    for f in ["img1.jpg", "img2.jpg", "img4.jpg", "img8.jpg", "img9.jpg"] {
        std::fs::copy(dir.join(f), photos.path().join(f)).expect("copy");
    }
    let mut h = harness(&g.path().join("gallery"));
    ready(&mut h);
    h.get_by_label("People").click();
    h.run_steps(3);
    assert_eq!(h.state().view, View::People);
    h.get_by_label("Scan a folder…");
    // What the folder dialog produces.
    h.state_mut()
        .push(Command::ScanFolder(photos.path().to_path_buf()));
    step_until(&mut h, "the scan", |a| {
        a.people.scan_report.is_some() && a.people.snapshot.groups.len() == 2
    });
    let report = h.state().people.scan_report.clone().expect("report");
    assert_eq!((report.scanned, report.faces), (5, 5));
    h.get_by_label_contains("Scanned 5 of 5 photos");
    let (largest, _) = h.state().people.snapshot.groups[0].clone();
    assert_eq!(largest.faces, 3);
    // Open the group, name it.
    h.get_by_label(&format!("Group {}", largest.id)).click();
    step_until(&mut h, "the open group", |a| {
        a.people.snapshot.open.is_some()
    });
    h.get_by_label_contains("3 face(s)");
    h.get_by_label("Name:").click();
    h.run_steps(2);
    h.get_by_label("Name:").type_text("Ada");
    h.run_steps(2);
    h.get_by_label("Name this person").click();
    step_until(&mut h, "the name", |a| {
        a.people
            .snapshot
            .groups
            .iter()
            .any(|(g, _)| g.name.as_deref() == Some("Ada"))
    });
    step_until(&mut h, "the gallery", |a| a.gallery.len() == 3);
    save_snapshot(&mut h, "people");
    // Another photo of her is recognised by name; "Find this person" lists her scanned photos.
    h.state_mut()
        .push(Command::Open(Source::File(dir.join("img5.jpg"))));
    h.state_mut().push(Command::ShowView(View::Photo));
    step_until(&mut h, "analysis", |a| a.current.is_some() && !a.is_busy());
    let top = h
        .state()
        .current
        .as_ref()
        .and_then(|c| c.analysis.faces.first())
        .and_then(|f| f.matches.first())
        .map(|m| m.name.clone());
    assert_eq!(top.as_deref(), Some("Ada"));
    h.get_by_label("Find this person").click();
    step_until(&mut h, "find", |a| a.people.found.is_some());
    assert_eq!(h.state().view, View::People);
    let found = h.state().people.found.clone().unwrap_or_default();
    let files = sorted_file_names(found.iter().map(|m| m.photo.as_str()));
    assert_eq!(files, ["img1.jpg", "img2.jpg", "img4.jpg"]);
    h.get_by_label_contains("This person is in 3 scanned photo(s)");
    // Opening a found photo shows it analysed.
    h.get_all_by_label("img1.jpg")
        .next()
        .expect("a link to img1.jpg")
        .click();
    step_until(&mut h, "the found photo", |a| {
        a.view == View::Photo
            && !a.is_busy()
            && a.current
                .as_ref()
                .is_some_and(|c| c.source.describe().ends_with("img1.jpg"))
    });
    // "Not this person" takes a face out of the named group, and out of the gallery.
    h.get_by_label("People").click();
    step_until(&mut h, "the people view", |a| {
        a.view == View::People && a.people.snapshot.open.is_some()
    });
    h.get_all_by_label("Not this person")
        .next()
        .expect("a face to take out")
        .click();
    step_until(&mut h, "the face taken out", |a| a.gallery.len() == 2);
    assert_eq!(h.state().people.snapshot.unsorted, 1);
}
