//! The pipeline in three separately loadable stages, so that a server can run each one on its own
//! machine and a connected desktop can run only the first:
//!
//! - [`Preprocessor`]: detection, 5-point alignment and cutting each face's [`FaceInput`];
//! - [`IdentityStage`]: the 512-d embedding of each aligned crop;
//! - [`AttributeStage`]: age, gender, race and emotion, batched over faces.
//!
//! A [`FaceInput`] is everything the per-face models need, so the stages after detection never see
//! the whole photo. The local pipeline goes through the very same functions, which is why local
//! and connected results agree.

use std::sync::Arc;
use std::time::Instant;

use image::RgbImage;

use crate::api::{Age, Attributes, BoxPx, Detection, Gender, LabelProb};
use crate::error::{CoreError, ModelError};
use crate::models::age::AgeModel;
use crate::models::embedder::Embedder;
use crate::models::emotion::{EMOTION_LABELS, EmotionModel};
use crate::models::faceres::FaceRes;
use crate::models::gear::{Gear, RACE_LABELS};
use crate::models::mtcnn::{Mtcnn, MtcnnConfig};
use crate::models::{add_model_run_ns, capture_model_run_ns, spawn_share};
use crate::preprocess::{RectPx, align_face, centred_square, clip_to_image, crop_zero_padded};
use crate::provision::ModelStore;
use crate::quality::{MIN_FACE_DETAIL, laplacian_variance};
use crate::runtime::{ExecutionTarget, SessionOptions};

/// fr_age's measured spread within one person on the labelled photos (years), the floor of the
/// reported age uncertainty.
pub const AGE_MODEL_STD_YEARS: f32 = 4.5;

/// Side of the face patch relative to the box's longer side. Every attribute crop (age 1.2×,
/// FaceRes 1.4×, GEAR 1.4×) lies inside it.
pub const PATCH_SCALE: f32 = 1.5;
/// Extra pixels around the patch, so rounding never cuts an attribute crop.
pub const PATCH_MARGIN_PX: f32 = 4.0;

/// One face as the per-face models need it.
#[derive(Debug, Clone)]
pub struct FaceInput {
    /// The 112×112 ArcFace-aligned crop (embedding, emotion).
    pub aligned: RgbImage,
    /// The photo's pixels around the face at native resolution, clipped to the photo (age,
    /// gender, race).
    pub patch: RgbImage,
    /// The detector box in patch pixels (may reach past the patch for faces cut by the frame).
    pub bbox_in_patch: BoxPx,
    /// The encoded images this face arrived as, when it came from another machine: a hop to a
    /// further one forwards these bytes instead of encoding the pixels again.
    pub arrived_as: Option<Arc<EncodedFace>>,
}

/// A face's two images as lossless PNG files (exactly the pixels of the decoded [`FaceInput`]).
#[derive(Debug, PartialEq, Eq)]
pub struct EncodedFace {
    /// PNG of [`FaceInput::aligned`].
    pub aligned_png: Vec<u8>,
    /// PNG of [`FaceInput::patch`].
    pub patch_png: Vec<u8>,
}

/// Two inputs are the same face when their pixels and box are; how they arrived does not count.
impl PartialEq for FaceInput {
    fn eq(&self, other: &Self) -> bool {
        self.aligned == other.aligned
            && self.patch == other.patch
            && self.bbox_in_patch == other.bbox_in_patch
    }
}

/// The region of an `width`×`height` image cut into a face's patch.
#[must_use]
pub fn patch_rect(bbox: &BoxPx, width: u32, height: u32) -> Option<RectPx> {
    let side = bbox.width().max(bbox.height()) * PATCH_SCALE + 2.0 * PATCH_MARGIN_PX;
    let sq = centred_square((bbox.x1 + bbox.x2) / 2.0, (bbox.y1 + bbox.y2) / 2.0, side);
    clip_to_image(sq, width, height)
}

