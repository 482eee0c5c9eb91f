//! Command-line interface. Exit codes: 0 success, 1 bad input or a failed step (one line on
//! stderr), 2 usage errors.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use facelens_core::gallery::{Gallery, resolve_gallery_location};
use facelens_core::models::embedder::cosine;
use facelens_core::provision::{ModelStore, ProvisionEvent, resolve_models_dir};
use facelens_core::quantize::calibrate;
use facelens_core::runtime::SessionOptions;
use facelens_core::{Pipeline, PipelineConfig, calibration};

use crate::report;

/// facelens: find every face in a photo, embed it, estimate age, gender, race and emotion, and
/// match it against a gallery of known people. Runs offline on CPU.
#[derive(Debug, Parser)]
#[command(name = "facelens", version, about)]
pub struct Cli {
    /// Models folder (default: $FACELENS_MODELS_DIR, else the user cache dir).
    #[arg(long, global = true, value_name = "DIR")]
    pub models_dir: Option<PathBuf>,
    /// Gallery: a folder (embedded SQLite) or a `postgres://` URL (default:
    /// $FACELENS_GALLERY_DIR, else the user data dir).
    #[arg(long, global = true, value_name = "DIR|URL")]
    pub gallery: Option<String>,
    /// Threads per model (default: up to 4).
    #[arg(long, global = true)]
    pub threads: Option<usize>,
    /// Window only: a photo to open at start.
    #[arg(long, value_name = "IMAGE")]
    pub open: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyse photos: boxes, eyes, embeddings, age, gender, race, emotion, gallery matches.
    Analyze {
        /// Image files.
        #[arg(required = true)]
        images: Vec<PathBuf>,
        /// Print JSON (one document per image, see docs/json.md) instead of text.
        #[arg(long)]
        json: bool,
        /// Detection threshold of the final stage (default 0.95).
        #[arg(long)]
        threshold: Option<f32>,
    },
    /// Compare the largest face of two photos.
    Verify {
        /// First image.
        a: PathBuf,
        /// Second image.
        b: PathBuf,
    },
    /// Add the largest face (or --face N) of a photo to the gallery.
    Enrol {
        /// The person's name.
        #[arg(long)]
        name: String,
        /// Which face (1 = largest).
        #[arg(long, default_value_t = 1)]
        face: usize,
        /// Enrol even a low-quality face (small, blurred, turned away or cut by the frame).
        #[arg(long)]
        force: bool,
        /// Image file.
        image: PathBuf,
    },
    /// Find the most similar people in the gallery for every face of a photo.
    Search {
        /// Image file.
        image: PathBuf,
        /// Matches per face.
        #[arg(short, default_value_t = 5)]
        k: usize,
    },
    /// Group the faces of unlabelled photos by person, name the groups (see docs/json.md).
    People {
        /// Action.
        #[command(subcommand)]
        action: PeopleAction,
    },
    /// Every scanned photo showing the person of IMAGE's largest face (or face N: IMAGE:N),
    /// best first.
    Find {
        /// Image file, optionally with `:N` for its N-th face (1 = largest).
        image: String,
        /// Most photos to list.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print JSON (see docs/json.md) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Inspect or edit the gallery.
    Gallery {
        /// Action.
        #[command(subcommand)]
        action: GalleryAction,
    },
    /// Copies of photos with faces covered (blurred, pixelated or boxed) and no EXIF, GPS or XMP;
    /// the originals are untouched and no file is overwritten.
    Anonymise {
        /// Image files.
        #[arg(required = true)]
        images: Vec<PathBuf>,
        /// Folder for the copies (must exist).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// How a face is covered.
        #[arg(long, value_enum, default_value = "blur")]
        style: CoverStyle,
        /// Leave visible the faces recognised as NAME (gallery); repeat for several people.
        #[arg(long, value_name = "NAME", conflicts_with = "unknown_only")]
        keep: Vec<String>,
        /// Cover only the faces of people not in the gallery.
        #[arg(long)]
        unknown_only: bool,
    },
    /// Fetch or list the models.
    Models {
        /// Action.
        #[command(subcommand)]
        action: ModelsAction,
    },
}

/// How `anonymise` covers a face.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum CoverStyle {
    /// Coarse blocks, then smoothed: nothing of the face survives, softly.
    Blur,
    /// Coarse blocks.
    Pixelate,
    /// One solid colour.
    Box,
}

