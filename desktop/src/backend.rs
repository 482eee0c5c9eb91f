//! Where analysis happens. The app talks to one [`AnalysisBackend`]: [`LocalBackend`] runs the
//! whole pipeline in-process; [`crate::remote::RemoteBackend`] (connected mode) detects and aligns
//! here and sends only the face crops to a `facelens-server`, whose gallery it then uses.

use facelens_api::client::ClientError;
use facelens_api::wire::EntrySummary;
use facelens_core::gallery::Gallery;
use facelens_core::pipeline::AnalyzedImage;
use facelens_core::{CoreError, Pipeline, PipelineConfig};
use image::RgbImage;

/// Why a backend call failed.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// A pipeline, image or gallery error.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// The server did not answer, or answered with an error.
    #[error(transparent)]
    Remote(#[from] ClientError),
}

impl BackendError {
    /// Whether analysing on this computer instead could help (the server is down, overloaded or
    /// failing, or refuses our token) — not for bad images, which fail locally too.
    #[must_use]
    pub fn local_fallback_helps(&self) -> bool {
        match self {
            Self::Remote(ClientError::Unreachable { .. }) => true,
            Self::Remote(ClientError::Server { status, .. }) => {
                *status >= 500 || *status == 401 || *status == 404
            }
            // A server that broke the protocol (another version): this computer can do it.
            Self::Core(CoreError::Stage(_)) => true,
            Self::Core(_) => false,
        }
    }
}

/// What the desktop needs from an analysis backend. Implementations run on the worker thread.
pub trait AnalysisBackend: Send {
    /// Analyses encoded image bytes (a file, a drop, a download). The result carries the
    /// decoded image (`AnalyzedImage::image`) for display.
    ///
    /// # Errors
    /// Undecodable images, model failures, gallery errors.
    fn analyze(&mut self, bytes: &[u8]) -> Result<AnalyzedImage, BackendError>;
    /// Sets the detector's final-stage threshold.
    fn set_threshold(&mut self, threshold: f32);
    /// Adds a face to the gallery; returns its id.
    ///
    /// # Errors
    /// Invalid names, I/O errors.
    fn enrol(
        &mut self,
        name: &str,
        source: &str,
        embedding: &[f32],
        crop: &RgbImage,
    ) -> Result<u64, BackendError>;
    /// Renames a gallery entry.
    ///
    /// # Errors
    /// Unknown id, invalid name, I/O errors.
    fn rename(&mut self, id: u64, name: &str) -> Result<(), BackendError>;
    /// Deletes a gallery entry.
    ///
    /// # Errors
    /// Unknown id, I/O errors.
    fn delete(&mut self, id: u64) -> Result<(), BackendError>;
    /// The gallery's entries (without embeddings) with their thumbnails.
    ///
    /// # Errors
    /// Server errors in connected mode.
    fn entries(&self) -> Result<Vec<(EntrySummary, Option<RgbImage>)>, BackendError>;
}

/// Everything on this machine: the pipeline and a gallery folder. In connected mode the pipeline's
/// models are loaded only when first needed here (a fallback, a people scan).
#[derive(Debug)]
pub struct LocalBackend {
    config: PipelineConfig,
    pipeline: Option<Pipeline>,
    gallery: Gallery,
}

impl LocalBackend {
    /// Wraps a loaded pipeline and an open gallery.
    #[must_use]
    pub fn new(pipeline: Pipeline, gallery: Gallery) -> Self {
        Self {
            config: pipeline.config.clone(),
            pipeline: Some(pipeline),
            gallery,
        }
    }

    /// A backend whose models load on first use.
    #[must_use]
    pub fn deferred(config: PipelineConfig, gallery: Gallery) -> Self {
        Self {
            config,
            pipeline: None,
            gallery,
        }
    }

    /// The settings the pipeline runs (or will run) with.
    #[must_use]
    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }

    /// Whether the models are loaded.
    #[must_use]
    pub fn is_loaded(&self) -> bool {
        self.pipeline.is_some()
    }

    /// This computer's gallery (the people library lives in it).
    #[must_use]
    pub fn gallery(&self) -> &Gallery {
        &self.gallery
    }

    /// The pipeline to run (loaded now if it was deferred) and the gallery to write, together.
    ///
    /// # Errors
    /// Model loading errors.
    pub fn parts_mut(&mut self) -> Result<(&mut Pipeline, &Gallery), CoreError> {
        let pipeline = match &mut self.pipeline {
            Some(p) => p,
            slot @ None => slot.insert(Pipeline::load(&self.config, &mut |_| {})?),
        };
        Ok((pipeline, &self.gallery))
    }
}

/// A stored PNG thumbnail as pixels (`None` when it does not decode).
pub(crate) fn decode_thumb(png: &[u8]) -> Option<RgbImage> {
    image::load_from_memory_with_format(png, image::ImageFormat::Png)
        .ok()
        .map(image::DynamicImage::into_rgb8)
}

impl AnalysisBackend for LocalBackend {
    fn analyze(&mut self, bytes: &[u8]) -> Result<AnalyzedImage, BackendError> {
        let (pipeline, gallery) = self.parts_mut()?;
        Ok(pipeline.analyze_bytes(bytes, Some(gallery))?)
    }

    fn set_threshold(&mut self, threshold: f32) {
        let t = threshold.clamp(0.5, 0.999);
        self.config.detector.thresholds[2] = t;
        if let Some(p) = &mut self.pipeline {
            p.config.detector.thresholds[2] = t;
        }
    }

    fn enrol(
        &mut self,
        name: &str,
        source: &str,
        embedding: &[f32],
        crop: &RgbImage,
    ) -> Result<u64, BackendError> {
        Ok(self
            .gallery
            .enrol(name, source, embedding, crop)
            .map_err(CoreError::from)?)
    }

    fn rename(&mut self, id: u64, name: &str) -> Result<(), BackendError> {
        Ok(self.gallery.rename(id, name).map_err(CoreError::from)?)
    }

    fn delete(&mut self, id: u64) -> Result<(), BackendError> {
        Ok(self.gallery.delete(id).map_err(CoreError::from)?)
    }

    fn entries(&self) -> Result<Vec<(EntrySummary, Option<RgbImage>)>, BackendError> {
        let entries = self.gallery.entries().map_err(CoreError::from)?;
        Ok(entries
            .iter()
            .map(|e| {
                let thumb = self.gallery.thumbnail_png(e.id).ok();
                (
                    EntrySummary::from(e),
                    thumb.as_deref().and_then(decode_thumb),
                )
            })
            .collect())
    }
}