impl FaceInput {
    /// Cuts the aligned crop and the patch of one detection out of `img`; `None` when the face
    /// cannot be aligned or lies outside the image.
    #[must_use]
    pub fn cut(img: &RgbImage, detection: &Detection) -> Option<Self> {
        let pts = detection.landmarks.as_array().map(|p| (p.x, p.y));
        let (aligned, _) = align_face(img, &pts)?;
        let rect = patch_rect(&detection.bbox, img.width(), img.height())?;
        let (ox, oy) = (rect.x as f32, rect.y as f32);
        let b = detection.bbox;
        Some(Self {
            aligned,
            patch: crop_zero_padded(img, rect),
            bbox_in_patch: BoxPx {
                x1: b.x1 - ox,
                y1: b.y1 - oy,
                x2: b.x2 - ox,
                y2: b.y2 - oy,
            },
            arrived_as: None,
        })
    }
}

/// What the first stage found in one image.
#[derive(Debug, Clone)]
pub struct Preprocessed {
    /// Image width in pixels.
    pub width_px: u32,
    /// Image height in pixels.
    pub height_px: u32,
    /// Detections that could be aligned, largest first.
    pub detections: Vec<Detection>,
    /// One input per detection, same order.
    pub faces: Vec<FaceInput>,
    /// Why no face was found, when none was.
    pub no_face_reason: Option<String>,
    /// Detection time.
    pub detect_ms: f64,
    /// Alignment and patch cutting time.
    pub align_ms: f64,
}

/// A deterministic textured image for warming models up (smooth gradients plus a fine pattern,
/// so the detector's pyramid and every convolution see ordinary pixel values).
#[must_use]
pub fn warm_up_image(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let v = |a: u32, b: u32| u8::try_from((a * 7 + b * 13 + (a ^ b)) % 256).unwrap_or(0);
        image::Rgb([v(x, y), v(y, x / 2), v(x / 3, y / 2)])
    })
}

pub(crate) fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// Stage 1: the MTCNN detector, alignment and patch cutting.
#[derive(Debug)]
pub struct Preprocessor {
    mtcnn: Mtcnn,
}

impl Preprocessor {
    /// Loads the three MTCNN nets.
    ///
    /// # Errors
    /// As [`crate::models::CheckedSession::load`].
    pub fn load(store: &ModelStore, opts: SessionOptions) -> Result<Self, ModelError> {
        Ok(Self {
            mtcnn: Mtcnn::load(store, opts)?,
        })
    }

    /// Runs the detector once on a synthetic photo-sized image, so that ONNX Runtime's first-run
    /// work (memory planning, arena growth) happens while loading, not on the user's first photo.
    ///
    /// # Errors
    /// Model failures.
    pub fn warm_up(&mut self, config: &MtcnnConfig) -> Result<(), CoreError> {
        // At the largest working size (a 4:3 photo of `max_side_px`): ONNX Runtime's arenas
        // grow to what any photo needs, so no photo pays for that growth.
        let side = config.max_side_px.clamp(64, 4096);
        let img = warm_up_image(side, side / 4 * 3);
        self.run(&img, config).map(drop)
    }

    /// Detects, aligns and cuts every face of `img`.
    ///
    /// # Errors
    /// Model failures.
    pub fn run(&mut self, img: &RgbImage, config: &MtcnnConfig) -> Result<Preprocessed, CoreError> {
        let start = Instant::now();
        let detected = self.mtcnn.detect(img, config)?;
        let detect_ms = ms(start);
        let start = Instant::now();
        let mut detections = Vec::new();
        let mut faces = Vec::new();
        let mut featureless = 0;
        for d in detected.faces {
            if let Some(f) = FaceInput::cut(img, &d) {
                if laplacian_variance(&f.aligned) < MIN_FACE_DETAIL {
                    featureless += 1;
                    continue;
                }
                detections.push(d);
                faces.push(f);
            }
        }
        let no_face_reason = match (detections.is_empty(), featureless) {
            (false, _) => None,
            (true, 0) => detected.no_face_reason,
            (true, n) => Some(format!(
                "{n} candidate(s) were flat regions without the detail of a face (eyes, mouth)"
            )),
        };
        Ok(Preprocessed {
            width_px: img.width(),
            height_px: img.height(),
            no_face_reason,
            detections,
            faces,
            detect_ms,
            align_ms: ms(start),
        })
    }
}

