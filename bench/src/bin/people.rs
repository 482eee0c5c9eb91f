//! `facelens-people-bench`: the people library at scale, on synthetic embeddings (the models are
//! not involved: this measures storage and clustering), printed as a markdown table.
//!
//! ```text
//! facelens-people-bench --faces 10000 --add 100
//! ```
//!
//! `--faces` faces of `--faces / 10` synthetic people (10 faces each; within-person cosine about
//! 0.6–0.7, unrelated people near 0; people come in sibling pairs whose faces meet at about
//! 0.35, the hard case for clustering), two faces of different people per photo, are stored in a
//! fresh embedded gallery and clustered in one run. Then `--add` new faces of the same people
//! are stored and clustered incrementally, and a full re-cluster is timed. Peak memory is the
//! process's high-water mark (`VmHWM`) before and after clustering. BCubed precision and recall
//! against the synthetic identities show the grouping is right at that size.

use std::collections::HashMap;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use facelens_core::api::BoxPx;
use facelens_core::gallery::Gallery;
use facelens_core::people::cluster::Params;
use facelens_core::people::{NewScannedFace, People};

#[path = "../synth.rs"]
mod synth;
use synth::Rng;

#[derive(Debug, Parser)]
#[command(name = "facelens-people-bench", about = "people clustering at scale")]
struct Args {
    /// Faces in the library before the incremental step.
    #[arg(long, default_value_t = 10_000)]
    faces: usize,
    /// Faces added afterwards, clustered incrementally.
    #[arg(long, default_value_t = 100)]
    add: usize,
}

/// Noise added to a person's centre to make a sibling's: cosine 1 / sqrt(1 + 1.518²) = 0.55.
const SIBLING_NOISE: f32 = 1.518;

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Stores photos of two faces each (people `who[2i]`, `who[2i+1]`) named `prefix-i`; returns
/// each face's person, by face id.
fn store(
    people: &People<'_>,
    prefix: &str,
    who: &[usize],
    centres: &[Vec<f32>],
    rng: &mut Rng,
    truth: &mut HashMap<u64, usize>,
) -> anyhow::Result<()> {
    let thumb = image::RgbImage::new(112, 112);
    let bbox = BoxPx {
        x1: 0.0,
        y1: 0.0,
        x2: 100.0,
        y2: 100.0,
    };
    for (i, pair) in who.chunks(2).enumerate() {
        let embeddings: Vec<Vec<f32>> = pair.iter().map(|&p| rng.face_of(&centres[p])).collect();
        let faces: Vec<NewScannedFace<'_>> = embeddings
            .iter()
            .map(|e| NewScannedFace {
                bbox,
                quality: 0.9,
                low_quality: false,
                embedding: e,
                thumbnail: &thumb,
            })
            .collect();
        let ids = people.add_photo(&format!("/synthetic/{prefix}-{i:06}.jpg"), 640, 480, &faces)?;
        for (id, &p) in ids.into_iter().zip(pair) {
            truth.insert(id, p);
        }
    }
    Ok(())
}

