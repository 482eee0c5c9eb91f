//! Where analysis happens. The app talks to one [`AnalysisBackend`]; the local implementation
//! runs the whole pipeline in-process. Connected mode (a `facelens-server` doing embedding and
//! matching) implements the same trait.

use std::path::Path;

use facelens_core::gallery::{Entry, Gallery};
use facelens_core::pipeline::AnalyzedImage;
use facelens_core::{CoreError, Pipeline};
use image::RgbImage;

/// What the desktop needs from an analysis backend. Implementations run on the worker thread.
pub trait AnalysisBackend: Send {
    /// Analyses encoded image bytes (a file, a drop, a download). The result carries the
    /// decoded image (`AnalyzedImage::image`) for display.
    ///
    /// # Errors
    /// Undecodable images, model failures, gallery errors.
    fn analyze(&mut self, bytes: &[u8]) -> Result<AnalyzedImage, CoreError>;
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
    ) -> Result<u64, CoreError>;
    /// Renames a gallery entry.
    ///
    /// # Errors
    /// Unknown id, invalid name, I/O errors.
    fn rename(&mut self, id: u64, name: &str) -> Result<(), CoreError>;
    /// Deletes a gallery entry.
    ///
    /// # Errors
    /// Unknown id, I/O errors.
    fn delete(&mut self, id: u64) -> Result<(), CoreError>;
    /// The gallery's entries with their thumbnails.
    fn entries(&self) -> Vec<(Entry, Option<RgbImage>)>;
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
}

fn load_thumb(path: &Path) -> Option<RgbImage> {
    image::open(path).ok().map(image::DynamicImage::into_rgb8)
}

impl AnalysisBackend for LocalBackend {
    fn analyze(&mut self, bytes: &[u8]) -> Result<AnalyzedImage, CoreError> {
        self.pipeline.analyze_bytes(bytes, Some(&self.gallery))
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
    ) -> Result<u64, CoreError> {
        Ok(self.gallery.enrol(name, source, embedding, crop)?)
    }

    fn rename(&mut self, id: u64, name: &str) -> Result<(), CoreError> {
        Ok(self.gallery.rename(id, name)?)
    }

    fn delete(&mut self, id: u64) -> Result<(), CoreError> {
        Ok(self.gallery.delete(id)?)
    }

    fn entries(&self) -> Vec<(Entry, Option<RgbImage>)> {
        self.gallery
            .entries()
            .map(|e| (e.clone(), load_thumb(&self.gallery.thumbnail_path(e.id))))
            .collect()
    }
}
