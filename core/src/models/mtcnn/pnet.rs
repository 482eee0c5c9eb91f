//! MTCNN's first stage: P-Net over the image pyramid, one level after another or shared among
//! parallel threads, candidates kept per level in level order. P-Net runs in facelens's own
//! kernels ([`NativePnet`], one copy of the weights shared by the threads) or in ONNX Runtime (one
//! single-threaded session per thread); there a level larger than [`MtcnnConfig::pnet_strip_px`]
//! runs in strips of columns, so no run (and no arena) is the size of a whole large level.

use image::RgbImage;

use super::pnet_native::NativePnet;
use super::{Cand, MtcnnConfig, pack_columns_transposed};
use crate::error::ModelError;
use crate::geometry::{Overlap, ScoredBox, nms};
use crate::models::{CheckedSession, add_model_run_ns, capture_model_run_ns, spawn_share};
use crate::pyramid::{PyramidLevel, assign_levels, strip_columns};

/// What P-Net found at one pyramid level: candidates after the level's own NMS, and the best
/// face probability (for the "no face" reason).
#[derive(Debug)]
pub(super) struct LevelFinds {
    pub(super) cands: Vec<Cand>,
    pub(super) best_p: f32,
    /// Windows over the threshold before the level's NMS.
    pub(super) raw: usize,
}

/// How P-Net runs: facelens's own kernels, or ONNX Runtime (all intra-op threads for the levels
/// one after another, plus one single-threaded session per pyramid worker thread; no workers
/// when the levels run one after another: one thread, or a GPU provider).
#[derive(Debug)]
pub(super) enum PnetEngine {
    /// [`NativePnet`]: one copy of the weights, shared by the worker threads.
    Native {
        /// The weights (boxed: they are the bulk of the enum).
        net: Box<NativePnet>,
        /// Pyramid worker threads (1: the levels one after another).
        workers: usize,
    },
    /// ONNX Runtime sessions.
    Ort {
        /// All intra-op threads: the levels one after another.
        session: CheckedSession,
        /// One single-threaded session per pyramid worker thread.
        workers: Vec<CheckedSession>,
    },
}

/// One worker's way to run P-Net.
enum Runner<'a> {
    Native(&'a NativePnet),
    Ort(&'a mut CheckedSession),
}

/// Builds one level from the padded working image, runs P-Net on it and keeps its candidates.
fn pnet_level(
    runner: &mut Runner<'_>,
    level: &PyramidLevel,
    work: &RgbImage,
    threshold: f32,
    strip_px: u32,
) -> Result<LevelFinds, ModelError> {
    let pixels = level.build(work);
    let mut scan = LevelScan {
        level,
        threshold,
        cands: Vec::new(),
        best_p: 0.0,
    };
    match runner {
        Runner::Native(net) => {
            let started = std::time::Instant::now();
            let maps = net.run(&pixels);
            add_model_run_ns(u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX));
            if let Some(m) = maps {
                scan.add(&m.prob, &m.reg, (m.w_out, m.h_out), 0);
            }
        }
        Runner::Ort(session) => {
            let hs = level.height as usize;
            // In strips of at most `strip_px` pixels (see [`strip_columns`]).
            for (x0, x1) in strip_columns(level.width, level.height, strip_px) {
                let (x0, x1) = (x0 as usize, x1 as usize);
                let mut data = Vec::with_capacity((x1 - x0) * hs * 3);
                pack_columns_transposed(&pixels, x0..x1, &mut data);
                let out = session.run("input_1", &[1, x1 - x0, hs, 3], data)?;
                let (reg, prob) = (&out[0], &out[1]);
                let (w_out, h_out) = (prob.shape[1] as usize, prob.shape[2] as usize);
                scan.add(&prob.data, &reg.data, (w_out, h_out), x0 / 2);
            }
        }
    }
    Ok(scan.finish())
}

