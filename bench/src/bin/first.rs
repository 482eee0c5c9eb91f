//! `facelens-first-bench`: the first photo after start against the same photo warm, printed as
//! a markdown section that `bench/run.sh` appends to `bench/RESULTS.md`.
//!
//! ```text
//! facelens-first-bench --models DIR --photos a.jpg,b.jpg --starts 3 --runs 9
//! ```
//!
//! For each photo and each setting ("warm-up at load", what the app, the CLI and the server do,
//! and "no warm-up", the before), `--starts` fresh processes (this binary again, with `--child`)
//! each load a `Pipeline` and time their first analysis of the photo; then `--runs` analyses in
//! this process, after one untimed, give the warm median. Load time is reported apart: it is spent
//! under the "Preparing facelens" progress (the window) or before `/readyz` says ready (the
//! server).

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
    /// Warm analyses (median).
    #[arg(long, default_value_t = 9)]
    runs: usize,
    /// Internal: be one fresh start (load, analyse `photos[0]` once, print "load_ms first_ms").
    #[arg(long, hide = true)]
    child: bool,
    /// Internal: the child's setting.
    #[arg(long, hide = true)]
    no_warm_up: bool,
}

fn config(a: &Args, warm_up: bool) -> PipelineConfig {
    PipelineConfig {
        models_dir: Some(a.models.clone()),
        auto_provision: false,
        warm_up,
        ..PipelineConfig::default()
    }
}

/// One fresh process: (load ms, first analysis ms).
fn start(a: &Args, photo: &std::path::Path, warm_up: bool) -> anyhow::Result<(f64, f64)> {
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    cmd.arg("--child")
        .arg("--models")
        .arg(&a.models)
        .arg("--photos")
        .arg(photo);
    if !warm_up {
        cmd.arg("--no-warm-up");
    }
    let out = cmd.output()?;
    if std::env::var_os("FIRST_BENCH_STAGES").is_some() {
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
    }
    anyhow::ensure!(
        out.status.success(),
        "child: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout)?;
    let mut v = text.split_whitespace().map(str::parse::<f64>);
    match (v.next(), v.next()) {
        (Some(Ok(load)), Some(Ok(first))) => Ok((load, first)),
        _ => anyhow::bail!("child said {text:?}"),
    }
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
    if a.child {
        let photo = a
            .photos
            .first()
            .ok_or_else(|| anyhow::anyhow!("no photo"))?;
        let t = Instant::now();
        let mut p = Pipeline::load(&config(&a, !a.no_warm_up), &mut |_| {})?;
        let load = ms(t);
        let t = Instant::now();
        let r = p.analyze_file(photo, None)?;
        println!("{load} {}", ms(t));
        eprintln!("first {:?}", r.timings);
        return Ok(());
    }
    println!("\n## 8. First photo after start (`facelens-first-bench`)\n");
    println!(
        "{} fresh processes per photo and setting, each loading the models and analysing the photo once (median of those first analyses); warm: median of {} analyses in one process after one untimed. Load (with its warm-up) happens under the window's \"Preparing facelens\" progress and before the server's `/readyz`.\n",
        a.starts, a.runs
    );
    println!("| setting | photo | load ms | first photo ms | warm median ms | first ÷ warm |");
    println!("|---|---|---|---|---|---|");
    let mut warm_p = Pipeline::load(&config(&a, true), &mut |_| {})?;
    for photo in &a.photos {
        warm_p.analyze_file(photo, None)?;
        let mut warm = Vec::new();
        for _ in 0..a.runs.max(1) {
            let t = Instant::now();
            let r = warm_p.analyze_file(photo, None)?;
            warm.push(ms(t));
            if std::env::var_os("FIRST_BENCH_STAGES").is_some() {
                eprintln!("warm {:?}", r.timings);
            }
        }
        let warm = median(warm);
        for (label, warm_up) in [
            ("warm-up at load (now)", true),
            ("before: no warm-up", false),
        ] {
            let (mut loads, mut firsts) = (Vec::new(), Vec::new());
            for _ in 0..a.starts.max(1) {
                let (load, first) = start(&a, photo, warm_up)?;
                loads.push(load);
                firsts.push(first);
            }
            let first = median(firsts);
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