/// Faces per embedder run. The embedder's activations are small (112×112), so a batch costs
/// little memory, and one run over several faces keeps both cores busier than one face at a time
/// (`bench/RESULTS.md` §12).
pub const EMBED_BATCH: usize = 8;

/// Stage 2: identity embeddings.
#[derive(Debug)]
pub struct IdentityStage {
    embedder: Embedder,
    /// Faces per embedder run ([`EMBED_BATCH`]).
    pub max_batch: usize,
}

impl IdentityStage {
    /// Loads the embedder.
    ///
    /// # Errors
    /// As [`crate::models::CheckedSession::load`].
    pub fn load(store: &ModelStore, opts: SessionOptions) -> Result<Self, ModelError> {
        Ok(Self {
            embedder: Embedder::load(store, opts)?,
            max_batch: EMBED_BATCH,
        })
    }

    /// Runs the embedder once, on one face, at load (see [`Preprocessor::warm_up`]). Not on a full
    /// batch: that would keep ONNX Runtime's arena sized for 8 faces from the start (measured: 32
    /// MiB more peak RSS on a one-face 12.6 MP photo); a group photo grows it when it comes.
    ///
    /// # Errors
    /// Model failures.
    pub fn warm_up(&mut self) -> Result<(), CoreError> {
        let crop = warm_up_image(112, 112);
        self.embed(&[&crop]).map(drop)
    }

    /// L2-normalised embeddings of 112×112 aligned crops, `max_batch` crops per run.
    ///
    /// # Errors
    /// Model failures; [`CoreError::InvalidRequest`] for a crop of the wrong size.
    pub fn embed(&mut self, aligned: &[&RgbImage]) -> Result<Vec<Vec<f32>>, CoreError> {
        for a in aligned {
            check_aligned(a)?;
        }
        let mut out = Vec::with_capacity(aligned.len());
        for batch in aligned.chunks(self.max_batch.max(1)) {
            out.extend(self.embedder.embed(batch)?);
        }
        Ok(out)
    }
}

fn check_aligned(a: &RgbImage) -> Result<(), CoreError> {
    let side = crate::preprocess::ALIGNED_SIDE_PX;
    if a.dimensions() == (side, side) {
        Ok(())
    } else {
        Err(CoreError::InvalidRequest(format!(
            "aligned crops must be {side}x{side} pixels, got {}x{}",
            a.width(),
            a.height()
        )))
    }
}

/// Stage 3: the attribute models.
#[derive(Debug)]
pub struct AttributeStage {
    age: AgeModel,
    faceres: FaceRes,
    gear: Gear,
    emotion: EmotionModel,
    /// Faces per run of the batchable models (FaceRes, GEAR, emotion); at least 1. The warm-up
    /// runs this many, and no photo asks ONNX Runtime for more, so its arenas never grow past
    /// what the warm-up needed. [`AttributeStage::load`] picks it from the execution target.
    pub max_batch: usize,
    /// Run FaceRes and the age model on the calling thread while GEAR and emotion run on a
    /// `facelens-attributes` thread (the CPU with at least two cores; see [`AttributeStage::load`]).
    /// The results are the same either way.
    pub concurrent: bool,
}

/// Faces per attribute-model run on the CPU. One: on 2 cores batching 7 faces saved 0–13 % of
/// their analysis time in three runs (no more than the run-to-run noise), while the batch's
/// activations kept ONNX Runtime's arenas about 260 MB larger for the life of the process
/// (`bench/RESULTS.md` §12).
pub const CPU_ATTRIBUTE_BATCH: usize = 1;

/// Faces per attribute-model run on an accelerator, where a batch fills the device.
pub const ACCELERATOR_ATTRIBUTE_BATCH: usize = 8;

