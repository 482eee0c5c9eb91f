//! Connected mode against a real `facelens-server` on loopback: the window shows the same faces
//! and attributes as local mode, enrolment lands in the server's gallery, and when the server goes
//! away the banner offers to analyse on this computer.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{faces_dir, step_until};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use facelens_core::api::Analysis;
use facelens_desktop::app::{Command, Mode, Settings, Status};
use facelens_desktop::worker::Source;
use facelens_desktop::{AppOptions, FacelensApp};
use facelens_server::background::BackgroundServer;

const TOKEN: &str = "desktop-test-token-0123";

fn analysis(h: &Harness<'static, FacelensApp>) -> Analysis {
    h.state()
        .current
        .as_ref()
        .expect("an image")
        .analysis
        .clone()
}

fn open_and_wait(h: &mut Harness<'static, FacelensApp>, photo: &Path) {
    h.state_mut()
        .push(Command::Open(Source::File(photo.to_path_buf())));
    h.run_steps(2);
    step_until(h, "analysis", |a| !a.is_busy());
}

#[test]
fn connected_mode_matches_local_mode_and_falls_back_when_the_server_goes() {
    let dir = faces_dir();
    let server_gallery = tempfile::tempdir().expect("tempdir");
    let mut server = BackgroundServer::start(
        facelens_server::Config {
            tokens: vec![TOKEN.into()],
            gallery: Some(server_gallery.path().to_string_lossy().into_owned()),
            ..facelens_server::Config::default()
        },
        Duration::from_secs(300),
    )
    .expect("server");
    let local_gallery = tempfile::tempdir().expect("tempdir");
    let settings = Settings {
        mode: Mode::Connected,
        server_url: server.url.clone(),
        server_token: TOKEN.into(),
        ..Settings::default()
    };
    let gallery = local_gallery.path().to_path_buf();
    let mut h = Harness::builder()
        .with_size([1280.0, 820.0])
        .build_eframe(move |cc| {
            FacelensApp::with_settings(
                &cc.egui_ctx,
                settings,
                AppOptions {
                    gallery: Some(gallery.to_string_lossy().into_owned()),
                    ..AppOptions::default()
                },
            )
        });
    step_until(&mut h, "models and connection", |a| {
        a.status == Status::Ready && a.connection.is_some()
    });
    let connection = h.state().connection.clone();
    assert!(
        matches!(&connection, Some(Ok(s)) if s.contains("facelens-server")),
        "{connection:?}"
    );

    let photo = dir.join("selfie-many-people.jpg");
    open_and_wait(&mut h, &photo);
    let remote = analysis(&h);
    assert!(h.state().error.is_none(), "{:?}", h.state().error);
    assert_eq!(remote.faces.len(), 7);
    assert!(remote.timings.network_ms > 0.0, "went through the server");
    h.get_by_label("7 face(s)");
    h.get_by_label_contains("network");

    // Same photo, local mode: same faces, same attributes.
    h.state_mut().push(Command::SetMode(Mode::Local));
    h.run_steps(2);
    open_and_wait(&mut h, &photo);
    let local = analysis(&h);
    assert_eq!(local.timings.network_ms, 0.0);
    assert_eq!(local.faces.len(), remote.faces.len());
    for (l, r) in local.faces.iter().zip(&remote.faces) {
        assert!((l.detection.bbox.x1 - r.detection.bbox.x1).abs() < 0.01);
        let c = facelens_core::models::embedder::cosine(&l.embedding, &r.embedding);
        assert!(c > 0.9999, "embedding cosine {c}");
        assert!((l.attributes.age.years - r.attributes.age.years).abs() < 0.05);
        assert_eq!(l.attributes.gender.label, r.attributes.gender.label);
        assert_eq!(
            l.attributes.top_emotion().map(|e| e.label.clone()),
            r.attributes.top_emotion().map(|e| e.label.clone())
        );
        assert_eq!(
            l.attributes.top_race().map(|e| e.label.clone()),
            r.attributes.top_race().map(|e| e.label.clone())
        );
    }

    // Back to connected: enrolment goes to the server's gallery, not the local one.
    h.state_mut().push(Command::SetMode(Mode::Connected));
    h.run_steps(2);
    step_until(&mut h, "reconnect", |a| a.connection.is_some());
    open_and_wait(&mut h, &photo);
    h.state_mut().push(Command::Enrol {
        face: 0,
        name: "Front".into(),
        confirmed: false,
    });
    step_until(&mut h, "enrolment", |a| a.gallery.len() == 1);
    // The face is in the server's gallery (read here while the server holds it open), not ours.
    let count = |p: &std::path::Path| {
        facelens_core::gallery::Gallery::open(p)
            .and_then(|g| g.len())
            .expect("gallery")
    };
    assert_eq!(count(server_gallery.path()), 1);
    assert_eq!(count(local_gallery.path()), 0);

    // The server goes away: a clear error, and the offer to analyse here.
    server.stop();
    open_and_wait(&mut h, &photo);
    let err = h.state().error.clone().unwrap_or_default();
    assert!(err.contains("cannot reach the server"), "{err}");
    assert!(h.state().offer_local);
    h.get_by_label("Analyse on this computer instead").click();
    h.run_steps(2);
    step_until(&mut h, "local fallback", |a| !a.is_busy());
    assert!(h.state().error.is_none());
    let fallback = analysis(&h);
    assert_eq!(fallback.faces.len(), 7);
    assert_eq!(fallback.timings.network_ms, 0.0);
}
