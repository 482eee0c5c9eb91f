//! HSE FaceRes-deep (converted from TFJS by facelens): gender probability, and an age distribution
//! whose spread feeds the age uncertainty.

use image::RgbImage;

use super::{CheckedSession, rows};
use crate::api::BoxPx;
use crate::error::ModelError;
use crate::preprocess::{Filter, centred_square, crop_resize, to_nhwc};
use crate::provision::ModelStore;
use crate::runtime::SessionOptions;

/// Crop side relative to the longer side of the detector box.
pub const CROP_SCALE: f32 = 1.4;
const SIDE: u32 = 224;

/// What FaceRes-deep says about one face.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceResOutput {
    /// P(male).
    pub male_probability: f32,
    /// Expected age of the 0..99 distribution.
    pub age_mean_years: f32,
    /// Standard deviation of that distribution.
    pub age_std_years: f32,
}

/// The FaceRes-deep model.
#[derive(Debug)]
pub struct FaceRes {
    session: CheckedSession,
}

/// Mean and standard deviation of a distribution over ages 0, 1, 2, ….
#[must_use]
pub fn distribution_stats(p: &[f32]) -> (f32, f32) {
    let total: f32 = p.iter().sum();
    if total <= 0.0 {
        return (0.0, 0.0);
    }
    let mean = p
        .iter()
        .enumerate()
        .map(|(k, &pk)| k as f32 * pk)
        .sum::<f32>()
        / total;
    let var = p
        .iter()
        .enumerate()
        .map(|(k, &pk)| (k as f32 - mean).powi(2) * pk)
        .sum::<f32>()
        / total;
    (mean, var.sqrt())
}

impl FaceRes {
    /// Loads the model.
    ///
    /// # Errors
    /// As [`CheckedSession::load`].
    pub fn load(store: &ModelStore, opts: SessionOptions) -> Result<Self, ModelError> {
        Ok(Self {
            session: CheckedSession::load(store, "faceres", opts)?,
        })
    }

    /// Runs on the face in `bbox` (pixels of `img`).
    ///
    /// # Errors
    /// [`ModelError::Ort`] if the run fails.
    pub fn run(&mut self, img: &RgbImage, bbox: &BoxPx) -> Result<FaceResOutput, ModelError> {
        let mut out = self.run_batch(&[(img, bbox)])?;
        out.pop().ok_or_else(|| ModelError::Ort {
            model: "faceres".into(),
            detail: "empty output".into(),
        })
    }

    /// Runs on several faces in one batch (`bbox` in pixels of its image).
    ///
    /// # Errors
    /// [`ModelError::Ort`] if the run fails.
    pub fn run_batch(
        &mut self,
        faces: &[(&RgbImage, &BoxPx)],
    ) -> Result<Vec<FaceResOutput>, ModelError> {
        if faces.is_empty() {
            return Ok(Vec::new());
        }
        let mut input = Vec::with_capacity(faces.len() * (SIDE * SIDE * 3) as usize);
        for (img, bbox) in faces {
            let side = bbox.width().max(bbox.height()) * CROP_SCALE;
            let rect = centred_square((bbox.x1 + bbox.x2) / 2.0, (bbox.y1 + bbox.y2) / 2.0, side);
            input.extend(to_nhwc(
                &crop_resize(img, rect, SIDE, Filter::Bilinear),
                1.0,
                0.0,
            ));
        }
        let s = SIDE as usize;
        let out = self
            .session
            .run("input_1:0", &[faces.len(), s, s, 3], input)?;
        let male = rows(&out[0], faces.len());
        let ages = rows(&out[2], faces.len());
        Ok(male
            .iter()
            .zip(&ages)
            .map(|(m, a)| {
                let (age_mean_years, age_std_years) = distribution_stats(a);
                FaceResOutput {
                    male_probability: m.first().copied().unwrap_or(0.5),
                    age_mean_years,
                    age_std_years,
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::distribution_stats;

    #[test]
    fn stats_of_a_two_point_distribution() {
        let mut p = vec![0.0f32; 100];
        p[20] = 0.5;
        p[40] = 0.5;
        let (m, s) = distribution_stats(&p);
        assert!((m - 30.0).abs() < 1e-4 && (s - 10.0).abs() < 1e-4);
        assert_eq!(distribution_stats(&[0.0; 4]), (0.0, 0.0));
    }
}
