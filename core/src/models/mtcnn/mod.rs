//! MTCNN face detector (P-Net on an image pyramid, R-Net, O-Net) with five landmarks.
//!
//! Follows the ipazc/mtcnn algorithm the weights were trained with, including its quirks: patches
//! are fed transposed (H↔W, the weights come from column-major Caffe) and crops use MATLAB's
//! 1-based box convention. A pyramid makes small faces in large photos findable; photos larger
//! than `max_side_px` are first shrunk (area averaging) and results are mapped back.

use image::RgbImage;

mod pnet;
mod pnet_native;

pub use pnet::{ScoredBoxReg, pnet_candidates};
pub use pnet_native::{NativePnet, NotPnet, PnetMaps};

use super::{CheckedSession, read_verified};
use crate::api::{BoxPx, Detection, Landmarks, PointPx};
use crate::error::ModelError;
use crate::geometry::{Overlap, ScoredBox, nms};
use crate::onnx_rewrite::prelu_as_affine;
use crate::preprocess::{Filter, RectPx, crop_resize, pad_reflect, resize};
use crate::provision::ModelStore;
use crate::pyramid::{PyramidLevel, plan_levels};
use crate::quality::visible_share;
use crate::runtime::{ExecutionTarget, SessionOptions};

/// Detector settings.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct MtcnnConfig {
    /// Smallest face side searched for, in working-image pixels.
    pub min_face_px: f32,
    /// Pyramid scale step.
    pub factor: f32,
    /// Score thresholds of P-Net, R-Net and O-Net.
    pub thresholds: [f32; 3],
    /// Photos with a longer side are shrunk to this before detection.
    pub max_side_px: u32,
    /// Mirror-pad every side by this fraction of the longer side, so faces cut by the frame are
    /// still found; detections centred outside the real image (mirror copies) are dropped. 0 = off.
    pub edge_pad: f32,
    /// Pad each pyramid level only as much as a face of its size can stick out (see
    /// [`crate::pyramid`]); `false` pads every level fully, as before (kept for benchmarks).
    pub pad_per_level: bool,
    /// Build and run the pyramid's levels on parallel threads (CPU with more than one intra-op
    /// thread; facelens's P-Net shares its weights, ONNX Runtime's has a single-threaded session
    /// per thread); `false` runs them one after another on one thread, or on one session with all
    /// threads, as before (kept for benchmarks). The faces found are the same.
    pub parallel_pyramid: bool,
    /// Most level pixels ONNX Runtime's P-Net reads in one run (facelens's own P-Net streams a
    /// level two columns at a time and ignores it): a larger level runs in overlapping strips
    /// ([`crate::pyramid::strip_columns`]; the same cells, so the same candidates), which keeps
    /// ONNX Runtime's arenas the size of a strip instead of the largest level. 0 runs every
    /// level whole, as before (kept for benchmarks).
    pub pnet_strip_px: u32,
}

impl Default for MtcnnConfig {
    fn default() -> Self {
        Self {
            min_face_px: 20.0,
            factor: 0.709,
            thresholds: [0.6, 0.7, 0.95],
            max_side_px: 2000,
            edge_pad: 0.15,
            pad_per_level: true,
            parallel_pyramid: true,
            pnet_strip_px: PNET_STRIP_PX,
        }
    }
}

/// The default [`MtcnnConfig::pnet_strip_px`]: 128 Ki level pixels, strips of about 140 columns
/// on the largest level of a 2000-px photo (10 of them shared with the next strip). Measured on a
/// 2-core machine (release CLI, couple.jpg): peak RSS 646 MiB with whole levels, 248 MiB in
/// 128 Ki strips, 414 MiB in 512 Ki strips, detection time unchanged within the machine's noise.
pub const PNET_STRIP_PX: u32 = 1 << 17;

/// A candidate with its box regression, in working-image pixels.
#[derive(Debug, Clone, Copy)]
struct Cand {
    b: ScoredBox,
    reg: [f32; 4],
}

/// Result of one detection run.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectOutcome {
    /// Faces in original-image pixels, highest score first.
    pub faces: Vec<Detection>,
    /// When `faces` is empty: why, in words.
    pub no_face_reason: Option<String>,
}

