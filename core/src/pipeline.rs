//! The whole pipeline behind one struct: decode → detect → align → embed → analyse → search, each
//! stage timed. Nothing is cached between requests: every call computes everything afresh.

use std::path::{Path, PathBuf};
use std::time::Instant;

use image::RgbImage;

use crate::api::{
    Age, Analysis, Attributes, Detection, Face, Gender, LabelProb, SCHEMA_VERSION, Timings,
};
use crate::error::CoreError;
use crate::gallery::Gallery;
use crate::image_io::{self, DecodeLimits};
use crate::models::age::AgeModel;
use crate::models::embedder::Embedder;
use crate::models::emotion::{EMOTION_LABELS, EmotionModel};
use crate::models::faceres::FaceRes;
use crate::models::gear::{Gear, RACE_LABELS};
use crate::models::mtcnn::{Mtcnn, MtcnnConfig};
use crate::preprocess::align_face;
use crate::provision::{ModelStore, ProvisionEvent, resolve_models_dir};
use crate::runtime::SessionOptions;

/// fr_age's measured spread within one person on the labelled photos (years), the floor of the
/// reported age uncertainty.
pub const AGE_MODEL_STD_YEARS: f32 = 4.5;

/// Everything that configures a pipeline.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Models folder; `None` = `$FACELENS_MODELS_DIR` or the user cache dir.
    pub models_dir: Option<PathBuf>,
    /// Fetch missing models on load.
    pub auto_provision: bool,
    /// Session options shared by all models.
    pub session: SessionOptions,
    /// Detector settings.
    pub detector: MtcnnConfig,
    /// Decoder limits.
    pub decode: DecodeLimits,
    /// Gallery matches per face.
    pub top_k: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            models_dir: None,
            auto_provision: true,
            session: SessionOptions::default(),
            detector: MtcnnConfig::default(),
            decode: DecodeLimits::default(),
            top_k: 5,
        }
    }
}

/// One analysed image plus the aligned crops (same order as `analysis.faces`).
#[derive(Debug, Clone)]
pub struct AnalyzedImage {
    /// The serialisable result.
    pub analysis: Analysis,
    /// 112×112 aligned face crops.
    pub aligned: Vec<RgbImage>,
    /// The decoded, upright image when the pipeline decoded it (files and bytes), so callers that
    /// display it need not decode again; `None` when the caller passed pixels.
    pub image: Option<RgbImage>,
}

/// All models, loaded and contract-checked.
#[derive(Debug)]
pub struct Pipeline {
    store: ModelStore,
    mtcnn: Mtcnn,
    embedder: Embedder,
    age: AgeModel,
    faceres: FaceRes,
    gear: Gear,
    emotion: EmotionModel,
    /// Settings in force (the detector settings may be changed between calls).
    pub config: PipelineConfig,
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

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

impl Pipeline {
    /// Loads every model (fetching missing ones first when `auto_provision` is set).
    ///
    /// # Errors
    /// Provisioning or model loading errors.
    pub fn load(
        config: &PipelineConfig,
        on_event: &mut dyn FnMut(ProvisionEvent),
    ) -> Result<Self, CoreError> {
        let store = ModelStore::new(resolve_models_dir(config.models_dir.as_deref()));
        if config.auto_provision {
            store.ensure(on_event)?;
        }
        let o = config.session;
        Ok(Self {
            mtcnn: Mtcnn::load(&store, o)?,
            embedder: Embedder::load(&store, o)?,
            age: AgeModel::load(&store, o)?,
            faceres: FaceRes::load(&store, o)?,
            gear: Gear::load(&store, o)?,
            emotion: EmotionModel::load(&store, o)?,
            store,
            config: config.clone(),
        })
    }

    /// The models folder in use.
    #[must_use]
    pub fn store(&self) -> &ModelStore {
        &self.store
    }

    /// Decodes and analyses an image file.
    ///
    /// # Errors
    /// Unreadable or undecodable files, model failures, gallery errors.
    pub fn analyze_file(
        &mut self,
        path: &Path,
        gallery: Option<&Gallery>,
    ) -> Result<Analysis, CoreError> {
        Ok(self.analyze_file_full(path, gallery)?.analysis)
    }

