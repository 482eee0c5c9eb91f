//! `facelens-store-bench`: the gallery store at several sizes, on either backend, through the
//! product's own `Gallery` (the index, the exact re-rank, the database): enrol latency, search
//! latency, recall@10 and real-face hits, printed as a markdown table.
//!
//! ```text
//! facelens-store-bench --gallery /tmp/g --sizes 0,100000,1000000 --set faces --models M --photos P
//! facelens-store-bench --gallery postgres://… --sizes 0,100000 --set random
//! ```
//!
//! The gallery is filled up to each size through `Gallery::import` (one transaction per 50 000
//! faces) with synthetic people of 5 faces each: `faces` draws them like real embeddings
//! (`synth::FaceSpace`), `random` as uniformly random unit vectors, the hardest case for a graph
//! index. The labelled photos' largest faces are enrolled first, each under a name of its own.
//! Then, per size:
//! - 100 enrolments, each its own durable transaction with a 112×112 thumbnail, timed one by one;
//! - 100 searches for the 10 most similar people (`faces`: a new face of a stored person;
//!   `random`: a random vector), timed, and compared with an exact f32 scan of everything stored
//!   (recall@10 = share of the exact 10 people returned);
//! - each real face searched: is the best other person the same real person?
//!
//! The gallery must start empty.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use facelens_core::gallery::{Gallery, GalleryLocation};
use facelens_core::models::embedder::{EMBEDDING_DIM, cosine};

#[path = "../synth.rs"]
mod synth;
use synth::FaceSpace;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Set {
    /// Synthetic people shaped like real face embeddings.
    Faces,
    /// Uniformly random unit vectors.
    Random,
}

#[derive(Debug, Parser)]
#[command(
    name = "facelens-store-bench",
    about = "gallery store latency and quality by size"
)]
struct Args {
    /// An empty gallery: a folder or a postgres:// URL.
    #[arg(long)]
    gallery: String,
    /// Sizes to measure at, ascending.
    #[arg(long, value_delimiter = ',', default_value = "0,10000,100000")]
    sizes: Vec<usize>,
    /// The distractor set.
    #[arg(long, value_enum, default_value = "faces")]
    set: Set,
    /// Timed enrolments and searches per size.
    #[arg(long, default_value_t = 100)]
    ops: usize,
    /// Models folder; with --photos, the labelled photos' faces are added and checked.
    #[arg(long)]
    models: Option<PathBuf>,
    /// Labelled photos (identities.csv).
    #[arg(long)]
    photos: Option<PathBuf>,
}

fn percentile(sorted_ms: &[f64], p: f64) -> f64 {
    if sorted_ms.is_empty() {
        return 0.0;
    }
    let i = ((sorted_ms.len() - 1) as f64 * p).round() as usize;
    sorted_ms[i]
}

/// Everything stored, as the bench knows it: vectors and the person of each.
#[derive(Default)]
struct Stored {
    vectors: Vec<f32>,
    person: Vec<u32>,
    names: Vec<String>,
}

impl Stored {
    fn person_id(&mut self, name: String) -> u32 {
        self.names.push(name);
        u32::try_from(self.names.len() - 1).unwrap_or(u32::MAX)
    }
    fn push(&mut self, v: &[f32], person: u32) {
        self.vectors.extend_from_slice(v);
        self.person.push(person);
    }
    /// The exact 10 most similar people (by their best face), on 2 threads.
    fn exact_top_people(&self, q: &[f32], k: usize) -> Vec<String> {
        let n = self.person.len();
        let half = n.div_ceil(2).max(1);
        let mut best: Vec<(f32, u32)> = std::thread::scope(|s| {
            let parts: Vec<_> = (0..2)
                .map(|t| {
                    s.spawn(move || {
                        let lo = (t * half).min(n);
                        let hi = ((t + 1) * half).min(n);
                        let mut top: Vec<(f32, u32)> = Vec::new();
                        for i in lo..hi {
                            let v = &self.vectors[i * EMBEDDING_DIM..(i + 1) * EMBEDDING_DIM];
                            let c: f32 = v.iter().zip(q).map(|(a, b)| a * b).sum();
                            let p = self.person[i];
                            if top.len() < k * 8 || c > top[top.len() - 1].0 {
                                if let Some(e) = top.iter_mut().find(|e| e.1 == p) {
                                    e.0 = e.0.max(c);
                                } else {
                                    top.push((c, p));
                                }
                                top.sort_by(|a, b| b.0.total_cmp(&a.0));
                                top.truncate(k * 8);
                            }
                        }
                        top
                    })
                })
                .collect();
            parts
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        });
        best.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut out: Vec<String> = Vec::new();
        for (_, p) in best {
            let name = &self.names[p as usize];
            if !out.contains(name) {
                out.push(name.clone());
            }
            if out.len() == k {
                break;
            }
        }
        out
    }
}