/// A level's P-Net output maps as they arrive (one for the whole level, or one per strip).
struct LevelScan<'a> {
    level: &'a PyramidLevel,
    threshold: f32,
    cands: Vec<ScoredBoxReg>,
    best_p: f32,
}

impl LevelScan<'_> {
    /// Takes one map (`prob` `[W', H', 2]`, `reg` `[W', H', 4]`) that starts `cells_right` cells
    /// into the level.
    fn add(&mut self, prob: &[f32], reg: &[f32], dims: (usize, usize), cells_right: usize) {
        self.best_p = prob
            .iter()
            .skip(1)
            .step_by(2)
            .fold(self.best_p, |a, &p| a.max(p));
        let (cx, cy) = self.level.cell_offset;
        self.cands.extend(pnet_candidates(
            prob,
            reg,
            dims,
            (cx + cells_right, cy),
            self.level.scale,
            self.threshold,
        ));
    }

    /// The level's candidates after its own NMS.
    fn finish(self) -> LevelFinds {
        let boxes: Vec<ScoredBox> = self.cands.iter().map(|c| c.b).collect();
        let cands = nms(&boxes, 0.5, Overlap::Union)
            .into_iter()
            .map(|i| Cand {
                b: self.cands[i].b,
                reg: self.cands[i].reg,
            })
            .collect();
        LevelFinds {
            cands,
            best_p: self.best_p,
            raw: self.cands.len(),
        }
    }
}

/// Runs `levels` (indices into `all`) one after another.
fn pnet_levels(
    mut runner: Runner<'_>,
    all: &[PyramidLevel],
    levels: &[usize],
    work: &RgbImage,
    cfg: &MtcnnConfig,
) -> Result<Vec<(usize, LevelFinds)>, ModelError> {
    levels
        .iter()
        .map(|&i| {
            pnet_level(
                &mut runner,
                &all[i],
                work,
                cfg.thresholds[0],
                cfg.pnet_strip_px,
            )
            .map(|f| (i, f))
        })
        .collect()
}

/// P-Net over every level, in level order. With workers, each builds and runs its share of
/// the levels ([`assign_levels`]) on its own thread (the first share on this one); the model
/// time counted is the longest worker's, since their runs overlap.
pub(super) fn run_pyramid(
    engine: &mut PnetEngine,
    levels: &[PyramidLevel],
    work: &RgbImage,
    cfg: &MtcnnConfig,
) -> Result<Vec<LevelFinds>, ModelError> {
    let all: Vec<usize> = (0..levels.len()).collect();
    let workers = match engine {
        PnetEngine::Native { workers, .. } => *workers,
        PnetEngine::Ort { workers, .. } => workers.len(),
    };
    if !cfg.parallel_pyramid || workers < 2 || levels.len() < 2 {
        let runner = match engine {
            PnetEngine::Native { net, .. } => Runner::Native(net),
            PnetEngine::Ort { session, .. } => Runner::Ort(session),
        };
        let found = pnet_levels(runner, levels, &all, work, cfg)?;
        return Ok(found.into_iter().map(|(_, f)| f).collect());
    }
    let runners: Vec<Runner<'_>> = match engine {
        PnetEngine::Native { net, workers } => {
            let net: &NativePnet = net;
            (0..*workers).map(|_| Runner::Native(net)).collect()
        }
        PnetEngine::Ort { workers, .. } => workers.iter_mut().map(Runner::Ort).collect(),
    };
    let parts = assign_levels(levels, runners.len());
    let mut shares = runners.into_iter().zip(&parts);
    let results = std::thread::scope(|s| {
        let first = shares.next();
        let spawned: Vec<_> = shares
            .filter(|(_, part)| !part.is_empty())
            .enumerate()
            .map(|(n, (runner, part))| {
                spawn_share(
                    s,
                    format!("facelens-pnet-{}", n + 1),
                    ("mtcnn_pnet", "a pyramid worker"),
                    move || pnet_levels(runner, levels, part, work, cfg),
                )
            })
            .collect();
        let mut results = Vec::with_capacity(parts.len());
        if let Some((runner, part)) = first {
            results.push(capture_model_run_ns(|| {
                pnet_levels(runner, levels, part, work, cfg)
            }));
        }
        results.extend(spawned.into_iter().map(|share| share.join()));
        results
    });
    let mut slots: Vec<Option<LevelFinds>> = levels.iter().map(|_| None).collect();
    let mut longest_ns = 0;
    for (result, run_ns) in results {
        longest_ns = longest_ns.max(run_ns);
        for (i, f) in result? {
            slots[i] = Some(f);
        }
    }
    add_model_run_ns(longest_ns);
    Ok(slots.into_iter().flatten().collect())
}

