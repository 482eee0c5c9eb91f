//! oarriaga mini-Xception (converted from TFJS by facelens): 7 emotions from the tight aligned crop.

use image::RgbImage;

use super::{CheckedSession, rows};
use crate::error::ModelError;
use crate::preprocess::{Filter, resize};
use crate::provision::ModelStore;
use crate::runtime::SessionOptions;

/// Emotion labels in output order.
pub const EMOTION_LABELS: [&str; 7] = [
    "angry", "disgust", "fear", "happy", "sad", "surprise", "neutral",
];
const SIDE: u32 = 64;

/// The emotion model.
#[derive(Debug)]
pub struct EmotionModel {
    session: CheckedSession,
}

/// Gray in [−1, 1] from an RGB image: `(0.2989 R + 0.587 G + 0.114 B)/255`, then `(g − 0.5)·2`.
#[must_use]
pub fn gray_input(img: &RgbImage) -> Vec<f32> {
    img.pixels()
        .map(|p| {
            let [r, g, b] = p.0.map(f32::from);
            let gray = (0.2989 * r + 0.587 * g + 0.114 * b) / 255.0;
            (gray - 0.5) * 2.0
        })
        .collect()
}

impl EmotionModel {
    /// Loads the model.
    ///
    /// # Errors
    /// As [`CheckedSession::load`].
    pub fn load(store: &ModelStore, opts: SessionOptions) -> Result<Self, ModelError> {
        Ok(Self {
            session: CheckedSession::load(store, "emotion", opts)?,
        })
    }

    /// Emotion probabilities (in [`EMOTION_LABELS`] order) from the aligned 112×112 crop.
    ///
    /// # Errors
    /// [`ModelError::Ort`] if the run fails.
    pub fn classify(&mut self, aligned: &RgbImage) -> Result<Vec<f32>, ModelError> {
        Ok(self.classify_batch(&[aligned])?.pop().unwrap_or_default())
    }

    /// Emotion probabilities of several aligned crops in one batch.
    ///
    /// # Errors
    /// [`ModelError::Ort`] if the run fails.
    pub fn classify_batch(&mut self, aligned: &[&RgbImage]) -> Result<Vec<Vec<f32>>, ModelError> {
        if aligned.is_empty() {
            return Ok(Vec::new());
        }
        let s = SIDE as usize;
        let mut input = Vec::with_capacity(aligned.len() * s * s);
        for a in aligned {
            input.extend(gray_input(&resize(a, SIDE, SIDE, Filter::Area)));
        }
        let out = self
            .session
            .run("input_1:0", &[aligned.len(), s, s, 1], input)?;
        Ok(out
            .first()
            .map(|o| rows(o, aligned.len()))
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::gray_input;

    #[test]
    fn gray_spans_minus_one_to_one() {
        let img = image::RgbImage::from_fn(2, 1, |x, _| {
            image::Rgb(if x == 0 { [0, 0, 0] } else { [255, 255, 255] })
        });
        let g = gray_input(&img);
        assert!((g[0] + 1.0).abs() < 1e-6);
        assert!((g[1] - 0.9998).abs() < 1e-3);
    }
}