/// The image the detector works on for a photo: shrunk to `max_side_px`, then mirror-padded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WorkingGeometry {
    /// Photo pixels → working pixels (1 when the photo is small enough).
    pub scale: f32,
    /// Working image width before padding.
    pub width: u32,
    /// Working image height before padding.
    pub height: u32,
    /// Mirror padding on every side, working pixels.
    pub pad_px: u32,
}

impl WorkingGeometry {
    /// The geometry for a `width`×`height` photo.
    #[must_use]
    pub fn of(width: u32, height: u32, cfg: &MtcnnConfig) -> Self {
        let long = width.max(height);
        let scale = if long > cfg.max_side_px {
            cfg.max_side_px as f32 / long as f32
        } else {
            1.0
        };
        let (w, h) = if scale < 1.0 {
            (
                ((width as f32 * scale).round() as u32).max(1),
                ((height as f32 * scale).round() as u32).max(1),
            )
        } else {
            (width, height)
        };
        let pad_px = ((cfg.edge_pad.clamp(0.0, 0.5) * w.max(h) as f32) as u32)
            .min(w)
            .min(h);
        Self {
            scale,
            width: w,
            height: h,
            pad_px,
        }
    }

    /// The P-Net pyramid over this working image.
    #[must_use]
    pub fn pyramid(&self, cfg: &MtcnnConfig) -> Vec<PyramidLevel> {
        plan_levels(
            self.width,
            self.height,
            self.pad_px,
            cfg.min_face_px,
            cfg.factor,
            cfg.pad_per_level,
        )
    }
}

/// The three MTCNN nets.
#[derive(Debug)]
pub struct Mtcnn {
    pnet: pnet::PnetEngine,
    rnet: CheckedSession,
    onet: CheckedSession,
}

const NORM_MEAN: f32 = 127.5;
const NORM_SCALE: f32 = 0.007_812_5;
const BATCH: usize = 128;

/// Makes a box square around its centre (side = the longer side).
#[must_use]
pub fn rerec(b: ScoredBox) -> ScoredBox {
    let (w, h) = (b.x2 - b.x1, b.y2 - b.y1);
    let l = w.max(h);
    let x1 = b.x1 + w * 0.5 - l * 0.5;
    let y1 = b.y1 + h * 0.5 - l * 0.5;
    ScoredBox {
        x1,
        y1,
        x2: x1 + l,
        y2: y1 + l,
        score: b.score,
    }
}

/// Box regression of R-Net/O-Net (inclusive-pixel widths).
#[must_use]
pub fn bbreg(b: ScoredBox, reg: [f32; 4]) -> ScoredBox {
    let w = b.x2 - b.x1 + 1.0;
    let h = b.y2 - b.y1 + 1.0;
    ScoredBox {
        x1: b.x1 + reg[0] * w,
        y1: b.y1 + reg[1] * h,
        x2: b.x2 + reg[2] * w,
        y2: b.y2 + reg[3] * h,
        score: b.score,
    }
}

fn fix(b: ScoredBox) -> ScoredBox {
    ScoredBox {
        x1: b.x1.trunc(),
        y1: b.y1.trunc(),
        x2: b.x2.trunc(),
        y2: b.y2.trunc(),
        score: b.score,
    }
}

/// Packs an image transposed (x-major) and normalised: index `[x][y][c]`, appended to `out`.
fn pack_transposed(img: &RgbImage, out: &mut Vec<f32>) {
    pack_columns_transposed(img, 0..img.width() as usize, out);
}

/// Packs the columns `xs` of an image as [`pack_transposed`] packs all of them. Works in bands
/// of rows so both the reads and the writes stay in cache.
fn pack_columns_transposed(img: &RgbImage, xs: std::ops::Range<usize>, out: &mut Vec<f32>) {
    const BAND: usize = 16;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let xs = xs.start.min(w)..xs.end.min(w);
    let raw = img.as_raw();
    let start = out.len();
    out.resize(start + xs.len() * h * 3, 0.0);
    let dst = &mut out[start..];
    for y0 in (0..h).step_by(BAND) {
        let y1 = (y0 + BAND).min(h);
        for (i, x) in xs.clone().enumerate() {
            let col = &mut dst[(i * h + y0) * 3..(i * h + y1) * 3];
            for (y, px) in (y0..y1).zip(col.chunks_exact_mut(3)) {
                let p = (y * w + x) * 3;
                for (d, &v) in px.iter_mut().zip(&raw[p..p + 3]) {
                    *d = (f32::from(v) - NORM_MEAN) * NORM_SCALE;
                }
            }
        }
    }
}