/// Candidates of one P-Net output map. `reg` is `[W', H', 4]` and `prob` `[W', H', 2]` (transposed).
/// `cell_offset` is where the map starts among the cells of the fully padded level; boxes are in
/// padded working-image pixels.
#[must_use]
pub fn pnet_candidates(
    prob: &[f32],
    reg: &[f32],
    (w_out, h_out): (usize, usize),
    cell_offset: (usize, usize),
    scale: f32,
    threshold: f32,
) -> Vec<ScoredBoxReg> {
    let mut out = Vec::new();
    for cx in 0..w_out {
        for cy in 0..h_out {
            let i = cx * h_out + cy;
            let p = prob[i * 2 + 1];
            if p >= threshold {
                let (fx, fy) = ((cx + cell_offset.0) as f32, (cy + cell_offset.1) as f32);
                out.push(ScoredBoxReg {
                    b: ScoredBox {
                        x1: ((2.0 * fx + 1.0) / scale).trunc(),
                        y1: ((2.0 * fy + 1.0) / scale).trunc(),
                        x2: ((2.0 * fx + 12.0) / scale).trunc(),
                        y2: ((2.0 * fy + 12.0) / scale).trunc(),
                        score: p,
                    },
                    reg: [reg[i * 4], reg[i * 4 + 1], reg[i * 4 + 2], reg[i * 4 + 3]],
                });
            }
        }
    }
    out
}

/// A P-Net candidate (public for unit tests of the decoding).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoredBoxReg {
    /// Box in working-image pixels.
    pub b: ScoredBox,
    /// Regression offsets (dx1, dy1, dx2, dy2), relative to the box size.
    pub reg: [f32; 4],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pnet_decoding_places_cells() {
        // A 2×3 (W'×H') map with one confident cell at (cx=1, cy=2).
        let (w, h) = (2, 3);
        let mut prob = vec![0.0f32; w * h * 2];
        let mut reg = vec![0.0f32; w * h * 4];
        let i = h + 2;
        prob[i * 2 + 1] = 0.9;
        reg[i * 4..i * 4 + 4].copy_from_slice(&[0.1, 0.2, 0.3, 0.4]);
        let c = pnet_candidates(&prob, &reg, (w, h), (0, 0), 0.5, 0.6);
        assert_eq!(c.len(), 1);
        // x1 = fix((2·1 + 1)/0.5) = 6, y1 = fix((2·2 + 1)/0.5) = 10, x2 = fix(14/0.5) = 28, y2 = fix(16/0.5) = 32.
        assert_eq!(
            (c[0].b.x1, c[0].b.y1, c[0].b.x2, c[0].b.y2),
            (6.0, 10.0, 28.0, 32.0)
        );
        assert_eq!(c[0].reg, [0.1, 0.2, 0.3, 0.4]);
        // The same map as a crop 3 cells right and 1 down of the full level: cell (4, 3) there.
        let c = pnet_candidates(&prob, &reg, (w, h), (3, 1), 0.5, 0.6);
        assert_eq!(
            (c[0].b.x1, c[0].b.y1, c[0].b.x2, c[0].b.y2),
            (18.0, 14.0, 40.0, 36.0)
        );
    }
}
