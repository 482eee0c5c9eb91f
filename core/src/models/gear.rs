//! GEAR (converted from TFJS by facelens): race distribution over white, black, asian, indian, other.

use image::RgbImage;

use super::{CheckedSession, rows};
use crate::api::BoxPx;
use crate::error::ModelError;
use crate::preprocess::{Filter, RectPx, centred_square, crop_resize, to_nhwc};
use crate::provision::ModelStore;
use crate::runtime::SessionOptions;

/// Race labels in output order.
pub const RACE_LABELS: [&str; 5] = ["white", "black", "asian", "indian", "other"];
const SIDE: u32 = 198;

/// The GEAR model.
#[derive(Debug)]
pub struct Gear {
    session: CheckedSession,
}

/// GEAR's crop: the 1.4× square around the box, rows 0–90 % and columns 10–90 % of it.
#[must_use]
pub fn gear_crop_rect(bbox: &BoxPx) -> RectPx {
    let side = bbox.width().max(bbox.height()) * 1.4;
    let sq = centred_square((bbox.x1 + bbox.x2) / 2.0, (bbox.y1 + bbox.y2) / 2.0, side);
    let s = sq.w as f32;
    RectPx {
        x: sq.x + (0.1 * s).round() as i64,
        y: sq.y,
        w: ((0.8 * s).round() as i64).max(1),
        h: ((0.9 * s).round() as i64).max(1),
    }
}

impl Gear {
    /// Loads the model.
    ///
    /// # Errors
    /// As [`CheckedSession::load`].
    pub fn load(store: &ModelStore, opts: SessionOptions) -> Result<Self, ModelError> {
        Ok(Self {
            session: CheckedSession::load(store, "gear", opts)?,
        })
    }

    /// Race probabilities (in [`RACE_LABELS`] order) of the face in `bbox` (pixels of `img`).
    ///
    /// # Errors
    /// [`ModelError::Ort`] if the run fails.
    pub fn race(&mut self, img: &RgbImage, bbox: &BoxPx) -> Result<Vec<f32>, ModelError> {
        Ok(self.race_batch(&[(img, bbox)])?.pop().unwrap_or_default())
    }

    /// Race probabilities of several faces in one batch.
    ///
    /// # Errors
    /// [`ModelError::Ort`] if the run fails.
    pub fn race_batch(
        &mut self,
        faces: &[(&RgbImage, &BoxPx)],
    ) -> Result<Vec<Vec<f32>>, ModelError> {
        if faces.is_empty() {
            return Ok(Vec::new());
        }
        let mut input = Vec::with_capacity(faces.len() * (SIDE * SIDE * 3) as usize);
        for (img, bbox) in faces {
            let crop = crop_resize(img, gear_crop_rect(bbox), SIDE, Filter::Bilinear);
            input.extend(to_nhwc(&crop, 1.0 / 255.0, 0.0));
        }
        let s = SIDE as usize;
        let out = self
            .session
            .run("input_1", &[faces.len(), s, s, 3], input)?;
        Ok(out
            .first()
            .map(|o| rows(o, faces.len()))
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_drops_bottom_and_sides() {
        let r = gear_crop_rect(&BoxPx {
            x1: 0.0,
            y1: 0.0,
            x2: 100.0,
            y2: 100.0,
        });
        // Square of 140 centred at (50, 50) starts at −20; columns 10–90 %, rows 0–90 %.
        assert_eq!(
            r,
            RectPx {
                x: -6,
                y: -20,
                w: 112,
                h: 126
            }
        );
    }
}
