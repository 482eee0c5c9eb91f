//! Where analysis happens. The app talks to one [`AnalysisBackend`]: [`LocalBackend`] runs the
//! whole pipeline in-process; [`crate::remote::RemoteBackend`] (connected mode) detects and aligns
//! here and sends only the face crops to a `facelens-server`, whose gallery it then uses.

use facelens_core::gallery::{Entry, Gallery};
use facelens_core::pipeline::AnalyzedImage;
use facelens_core::{CoreError, Pipeline};
use image::RgbImage;

/// Why a backend call failed.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// A pipeline, image or gallery error.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// The server did not answer.
    #[error("cannot reach the server at {url}: {detail}")]
    Unreachable {
        /// Base URL.
        url: String,
        /// Why.
        detail: String,
    },
    /// The server answered with an error.
    #[error("the server answered {status}: {message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// Stable error code.
        code: String,
        /// What went wrong.
        message: String,
    },
}

impl BackendError {
    /// Whether analysing on this computer instead could help (the server is down, overloaded or
    /// failing, or refuses our token) — not for bad images, which fail locally too.
    #[must_use]
    pub fn local_fallback_helps(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            Self::Server { status, .. } => *status >= 500 || *status == 401 || *status == 404,
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
    /// The gallery's entries with their thumbnails.
    ///
    /// # Errors
    /// Server errors in connected mode.
    fn entries(&self) -> Result<Vec<(Entry, Option<RgbImage>)>, BackendError>;
}

/// Everything on this machine: the pipeline and a gallery folder.
#[derive(Debug)]
pub struct LocalBackend {
    pipeline: Pipeline,
    gallery: Gallery,
}

impl LocalBackend {
    /// Wraps a loaded pipeline and an open gallery.
    #[must_use]
    pub fn new(pipeline: Pipeline, gallery: Gallery) -> Self {
        Self { pipeline, gallery }
    }

    /// The pipeline (connected mode borrows its models folder and settings).
    #[must_use]
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// This computer's gallery (the people library lives in it).
    #[must_use]
    pub fn gallery(&self) -> &Gallery {
        &self.gallery
    }

    /// The pipeline to run and the gallery to write, together (a folder scan needs both).
    pub fn parts_mut(&mut self) -> (&mut Pipeline, &Gallery) {
        (&mut self.pipeline, &self.gallery)
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
        Ok(self.pipeline.analyze_bytes(bytes, Some(&self.gallery))?)
    }

    fn set_threshold(&mut self, threshold: f32) {
        self.pipeline.config.detector.thresholds[2] = threshold.clamp(0.5, 0.999);
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

    fn entries(&self) -> Result<Vec<(Entry, Option<RgbImage>)>, BackendError> {
        let entries = self.gallery.entries().map_err(CoreError::from)?;
        Ok(entries
            .into_iter()
            .map(|e| {
                let thumb = self.gallery.thumbnail_png(e.id).ok();
                (e, thumb.as_deref().and_then(decode_thumb))
            })
            .collect())
    }
}
