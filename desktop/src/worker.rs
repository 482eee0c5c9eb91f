//! The analysis worker: one named thread that owns the backend (models, gallery) and runs every
//! heavy job — loading and provisioning models, downloads, analysis, gallery edits, folder
//! imports — so no frame ever waits. Results come back over a channel, with a repaint request.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::time::Instant;

use facelens_api::client::{BlockingClient, Call};
use facelens_api::wire::EntrySummary;
use facelens_core::api::Analysis;
use facelens_core::error::GalleryError;
use facelens_core::gallery::{Gallery, GalleryLocation};
use facelens_core::provision::ProvisionEvent;
use facelens_core::{Pipeline, PipelineConfig};
use image::RgbImage;

use crate::backend::{AnalysisBackend, BackendError, LocalBackend};
use crate::people::{PeopleEvent, PeopleJob};
use crate::remote::{RemoteBackend, ServerAddress};

/// Where an image came from: what the worker reads, downloads or already has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file on disk (read by the worker).
    File(PathBuf),
    /// An image the window already holds (a drop without a path, a pasted image).
    Bytes {
        /// What to call it ("dropped image").
        name: String,
        /// The encoded image (shared: a retry sends it again without a copy).
        bytes: std::sync::Arc<[u8]>,
    },
    /// An http(s) URL (downloaded by the worker).
    Url(String),
}

impl Source {
    /// A short description for titles and error messages.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::File(p) => p.display().to_string(),
            Self::Bytes { name, .. } => name.clone(),
            Self::Url(u) => u.clone(),
        }
    }
}

/// A job for the worker.
#[derive(Debug)]
pub enum Job {
    /// Analyse an image.
    Analyze {
        /// Request number (results of stale requests are ignored).
        id: u64,
        /// The image, or where to read it.
        source: Source,
        /// Analyse on this computer even in connected mode (the fallback).
        force_local: bool,
    },
    /// Switch to connected mode with this server (`Some`) or back to local mode (`None`).
    SetConnection(Option<ServerAddress>),
    /// Check a server without switching to it.
    TestConnection(ServerAddress),
    /// Change the detection threshold.
    SetThreshold(f32),
    /// Enrol a face.
    Enrol {
        /// Name.
        name: String,
        /// Source description.
        source: String,
        /// Embedding.
        embedding: Vec<f32>,
        /// Aligned crop.
        crop: RgbImage,
    },
    /// Rename an entry.
    Rename(u64, String),
    /// Delete an entry.
    Delete(u64),
    /// Enrol every image under a folder (largest face, named after its sub-folder).
    ImportFolder(PathBuf, Arc<AtomicBool>),
    /// People: scans, group edits, find (always on this computer's gallery).
    People(PeopleJob),
}

/// A gallery entry as the UI shows it.
#[derive(Debug, Clone)]
pub struct GalleryItem {
    /// The entry.
    pub entry: EntrySummary,
    /// Its aligned-face thumbnail.
    pub thumb: Option<RgbImage>,
}

/// What the worker reports.
#[derive(Debug)]
pub enum Event {
    /// Provisioning progress.
    Provision(ProvisionEvent),
    /// Models loaded; the worker takes jobs.
    Ready,
    /// Models could not be loaded (the message says what to do).
    LoadFailed(String),
    /// An analysis finished.
    Analyzed {
        /// Request number.
        id: u64,
        /// Where it came from.
        source: Source,
        /// The decoded image (for display) and the analysis, or why not.
        result: Result<Box<(RgbImage, Analysis, Vec<RgbImage>)>, Failure>,
    },
    /// The outcome of switching modes or testing a server: a description of the server, or why
    /// it cannot be used.
    Connection {
        /// Whether this was only a test (no mode change).
        test: bool,
        /// Description or error.
        result: Result<String, String>,
    },
    /// The gallery changed.
    Gallery(Vec<GalleryItem>),
    /// Folder import progress.
    ImportProgress {
        /// Files done.
        done: usize,
        /// Files in all.
        total: usize,
        /// Seconds left, estimated.
        eta_secs: f64,
    },
    /// Folder import finished (or was cancelled).
    ImportDone {
        /// Faces enrolled.
        enrolled: usize,
        /// Files that failed, with the reason.
        failures: Vec<(PathBuf, String)>,
        /// Whether it was cancelled.
        cancelled: bool,
    },
    /// People: the library, scan progress and results.
    People(PeopleEvent),
    /// A gallery action failed.
    Error(String),
}

