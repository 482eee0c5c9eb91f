//! The desktop application: state, persistence, and the `eframe::App` glue. Drawing lives in
//! `ui.rs`/`canvas.rs`, command handling in `logic.rs`.

mod canvas;
pub mod commands;
mod logic;
mod people_ui;
mod ui;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::Receiver;

use facelens_core::PipelineConfig;
use facelens_core::api::Analysis;
use facelens_core::people::PhotoMatch;
use facelens_core::people::scan::ScanReport;
use serde::{Deserialize, Serialize};

pub use commands::Command;

use crate::people::PeopleSnapshot;
use crate::remote::ServerAddress;
use crate::worker::{GalleryItem, Source, Worker};

/// Where analysis runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// Everything on this machine.
    #[default]
    Local,
    /// Detection here; embedding, attributes and matching on a `facelens-server`.
    Connected,
}

/// Settings that persist across restarts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Dark theme.
    pub dark: bool,
    /// Detector final-stage threshold.
    pub threshold: f32,
    /// Models folder ("" = default).
    pub models_dir: String,
    /// Gallery: a folder or a `postgres://` URL ("" = default). Read from settings saved under
    /// the older name `gallery_dir` too.
    #[serde(alias = "gallery_dir")]
    pub gallery: String,
    /// Local or connected.
    pub mode: Mode,
    /// Connected mode: the server's base URL.
    pub server_url: String,
    /// Connected mode: the bearer token (stored with the other settings, in plain text).
    pub server_token: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            dark: true,
            threshold: 0.95,
            models_dir: String::new(),
            gallery: String::new(),
            mode: Mode::Local,
            server_url: "http://127.0.0.1:8750".into(),
            server_token: String::new(),
        }
    }
}

impl Settings {
    /// The configured server.
    #[must_use]
    pub fn server_address(&self) -> ServerAddress {
        ServerAddress {
            url: self.server_url.clone(),
            token: self.server_token.clone(),
        }
    }
}

const SETTINGS_KEY: &str = "facelens-settings";

/// Models loading state.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// Provisioning / loading; the last progress lines and step counts.
    Loading {
        /// Recent progress lines.
        lines: Vec<String>,
        /// Steps done.
        done: usize,
        /// Steps in all (0 = unknown).
        total: usize,
    },
    /// Ready for images.
    Ready,
    /// Loading failed; the message says what to do.
    Failed(String),
}

/// The analysed image on screen.
pub struct Current {
    /// Where it came from.
    pub source: Source,
    /// The photo, uploaded once.
    pub texture: egui::TextureHandle,
    /// The analysis.
    pub analysis: Analysis,
    /// Aligned crops, uploaded once.
    pub crops: Vec<egui::TextureHandle>,
    /// The crops' pixels (for enrolment).
    pub crop_pixels: Vec<image::RgbImage>,
}

/// A running folder import.
#[derive(Debug)]
pub struct Import {
    /// Files done / in all, seconds left.
    pub progress: (usize, usize, f64),
    /// Set to stop.
    pub cancel: Arc<AtomicBool>,
}

/// An enrolment held back because the face is low quality.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfirmEnrol {
    /// Face index.
    pub face: usize,
    /// Person's name.
    pub name: String,
    /// What lowers the face's quality, in words.
    pub reasons: String,
    /// The quality score.
    pub score: f32,
}

/// Which view fills the middle of the window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum View {
    /// The analysed photo.
    #[default]
    Photo,
    /// People: scanned faces grouped by person.
    People,
}

/// The People view's state.
#[derive(Default)]
pub struct PeopleView {
    /// The library as last sent by the worker.
    pub snapshot: PeopleSnapshot,
    /// Face crops (representatives, the open group's faces, found faces), by face id.
    textures: HashMap<u64, egui::TextureHandle>,
    /// A running scan.
    pub scan: Option<Import>,
    /// The last scan's report.
    pub scan_report: Option<ScanReport>,
    /// "Find this person": photos, best first.
    pub found: Option<Vec<PhotoMatch>>,
    /// The name being typed for the open group.
    name_edit: String,
    /// The group picked to merge into the open one.
    merge_from: Option<u64>,
}

impl std::fmt::Debug for PeopleView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeopleView")
            .field("groups", &self.snapshot.groups.len())
            .field("scan", &self.scan)
            .finish_non_exhaustive()
    }
}

/// A finished import: faces enrolled, files that failed (with why), whether it was cancelled.
pub type ImportReport = (usize, Vec<(PathBuf, String)>, bool);

