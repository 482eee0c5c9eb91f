//! `facelens-bench`: measures facelens and writes `bench/RESULTS.md`. `bench/run.sh` is the one
//! command that prepares the Python peer, the FLOP counts, criterion and memory figures, then
//! calls this binary to measure the rest and write the report.

mod accuracy;
mod e2e;
mod report;
mod scale;

use std::path::PathBuf;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "facelens-bench",
    about = "facelens benchmarks → bench/RESULTS.md"
)]
struct Args {
    /// Models folder (provisioned).
    #[arg(long)]
    models: PathBuf,
    /// The labelled photos (identities.csv).
    #[arg(long, default_value = "testdata/faces")]
    photos: PathBuf,
    /// Photos for the end-to-end table (same paths as given to the peer).
    #[arg(long, value_delimiter = ',')]
    e2e: Vec<PathBuf>,
    /// Warm runs per photo and variant (median reported).
    #[arg(long, default_value_t = 9)]
    runs: usize,
    /// The peer's JSON (bench/peer.py).
    #[arg(long)]
    peer: Option<PathBuf>,
    /// FLOP counts and sgemm speed (bench/flops.py).
    #[arg(long)]
    flops: Option<PathBuf>,
    /// Criterion's output folder.
    #[arg(long)]
    criterion: Option<PathBuf>,
    /// Peak-memory JSON (bench/run.sh).
    #[arg(long)]
    memory: Option<PathBuf>,
    /// Gallery sizes.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000")]
    sizes: Vec<usize>,
    /// Quantisations.
    #[arg(long, value_delimiter = ',', default_value = "f32,f16,i8")]
    quantisations: Vec<String>,
    /// Largest gallery size also measured with f16/i8; f32 runs at every size.
    #[arg(long, default_value_t = 1_000_000)]
    quantised_max: usize,
    /// The command line to quote in the report.
    #[arg(long, default_value = "bash bench/run.sh")]
    command: String,
    /// Output file.
    #[arg(long, default_value = "bench/RESULTS.md")]
    out: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let e2e = e2e::run(&a.models, &a.e2e, a.runs)?;
    let photos = if a.photos.join("identities.csv").is_file() {
        accuracy::photos(&a.models, &a.photos)?
    } else {
        eprintln!(
            "SKIPPED accuracy: {} has no identities.csv",
            a.photos.display()
        );
        Vec::new()
    };
    let real: Vec<(String, Vec<f32>)> = photos
        .iter()
        .filter_map(|p| {
            p.largest
                .as_ref()
                .map(|l| (p.person.clone(), l.embedding.clone()))
        })
        .collect();
    let quants: Vec<&'static str> = a
        .quantisations
        .iter()
        .map(|q| match q.as_str() {
            "f16" => "f16",
            "i8" => "i8",
            _ => "f32",
        })
        .collect();
    let scale = scale::run(&a.sizes, &quants, a.quantised_max, &real)?;
    let md = report::render(&report::Inputs {
        command: &a.command,
        e2e: &e2e,
        peer: a.peer.as_deref(),
        flops: a.flops.as_deref(),
        criterion: a.criterion.as_deref(),
        memory: a.memory.as_deref(),
        scale: &scale,
        photos: &photos,
    })?;
    std::fs::write(&a.out, md)?;
    eprintln!("wrote {}", a.out.display());
    Ok(())
}