impl Event {
    /// Progress reports, which a later report supersedes; every other event is final.
    #[must_use]
    pub fn is_progress(&self) -> bool {
        match self {
            Self::Provision(_)
            | Self::ImportProgress { .. }
            | Self::People(PeopleEvent::ScanProgress { .. }) => true,
            Self::Ready
            | Self::LoadFailed(_)
            | Self::Analyzed { .. }
            | Self::Connection { .. }
            | Self::Gallery(_)
            | Self::ImportDone { .. }
            | Self::People(_)
            | Self::Error(_) => false,
        }
    }
}

/// Why an analysis failed, and whether analysing locally instead could help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// In words.
    pub message: String,
    /// The server failed (not the image): offer "analyse on this computer".
    pub local_fallback: bool,
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self {
            message,
            local_fallback: false,
        }
    }
}

impl From<BackendError> for Failure {
    fn from(e: BackendError) -> Self {
        Self {
            local_fallback: e.local_fallback_helps(),
            message: e.to_string(),
        }
    }
}

/// The backends the worker owns: always the local one, plus a server in connected mode.
struct Backends {
    local: LocalBackend,
    remote: Option<RemoteBackend>,
}

impl Backends {
    fn active(&mut self) -> &mut dyn AnalysisBackend {
        match &mut self.remote {
            Some(r) => r,
            None => &mut self.local,
        }
    }

    fn connect(&mut self, address: Option<ServerAddress>) -> Result<String, String> {
        let Some(address) = address else {
            self.remote = None;
            return Ok("local mode".into());
        };
        let remote = RemoteBackend::new(self.local.config(), address).map_err(|e| e.to_string())?;
        let described = describe(remote.client());
        self.remote = Some(remote);
        described
    }
}

/// Provisions every model (so that a fallback works offline) and opens the gallery. The local
/// models are loaded now in local mode; in connected mode only when first needed, since the
/// server runs them.
fn load_local(
    config: &PipelineConfig,
    gallery: &Result<GalleryLocation, GalleryError>,
    connected: bool,
    send: &impl Fn(Event),
) -> Result<LocalBackend, String> {
    // A location that does not parse is reported before any model is loaded.
    let gallery = gallery.as_ref().map_err(ToString::to_string)?;
    let local = if connected {
        if config.auto_provision {
            config
                .store()
                .ensure(&mut |p| send(Event::Provision(p)))
                .map_err(|e| e.to_string())?;
        }
        None
    } else {
        Some(
            Pipeline::load(config, &mut |p| send(Event::Provision(p)))
                .map_err(|e| e.to_string())?,
        )
    };
    let g = Gallery::open_location(gallery).map_err(|e| e.to_string())?;
    Ok(match local {
        Some(p) => LocalBackend::new(p, g),
        None => LocalBackend::deferred(config.clone(), g),
    })
}

fn describe(client: &BlockingClient) -> Result<String, String> {
    client
        .call(Call::version())
        .map(|v| {
            format!(
                "{} {} (role {}, {}){}",
                v.name,
                v.version,
                v.role,
                v.provider,
                if v.ready { "" } else { ", still loading" }
            )
        })
        .map_err(|e| e.to_string())
}

/// Handle to the worker thread.
pub struct Worker {
    jobs: SyncSender<Job>,
    /// Events from the worker.
    pub events: Receiver<Event>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").finish_non_exhaustive()
    }
}

