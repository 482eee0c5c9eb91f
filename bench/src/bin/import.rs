//! `facelens-import-bench`: a folder import as the window runs it (each photo analysed with a
//! gallery search, then its largest face enrolled), over `--count` photos, reported per block of
//! 100 so a slowdown as the gallery grows would show. Prints a markdown table.
//!
//! ```text
//! facelens-import-bench --photos testdata/faces --count 1000 --gallery /tmp/empty-dir
//! ```
//!
//! The photos are the folder's images taken in turn (a 1 000-photo folder from 50 photos); each
//! enrolment is its own durable transaction.

use std::time::Instant;

use anyhow::{Context, bail};
use clap::Parser;
use facelens_core::gallery::{Gallery, GalleryLocation};
use facelens_core::image_io::image_files;
use facelens_core::{Pipeline, PipelineConfig};

#[derive(Debug, Parser)]
#[command(name = "facelens-import-bench", about = "folder import throughput")]
struct Args {
    /// Folder of photos.
    #[arg(long)]
    photos: std::path::PathBuf,
    /// Photos to import.
    #[arg(long, default_value_t = 1000)]
    count: usize,
    /// An empty gallery: a folder or a postgres:// URL.
    #[arg(long)]
    gallery: String,
    /// Models folder.
    #[arg(long)]
    models: Option<std::path::PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let files = image_files(&args.photos);
    if files.is_empty() {
        bail!("no photos in {}", args.photos.display());
    }
    let gallery = Gallery::open_location(&GalleryLocation::parse(&args.gallery)?)?;
    if !gallery.is_empty()? {
        bail!("the gallery must start empty");
    }
    let config = PipelineConfig {
        models_dir: args.models.clone(),
        ..PipelineConfig::default()
    };
    let mut pipeline = Pipeline::load(&config, &mut |_| {}).context("loading models")?;
    println!(
        "\nFolder import of {} photos ({} distinct, taken in turn) into an empty gallery ({}): analysis with a gallery search, then the largest face enrolled; blocks of 100.\n",
        args.count,
        files.len(),
        if args.gallery.starts_with("postgres") {
            "Postgres"
        } else {
            "SQLite"
        }
    );
    println!("| photos | gallery size after | images/s | enrol p50 ms | enrol max ms |");
    println!("|---|---|---|---|---|");
    let start = Instant::now();
    let mut block_start = Instant::now();
    let mut enrol_ms: Vec<f64> = Vec::new();
    for i in 0..args.count {
        let path = &files[i % files.len()];
        let r = pipeline.analyze_file_full(path, Some(&gallery))?;
        if let (Some(face), Some(crop)) = (r.analysis.faces.first(), r.aligned.first()) {
            let t = Instant::now();
            gallery.enrol(
                &format!("person {}", i % 97),
                &format!("{}#{i}", path.display()),
                &face.embedding,
                crop,
            )?;
            enrol_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        if (i + 1) % 100 == 0 || i + 1 == args.count {
            let n = (i % 100) + 1;
            enrol_ms.sort_by(f64::total_cmp);
            let rate = n as f64 / block_start.elapsed().as_secs_f64();
            println!(
                "| {}–{} | {} | {rate:.2} | {:.1} | {:.1} |",
                i + 2 - n,
                i + 1,
                gallery.len()?,
                enrol_ms.get(enrol_ms.len() / 2).copied().unwrap_or(0.0),
                enrol_ms.last().copied().unwrap_or(0.0)
            );
            enrol_ms.clear();
            block_start = Instant::now();
        }
    }
    let overall = args.count as f64 / start.elapsed().as_secs_f64();
    println!("\nOverall: {overall:.2} images/s.");
    Ok(())
}
