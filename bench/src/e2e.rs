//! End-to-end timing: each photo analysed `runs` times (after a warm-up) by one pipeline per
//! variant, the variants taking turns; medians per stage, faces found, and the share of time inside
//! ONNX Runtime.

use std::path::{Path, PathBuf};
use std::time::Instant;

use facelens_core::api::Timings;
use facelens_core::models::mtcnn::MtcnnConfig;
use facelens_core::runtime::SessionOptions;
use facelens_core::{Pipeline, PipelineConfig};

/// A pipeline configuration under test.
#[derive(Debug, Clone)]
pub struct Variant {
    /// Row label.
    pub name: &'static str,
    /// Its configuration.
    pub config: PipelineConfig,
}

/// The variants: today's defaults, and the "before" settings this project changed.
pub fn variants(models: &Path) -> Vec<Variant> {
    let base = PipelineConfig {
        models_dir: Some(models.to_path_buf()),
        auto_provision: false,
        ..PipelineConfig::default()
    };
    vec![
        Variant {
            name: "facelens (now)",
            config: base.clone(),
        },
        Variant {
            name: "before: float FaceRes and GEAR",
            config: PipelineConfig {
                session: SessionOptions {
                    int8: false,
                    ..SessionOptions::default()
                },
                ..base.clone()
            },
        },
        Variant {
            name: "before: one face per embedder run",
            config: PipelineConfig {
                embed_batch: Some(1),
                ..base.clone()
            },
        },
        Variant {
            name: "before: embedder's pruned channels computed",
            config: PipelineConfig {
                session: SessionOptions {
                    prune_channels: false,
                    ..SessionOptions::default()
                },
                ..base.clone()
            },
        },
        Variant {
            name: "before: embedder always in the blocked layout",
            config: PipelineConfig {
                session: SessionOptions {
                    choose_layout: false,
                    ..SessionOptions::default()
                },
                ..base.clone()
            },
        },
        Variant {
            name: "before: attribute models one after another",
            config: PipelineConfig {
                attribute_concurrency: Some(false),
                ..base.clone()
            },
        },
        Variant {
            name: "before: attribute models batched by 8",
            config: PipelineConfig {
                attribute_batch: Some(8),
                ..base.clone()
            },
        },
        Variant {
            name: "before: MTCNN's PRelu as pinned",
            config: PipelineConfig {
                session: SessionOptions {
                    rewrite_graphs: false,
                    ..SessionOptions::default()
                },
                ..base.clone()
            },
        },
        Variant {
            name: "before: P-Net in ONNX Runtime",
            config: PipelineConfig {
                session: SessionOptions {
                    native_pnet: false,
                    ..SessionOptions::default()
                },
                ..base.clone()
            },
        },
        Variant {
            name: "before: P-Net in ONNX Runtime on whole levels",
            config: PipelineConfig {
                session: SessionOptions {
                    native_pnet: false,
                    ..SessionOptions::default()
                },
                detector: MtcnnConfig {
                    pnet_strip_px: 0,
                    ..MtcnnConfig::default()
                },
                ..base.clone()
            },
        },
        Variant {
            name: "before: pyramid levels one after another",
            config: PipelineConfig {
                detector: MtcnnConfig {
                    parallel_pyramid: false,
                    ..MtcnnConfig::default()
                },
                ..base.clone()
            },
        },
        Variant {
            name: "before: every pyramid level fully padded",
            config: PipelineConfig {
                detector: MtcnnConfig {
                    pad_per_level: false,
                    ..MtcnnConfig::default()
                },
                ..base.clone()
            },
        },
        Variant {
            name: "before: ONNX Runtime's memory pattern",
            config: PipelineConfig {
                session: SessionOptions {
                    memory_pattern: true,
                    ..SessionOptions::default()
                },
                ..base.clone()
            },
        },
        Variant {
            name: "before: ONNX Runtime spinning threads",
            config: PipelineConfig {
                session: SessionOptions {
                    spinning: true,
                    ..SessionOptions::default()
                },
                ..base
            },
        },
    ]
}

