//! MTCNN's first stage: P-Net over the image pyramid, one level after another or shared among
//! parallel threads (one single-threaded session each), candidates kept per level in level order.
//! A level larger than [`MtcnnConfig::pnet_strip_px`] runs in strips of columns, so no run (and
//! no arena) is the size of a whole large level.

use image::RgbImage;

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

/// Builds one level from the padded working image, runs P-Net on it (in strips of at most
/// `strip_px` pixels, see [`strip_columns`]) and keeps its candidates.
fn pnet_level(
    pnet: &mut CheckedSession,
    level: &PyramidLevel,
    work: &RgbImage,
    threshold: f32,
    strip_px: u32,
) -> Result<LevelFinds, ModelError> {
    let hs = level.height as usize;
    let pixels = level.build(work);
    let mut best_p = 0.0f32;
    let mut level_cands = Vec::new();
    for (x0, x1) in strip_columns(level.width, level.height, strip_px) {
        let (x0, x1) = (x0 as usize, x1 as usize);
        let mut data = Vec::with_capacity((x1 - x0) * hs * 3);
        pack_columns_transposed(&pixels, x0..x1, &mut data);
        let out = pnet.run("input_1", &[1, x1 - x0, hs, 3], data)?;
        let (reg, prob) = (&out[0], &out[1]);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let (w_out, h_out) = (prob.shape[1] as usize, prob.shape[2] as usize);
        best_p = prob
            .data
            .iter()
            .skip(1)
            .step_by(2)
            .fold(best_p, |a, &p| a.max(p));
        level_cands.extend(pnet_candidates(
            &prob.data,
            &reg.data,
            (w_out, h_out),
            (level.cell_offset.0 + x0 / 2, level.cell_offset.1),
            level.scale,
            threshold,
        ));
    }
    let boxes: Vec<ScoredBox> = level_cands.iter().map(|c| c.b).collect();
    let cands = nms(&boxes, 0.5, Overlap::Union)
        .into_iter()
        .map(|i| Cand {
            b: level_cands[i].b,
            reg: level_cands[i].reg,
        })
        .collect();
    Ok(LevelFinds {
        cands,
        best_p,
        raw: level_cands.len(),
    })
}

/// Runs `levels` (indices into `all`) one after another on `pnet`.
fn pnet_levels(
    pnet: &mut CheckedSession,
    all: &[PyramidLevel],
    levels: &[usize],
    work: &RgbImage,
    cfg: &MtcnnConfig,
) -> Result<Vec<(usize, LevelFinds)>, ModelError> {
    levels
        .iter()
        .map(|&i| {
            pnet_level(pnet, &all[i], work, cfg.thresholds[0], cfg.pnet_strip_px).map(|f| (i, f))
        })
        .collect()
}

/// P-Net over every level, in level order. With workers, each builds and runs its share of
/// the levels ([`assign_levels`]) on its own thread (the first share on this one); the model
/// time counted is the longest worker's, since their runs overlap.
pub(super) fn run_pyramid(
    pnet: &mut CheckedSession,
    workers: &mut [CheckedSession],
    levels: &[PyramidLevel],
    work: &RgbImage,
    cfg: &MtcnnConfig,
) -> Result<Vec<LevelFinds>, ModelError> {
    let all: Vec<usize> = (0..levels.len()).collect();
    if !cfg.parallel_pyramid || workers.len() < 2 || levels.len() < 2 {
        let found = pnet_levels(pnet, levels, &all, work, cfg)?;
        return Ok(found.into_iter().map(|(_, f)| f).collect());
    }
    let parts = assign_levels(levels, workers.len());
    let mut shares = workers.iter_mut().zip(&parts);
    let results = std::thread::scope(|s| {
        let first = shares.next();
        let spawned: Vec<_> = shares
            .filter(|(_, part)| !part.is_empty())
            .enumerate()
            .map(|(n, (session, part))| {
                spawn_share(
                    s,
                    format!("facelens-pnet-{}", n + 1),
                    ("mtcnn_pnet", "a pyramid worker"),
                    move || pnet_levels(session, levels, part, work, cfg),
                )
            })
            .collect();
        let mut results = Vec::with_capacity(parts.len());
        if let Some((session, part)) = first {
            results.push(capture_model_run_ns(|| {
                pnet_levels(session, levels, part, work, cfg)
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
#[allow(clippy::cast_precision_loss)]
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