fn bcubed(people: &People<'_>, truth: &HashMap<u64, usize>) -> anyhow::Result<(f64, f64)> {
    let mut group_of = HashMap::new();
    let mut sizes: HashMap<u64, HashMap<usize, usize>> = HashMap::new();
    for g in people.groups()? {
        for f in people.faces(Some(g.id))? {
            group_of.insert(f.id, g.id);
            *sizes
                .entry(g.id)
                .or_default()
                .entry(truth[&f.id])
                .or_default() += 1;
        }
    }
    let mut per_person: HashMap<usize, usize> = HashMap::new();
    for p in truth.values() {
        *per_person.entry(*p).or_default() += 1;
    }
    let (mut p, mut r) = (0.0, 0.0);
    for (id, person) in truth {
        let (both, in_group) = group_of.get(id).map_or((1, 1), |g| {
            let s = &sizes[g];
            (s[person], s.values().sum())
        });
        {
            p += both as f64 / in_group as f64;
            r += both as f64 / per_person[person] as f64;
        }
    }
    let n = truth.len() as f64;
    Ok((p / n, r / n))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir().context("temporary gallery")?;
    let gallery = Gallery::open(dir.path())?;
    let people = gallery.people();
    let params = Params::default();
    let mut rng = Rng(0x51_7CC1_B727_220A);
    let n_people = (args.faces / 10).max(2);
    // People come in sibling pairs: the second's centre at cosine 0.55 to the first's, so their
    // faces meet at cosine about 0.35 (unrelated people: about 0).
    let mut centres: Vec<Vec<f32>> = Vec::with_capacity(n_people);
    for i in 0..n_people {
        let c = if i % 2 == 1 {
            let noise = rng.unit();
            let mut v: Vec<f32> = centres[i - 1]
                .iter()
                .zip(&noise)
                .map(|(a, b)| a + SIBLING_NOISE * b)
                .collect();
            facelens_core::models::embedder::l2_normalize(&mut v);
            v
        } else {
            rng.unit()
        };
        centres.push(c);
    }
    // Ten faces a person, shuffled into pairs of different people.
    let mut who: Vec<usize> = (0..args.faces).map(|i| i % n_people).collect();
    for i in (1..who.len()).rev() {
        let j = ((rng.next() + 0.5) * (i + 1) as f32) as usize;
        who.swap(i, j.min(i));
    }
    for pair in who.chunks_mut(2) {
        if pair.len() == 2 && pair[0] == pair[1] {
            pair[1] = (pair[1] + 1) % n_people;
        }
    }
    let mut truth = HashMap::new();

    let t = Instant::now();
    store(&people, "a", &who, &centres, &mut rng, &mut truth)?;
    let store_s = t.elapsed().as_secs_f64();
    let rss_before = peak_rss_mib();
    let t = Instant::now();
    let first = people.cluster(&params)?;
    let cluster_s = t.elapsed().as_secs_f64();
    let rss_after = peak_rss_mib();
    let (p1, r1) = bcubed(&people, &truth)?;

    let add_who: Vec<usize> = (0..args.add).map(|i| (i * 7 + i / 2) % n_people).collect();
    let t = Instant::now();
    store(&people, "b", &add_who, &centres, &mut rng, &mut truth)?;
    let add_store_ms = t.elapsed().as_secs_f64() * 1000.0;
    let t = Instant::now();
    let inc = people.cluster(&params)?;
    let add_cluster_ms = t.elapsed().as_secs_f64() * 1000.0;
    let (p2, r2) = bcubed(&people, &truth)?;
    let t = Instant::now();
    people.recluster(&params)?;
    let full_s = t.elapsed().as_secs_f64();
    let (p3, r3) = bcubed(&people, &truth)?;

    println!(
        "\nSynthetic embeddings ({n_people} people in sibling pairs, 10 faces each, two people per \
         photo); storage and clustering only, no models.\n"
    );
    println!("| step | faces | time | groups opened / merges | BCubed P / R | peak RSS MiB |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| store | {} | {store_s:.2} s | | | {rss_before:.0} |",
        args.faces
    );
    println!(
        "| cluster (first run) | {} | {cluster_s:.2} s | {} / {} | {p1:.3} / {r1:.3} | {rss_after:.0} |",
        args.faces, first.groups_opened, first.merges
    );
    println!(
        "| add {} faces: store + cluster | {} | {add_store_ms:.0} ms + {add_cluster_ms:.0} ms | {} / {} | {p2:.3} / {r2:.3} | {:.0} |",
        args.add,
        args.faces + args.add,
        inc.groups_opened,
        inc.merges,
        peak_rss_mib()
    );
    println!(
        "| full re-cluster | {} | {full_s:.2} s | | {p3:.3} / {r3:.3} | {:.0} |",
        args.faces + args.add,
        peak_rss_mib()
    );
    Ok(())
}
