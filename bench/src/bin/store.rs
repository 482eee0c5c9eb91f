//! `facelens-store-bench`: enrol and search latency of the gallery store at several sizes, on
//! either backend, printed as a markdown table.
//!
//! ```text
//! facelens-store-bench --gallery /tmp/g --sizes 0,10000,100000
//! facelens-store-bench --gallery postgres://… --sizes 0,10000,100000
//! ```
//!
//! The gallery is filled up to each size through `Gallery::import` (one transaction per step) with
//! synthetic identities: 5 faces each, within-person cosine about 0.6–0.7 like real faces of one
//! person, unrelated people near 0. Then 100 enrolments (each its own durable transaction, with a
//! 112×112 thumbnail) and 100 searches are timed one by one. The gallery must start empty.

use std::time::Instant;

use anyhow::{Context, bail};
use clap::Parser;
use facelens_core::gallery::{Gallery, GalleryLocation};

#[path = "../synth.rs"]
mod synth;
use synth::Rng;

#[derive(Debug, Parser)]
#[command(
    name = "facelens-store-bench",
    about = "gallery store enrol/search latency by size"
)]
struct Args {
    /// An empty gallery: a folder or a postgres:// URL.
    #[arg(long)]
    gallery: String,
    /// Sizes to measure at, ascending.
    #[arg(long, value_delimiter = ',', default_value = "0,10000,100000")]
    sizes: Vec<usize>,
    /// Timed enrolments and searches per size.
    #[arg(long, default_value_t = 100)]
    ops: usize,
}

fn percentile(sorted_ms: &[f64], p: f64) -> f64 {
    if sorted_ms.is_empty() {
        return 0.0;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((sorted_ms.len() - 1) as f64 * p).round() as usize;
    sorted_ms[i]
}

fn fill(g: &Gallery, from: usize, to: usize, rng: &mut Rng) -> anyhow::Result<()> {
    use base64::Engine;
    use std::io::Write;
    let thumb = {
        let mut png = std::io::Cursor::new(Vec::new());
        image::RgbImage::new(1, 1).write_to(&mut png, image::ImageFormat::Png)?;
        base64::engine::general_purpose::STANDARD.encode(png.into_inner())
    };
    let step = 50_000;
    let mut done = from;
    while done < to {
        let n = step.min(to - done);
        let file = tempfile::NamedTempFile::new()?;
        let mut w = std::io::BufWriter::new(file.as_file());
        writeln!(
            w,
            "{}",
            serde_json::json!({"format": "facelens-gallery", "version": 1,
                "embedding_model": facelens_core::gallery::EMBEDDING_MODEL_ID, "faces": n})
        )?;
        let mut centre = rng.unit();
        for k in 0..n {
            let id = done + k;
            if id.is_multiple_of(5) {
                centre = rng.unit();
            }
            let v = rng.face_of(&centre);
            let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            writeln!(
                w,
                "{}",
                serde_json::json!({"name": format!("synthetic {}", id / 5), "source": "bench",
                    "enrolled_at_unix_s": 0,
                    "embedding_f32le": base64::engine::general_purpose::STANDARD.encode(bytes),
                    "thumbnail_png": thumb})
            )?;
        }
        w.flush()?;
        drop(w);
        g.import(file.path())?;
        done += n;
        eprintln!("  filled to {done}");
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let loc = GalleryLocation::parse(&a.gallery);
    let g = Gallery::open_location(&loc).context("open the gallery")?;
    if !g.is_empty()? {
        bail!(
            "{} is not empty; the benchmark fills it itself",
            g.location()
        );
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let thumb = image::RgbImage::from_fn(112, 112, |x, y| {
        #[allow(clippy::cast_possible_truncation)]
        image::Rgb([(x * 2) as u8, (y * 2) as u8, 128])
    });
    println!(
        "| backend | faces | enrol p50 ms | enrol p99 ms | search p50 ms | search p99 ms | fill faces/s |"
    );
    println!("|---|---|---|---|---|---|---|");
    let backend = match loc {
        GalleryLocation::Dir(_) => "SQLite",
        GalleryLocation::Postgres(_) => "Postgres",
    };
    for &size in &a.sizes {
        let have = g.len()?;
        let t = Instant::now();
        if size > have {
            fill(&g, have, size, &mut rng)?;
        }
        let fill_rate = if size > have {
            #[allow(clippy::cast_precision_loss)]
            let r = (size - have) as f64 / t.elapsed().as_secs_f64();
            format!("{r:.0}")
        } else {
            "–".into()
        };
        let mut enrol_ms = Vec::with_capacity(a.ops);
        let mut queries = Vec::with_capacity(a.ops);
        for k in 0..a.ops {
            let v = rng.unit();
            let t = Instant::now();
            g.enrol(&format!("probe {size}-{k}"), "bench", &v, &thumb)?;
            enrol_ms.push(t.elapsed().as_secs_f64() * 1e3);
            queries.push(rng.face_of(&v));
        }
        let mut search_ms = Vec::with_capacity(a.ops);
        for q in &queries {
            let t = Instant::now();
            let hits = g.search(q, 5)?;
            search_ms.push(t.elapsed().as_secs_f64() * 1e3);
            anyhow::ensure!(!hits.is_empty(), "a search found nothing");
        }
        enrol_ms.sort_by(f64::total_cmp);
        search_ms.sort_by(f64::total_cmp);
        println!(
            "| {backend} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {fill_rate} |",
            g.len()?,
            percentile(&enrol_ms, 0.5),
            percentile(&enrol_ms, 0.99),
            percentile(&search_ms, 0.5),
            percentile(&search_ms, 0.99),
        );
    }
    Ok(())
}