fn real_faces(
    models: &std::path::Path,
    photos: &std::path::Path,
) -> anyhow::Result<Vec<(String, Vec<f32>)>> {
    use facelens_core::{Pipeline, PipelineConfig};
    let text = std::fs::read_to_string(photos.join("identities.csv"))
        .with_context(|| format!("read {}/identities.csv", photos.display()))?;
    let mut p = Pipeline::load(
        &PipelineConfig {
            models_dir: Some(models.to_path_buf()),
            auto_provision: false,
            ..PipelineConfig::default()
        },
        &mut |_| {},
    )?;
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let Some((file, person)) = line.split_once(',') else {
            continue;
        };
        let a = p.analyze_file(&photos.join(file.trim()), None)?;
        if let Some(f) = a.faces.first() {
            out.push((person.trim().to_owned(), f.embedding.clone()));
        }
    }
    Ok(out)
}

fn fill(
    g: &Gallery,
    to: usize,
    set: Set,
    space: &mut FaceSpace,
    stored: &mut Stored,
    kept: &mut Vec<(u32, Vec<f32>)>,
) -> anyhow::Result<()> {
    use base64::Engine;
    use std::io::Write;
    let thumb = {
        let mut png = std::io::Cursor::new(Vec::new());
        image::RgbImage::new(1, 1).write_to(&mut png, image::ImageFormat::Png)?;
        base64::engine::general_purpose::STANDARD.encode(png.into_inner())
    };
    let step = 50_000;
    let mut done = 0;
    let mut centre = Vec::new();
    let mut person = 0;
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
        for k in 0..n {
            let id = done + k;
            if id.is_multiple_of(5) {
                let name = format!("synthetic {}", stored.names.len());
                person = stored.person_id(name);
                centre = space.identity();
                if (id / 5).is_multiple_of(97) {
                    kept.push((person, centre.clone()));
                }
            }
            let v = match set {
                Set::Faces => space.face_of(&centre),
                Set::Random => space.random(),
            };
            stored.push(&v, person);
            let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            writeln!(
                w,
                "{}",
                serde_json::json!({"name": stored.names[person as usize], "source": "bench",
                    "enrolled_at_unix_s": 0,
                    "embedding_f32le": base64::engine::general_purpose::STANDARD.encode(bytes),
                    "thumbnail_png": thumb})
            )?;
        }
        w.flush()?;
        drop(w);
        g.import(file.path())?;
        done += n;
        eprintln!("  filled {done} of {to}");
    }
    Ok(())
}

