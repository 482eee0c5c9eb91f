//! Gallery scale: usearch indexes of random unit 512-d vectors (plus the real embeddings), add
//! throughput, search latency, recall@10 against exact brute force, memory and file size, per
//! quantisation.

use std::time::Instant;

use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

const DIM: usize = 512;
const K: usize = 10;

/// One index measured.
#[derive(Debug, Clone)]
pub struct ScaleRow {
    /// Random vectors (plus the real ones).
    pub size: usize,
    /// "f32", "f16" or "i8".
    pub quantisation: &'static str,
    /// How the index was searched.
    pub search: Search,
    /// Vectors added per second (2 threads).
    pub adds_per_s: f64,
    /// Search latency, one thread, microseconds.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Share of the exact top-10 found, random queries.
    pub recall_at_10: f64,
    /// Real photos whose nearest other real face is the same person (found / total).
    pub real_same_person: (usize, usize),
    /// Index memory, MiB.
    pub memory_mib: f64,
    /// Saved file, MiB.
    pub file_mib: f64,
}

/// How a row's queries were answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Search {
    /// HNSW with this search breadth (ef).
    Hnsw(usize),
    /// usearch's exact search: every stored vector compared (at the index's quantisation).
    Exact,
}

/// Queries timed per exact-search row (each reads every vector, so fewer than HNSW's 1000).
pub const EXACT_QUERIES: usize = 200;

/// splitmix64: a small, fast, reproducible generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    /// A standard normal (Box–Muller).
    fn normal(&mut self) -> f32 {
        let (u, v) = (self.uniform(), self.uniform());
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    }
}

