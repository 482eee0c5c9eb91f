//! faceplugin `fr_age` (SSR-Net): age in years from a square crop around the face box (BGR).

use image::RgbImage;

use super::CheckedSession;
use crate::api::BoxPx;
use crate::error::ModelError;
use crate::preprocess::{
    Channels, Filter, centred_square, clip_to_image, crop_zero_padded, resize, to_nchw,
};
use crate::provision::ModelStore;
use crate::runtime::SessionOptions;

/// Crop side relative to the longer side of the detector box (measured best: 1.2).
pub const CROP_SCALE: f32 = 1.2;

/// The age model.
#[derive(Debug)]
pub struct AgeModel {
    session: CheckedSession,
}

/// SSR-Net's stage-wise merge (3 stages of 3 bins, λ = 1), scaled by `v` (101 for age).
#[must_use]
pub fn ssr_decode(p: [[f32; 3]; 3], delta: [f32; 3], offset: [[f32; 3]; 3], v: f32) -> f32 {
    let mut total = 0.0;
    let mut denom = 1.0;
    for stage in 0..3 {
        denom *= 3.0 * (1.0 + delta[stage]);
        let s: f32 = (0..3)
            .map(|i| (i as f32 + offset[stage][i]) * p[stage][i])
            .sum();
        total += s / denom;
    }
    v * total
}

impl AgeModel {
    /// Loads the model.
    ///
    /// # Errors
    /// As [`CheckedSession::load`].
    pub fn load(store: &ModelStore, opts: SessionOptions) -> Result<Self, ModelError> {
        Ok(Self {
            session: CheckedSession::load(store, "fr_age", opts)?,
        })
    }

    /// Age in years of the face in `bbox` (original-image pixels).
    ///
    /// # Errors
    /// [`ModelError::Ort`] if the run fails.
    pub fn estimate(&mut self, img: &RgbImage, bbox: &BoxPx) -> Result<f32, ModelError> {
        let side = bbox.width().max(bbox.height()) * CROP_SCALE;
        let sq = centred_square((bbox.x1 + bbox.x2) / 2.0, (bbox.y1 + bbox.y2) / 2.0, side);
        let rect = clip_to_image(sq, img.width(), img.height()).unwrap_or(sq);
        let crop = resize(&crop_zero_padded(img, rect), 64, 64, Filter::Bilinear);
        let input = to_nchw(
            &crop,
            Channels::Bgr,
            1.0 / 255.0,
            [0.485, 0.456, 0.406],
            [0.229, 0.224, 0.225],
        );
        let out = self.session.run("input", &[1, 3, 64, 64], input)?;
        let v3 = |o: &super::Output| [o.data[0], o.data[1], o.data[2]];
        Ok(ssr_decode(
            [v3(&out[0]), v3(&out[1]), v3(&out[2])],
            [out[3].data[0], out[4].data[0], out[5].data[0]],
            [v3(&out[6]), v3(&out[7]), v3(&out[8])],
            101.0,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::ssr_decode;

    #[test]
    fn ssr_merge_by_hand() {
        // All mass on bin 2 of stage 1, nothing else, no deltas or offsets: 101 · 2/3.
        let p = [[0.0, 0.0, 1.0], [0.0; 3], [0.0; 3]];
        let age = ssr_decode(p, [0.0; 3], [[0.0; 3]; 3], 101.0);
        assert!((age - 101.0 * 2.0 / 3.0).abs() < 1e-4);
        // Stage 2 bin 1 adds 1/(3·3); a delta of 1 on stage 1 halves every term.
        let p = [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [0.0; 3]];
        let age = ssr_decode(p, [1.0, 0.0, 0.0], [[0.0; 3]; 3], 101.0);
        assert!((age - 101.0 * (2.0 / 6.0 + 1.0 / 18.0)).abs() < 1e-4);
    }
}