/// The 1-based MTCNN crop rectangle of an integer box.
fn crop_rect(b: &ScoredBox) -> RectPx {
    RectPx {
        x: b.x1 as i64 - 1,
        y: b.y1 as i64 - 1,
        w: (b.x2 - b.x1 + 1.0) as i64,
        h: (b.y2 - b.y1 + 1.0) as i64,
    }
}

impl Mtcnn {
    /// Loads P-, R- and O-Net.
    ///
    /// # Errors
    /// As [`CheckedSession::load`].
    pub fn load(store: &ModelStore, opts: SessionOptions) -> Result<Self, ModelError> {
        let threads = match opts.intra_threads {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        let workers = if opts.target == ExecutionTarget::Cpu && threads > 1 {
            threads
        } else {
            0
        };
        let single = SessionOptions {
            intra_threads: 1,
            ..opts
        };
        // PRelu as Relu, products and a sum: faster on the CPU provider (crate::onnx_rewrite);
        // GPU providers have a PRelu kernel of their own and get the graphs as pinned.
        let rewrite = opts.rewrite_graphs && opts.target == ExecutionTarget::Cpu;
        let load = |id: &str, o: SessionOptions| {
            if rewrite {
                CheckedSession::load_rewritten(store, id, o, prelu_as_affine)
            } else {
                CheckedSession::load(store, id, o)
            }
        };
        let pnet =
            if opts.native_pnet && opts.target == ExecutionTarget::Cpu && NativePnet::supported() {
                let entry = store.manifest().model("mtcnn_pnet")?;
                let bytes = read_verified(entry, &store.model_path(entry))?;
                let net =
                    NativePnet::from_onnx(&bytes).map_err(|e| ModelError::UnexpectedContract {
                        model: entry.id.clone(),
                        what: "graph".into(),
                        expected: "the P-Net graph facelens's kernels run".into(),
                        got: e.to_string(),
                    })?;
                pnet::PnetEngine::Native {
                    net: Box::new(net),
                    workers: workers.max(1),
                }
            } else {
                pnet::PnetEngine::Ort {
                    session: load("mtcnn_pnet", opts)?,
                    workers: (0..workers)
                        .map(|_| load("mtcnn_pnet", single))
                        .collect::<Result<_, _>>()?,
                }
            };
        Ok(Self {
            pnet,
            rnet: load("mtcnn_rnet", opts)?,
            onet: load("mtcnn_onet", opts)?,
        })
    }

    /// Finds faces in `img`; boxes and landmarks are returned in `img`'s pixels.
    ///
    /// # Errors
    /// [`ModelError::Ort`] if a net fails to run.
    pub fn detect(
        &mut self,
        img: &RgbImage,
        cfg: &MtcnnConfig,
    ) -> Result<DetectOutcome, ModelError> {
        let started = std::time::Instant::now();
        let since = |t: std::time::Instant| t.elapsed().as_secs_f64() * 1000.0;
        let geo = WorkingGeometry::of(img.width(), img.height(), cfg);
        let work_scale = geo.scale;
        let shrunk;
        let work: &RgbImage = if work_scale < 1.0 {
            shrunk = resize(img, geo.width, geo.height, Filter::Area);
            &shrunk
        } else {
            img
        };
        let base = work;
        let padded;
        let work: &RgbImage = if geo.pad_px > 0 {
            padded = pad_reflect(work, geo.pad_px);
            &padded
        } else {
            work
        };
        let pad = geo.pad_px as f32;

        let prepared_ms = since(started);
        // Stage 1: P-Net over the pyramid (candidates in level order, however it ran).
        let t1 = std::time::Instant::now();
        let mut best_p = 0.0f32;
        let mut cands: Vec<Cand> = Vec::new();
        let mut windows = 0;
        let levels = geo.pyramid(cfg);
        for found in pnet::run_pyramid(&mut self.pnet, &levels, work, cfg)? {
            windows += found.raw;
            best_p = best_p.max(found.best_p);
            cands.extend(found.cands);
        }
        if cands.is_empty() {
            return Ok(no_face(format!(
                "no face candidate: the strongest proposal scored {best_p:.2} < {:.2} (first detector stage)",
                cfg.thresholds[0]
            )));
        }
        let boxes: Vec<ScoredBox> = cands.iter().map(|c| c.b).collect();
        let stage1: Vec<ScoredBox> = nms(&boxes, 0.7, Overlap::Union)
            .into_iter()
            .map(|i| {
                let Cand { b, reg } = cands[i];
                let (rw, rh) = (b.x2 - b.x1, b.y2 - b.y1);
                fix(rerec(ScoredBox {
                    x1: b.x1 + reg[0] * rw,
                    y1: b.y1 + reg[1] * rh,
                    x2: b.x2 + reg[2] * rw,
                    y2: b.y2 + reg[3] * rh,
                    score: b.score,
                }))
            })
            .filter(|b| b.x2 >= b.x1 && b.y2 >= b.y1)
            .collect();

        let pnet_ms = since(t1);
        // Stages 2 and 3 judge each box on the real pixels (black outside the frame, as an
        // unpadded detector sees it); a box that crosses the frame is also judged as the padded
        // image shows it (see `View`).
        let frame = Frame {
            pad,
            width: base.width() as f32,
            height: base.height() as f32,
        };
        // Stage 2: R-Net on 24×24 crops.
        let t2 = std::time::Instant::now();
        let views = self.run_views(Net::R, base, Some(work), &frame, &stage1, 24)?;
        let mut best_r = 0.0f32;
        let mut kept: Vec<Cand> = Vec::new();
        for (b, judged) in stage1.iter().zip(&views) {
            for v in judged {
                best_r = best_r.max(v.score);
                if v.score > cfg.thresholds[1] {
                    kept.push(Cand {
                        b: ScoredBox {
                            score: v.score,
                            ..*b
                        },
                        reg: v.reg,
                    });
                }
            }
        }
        if kept.is_empty() {
            return Ok(no_face(format!(
                "{} face candidates were rejected by the refinement stage; the best scored {best_r:.2} < {:.2}",
                stage1.len(),
                cfg.thresholds[1]
            )));
        }
        let boxes: Vec<ScoredBox> = kept.iter().map(|c| c.b).collect();
        let stage2: Vec<ScoredBox> = nms(&boxes, 0.7, Overlap::Union)
            .into_iter()
            .map(|i| fix(rerec(bbreg(kept[i].b, kept[i].reg))))
            .filter(|b| b.x2 >= b.x1 && b.y2 >= b.y1)
            .collect();

        let rnet_ms = since(t2);
        // Stage 3: O-Net on 48×48 crops, landmarks.
        let t3 = std::time::Instant::now();
        let views = self.run_views(Net::O, base, Some(work), &frame, &stage2, 48)?;
        let mut best_o = 0.0f32;
        let mut finals: Vec<Final> = Vec::new();
        for (b, judged) in stage2.iter().zip(&views) {
            let real_score = judged[0].score;
            best_o = best_o.max(real_score);
            // The real pixels decide when they can; the padded view only with their backing.
            let chosen = judged.iter().find(|v| match v.view {
                View::Real => v.score > cfg.thresholds[2],
                View::Padded => v.score > cfg.thresholds[2] && real_score >= REAL_PIXELS_MIN_SCORE,
            });
            if let Some(v) = chosen {
                finals.push(Final::new(b, v));
            }
        }
        // A box that crosses the frame and that the real pixels half-recognise is moved as they
        // suggest and shown to O-Net once more: the padded view's box of a cut face tends to drift
        // into the mirror image, the real pixels' regression pulls it back onto the face.
        let retry: Vec<ScoredBox> = stage2
            .iter()
            .zip(&views)
            .filter(|(b, judged)| {
                let real = &judged[0];
                frame.crosses(b)
                    && real.score >= REAL_PIXELS_MIN_SCORE
                    && real.score <= cfg.thresholds[2]
            })
            .map(|(b, judged)| fix(rerec(bbreg(*b, judged[0].reg))))
            .filter(|b| b.x2 > b.x1 && b.y2 > b.y1)
            .collect();
        if !retry.is_empty() {
            // Only the real pixels' verdict counts here: the padded view is not run.
            let again = self.run_views(Net::O, base, None, &frame, &retry, 48)?;
            for (b, judged) in retry.iter().zip(&again) {
                let v = &judged[0];
                best_o = best_o.max(v.score);
                if v.score > cfg.thresholds[2] {
                    finals.push(Final::new(b, v));
                }
            }
        }
        if finals.is_empty() {
            return Ok(no_face(format!(
                "{} face candidates reached the final stage; the best scored {best_o:.2} < {:.2}",
                stage2.len(),
                cfg.thresholds[2]
            )));
        }
        tracing::debug!(
            "mtcnn {}x{} working: shrink+pad {prepared_ms:.1} ms, P-Net {pnet_ms:.1} ms -> {windows} windows -> {} candidates, R-Net {rnet_ms:.1} ms -> {}, O-Net {:.1} ms -> {}",
            geo.width,
            geo.height,
            stage1.len(),
            stage2.len(),
            since(t3),
            finals.len()
        );
        // Padding-made faces out first, so they cannot suppress a real one in the NMS.
        let before = finals.len();
        finals.retain(|f| frame.keeps(f));
        let dropped_at_edge = before - finals.len();
        let boxes: Vec<ScoredBox> = finals.iter().map(|f| f.b).collect();
        let keep = nms(&boxes, 0.7, Overlap::Min);
        if keep.is_empty() {
            return Ok(no_face(format!(
                "{dropped_at_edge} candidate(s) at the image border were reflections of the border, not faces"
            )));
        }
        let inv = 1.0 / work_scale;
        let mut faces: Vec<Detection> = keep
            .into_iter()
            .map(|i| {
                let Final { b, pts: p, .. } = finals[i];
                let pt = |k: usize| PointPx {
                    x: (p[k] - pad) * inv,
                    y: (p[k + 5] - pad) * inv,
                };
                Detection {
                    // Not clamped: a face cut by the frame keeps its whole box, so its
                    // predicted eye points stay inside it (they may lie past the edge).
                    bbox: BoxPx {
                        x1: (b.x1 - pad) * inv,
                        y1: (b.y1 - pad) * inv,
                        x2: (b.x2 - pad) * inv,
                        y2: (b.y2 - pad) * inv,
                    },
                    score: b.score,
                    landmarks: Landmarks {
                        eye_left: pt(0),
                        eye_right: pt(1),
                        nose: pt(2),
                        mouth_left: pt(3),
                        mouth_right: pt(4),
                    },
                }
            })
            .collect();
        let before = faces.len();
        faces.retain(|d| {
            d.bbox.contains(d.landmarks.eye_left) && d.bbox.contains(d.landmarks.eye_right)
        });
        if faces.is_empty() {
            return Ok(no_face(format!(
                "{before} face(s) detected, but their eye points fell outside the face box"
            )));
        }
        // Largest first: the main subject leads.
        faces.sort_by(|a, b| {
            (b.bbox.width() * b.bbox.height()).total_cmp(&(a.bbox.width() * a.bbox.height()))
        });
        Ok(DetectOutcome {
            faces,
            no_face_reason: None,
        })
    }

    /// Judges each box (in padded working pixels) with R-Net or O-Net: first on the real pixels
    /// (`base`, black outside the frame), then, when `padded` is given, a box that crosses the
    /// frame on the mirror-padded image too.
    fn run_views(
        &mut self,
        net: Net,
        base: &RgbImage,
        padded: Option<&RgbImage>,
        frame: &Frame,
        boxes: &[ScoredBox],
        side: u32,
    ) -> Result<Vec<Vec<Judged>>, ModelError> {
        let real = self.run_crops(net, base, frame.pad as u32, boxes, side)?;
        let crossing: Vec<usize> = match padded {
            Some(_) if frame.pad > 0.0 => (0..boxes.len())
                .filter(|&i| frame.crosses(&boxes[i]))
                .collect(),
            _ => Vec::new(),
        };
        let subset: Vec<ScoredBox> = crossing.iter().map(|&i| boxes[i]).collect();
        let mirror = match padded {
            Some(img) if !subset.is_empty() => self.run_crops(net, img, 0, &subset, side)?,
            _ => Vec::new(),
        };
        let judged = |out: &[super::Output], i: usize, view: View| {
            let (reg, score, landmarks) = match net {
                Net::R => (&out[0], &out[1], None),
                Net::O => (&out[0], &out[2], Some(&out[1])),
            };
            let r = &reg.data[i * 4..i * 4 + 4];
            let mut l = [0.0f32; 10];
            if let Some(lm) = landmarks {
                l.copy_from_slice(&lm.data[i * 10..i * 10 + 10]);
            }
            Judged {
                view,
                score: score.data[i * 2 + 1],
                reg: [r[0], r[1], r[2], r[3]],
                landmarks: l,
            }
        };
        let mut all: Vec<Vec<Judged>> = (0..boxes.len())
            .map(|i| vec![judged(&real, i, View::Real)])
            .collect();
        for (k, &i) in crossing.iter().enumerate() {
            all[i].push(judged(&mirror, k, View::Padded));
        }
        Ok(all)
    }

    /// Runs R-Net or O-Net over crops of `boxes` (in `img`'s pixels shifted by `offset_px`, the
    /// padding `img` lacks), batched; outputs concatenated in box order.
    fn run_crops(
        &mut self,
        net: Net,
        img: &RgbImage,
        offset_px: u32,
        boxes: &[ScoredBox],
        side: u32,
    ) -> Result<Vec<super::Output>, ModelError> {
        let (session, input) = match net {
            Net::R => (&mut self.rnet, "input_2"),
            Net::O => (&mut self.onet, "input_3"),
        };
        let n_out = match net {
            Net::R => 2,
            Net::O => 3,
        };
        let mut merged: Vec<super::Output> = (0..n_out)
            .map(|_| super::Output {
                shape: vec![],
                data: vec![],
            })
            .collect();
        for chunk in boxes.chunks(BATCH) {
            let mut data = Vec::with_capacity(chunk.len() * (side * side * 3) as usize);
            for b in chunk {
                let mut rect = crop_rect(b);
                rect.x -= i64::from(offset_px);
                rect.y -= i64::from(offset_px);
                pack_transposed(&crop_resize(img, rect, side, Filter::Area), &mut data);
            }
            let s = side as usize;
            let out = session.run(input, &[chunk.len(), s, s, 3], data)?;
            for (m, o) in merged.iter_mut().zip(out) {
                m.data.extend(o.data);
                m.shape = o.shape;
            }
        }
        Ok(merged)
    }
}

#[derive(Clone, Copy)]
enum Net {
    R,
    O,
}

/// Which picture of a box a net was shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    /// The photo's own pixels, black outside the frame.
    Real,
    /// The mirror-padded working image (only for boxes that cross the frame).
    Padded,
}

