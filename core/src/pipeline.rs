//! The whole pipeline behind one struct: decode → detect → align → embed → analyse → search, each
//! stage timed. Nothing is cached between requests: every call computes everything afresh.

use std::path::{Path, PathBuf};
use std::time::Instant;

use image::RgbImage;

use crate::api::{Analysis, Attributes, Face, Match, SCHEMA_VERSION, Timings};
use crate::error::CoreError;
use crate::gallery::Gallery;
use crate::image_io::{self, DecodeLimits};
use crate::models::mtcnn::MtcnnConfig;
use crate::provision::{ModelStore, ProvisionEvent, resolve_models_dir};
use crate::quality::{self, FaceEvidence};
use crate::runtime::SessionOptions;
use crate::stages::{AttributeStage, IdentityStage, Preprocessed, Preprocessor, ms};

pub use crate::stages::AGE_MODEL_STD_YEARS;

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
    /// Batch the per-face attribute models over all faces of an image.
    pub batch_faces: bool,
    /// Run every model once while loading, so that the first photo is as fast as the rest.
    pub warm_up: bool,
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
            batch_faces: true,
            warm_up: true,
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

/// All models, loaded and contract-checked: the three [`crate::stages`] in one process.
#[derive(Debug)]
pub struct Pipeline {
    store: ModelStore,
    preprocessor: Preprocessor,
    identity: IdentityStage,
    attributes: AttributeStage,
    /// Settings in force (the detector settings may be changed between calls).
    pub config: PipelineConfig,
}

/// Joins the stages' outputs into one [`Analysis`] (faces in detection order). Used by the local
/// pipeline, the connected desktop and the server gateway alike.
#[must_use]
pub fn assemble(
    pre: &Preprocessed,
    embeddings: Vec<Vec<f32>>,
    attributes: Vec<Attributes>,
    matches: Vec<Vec<Match>>,
    timings: Timings,
) -> Analysis {
    let mut matches = matches.into_iter();
    let faces = pre
        .detections
        .iter()
        .zip(&pre.faces)
        .zip(embeddings)
        .zip(attributes)
        .map(|(((d, input), embedding), attributes)| Face {
            quality: Some(quality::assess(&FaceEvidence {
                bbox: &d.bbox,
                landmarks: &d.landmarks,
                detector_score: d.score,
                aligned: &input.aligned,
                width_px: pre.width_px,
                height_px: pre.height_px,
            })),
            detection: d.clone(),
            embedding,
            attributes,
            matches: matches.next().unwrap_or_default(),
        })
        .collect();
    Analysis {
        schema_version: SCHEMA_VERSION,
        width_px: pre.width_px,
        height_px: pre.height_px,
        faces,
        no_face_reason: pre.no_face_reason.clone(),
        timings,
    }
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
        let mut p = Self {
            preprocessor: Preprocessor::load(&store, o)?,
            identity: IdentityStage::load(&store, o)?,
            attributes: {
                let mut a = AttributeStage::load(&store, o)?;
                a.batch = config.batch_faces;
                a
            },
            store,
            config: config.clone(),
        };
        if config.warm_up {
            p.preprocessor.warm_up(&p.config.detector)?;
            p.identity.warm_up()?;
            p.attributes.warm_up()?;
        }
        Ok(p)
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
        let pre = self.preprocessor.run(img, &self.config.detector)?;
        t.detect_ms = pre.detect_ms;
        t.align_ms = pre.align_ms;
        let faces: Vec<_> = pre.faces.iter().collect();

        let start = Instant::now();
        let aligned: Vec<&RgbImage> = faces.iter().map(|f| &f.aligned).collect();
        let embeddings = self.identity.embed(&aligned)?;
        t.embed_ms = ms(start);

        let start = Instant::now();
        let attributes = self.attributes.analyze(&faces)?;
        t.analyze_ms = ms(start);

        let start = Instant::now();
        let matches = match gallery {
            Some(g) => embeddings
                .iter()
                .map(|e| g.search(e, self.config.top_k))
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        t.search_ms = ms(start);
        t.total_ms = ms(t0);
        let analysis = assemble(&pre, embeddings, attributes, matches, t);
        Ok(AnalyzedImage {
            analysis,
            aligned: pre.faces.into_iter().map(|f| f.aligned).collect(),
            image: None,
        })
    }
}