/// Medians for one photo and variant.
#[derive(Debug, Clone)]
pub struct Row {
    /// Variant label.
    pub variant: &'static str,
    /// Photo path.
    pub photo: PathBuf,
    /// Megapixels.
    pub megapixels: f64,
    /// Faces found.
    pub faces: usize,
    /// Median per stage (ms).
    pub median: Timings,
    /// Median share of the total inside model runs.
    pub model_share: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Idle time before each timed run, milliseconds.
const GAP_MS: u64 = 100;

/// One timed analysis: stage times, share inside model runs, faces, width, height.
type Sample = (Timings, f64, usize, u32, u32);

fn sample(p: &mut Pipeline, photo: &Path) -> anyhow::Result<Sample> {
    let m0 = facelens_core::models::model_run_ns();
    let t0 = Instant::now();
    let a = p.analyze_file(photo, None)?;
    let wall_ns = t0.elapsed().as_nanos().max(1);
    let model_ns = facelens_core::models::model_run_ns() - m0;
    let share = model_ns as f64 / wall_ns as f64;
    Ok((a.timings, share, a.faces.len(), a.width_px, a.height_px))
}

/// Runs every variant on every photo. All variants are loaded at once and take turns, one run
/// each per round, so that a slow spell of a noisy machine hits them alike, with an idle gap of
/// [`GAP_MS`] before every run.
///
/// # Errors
/// Model loading or analysis failures.
pub fn run(models: &Path, photos: &[PathBuf], runs: usize) -> anyhow::Result<Vec<Row>> {
    let variants = variants(models);
    let mut pipelines = variants
        .iter()
        .map(|v| Pipeline::load(&v.config, &mut |_| {}))
        .collect::<Result<Vec<_>, _>>()?;
    // samples[variant][photo]
    let mut samples: Vec<Vec<Vec<Sample>>> = vec![vec![Vec::new(); photos.len()]; variants.len()];
    for (j, photo) in photos.iter().enumerate() {
        for p in &mut pipelines {
            let _ = p.analyze_file(photo, None)?;
        }
        for _ in 0..runs.max(1) {
            for (i, p) in pipelines.iter_mut().enumerate() {
                // The same idle gap before every run: the spinning-threads variant's threads
                // would otherwise still be spinning while the next variant runs.
                std::thread::sleep(std::time::Duration::from_millis(GAP_MS));
                samples[i][j].push(sample(p, photo)?);
            }
        }
    }
    let mut rows = Vec::new();
    for (v, per_photo) in variants.iter().zip(samples) {
        for (photo, samples) in photos.iter().zip(per_photo) {
            let pick = |f: fn(&Timings) -> f64| median(samples.iter().map(|s| f(&s.0)).collect());
            let median_t = Timings {
                decode_ms: pick(|t| t.decode_ms),
                detect_ms: pick(|t| t.detect_ms),
                align_ms: pick(|t| t.align_ms),
                embed_ms: pick(|t| t.embed_ms),
                analyze_ms: pick(|t| t.analyze_ms),
                search_ms: pick(|t| t.search_ms),
                network_ms: 0.0,
                total_ms: pick(|t| t.total_ms),
            };
            let (w, h) = (samples[0].3, samples[0].4);
            rows.push(Row {
                variant: v.name,
                photo: photo.clone(),
                megapixels: f64::from(w) * f64::from(h) / 1e6,
                faces: samples[0].2,
                median: median_t,
                model_share: median(samples.iter().map(|s| s.1).collect()),
            });
            eprintln!(
                "e2e {:<40} {:<28} {:>8.1} ms",
                v.name,
                photo.file_name().unwrap_or_default().to_string_lossy(),
                median_t.total_ms
            );
        }
    }
    Ok(rows)
}
