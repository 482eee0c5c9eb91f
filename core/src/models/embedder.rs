//! faceplugin `fr_feature`: 512-d identity embedding of an aligned 112×112 face (BGR input).

use image::RgbImage;

use super::CheckedSession;
use crate::error::ModelError;
use crate::preprocess::{ALIGNED_SIDE_PX, Channels, to_nchw};
use crate::provision::ModelStore;
use crate::runtime::SessionOptions;

/// Embedding dimension.
pub const EMBEDDING_DIM: usize = 512;

/// The identity embedder.
#[derive(Debug)]
pub struct Embedder {
    session: CheckedSession,
}

/// Scales `v` to unit length (unchanged if it is all zeros).
pub fn l2_normalize(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

/// Cosine similarity of two vectors.
#[must_use]
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

impl Embedder {
    /// Loads the model.
    ///
    /// # Errors
    /// As [`CheckedSession::load`].
    pub fn load(store: &ModelStore, opts: SessionOptions) -> Result<Self, ModelError> {
        Ok(Self {
            session: CheckedSession::load(store, "fr_feature", opts)?,
        })
    }

    /// The L2-normalised embedding of an aligned 112×112 crop.
    ///
    /// # Errors
    /// [`ModelError::Ort`] if the run fails.
    pub fn embed(&mut self, aligned: &RgbImage) -> Result<Vec<f32>, ModelError> {
        debug_assert_eq!(aligned.dimensions(), (ALIGNED_SIDE_PX, ALIGNED_SIDE_PX));
        let input = to_nchw(aligned, Channels::Bgr, 1.0, [127.0; 3], [128.0; 3]);
        let out = self.session.run("input", &[1, 3, 112, 112], input)?;
        let mut v = out.into_iter().next().map(|o| o.data).unwrap_or_default();
        l2_normalize(&mut v);
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_and_normalisation() {
        let mut v = vec![3.0, 4.0];
        l2_normalize(&mut v);
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
        assert!((cosine(&[1.0, 0.0], &[0.0, 2.0])).abs() < 1e-6);
        assert!((cosine(&[1.0, 1.0], &[2.0, 2.0]) - 1.0).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
    }
}
