//! `facelens-index-bench`: the embedded gallery's vector index alone (`gallery::index`), swept
//! over its search breadth: latency of one search (graph candidates plus the exact f32 re-rank
//! of them, as the store does) and recall@10 against an exact scan, on synthetic faces or random
//! vectors. This is how `IndexParams::GALLERY` was chosen; the store bench measures the whole
//! product path.
//!
//! ```text
//! facelens-index-bench --size 1000000 --set faces --connectivity 32 --ef 64,96,128,160,224,320
//! ```

use std::time::Instant;

use clap::Parser;
use facelens_core::gallery::index::{IndexParams, RERANK_CANDIDATES, VectorIndex};
use facelens_core::models::embedder::cosine;

#[path = "../synth.rs"]
mod synth;

#[derive(Debug, Parser)]
#[command(name = "facelens-index-bench", about = "vector index breadth sweep")]
struct Args {
    /// Vectors in the index.
    #[arg(long, default_value_t = 100_000)]
    size: usize,
    /// `faces` (synthetic people of 5 faces) or `random` (uniform unit vectors).
    #[arg(long, default_value = "faces")]
    set: String,
    /// Graph degrees to build.
    #[arg(long, value_delimiter = ',', default_value = "32")]
    connectivity: Vec<usize>,
    /// Search breadths to measure.
    #[arg(long, value_delimiter = ',', default_value = "64,96,128,160,224,320")]
    ef: Vec<usize>,
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let random = a.set == "random";
    let mut space = synth::FaceSpace::new(5);
    let mut data: Vec<Vec<f32>> = Vec::with_capacity(a.size);
    let mut centres = Vec::new();
    let mut c = Vec::new();
    for i in 0..a.size {
        if i % 5 == 0 {
            c = space.identity();
            if i % 485 == 0 {
                centres.push(c.clone());
            }
        }
        data.push(if random {
            space.random()
        } else {
            space.face_of(&c)
        });
    }
    let queries: Vec<Vec<f32>> = (0..100)
        .map(|k| {
            if random {
                space.random()
            } else {
                space.face_of(&centres[k * 7 % centres.len()])
            }
        })
        .collect();
    let exact: Vec<Vec<u64>> = queries
        .iter()
        .map(|q| {
            let mut s: Vec<(f32, u64)> = (0u64..)
                .zip(&data)
                .map(|(i, v)| (cosine(q, v), i))
                .collect();
            s.select_nth_unstable_by(10, |a, b| b.0.total_cmp(&a.0));
            s[..10].iter().map(|x| x.1).collect()
        })
        .collect();
    println!(
        "| vectors | set | connectivity | ef | search p50 ms | p99 ms | recall@10 | adds/s | index MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for &m in &a.connectivity {
        let p = IndexParams {
            connectivity: m,
            ..IndexParams::GALLERY
        };
        let mut index = VectorIndex::with_params(a.size, 0, p)?;
        let t = Instant::now();
        let items: Vec<(u64, Vec<f32>)> = (0u64..).zip(data.iter().cloned()).collect();
        for chunk in items.chunks(8192) {
            index.upsert_many(chunk)?;
        }
        let adds = a.size as f64 / t.elapsed().as_secs_f64();
        drop(items);
        for &ef in &a.ef {
            index.set_expansion_search(ef);
            let mut lat = Vec::new();
            let mut hit = 0;
            for (q, ex) in queries.iter().zip(&exact) {
                let t = Instant::now();
                let found = index.candidates(q, RERANK_CANDIDATES)?;
                let mut s: Vec<(f32, u64)> = found
                    .iter()
                    .filter_map(|&i| Some((cosine(q, data.get(usize::try_from(i).ok()?)?), i)))
                    .collect();
                s.sort_by(|a, b| b.0.total_cmp(&a.0));
                lat.push(t.elapsed().as_secs_f64() * 1e3);
                hit += s.iter().take(10).filter(|x| ex.contains(&x.1)).count();
            }
            lat.sort_by(f64::total_cmp);
            let recall = hit as f64 / (exact.len() * 10) as f64;
            println!(
                "| {} | {} | {m} | {ef} | {:.2} | {:.2} | {recall:.3} | {adds:.0} | {} |",
                a.size,
                a.set,
                lat[lat.len() / 2],
                lat[lat.len() * 99 / 100],
                index.memory_bytes() >> 20,
            );
        }
    }
    Ok(())
}