impl Worker {
    /// Starts the worker: it provisions and loads the models, opens the gallery, then serves jobs.
    /// `wake` is called after every event (the app passes `ctx.request_repaint`).
    ///
    /// # Errors
    /// When the OS cannot start a thread.
    pub fn spawn(
        config: PipelineConfig,
        gallery: Result<GalleryLocation, GalleryError>,
        server: Option<ServerAddress>,
        wake: impl Fn() + Send + 'static,
    ) -> std::io::Result<Self> {
        let (jobs, job_rx) = mpsc::sync_channel::<Job>(64);
        let (ev_tx, events) = mpsc::sync_channel::<Event>(1024);
        std::thread::Builder::new()
            .name("facelens-analysis".into())
            .spawn(move || {
                let send = |e: Event| {
                    if e.is_progress() {
                        // Progress may be dropped when the UI is far behind: a later one follows.
                        if ev_tx.try_send(e).is_err() {
                            return;
                        }
                    } else if ev_tx.send(e).is_err() {
                        // Results, errors and "done" are never dropped: wait for room. Only a
                        // closed window (receiver gone) ends the wait.
                        return;
                    }
                    wake();
                };
                let loaded = load_local(&config, &gallery, server.is_some(), &send);
                let mut backends = match loaded {
                    Ok(local) => Backends {
                        local,
                        remote: None,
                    },
                    Err(e) => {
                        send(Event::LoadFailed(e));
                        return;
                    }
                };
                send(Event::Ready);
                if server.is_some() {
                    let result = backends.connect(server);
                    send(Event::Connection {
                        test: false,
                        result,
                    });
                }
                send_gallery(backends.active(), &send);
                while let Ok(job) = job_rx.recv() {
                    run_job(&mut backends, job, &send);
                }
            })?;
        Ok(Self { jobs, events })
    }

    /// Queues a job. Returns false if the worker has stopped or is overloaded.
    pub fn send(&self, job: Job) -> bool {
        self.jobs.try_send(job).is_ok()
    }
}

fn items(b: &dyn AnalysisBackend) -> Result<Vec<GalleryItem>, BackendError> {
    Ok(b.entries()?
        .into_iter()
        .map(|(entry, thumb)| GalleryItem { entry, thumb })
        .collect())
}

fn send_gallery(b: &dyn AnalysisBackend, send: &impl Fn(Event)) {
    match items(b) {
        Ok(i) => send(Event::Gallery(i)),
        Err(e) => send(Event::Error(format!("could not list the gallery: {e}"))),
    }
}

fn read_source(source: &Source) -> Result<std::borrow::Cow<'_, [u8]>, String> {
    match source {
        Source::File(p) => facelens_core::image_io::read_image_file(p)
            .map(std::borrow::Cow::Owned)
            .map_err(|e| e.to_string()),
        Source::Url(u) => crate::fetch::download(u).map(std::borrow::Cow::Owned),
        Source::Bytes { bytes, .. } => Ok(std::borrow::Cow::Borrowed(bytes)),
    }
}