fn labelled(labels: &[&str], probs: &[f32]) -> Vec<LabelProb> {
    labels
        .iter()
        .zip(probs)
        .map(|(l, &p)| LabelProb {
            label: (*l).to_owned(),
            probability: p,
        })
        .collect()
}

impl AttributeStage {
    /// Loads age, FaceRes-deep, GEAR and emotion.
    ///
    /// # Errors
    /// As [`crate::models::CheckedSession::load`].
    pub fn load(store: &ModelStore, opts: SessionOptions) -> Result<Self, ModelError> {
        Ok(Self {
            age: AgeModel::load(store, opts)?,
            faceres: FaceRes::load(store, opts)?,
            gear: Gear::load(store, opts)?,
            emotion: EmotionModel::load(store, opts)?,
            max_batch: match opts.target {
                ExecutionTarget::Cpu => CPU_ATTRIBUTE_BATCH,
                ExecutionTarget::Cuda | ExecutionTarget::TensorRt => ACCELERATOR_ATTRIBUTE_BATCH,
            },
            concurrent: opts.target == ExecutionTarget::Cpu
                && std::thread::available_parallelism().is_ok_and(|n| n.get() > 1),
        })
    }

    /// Runs every attribute model at load, for one face and for a full batch (the shapes photos
    /// use), see [`Preprocessor::warm_up`].
    ///
    /// # Errors
    /// Model failures.
    pub fn warm_up(&mut self) -> Result<(), CoreError> {
        let face = FaceInput {
            aligned: warm_up_image(112, 112),
            patch: warm_up_image(200, 200),
            bbox_in_patch: BoxPx {
                x1: 40.0,
                y1: 40.0,
                x2: 160.0,
                y2: 160.0,
            },
            arrived_as: None,
        };
        self.analyze(&[&face])?;
        if self.max_batch > 1 {
            self.analyze(&vec![&face; self.max_batch])?;
        }
        Ok(())
    }

    /// Attributes of each face. FaceRes, GEAR and emotion run once per `max_batch` faces; the
    /// age model takes one face per run.
    ///
    /// # Errors
    /// Model failures; [`CoreError::InvalidRequest`] for a malformed input.
    pub fn analyze(&mut self, faces: &[&FaceInput]) -> Result<Vec<Attributes>, CoreError> {
        let mut out = Vec::with_capacity(faces.len());
        for batch in faces.chunks(self.max_batch.max(1)) {
            out.extend(self.analyze_batch(batch)?);
        }
        Ok(out)
    }