/// One net's verdict on one box in one view.
#[derive(Debug, Clone, Copy)]
struct Judged {
    view: View,
    score: f32,
    reg: [f32; 4],
    /// O-Net's landmarks relative to the box (x0..x4, y0..y4); zeros for R-Net.
    landmarks: [f32; 10],
}

/// A face O-Net accepted, in padded working pixels.
#[derive(Debug, Clone, Copy)]
struct Final {
    b: ScoredBox,
    pts: [f32; 10],
    view: View,
}

impl Final {
    /// O-Net's verdict `v` on `b`: the regressed box and the landmarks in working pixels.
    fn new(b: &ScoredBox, v: &Judged) -> Self {
        let (bw, bh) = (b.x2 - b.x1 + 1.0, b.y2 - b.y1 + 1.0);
        let mut pts = [0.0f32; 10];
        for k in 0..5 {
            pts[k] = b.x1 + bw * v.landmarks[k] - 1.0;
            pts[k + 5] = b.y1 + bh * v.landmarks[k + 5] - 1.0;
        }
        Self {
            b: bbreg(
                ScoredBox {
                    score: v.score,
                    ..*b
                },
                v.reg,
            ),
            pts,
            view: v.view,
        }
    }
}

/// The real photo inside the padded working image.
#[derive(Debug, Clone, Copy)]
struct Frame {
    pad: f32,
    width: f32,
    height: f32,
}