/// Cosine spread of a sample: (mean, sd) of pairs of one person and of different people.
fn spread(space: &mut FaceSpace) -> ((f64, f64), (f64, f64)) {
    let people: Vec<Vec<Vec<f32>>> = (0..200)
        .map(|_| {
            let c = space.identity();
            (0..5).map(|_| space.face_of(&c)).collect()
        })
        .collect();
    let (mut same, mut diff) = (Vec::new(), Vec::new());
    for (i, a) in people.iter().enumerate() {
        for (x, fa) in a.iter().enumerate() {
            for fb in &a[x + 1..] {
                same.push(f64::from(cosine(fa, fb)));
            }
            for b in &people[i + 1..] {
                diff.push(f64::from(cosine(fa, &b[0])));
            }
        }
    }
    let stats = |v: &[f64]| {
        let n = v.len() as f64;
        let m = v.iter().sum::<f64>() / n;
        (
            m,
            (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n).sqrt(),
        )
    };
    (stats(&same), stats(&diff))
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let loc = GalleryLocation::parse(&a.gallery)?;
    let g = Gallery::open_location(&loc).context("open the gallery")?;
    if !g.is_empty()? {
        bail!(
            "{} is not empty; the benchmark fills it itself",
            g.location()
        );
    }
    let real = match (&a.models, &a.photos) {
        (Some(m), Some(p)) => real_faces(m, p)?,
        _ => Vec::new(),
    };
    let anchors: Vec<Vec<f32>> = real.iter().map(|(_, e)| e.clone()).collect();
    let mut space = FaceSpace::anchored(0x9E37_79B9_7F4A_7C15, &anchors);
    if a.set == Set::Faces {
        let ((sm, ss), (dm, ds)) = spread(&mut FaceSpace::anchored(1, &anchors));
        eprintln!(
            "synthetic faces: same person {sm:.3} ± {ss:.3}, different people {dm:.3} ± {ds:.3}"
        );
    }
    let mut stored = Stored::default();
    let thumb = image::RgbImage::from_fn(112, 112, |x, y| {
        image::Rgb([(x * 2) as u8, (y * 2) as u8, 128])
    });
    let mut real_names = Vec::new();
    for (j, (person, e)) in real.iter().enumerate() {
        let name = format!("real {person} {j}");
        g.enrol(&name, "bench", e, &thumb)?;
        let id = stored.person_id(name.clone());
        stored.push(e, id);
        real_names.push(name);
    }
    let backend = match loc {
        GalleryLocation::Dir(_) => "SQLite",
        GalleryLocation::Postgres(_) => "Postgres",
    };
    let set = match a.set {
        Set::Faces => "faces",
        Set::Random => "random",
    };
    println!(
        "| backend | set | faces | enrol p50 ms | enrol p99 ms | search p50 ms | search p99 ms | recall@10 | real faces: best other is same person (exact scan) | fill faces/s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut kept: Vec<(u32, Vec<f32>)> = Vec::new();
    let mut filled = 0;
    let mut qrng = FaceSpace::anchored(77, &anchors);
    for &size in &a.sizes {
        let t = Instant::now();
        let fill_rate = if size > filled {
            let before = stored.person.len();
            fill(&g, size - filled, a.set, &mut space, &mut stored, &mut kept)?;
            let r = (stored.person.len() - before) as f64 / t.elapsed().as_secs_f64();
            filled = size;
            format!("{r:.0}")
        } else {
            "–".into()
        };
        let mut enrol_ms = Vec::with_capacity(a.ops);
        for k in 0..a.ops {
            let v = match a.set {
                Set::Faces => qrng.identity(),
                Set::Random => qrng.random(),
            };
            let name = format!("probe {size}-{k}");
            let t = Instant::now();
            g.enrol(&name, "bench", &v, &thumb)?;
            enrol_ms.push(t.elapsed().as_secs_f64() * 1e3);
            let id = stored.person_id(name);
            stored.push(&v, id);
        }
        let mut search_ms = Vec::with_capacity(a.ops);
        let (mut found, mut wanted) = (0usize, 0usize);
        for k in 0..a.ops {
            let q = match (a.set, kept.get(k * 7919 % kept.len().max(1))) {
                (Set::Faces, Some((_, c))) => qrng.face_of(c),
                _ => qrng.random(),
            };
            let t = Instant::now();
            let hits = g.search(&q, 10)?;
            search_ms.push(t.elapsed().as_secs_f64() * 1e3);
            let exact = stored.exact_top_people(&q, 10);
            wanted += exact.len();
            found += exact
                .iter()
                .filter(|n| hits.iter().any(|h| &h.name == *n))
                .count();
        }
        let (mut real_hits, mut real_exact) = (0, 0);
        for (j, (person, e)) in real.iter().enumerate() {
            let same = |name: &str| name.starts_with(&format!("real {person} "));
            let hits = g.search(e, 3)?;
            let other = hits.iter().find(|h| h.name != real_names[j]);
            if other.is_some_and(|h| same(&h.name)) {
                real_hits += 1;
            }
            let exact = stored.exact_top_people(e, 2);
            if exact
                .iter()
                .find(|n| **n != real_names[j])
                .is_some_and(|n| same(n))
            {
                real_exact += 1;
            }
        }
        enrol_ms.sort_by(f64::total_cmp);
        search_ms.sort_by(f64::total_cmp);
        let recall = found as f64 / wanted.max(1) as f64;
        println!(
            "| {backend} | {set} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {recall:.3} | {real_hits}/{n_real} ({real_exact}/{n_real}) | {fill_rate} |",
            g.len()?,
            percentile(&enrol_ms, 0.5),
            percentile(&enrol_ms, 0.99),
            percentile(&search_ms, 0.5),
            percentile(&search_ms, 0.99),
            n_real = real.len(),
        );
    }
    Ok(())
}