    fn analyze_batch(&mut self, faces: &[&FaceInput]) -> Result<Vec<Attributes>, CoreError> {
        for f in faces {
            check_aligned(&f.aligned)?;
            if f.patch.width() == 0 || f.patch.height() == 0 {
                return Err(CoreError::InvalidRequest("empty face patch".into()));
            }
        }
        let boxed: Vec<(&RgbImage, &BoxPx)> =
            faces.iter().map(|f| (&f.patch, &f.bbox_in_patch)).collect();
        let aligned: Vec<&RgbImage> = faces.iter().map(|f| &f.aligned).collect();
        let Self {
            age,
            faceres,
            gear,
            emotion,
            concurrent,
            ..
        } = self;
        // Two independent halves of about equal work (FaceRes 9 ms + age 1 ms, GEAR 14 ms +
        // emotion 1 ms a face on the reference machine).
        let first = |faceres: &mut FaceRes, age: &mut AgeModel| {
            let fr = faceres.run_batch(&boxed)?;
            let years = boxed
                .iter()
                .map(|(img, bbox)| age.estimate(img, bbox))
                .collect::<Result<Vec<f32>, ModelError>>()?;
            Ok::<_, ModelError>((fr, years))
        };
        let second = |gear: &mut Gear, emotion: &mut EmotionModel| {
            Ok::<_, ModelError>((gear.race_batch(&boxed)?, emotion.classify_batch(&aligned)?))
        };
        let ((fr, years), (race, emotion)) = if *concurrent {
            let ((a, a_ns), (b, b_ns)) = std::thread::scope(|s| {
                let other = spawn_share(
                    s,
                    "facelens-attributes".to_owned(),
                    ("attributes", "an attribute"),
                    || second(gear, emotion),
                );
                (capture_model_run_ns(|| first(faceres, age)), other.join())
            });
            // The halves ran at the same time: count the longer one.
            add_model_run_ns(a_ns.max(b_ns));
            (a?, b?)
        } else {
            (first(faceres, age)?, second(gear, emotion)?)
        };
        if fr.len() != faces.len() || race.len() != faces.len() || emotion.len() != faces.len() {
            return Err(ModelError::Ort {
                model: "attributes".into(),
                detail: "a batched model returned the wrong number of rows".into(),
            }
            .into());
        }
        let mut out = Vec::with_capacity(faces.len());
        for (i, years) in years.into_iter().enumerate() {
            let male = fr[i].male_probability.clamp(0.0, 1.0);
            out.push(Attributes {
                age: Age {
                    years: years.max(0.0),
                    std_years: fr[i].age_std_years.hypot(AGE_MODEL_STD_YEARS),
                },
                gender: Gender {
                    male_probability: male,
                    label: if male > 0.5 { "male" } else { "female" }.to_owned(),
                },
                race: labelled(&RACE_LABELS, &race[i]),
                emotion: labelled(&EMOTION_LABELS, &emotion[i]),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Landmarks, PointPx};

    fn det(x1: f32, y1: f32, x2: f32, y2: f32) -> Detection {
        let p = |x: f32, y: f32| PointPx { x, y };
        let (w, h) = (x2 - x1, y2 - y1);
        Detection {
            bbox: BoxPx { x1, y1, x2, y2 },
            score: 0.99,
            landmarks: Landmarks {
                eye_left: p(x1 + 0.3 * w, y1 + 0.4 * h),
                eye_right: p(x1 + 0.7 * w, y1 + 0.4 * h),
                nose: p(x1 + 0.5 * w, y1 + 0.6 * h),
                mouth_left: p(x1 + 0.35 * w, y1 + 0.8 * h),
                mouth_right: p(x1 + 0.65 * w, y1 + 0.8 * h),
            },
        }
    }

    #[test]
    fn patch_covers_every_attribute_crop_and_is_clipped() {
        let b = BoxPx {
            x1: 100.0,
            y1: 100.0,
            x2: 200.0,
            y2: 220.0,
        };
        let r = patch_rect(&b, 1000, 1000).expect("inside");
        // 1.5 × 120 + 8 = 188 px, centred on (150, 160).
        assert_eq!((r.w, r.h), (188, 188));
        let gear = crate::models::gear::gear_crop_rect(&b);
        assert!(gear.x >= r.x && gear.x + gear.w <= r.x + r.w && gear.y >= r.y);
        // Near the top-left corner the patch is clipped to the image.
        let corner = BoxPx {
            x1: -20.0,
            y1: -10.0,
            x2: 60.0,
            y2: 90.0,
        };
        let r = patch_rect(&corner, 1000, 1000).expect("partly inside");
        assert_eq!((r.x, r.y), (0, 0));
    }

    #[test]
    fn face_input_box_is_in_patch_pixels() {
        let img = RgbImage::from_fn(400, 300, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let d = det(150.0, 100.0, 230.0, 200.0);
        let f = FaceInput::cut(&img, &d).expect("cut");
        assert_eq!(f.aligned.dimensions(), (112, 112));
        let r = patch_rect(&d.bbox, 400, 300).expect("inside");
        let shift = d.bbox.x1 - r.x as f32;
        assert!((f.bbox_in_patch.x1 - shift).abs() < 1e-4);
        // The patch holds the photo's pixels at the same place.
        let (px, py) = (r.x as u32 + 10, r.y as u32 + 5);
        assert_eq!(f.patch.get_pixel(10, 5), img.get_pixel(px, py));
    }
}