fn unit_vectors(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng(seed);
    let mut v: Vec<f32> = (0..n * DIM).map(|_| rng.normal()).collect();
    for row in v.chunks_exact_mut(DIM) {
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        row.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

fn exact_top(data: &[f32], q: &[f32]) -> Vec<u64> {
    let mut best: Vec<(f32, u64)> = Vec::with_capacity(K + 1);
    for (i, row) in data.chunks_exact(DIM).enumerate() {
        let s: f32 = row.iter().zip(q).map(|(a, b)| a * b).sum();
        if best.len() < K || s > best[best.len() - 1].0 {
            let pos = best.partition_point(|&(b, _)| b >= s);
            best.insert(pos, (s, i as u64));
            best.truncate(K);
        }
    }
    best.into_iter().map(|(_, i)| i).collect()
}

fn quant(name: &str) -> ScalarKind {
    match name {
        "f16" => ScalarKind::F16,
        "i8" => ScalarKind::I8,
        _ => ScalarKind::F32,
    }
}

/// Measures every `size` × quantisation. `real` are labelled embeddings `(person, vector)`.
///
/// # Errors
/// usearch errors, temporary file errors.
pub fn run(
    sizes: &[usize],
    quantisations: &[&'static str],
    quantised_max: usize,
    real: &[(String, Vec<f32>)],
) -> anyhow::Result<Vec<ScaleRow>> {
    let mut rows = Vec::new();
    let queries = unit_vectors(1000, 7);
    for &size in sizes {
        let data = unit_vectors(size, 42);
        // Exact answers for the first 100 queries (brute force, 2 threads).
        let exact: Vec<Vec<u64>> = std::thread::scope(|s| {
            let halves: Vec<_> = queries[..100 * DIM]
                .chunks(50 * DIM)
                .map(|qs| {
                    let data = &data;
                    s.spawn(move || {
                        qs.chunks_exact(DIM)
                            .map(|q| exact_top(data, q))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            halves
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        });
        for &qname in quantisations {
            if qname != "f32" && size > quantised_max {
                continue;
            }
            let index = Index::new(&IndexOptions {
                dimensions: DIM,
                metric: MetricKind::Cos,
                quantization: quant(qname),
                connectivity: 0,
                expansion_add: 0,
                expansion_search: 0,
                multi: false,
            })?;
            index.reserve_capacity_and_threads(size + real.len(), 2)?;
            let t = Instant::now();
            std::thread::scope(|s| -> anyhow::Result<()> {
                let workers: Vec<_> = (0..2)
                    .map(|w| {
                        let (index, data) = (&index, &data);
                        s.spawn(move || -> Result<(), String> {
                            for (i, row) in data.chunks_exact(DIM).enumerate().skip(w).step_by(2) {
                                index.add(i as u64, row).map_err(|e| e.to_string())?;
                            }
                            Ok(())
                        })
                    })
                    .collect();
                for w in workers {
                    w.join()
                        .map_err(|_| anyhow::anyhow!("add thread panicked"))?
                        .map_err(anyhow::Error::msg)?;
                }
                Ok(())
            })?;
            let adds_per_s = size as f64 / t.elapsed().as_secs_f64();
            for (j, (_, e)) in real.iter().enumerate() {
                index.add((size + j) as u64, e)?;
            }
            let dir = std::env::temp_dir().join(format!("facelens-bench-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            let file = dir.join("index.usearch");
            index.save(&file.to_string_lossy())?;
            let file_mib = std::fs::metadata(&file)?.len() as f64 / 1048576.0;
            let _ = std::fs::remove_dir_all(&dir);
            let default_ef = index.expansion_search();
            for search in [Search::Hnsw(default_ef), Search::Hnsw(256), Search::Exact] {
                if let Search::Hnsw(ef) = search {
                    index.change_expansion_search(ef);
                }
                let q = measure(&index, search, &queries, &exact, real, size)?;
                let row = ScaleRow {
                    size,
                    quantisation: qname,
                    search,
                    adds_per_s,
                    p50_us: q.0,
                    p99_us: q.1,
                    recall_at_10: q.2,
                    real_same_person: (q.3, real.len()),
                    memory_mib: index.memory_usage() as f64 / 1048576.0,
                    file_mib,
                };
                eprintln!("scale {size} {qname}: {row:?}");
                rows.push(row);
            }
        }
    }
    Ok(rows)
}

/// Search latency p50/p99 (µs), recall@10 on the queries with exact answers, and the real faces
/// whose nearest other real face is the same person.
fn measure(
    index: &Index,
    search: Search,
    queries: &[f32],
    exact: &[Vec<u64>],
    real: &[(String, Vec<f32>)],
    size: usize,
) -> anyhow::Result<(f64, f64, f64, usize)> {
    let find = |q: &[f32], k: usize| match search {
        Search::Hnsw(_) => index.search(q, k),
        Search::Exact => index.exact_search(q, k),
    };
    let n_queries = match search {
        Search::Hnsw(_) => queries.len() / DIM,
        Search::Exact => EXACT_QUERIES,
    };
    let mut lat = Vec::with_capacity(n_queries);
    let mut hits = 0usize;
    for (qi, q) in queries.chunks_exact(DIM).take(n_queries).enumerate() {
        let t = Instant::now();
        let m = find(q, K)?;
        lat.push(t.elapsed().as_secs_f64() * 1e6);
        if let Some(ex) = exact.get(qi) {
            hits += m.keys.iter().filter(|k| ex.contains(k)).count();
        }
    }
    lat.sort_by(f64::total_cmp);
    let mut same = 0;
    for (j, (person, e)) in real.iter().enumerate() {
        let m = find(e, 2)?;
        let other = m.keys.iter().find(|&&k| k != (size + j) as u64);
        if let Some(&k) = other
            && k >= size as u64
            && real
                .get(k as usize - size)
                .is_some_and(|(p, _)| p == person)
        {
            same += 1;
        }
    }
    let recall = hits as f64 / (exact.len().min(n_queries) * K).max(1) as f64;
    Ok((lat[lat.len() / 2], lat[lat.len() * 99 / 100], recall, same))
}