impl Frame {
    /// The box in real-photo working pixels.
    fn real(&self, b: &ScoredBox) -> BoxPx {
        BoxPx {
            x1: b.x1 - self.pad,
            y1: b.y1 - self.pad,
            x2: b.x2 - self.pad,
            y2: b.y2 - self.pad,
        }
    }

    fn crosses(&self, b: &ScoredBox) -> bool {
        let r = self.real(b);
        r.x1 < 0.0 || r.y1 < 0.0 || r.x2 >= self.width || r.y2 >= self.height
    }

    /// Whether a final face is a face of the photo rather than something the padding made: one
    /// found on the real pixels must show at least [`MIN_VISIBLE_SHARE`] of its box; one the
    /// padded view vouched for must be centred inside the photo (a mirror copy is not).
    fn keeps(&self, f: &Final) -> bool {
        let r = self.real(&f.b);
        match f.view {
            View::Real => visible_share(&r, self.width, self.height) >= MIN_VISIBLE_SHARE,
            View::Padded => centre_inside(&r, self.width, self.height),
        }
    }
}

/// A face that crosses the frame and that only the mirror-padded view scores as a face must
/// still score at least this on the real pixels alone (black outside the image), or the padding
/// made it (see `docs/models.md`).
pub const REAL_PIXELS_MIN_SCORE: f32 = 0.08;