/// Gallery actions.
#[derive(Debug, Subcommand)]
pub enum GalleryAction {
    /// List every entry.
    List,
    /// Rename an entry.
    Rename {
        /// Entry id.
        id: u64,
        /// New name.
        name: String,
    },
    /// Delete an entry.
    Delete {
        /// Entry id.
        id: u64,
    },
    /// Write every face (names, embeddings, thumbnails, model id) to a portable file.
    Export {
        /// The file to write (JSON Lines).
        file: PathBuf,
    },
    /// Add every face of an export file, all or nothing.
    Import {
        /// An export file.
        file: PathBuf,
    },
}

/// People actions.
#[derive(Debug, Subcommand)]
pub enum PeopleAction {
    /// Analyse every photo under DIR not scanned yet (recursively) and group the new faces.
    Scan {
        /// Folder of photos (no labels needed).
        dir: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the groups, largest first, and how many faces are unsorted.
    List {
        /// Print JSON (see docs/json.md).
        #[arg(long)]
        json: bool,
    },
    /// The faces of a group and the photos they are in.
    Show {
        /// Group id.
        group: u64,
        /// Print JSON (the `GET /v1/people/{id}` body, see docs/json.md).
        #[arg(long)]
        json: bool,
    },
    /// Write every scanned face to a new CSV file: photo, face, box, group, person.
    Export {
        /// The CSV file (must not exist).
        file: PathBuf,
    },
    /// Name a group: its faces are enrolled in the gallery under NAME.
    Name {
        /// Group id.
        group: u64,
        /// The person's name.
        name: String,
    },
    /// Merge group B into group A.
    Merge {
        /// The group that stays.
        a: u64,
        /// The group merged into it.
        b: u64,
    },
    /// Move a face into a group.
    Move {
        /// Face id (from `people show`).
        face: u64,
        /// Target group.
        group: u64,
    },
    /// Take a face out of its group (it stays unsorted).
    Remove {
        /// Face id.
        face: u64,
    },
    /// Forget the groups you have not named or edited and group their faces again.
    Recluster,
}

/// Model actions.
#[derive(Debug, Subcommand)]
pub enum ModelsAction {
    /// Fetch, convert and verify every missing model and the ONNX Runtime library.
    Fetch,
    /// Show each file: present, verified, size, source, licence.
    List,
    /// Development: measure the int8 models' activation ranges on the faces of a folder of photos
    /// and write the calibration table (then pin the printed sha256s in models/manifest.toml).
    Calibrate {
        /// Folder of photos with faces.
        photos: PathBuf,
        /// Where to write the table.
        #[arg(long, default_value = "models/calibration.toml")]
        out: PathBuf,
    },
}

/// Runs the CLI and maps errors to exit codes.
#[must_use]
pub fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!(
                "error: {}",
                facelens_core::gallery::redact_secrets(&format!("{e:#}"))
            );
            ExitCode::from(1)
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Prints provisioning progress to stderr.
pub fn print_progress(e: ProvisionEvent) {
    eprintln!("{}", crate::progress::describe_progress(&e));
}

fn config(cli: &Cli) -> PipelineConfig {
    let mut session = SessionOptions::default();
    if let Some(t) = cli.threads {
        session.intra_threads = t;
    }
    PipelineConfig {
        models_dir: cli.models_dir.clone(),
        session,
        ..PipelineConfig::default()
    }
}

pub(crate) fn load(cli: &Cli) -> anyhow::Result<Pipeline> {
    Ok(Pipeline::load(&config(cli), &mut print_progress)?)
}

pub(crate) fn open_gallery(cli: &Cli) -> anyhow::Result<Gallery> {
    Ok(Gallery::open_location(&resolve_gallery_location(
        cli.gallery.as_deref(),
    )?)?)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let Some(command) = &cli.command else {
        return run_window(&cli);
    };
    match command {
        Command::Analyze {
            images,
            json,
            threshold,
        } => {
            let mut pipeline = load(&cli)?;
            if let Some(t) = threshold {
                if !(0.0..=1.0).contains(t) {
                    bail!("--threshold must be in [0, 1], got {t}");
                }
                pipeline.config.detector.thresholds[2] = *t;
            }
            let gallery = open_gallery(&cli)?;
            let mut failed = false;
            for path in images {
                match pipeline.analyze_file(path, Some(&gallery)) {
                    Ok(a) if *json => outln!(
                        "{}",
                        serde_json::to_string(&report::JsonReport::new(path, &a))?
                    ),
                    Ok(a) => report::print_text(path, &a),
                    Err(e) => {
                        failed = true;
                        eprintln!("error: {}: {e}", path.display());
                    }
                }
            }
            Ok(if failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Verify { a, b } => {
            let mut pipeline = load(&cli)?;
            let ea = largest_embedding(&mut pipeline, a)?;
            let eb = largest_embedding(&mut pipeline, b)?;
            let c = cosine(&ea, &eb);
            outln!(
                "cosine {c:.3}  score {:.3}  {} (threshold {:.2})",
                calibration::same_person_score(c),
                if calibration::is_same_person(c) {
                    "same person"
                } else {
                    "different people"
                },
                calibration::SAME_PERSON_COSINE
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Enrol {
            name,
            face,
            force,
            image,
        } => {
            let mut pipeline = load(&cli)?;
            let gallery = open_gallery(&cli)?;
            let r = pipeline.analyze_file_full(image, None)?;
            let n = r.analysis.faces.len();
            let Some(idx) = face.checked_sub(1).filter(|&i| i < n) else {
                if n == 0 {
                    bail!(
                        "no face to enrol in {}: {}",
                        image.display(),
                        reason(&r.analysis)
                    );
                }
                bail!(
                    "--face {face} is out of range: {} has {n} face(s)",
                    image.display()
                );
            };
            if let Some(q) = r.analysis.faces[idx]
                .quality
                .as_ref()
                .filter(|q| q.low && !*force)
            {
                bail!(
                    "face {face} of {} is low quality for recognition ({}); enrol it anyway with --force",
                    image.display(),
                    crate::report::quality_text(q)
                );
            }
            let id = gallery.enrol(
                name,
                &image.display().to_string(),
                &r.analysis.faces[idx].embedding,
                &r.aligned[idx],
            )?;
            outln!(
                "enrolled face {face} of {n} from {} as \"{}\" (id {id})",
                image.display(),
                name.trim()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Search { image, k } => {
            let mut pipeline = load(&cli)?;
            pipeline.config.top_k = *k;
            let gallery = open_gallery(&cli)?;
            let a = pipeline.analyze_file(image, Some(&gallery))?;
            if a.faces.is_empty() {
                bail!("no face in {}: {}", image.display(), reason(&a));
            }
            if gallery.is_empty()? {
                eprintln!(
                    "the gallery is empty ({}); enrol people with `facelens enrol`",
                    gallery.location()
                );
            }
            for (i, f) in a.faces.iter().enumerate() {
                outln!("face {} at {}", i + 1, report::box_text(&f.detection.bbox));
                report::print_matches(&f.matches);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::People { action } => crate::people_cli::run(&cli, action),
        Command::Find { image, limit, json } => crate::people_cli::find(&cli, image, *limit, *json),
        Command::Gallery { action } => gallery_cmd(&cli, action),
        Command::Anonymise {
            images,
            out,
            style,
            keep,
            unknown_only,
        } => {
            let keep = if *unknown_only {
                crate::anonymise_cli::Keep::Known
            } else if keep.is_empty() {
                crate::anonymise_cli::Keep::None
            } else {
                crate::anonymise_cli::Keep::Named(keep.clone())
            };
            crate::anonymise_cli::run(&cli, images, out, *style, &keep)
        }
        Command::Models { action } => models_cmd(&cli, action),
    }
}

/// Opens the desktop window (no subcommand).
fn run_window(cli: &Cli) -> anyhow::Result<ExitCode> {
    let opts = crate::AppOptions {
        models_dir: cli.models_dir.clone(),
        gallery: cli.gallery.clone(),
        open: cli.open.clone(),
    };
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("facelens")
            .with_inner_size([1280.0, 820.0])
            .with_min_inner_size([800.0, 500.0])
            .with_drag_and_drop(true)
            .with_icon(crate::theme::app_icon().unwrap_or_default())
            .with_app_id("facelens"),
        renderer: eframe::Renderer::Glow,
        ..eframe::NativeOptions::default()
    };
    eframe::run_native(
        "facelens",
        native,
        Box::new(move |cc| Ok(Box::new(crate::FacelensApp::new(cc, opts)))),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window (is a display available?): {e}"))?;
    Ok(ExitCode::SUCCESS)
}

fn reason(a: &facelens_core::api::Analysis) -> String {
    a.no_face_reason
        .clone()
        .unwrap_or_else(|| "no face found".into())
}

fn largest_embedding(p: &mut Pipeline, path: &Path) -> anyhow::Result<Vec<f32>> {
    let a = p.analyze_file(path, None)?;
    let Some(f) = a.faces.into_iter().next() else {
        bail!(
            "no face in {}: {}",
            path.display(),
            a.no_face_reason.unwrap_or_default()
        );
    };
    Ok(f.embedding)
}

fn gallery_cmd(cli: &Cli, action: &GalleryAction) -> anyhow::Result<ExitCode> {
    let gallery = open_gallery(cli)?;
    match action {
        GalleryAction::List => {
            let entries = gallery.entries()?;
            outln!("{} entries in {}", entries.len(), gallery.location());
            for e in entries {
                outln!(
                    "{:>5}  {:<24}  enrolled {}  from {}",
                    e.id,
                    e.name,
                    e.enrolled_at_unix_s,
                    e.source
                );
            }
        }
        GalleryAction::Rename { id, name } => {
            gallery.rename(*id, name)?;
            outln!("renamed {id} to \"{}\"", name.trim());
        }
        GalleryAction::Delete { id } => {
            gallery.delete(*id)?;
            outln!("deleted {id}");
        }
        GalleryAction::Export { file } => {
            let n = gallery.export(file)?;
            outln!(
                "exported {n} faces from {} to {}",
                gallery.location(),
                file.display()
            );
        }
        GalleryAction::Import { file } => {
            let n = gallery.import(file)?;
            outln!(
                "imported {n} faces from {} into {}",
                file.display(),
                gallery.location()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn models_cmd(cli: &Cli, action: &ModelsAction) -> anyhow::Result<ExitCode> {
    let store = ModelStore::new(resolve_models_dir(cli.models_dir.as_deref()));
    match action {
        ModelsAction::Fetch => {
            eprintln!("models folder: {}", store.dir().display());
            store
                .ensure(&mut print_progress)
                .context("fetching models")?;
            outln!(
                "all {} files present and verified in {}",
                store.status()?.len(),
                store.dir().display()
            );
        }
        ModelsAction::Calibrate { photos, out } => {
            let mut config = config(cli);
            config.auto_provision = false;
            let table = calibrate::calibrate_photos(&config, photos)?;
            facelens_core::provision::write_atomic(out, table.to_toml()?.as_bytes())?;
            for (id, m) in &table.models {
                outln!(
                    "{id}: {} tensors from {} faces in {} photos",
                    m.ranges.len(),
                    m.faces,
                    m.photos
                );
            }
            for (id, sha256, bytes) in calibrate::pins(&store, &table)? {
                outln!("pin {id}: sha256 = \"{sha256}\", bytes = {bytes}");
            }
        }
        ModelsAction::List => {
            outln!("models folder: {}", store.dir().display());
            for s in store.status()? {
                let state = match (s.present, s.verified) {
                    (true, true) => "verified",
                    (true, false) => "CHECKSUM MISMATCH",
                    _ => "missing",
                };
                outln!(
                    "{:<12} {:<26} {:>7.1} MB  {:<17}  {}  [{}]",
                    s.id,
                    s.file,
                    s.bytes as f64 / 1e6,
                    state,
                    s.source,
                    s.licence
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