    /// As [`Pipeline::analyze_file`], also returning the aligned crops.
    ///
    /// # Errors
    /// As [`Pipeline::analyze_file`].
    pub fn analyze_file_full(
        &mut self,
        path: &Path,
        gallery: Option<&Gallery>,
    ) -> Result<AnalyzedImage, CoreError> {
        let t0 = Instant::now();
        let img = image_io::decode_file(path, self.config.decode)?;
        let mut r = self.analyze_decoded(&img, gallery, t0)?;
        r.image = Some(img);
        Ok(r)
    }

    /// Decodes and analyses image bytes (a drop, an upload).
    ///
    /// # Errors
    /// As [`Pipeline::analyze_file`].
    pub fn analyze_bytes(
        &mut self,
        bytes: &[u8],
        gallery: Option<&Gallery>,
    ) -> Result<AnalyzedImage, CoreError> {
        let t0 = Instant::now();
        let img = image_io::decode(bytes, self.config.decode)?;
        let mut r = self.analyze_decoded(&img, gallery, t0)?;
        r.image = Some(img);
        Ok(r)
    }

    /// Analyses an already decoded image.
    ///
    /// # Errors
    /// Model failures, gallery errors.
    pub fn analyze_image(
        &mut self,
        img: &RgbImage,
        gallery: Option<&Gallery>,
    ) -> Result<AnalyzedImage, CoreError> {
        self.analyze_decoded(img, gallery, Instant::now())
    }

    fn analyze_decoded(
        &mut self,
        img: &RgbImage,
        gallery: Option<&Gallery>,
        t0: Instant,
    ) -> Result<AnalyzedImage, CoreError> {
        let mut t = Timings {
            decode_ms: ms(t0),
            ..Timings::default()
        };
        let start = Instant::now();
        let detected = self.mtcnn.detect(img, &self.config.detector)?;
        t.detect_ms = ms(start);

        let start = Instant::now();
        let mut dets: Vec<Detection> = Vec::new();
        let mut aligned: Vec<RgbImage> = Vec::new();
        for d in detected.faces {
            let pts = d.landmarks.as_array().map(|p| (p.x, p.y));
            if let Some((crop, _)) = align_face(img, &pts) {
                dets.push(d);
                aligned.push(crop);
            }
        }
        t.align_ms = ms(start);

        let start = Instant::now();
        let embeddings = aligned
            .iter()
            .map(|a| self.embedder.embed(a))
            .collect::<Result<Vec<_>, _>>()?;
        t.embed_ms = ms(start);

        let start = Instant::now();
        let mut attributes = Vec::with_capacity(dets.len());
        for (d, a) in dets.iter().zip(&aligned) {
            attributes.push(self.attributes(img, d, a)?);
        }
        t.analyze_ms = ms(start);

        let start = Instant::now();
        let mut faces = Vec::with_capacity(dets.len());
        for ((detection, embedding), attributes) in dets.into_iter().zip(embeddings).zip(attributes)
        {
            let matches = match gallery {
                Some(g) => g.search(&embedding, self.config.top_k)?,
                None => Vec::new(),
            };
            faces.push(Face {
                detection,
                embedding,
                attributes,
                matches,
            });
        }
        t.search_ms = ms(start);
        t.total_ms = ms(t0);
        Ok(AnalyzedImage {
            analysis: Analysis {
                schema_version: SCHEMA_VERSION,
                width_px: img.width(),
                height_px: img.height(),
                no_face_reason: if faces.is_empty() {
                    detected.no_face_reason
                } else {
                    None
                },
                faces,
                timings: t,
            },
            aligned,
            image: None,
        })
    }

    fn attributes(
        &mut self,
        img: &RgbImage,
        d: &Detection,
        aligned: &RgbImage,
    ) -> Result<Attributes, CoreError> {
        let years = self.age.estimate(img, &d.bbox)?;
        let fr = self.faceres.run(img, &d.bbox)?;
        let race = self.gear.race(img, &d.bbox)?;
        let emotion = self.emotion.classify(aligned)?;
        let male = fr.male_probability.clamp(0.0, 1.0);
        Ok(Attributes {
            age: Age {
                years: years.max(0.0),
                std_years: fr.age_std_years.hypot(AGE_MODEL_STD_YEARS),
            },
            gender: Gender {
                male_probability: male,
                label: if male > 0.5 { "male" } else { "female" }.to_owned(),
            },
            race: labelled(&RACE_LABELS, &race),
            emotion: labelled(&EMOTION_LABELS, &emotion),
        })
    }
}