fn run_job(backends: &mut Backends, job: Job, send: &impl Fn(Event)) {
    match job {
        Job::Analyze {
            id,
            source,
            force_local,
        } => {
            let backend: &mut dyn AnalysisBackend = if force_local {
                &mut backends.local
            } else {
                backends.active()
            };
            let result = read_source(&source).map_err(Failure::from).and_then(|b| {
                let r = backend.analyze(&b).map_err(Failure::from)?;
                let img = r
                    .image
                    .ok_or_else(|| Failure::from("the backend returned no image".to_owned()))?;
                Ok(Box::new((img, r.analysis, r.aligned)))
            });
            send(Event::Analyzed { id, source, result });
        }
        Job::SetThreshold(t) => {
            backends.local.set_threshold(t);
            if let Some(r) = &mut backends.remote {
                r.set_threshold(t);
            }
        }
        Job::SetConnection(address) => {
            let result = backends.connect(address);
            send(Event::Connection {
                test: false,
                result,
            });
            send_gallery(backends.active(), send);
        }
        Job::TestConnection(address) => {
            let result = crate::remote::client_for(&address)
                .map_err(|e| e.to_string())
                .and_then(|c| describe(&c));
            send(Event::Connection { test: true, result });
        }
        Job::Enrol {
            name,
            source,
            embedding,
            crop,
        } => {
            let backend = backends.active();
            match backend.enrol(&name, &source, &embedding, &crop) {
                Ok(_) => send_gallery(backend, send),
                Err(e) => send(Event::Error(format!("could not enrol: {e}"))),
            }
        }
        Job::Rename(id, name) => {
            let backend = backends.active();
            match backend.rename(id, &name) {
                Ok(()) => send_gallery(backend, send),
                Err(e) => send(Event::Error(format!("could not rename: {e}"))),
            }
        }
        Job::Delete(id) => {
            let backend = backends.active();
            match backend.delete(id) {
                Ok(()) => send_gallery(backend, send),
                Err(e) => send(Event::Error(format!("could not delete: {e}"))),
            }
        }
        Job::ImportFolder(dir, cancel) => import_folder(backends.active(), &dir, &cancel, send),
        Job::People(job) => {
            if crate::people::run(&mut backends.local, job, send) {
                send_gallery(backends.active(), send);
            }
        }
    }
}

pub use facelens_core::image_io::image_files;

/// The person's name for an imported file: its folder below the import root, else the file stem.
#[must_use]
pub fn import_name(root: &Path, file: &Path) -> String {
    let parent = file.parent().unwrap_or(root);
    if parent != root
        && let Some(n) = parent.file_name()
    {
        return n.to_string_lossy().into_owned();
    }
    file.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn import_folder(
    backend: &mut dyn AnalysisBackend,
    dir: &Path,
    cancel: &AtomicBool,
    send: &impl Fn(Event),
) {
    let files = image_files(dir);
    let total = files.len();
    let started = Instant::now();
    let mut failures = Vec::new();
    let mut enrolled = 0;
    let mut cancelled = false;
    for (i, f) in files.iter().enumerate() {
        if cancel.load(Ordering::Relaxed) {
            cancelled = true;
            break;
        }
        let outcome = facelens_core::image_io::read_image_file(f)
            .map_err(|e| e.to_string())
            .and_then(|b| backend.analyze(&b).map_err(|e| e.to_string()))
            .and_then(|r| {
                let face = r.analysis.faces.first().ok_or_else(|| {
                    format!(
                        "no face: {}",
                        r.analysis.no_face_reason.clone().unwrap_or_default()
                    )
                })?;
                backend
                    .enrol(
                        &import_name(dir, f),
                        &f.display().to_string(),
                        &face.embedding,
                        &r.aligned[0],
                    )
                    .map_err(|e| e.to_string())
            });
        match outcome {
            Ok(_) => enrolled += 1,
            Err(e) => failures.push((f.clone(), e)),
        }
        let done = i + 1;
        let eta_secs = started.elapsed().as_secs_f64() / done as f64 * (total - done) as f64;
        send(Event::ImportProgress {
            done,
            total,
            eta_secs,
        });
    }
    send_gallery(backend, send);
    send(Event::ImportDone {
        enrolled,
        failures,
        cancelled,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_names_come_from_folders() {
        let root = Path::new("/photos");
        assert_eq!(import_name(root, Path::new("/photos/Ann/1.jpg")), "Ann");
        assert_eq!(
            import_name(root, Path::new("/photos/Bob Smith.png")),
            "Bob Smith"
        );
    }

    #[test]
    fn finds_images_recursively() {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(d.path().join("a/b")).expect("mkdir");
        for f in ["x.JPG", "a/y.png", "a/b/z.webp", "a/notes.txt"] {
            std::fs::write(d.path().join(f), b"").expect("write");
        }
        let found = image_files(d.path());
        assert_eq!(found.len(), 3);
        // A link back up the tree does not loop.
        std::os::unix::fs::symlink(d.path(), d.path().join("a/b/loop")).expect("symlink");
        assert_eq!(image_files(d.path()).len(), 3);
    }
}