/// The facelens window.
pub struct FacelensApp {
    /// Persisted settings.
    pub settings: Settings,
    /// Loading state.
    pub status: Status,
    worker: Worker,
    commands: Vec<Command>,
    next_request: u64,
    /// The request being analysed: id and source.
    pub pending: Option<(u64, Source)>,
    /// The image on screen.
    pub current: Option<Current>,
    /// Selected face.
    pub selected: Option<usize>,
    hovered: Option<usize>,
    /// Gallery entries.
    pub gallery: Vec<GalleryItem>,
    gallery_textures: HashMap<u64, egui::TextureHandle>,
    /// The error banner.
    pub error: Option<String>,
    /// The banner offers "analyse on this computer" for the last request (the server failed).
    pub offer_local: bool,
    /// The last analysis request (for the local fallback).
    last_request: Option<Source>,
    /// The last connection check or mode switch: a description of the server, or why not.
    pub connection: Option<Result<String, String>>,
    /// Running import.
    pub import: Option<Import>,
    /// Last import's result.
    pub import_report: Option<ImportReport>,
    enrol_name: String,
    /// A low-quality face waiting for "enrol anyway".
    pub confirm_enrol: Option<ConfirmEnrol>,
    rename: Option<(u64, String)>,
    zoom: f32,
    pan: egui::Vec2,
    dialog: Option<Receiver<Option<PathBuf>>>,
    folder_dialog: Option<Receiver<Option<PathBuf>>>,
    scan_dialog: Option<Receiver<Option<PathBuf>>>,
    show_settings: bool,
    /// Photo or People.
    pub view: View,
    /// The People view.
    pub people: PeopleView,
    /// Frames drawn (for tests and the smoke check).
    pub frames: u64,
}

/// Start-up options from the command line.
#[derive(Debug, Clone, Default)]
pub struct AppOptions {
    /// Models folder override.
    pub models_dir: Option<PathBuf>,
    /// Gallery override: a folder or a `postgres://` URL.
    pub gallery: Option<String>,
    /// An image to open at start.
    pub open: Option<PathBuf>,
}

impl FacelensApp {
    /// Builds the app from eframe's creation context (restores settings, starts the worker).
    ///
    /// # Panics
    /// If the OS cannot start the worker thread.
    #[must_use]
    pub fn new(cc: &eframe::CreationContext<'_>, opts: AppOptions) -> Self {
        let settings: Settings = cc
            .storage
            .and_then(|s| eframe::get_value(s, SETTINGS_KEY))
            .unwrap_or_default();
        Self::with_settings(&cc.egui_ctx, settings, opts)
    }

    /// Builds the app with explicit settings (tests use this).
    ///
    /// # Panics
    /// If the OS cannot start the worker thread.
    #[must_use]
    pub fn with_settings(ctx: &egui::Context, settings: Settings, opts: AppOptions) -> Self {
        ctx.set_theme(if settings.dark {
            egui::Theme::Dark
        } else {
            egui::Theme::Light
        });
        let non_empty = |s: &str| (!s.is_empty()).then(|| PathBuf::from(s));
        let models_dir = opts
            .models_dir
            .clone()
            .or_else(|| non_empty(&settings.models_dir));
        let gallery = facelens_core::gallery::resolve_gallery_location(
            opts.gallery
                .as_deref()
                .or(Some(settings.gallery.as_str()).filter(|s| !s.is_empty())),
        );
        let mut config = PipelineConfig {
            models_dir,
            ..PipelineConfig::default()
        };
        config.detector.thresholds[2] = settings.threshold;
        let waker = ctx.clone();
        let server = (settings.mode == Mode::Connected).then(|| settings.server_address());
        let worker = Worker::spawn(config, gallery, server, move || waker.request_repaint())
            .expect("the OS could not start the analysis thread");
        let mut app = Self {
            settings,
            status: Status::Loading {
                lines: vec!["Preparing models…".into()],
                done: 0,
                total: 0,
            },
            worker,
            commands: Vec::new(),
            next_request: 1,
            pending: None,
            current: None,
            selected: None,
            hovered: None,
            gallery: Vec::new(),
            gallery_textures: HashMap::new(),
            error: None,
            offer_local: false,
            last_request: None,
            connection: None,
            import: None,
            import_report: None,
            enrol_name: String::new(),
            confirm_enrol: None,
            rename: None,
            zoom: 1.0,
            pan: egui::Vec2::ZERO,
            dialog: None,
            folder_dialog: None,
            scan_dialog: None,
            show_settings: false,
            view: View::Photo,
            people: PeopleView::default(),
            frames: 0,
        };
        if let Some(p) = opts.open {
            app.push(Command::Open(Source::File(p)));
        }
        app
    }

    /// Queues a command (panels, input handling and tests all go through here).
    pub fn push(&mut self, cmd: Command) {
        self.commands.push(cmd);
    }

    /// Whether an analysis is running.
    #[must_use]
    pub fn is_busy(&self) -> bool {
        self.pending.is_some()
    }
}

impl eframe::App for FacelensApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.poll_worker(ctx);
        self.handle_input(ctx);
        self.run_commands(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.frames += 1;
        self.draw(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, SETTINGS_KEY, &self.settings);
    }
}
