//! `facelens-first-bench`: the first photo after start against the same photo warm, printed as
//! a markdown section that `bench/run.sh` appends to `bench/RESULTS.md`.
//!
//! ```text
//! facelens-first-bench --models DIR --photos a.jpg,b.jpg --starts 3 --runs 9
//! ```
//!
//! For each photo and each setting ("warm-up at load", what the app, the CLI and the server do,
//! and "no warm-up", the before), a new `Pipeline` is loaded `--starts` times (every ONNX Runtime
//! session created anew) and its first analysis of the photo is timed; then `--runs` more analyses
//! by the last one give the warm median. Load time is reported apart: it is spent under the
//! "Preparing facelens" progress (the window) or before `/readyz` says ready (the server).

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use facelens_core::{Pipeline, PipelineConfig};

#[derive(Debug, Parser)]
#[command(
    name = "facelens-first-bench",
    about = "first photo after start vs warm"
)]
struct Args {
    /// Models folder (provisioned).
    #[arg(long)]
    models: PathBuf,
    /// Photos.
    #[arg(long, value_delimiter = ',')]
    photos: Vec<PathBuf>,
    /// Fresh starts per photo and setting (median of their first analyses).
    #[arg(long, default_value_t = 3)]
    starts: usize,
    /// Warm analyses after the last start (median).
    #[arg(long, default_value_t = 9)]
    runs: usize,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    println!("\n## 8. First photo after start (`facelens-first-bench`)\n");
    println!(
        "A new `Pipeline` per start (every ONNX Runtime session created anew), {} starts per photo and setting, median of their first analyses; warm: median of {} more analyses. Load (with its warm-up) happens under the window's \"Preparing facelens\" progress and before the server's `/readyz`.\n",
        a.starts, a.runs
    );
    println!("| setting | photo | load ms | first photo ms | warm median ms | first ÷ warm |");
    println!("|---|---|---|---|---|---|");
    for (label, warm_up) in [
        ("warm-up at load (now)", true),
        ("before: no warm-up", false),
    ] {
        let config = PipelineConfig {
            models_dir: Some(a.models.clone()),
            auto_provision: false,
            warm_up,
            ..PipelineConfig::default()
        };
        for photo in &a.photos {
            let (mut loads, mut firsts) = (Vec::new(), Vec::new());
            let mut last = None;
            for _ in 0..a.starts.max(1) {
                let t = Instant::now();
                let mut p = Pipeline::load(&config, &mut |_| {})?;
                loads.push(ms(t));
                let t = Instant::now();
                p.analyze_file(photo, None)?;
                firsts.push(ms(t));
                last = Some(p);
            }
            let mut p = last.ok_or_else(|| anyhow::anyhow!("no start"))?;
            let mut warm = Vec::new();
            for _ in 0..a.runs.max(1) {
                let t = Instant::now();
                p.analyze_file(photo, None)?;
                warm.push(ms(t));
            }
            let (first, warm) = (median(firsts), median(warm));
            println!(
                "| {label} | {} | {:.0} | {first:.1} | {warm:.1} | **{:.2}** |",
                photo.file_name().unwrap_or_default().to_string_lossy(),
                median(loads),
                first / warm
            );
        }
    }
    Ok(())
}