/// A face found on the real pixels must show at least this share of its box inside the photo.
pub const MIN_VISIBLE_SHARE: f32 = 0.3;

/// Whether a box's centre lies inside the image (mirror copies from the padding do not).
#[must_use]
pub fn centre_inside(b: &BoxPx, width: f32, height: f32) -> bool {
    let (cx, cy) = ((b.x1 + b.x2) / 2.0, (b.y1 + b.y2) / 2.0);
    (0.0..width).contains(&cx) && (0.0..height).contains(&cy)
}

fn no_face(reason: String) -> DetectOutcome {
    DetectOutcome {
        faces: Vec::new(),
        no_face_reason: Some(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rerec_and_bbreg() {
        let b = ScoredBox {
            x1: 10.0,
            y1: 20.0,
            x2: 30.0,
            y2: 60.0,
            score: 1.0,
        };
        let sq = rerec(b);
        assert_eq!((sq.x1, sq.y1, sq.x2, sq.y2), (0.0, 20.0, 40.0, 60.0));
        let r = bbreg(sq, [0.1, 0.0, -0.1, 0.0]);
        assert!((r.x1 - 4.1).abs() < 1e-4 && (r.x2 - 35.9).abs() < 1e-4);
    }

    #[test]
    fn mirror_copies_are_centred_outside() {
        let b = |x1: f32, x2: f32| BoxPx {
            x1,
            y1: 100.0,
            x2,
            y2: 300.0,
        };
        assert!(centre_inside(&b(-68.0, 130.0), 600.0, 800.0));
        assert!(!centre_inside(&b(-300.0, -100.0), 600.0, 800.0));
        assert!(!centre_inside(&b(580.0, 700.0), 600.0, 800.0));
    }

    #[test]
    fn transposed_packing_is_x_major() {
        let img = RgbImage::from_fn(2, 3, |x, y| image::Rgb([(10 * x + y) as u8, 0, 0]));
        let mut v = Vec::new();
        pack_transposed(&img, &mut v);
        // [x=1][y=2][c=0] at (1·3 + 2)·3.
        assert!((v[(3 + 2) * 3] - (12.0 - 127.5) * 0.0078125).abs() < 1e-6);
    }
}
