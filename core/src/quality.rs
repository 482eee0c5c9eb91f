//! Face quality and head pose from what detection and alignment already give: the five landmarks,
//! the box, the detector score and the 112×112 aligned crop. Pure functions, no model.
//!
//! **Head pose** is a geometric estimate against a mean face, not a model: roll is the angle of the
//! eye line; yaw and pitch come from where the nose tip sits relative to the eyes and the mouth,
//! assuming the tip stands [`NOSE_DEPTH_PER_EYE_DISTANCE`] eye distances in front of them. It is
//! rough (no pose-labelled photos were available to calibrate it; expect ±15°, and it saturates
//! past about 60° where MTCNN's landmarks themselves stop following the face).
//!
//! **Quality** in 0..1 is the product of five parts, each 1 when that aspect is good enough for
//! recognition (see [`QualityParts`]); the thresholds are documented in `docs/quality.md`.

use image::RgbImage;

use crate::api::{BoxPx, HeadPose, Landmarks, Quality, QualityParts};
use crate::geometry::Similarity;
use crate::preprocess::ARCFACE_TEMPLATE_112;

/// How far the nose tip stands in front of the eyes and mouth, in eye distances (a mean adult
/// face: about 22 mm in front of the eye corners for 63 mm between the pupils).
pub const NOSE_DEPTH_PER_EYE_DISTANCE: f32 = 0.35;

/// Where MTCNN puts the nose tip of a face looking straight at the camera: its distance below
/// the eye line as a share of the mouth's. The median over the 48 labelled portraits, which face
/// the camera (MTCNN's nose point sits lower than the ArcFace template's 0.49).
pub const FRONTAL_NOSE_HEIGHT: f32 = 0.59;

/// Eye distance (pixels, in the photo) at and above which a face is large enough: the embedder's
/// 112-px template puts the eyes 35 px apart, so a larger face is only shrunk.
pub const FULL_SIZE_EYE_DISTANCE_PX: f32 = 35.0;

/// Variance of the Laplacian of the aligned crop's grey levels at which sharpness counts half.
/// Chosen on the shared labelled photos (see `docs/quality.md`).
pub const HALF_SHARPNESS: f32 = 40.0;

/// A face shows eyes, brows and a mouth against skin: its aligned crop has detail. Below this
/// variance of the Laplacian (a standard deviation of 2 grey levels) the crop is a flat region,
/// and the detector's "face" on it is dropped as a phantom. Real faces on the shared photos, the
/// heavily blurred background people included, measure 9 and up; see `docs/quality.md`.
pub const MIN_FACE_DETAIL: f32 = 4.0;

/// Yaw or pitch (degrees) at which the pose part reaches 0.
pub const POSE_LIMIT_DEG: f32 = 70.0;

/// Below this a face is "low quality": enrolling it asks for confirmation (desktop) or
/// `--force` (CLI). Chosen on the shared labelled photos (see `docs/quality.md`).
pub const LOW_QUALITY: f32 = 0.35;

/// Roll, yaw and pitch in degrees from the five landmarks (image-left eye first). Yaw > 0: the
/// face turns towards the image's left (its nose points left); pitch > 0: the face tilts up;
/// roll > 0: the eye line turns clockwise on screen.
#[must_use]
pub fn head_pose(l: &Landmarks) -> HeadPose {
    let (el, er) = (l.eye_left, l.eye_right);
    let roll = (er.y - el.y).atan2(er.x - el.x);
    // Undo the roll around the eye midpoint, so the eye line is horizontal.
    let (mx, my) = ((el.x + er.x) / 2.0, (el.y + er.y) / 2.0);
    let (c, s) = (roll.cos(), roll.sin());
    let upright = |p: crate::api::PointPx| {
        let (dx, dy) = (p.x - mx, p.y - my);
        (c * dx + s * dy, -s * dx + c * dy)
    };
    let eye_distance = ((er.x - el.x).powi(2) + (er.y - el.y).powi(2)).sqrt();
    if eye_distance <= f32::EPSILON {
        return HeadPose {
            yaw_deg: 0.0,
            pitch_deg: 0.0,
            roll_deg: roll.to_degrees(),
        };
    }
    let nose = upright(l.nose);
    let (ml, mr) = (upright(l.mouth_left), upright(l.mouth_right));
    let mouth = ((ml.0 + mr.0) / 2.0, (ml.1 + mr.1) / 2.0);
    // The face's midline runs from the eye midpoint (0, 0) to the mouth midpoint; the nose tip's
    // sideways offset from it grows with tan(yaw).
    let midline_x = if mouth.1.abs() > f32::EPSILON {
        mouth.0 * nose.1 / mouth.1
    } else {
        0.0
    };
    let yaw = (-(nose.0 - midline_x) / (NOSE_DEPTH_PER_EYE_DISTANCE * eye_distance)).atan();
    let pitch = if mouth.1 > f32::EPSILON {
        let depth_per_height = NOSE_DEPTH_PER_EYE_DISTANCE * eye_distance / mouth.1;
        ((FRONTAL_NOSE_HEIGHT - nose.1 / mouth.1) / depth_per_height).atan()
    } else {
        0.0
    };
    HeadPose {
        yaw_deg: yaw.to_degrees(),
        pitch_deg: pitch.to_degrees(),
        roll_deg: roll.to_degrees(),
    }
}

/// How far the five landmarks are from a face's layout: the RMS distance, in the 112-px template's
/// pixels, between the template and the landmarks after the best similarity fit. About 1–4 for
/// frontal faces, larger for turned faces and for landmarks a non-face made up.
#[must_use]
pub fn landmark_fit_error(l: &Landmarks) -> f32 {
    let pts = l.as_array().map(|p| (p.x, p.y));
    let Some(fit) = Similarity::estimate(&pts, &ARCFACE_TEMPLATE_112) else {
        return f32::INFINITY;
    };
    let sum: f32 = pts
        .iter()
        .zip(&ARCFACE_TEMPLATE_112)
        .map(|(&p, &(tx, ty))| {
            let (x, y) = fit.apply(p);
            (x - tx).powi(2) + (y - ty).powi(2)
        })
        .sum();
    let n = pts.len() as f32;
    (sum / n).sqrt()
}

/// Variance of the 4-neighbour Laplacian of the crop's grey levels (0..255 scale): the usual
/// focus measure; blur and heavy JPEG smoothing lower it.
#[must_use]
pub fn laplacian_variance(img: &RgbImage) -> f32 {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w < 3 || h < 3 {
        return 0.0;
    }
    let grey: Vec<f32> = img
        .pixels()
        .map(|p| 0.299 * f32::from(p.0[0]) + 0.587 * f32::from(p.0[1]) + 0.114 * f32::from(p.0[2]))
        .collect();
    let (mut sum, mut sum_sq, mut n) = (0.0f64, 0.0f64, 0.0f64);
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let i = y * w + x;
            let lap = grey[i - 1] + grey[i + 1] + grey[i - w] + grey[i + w] - 4.0 * grey[i];
            sum += f64::from(lap);
            sum_sq += f64::from(lap) * f64::from(lap);
            n += 1.0;
        }
    }
    let mean = sum / n;
    (sum_sq / n - mean * mean).max(0.0) as f32
}

/// The share of a box inside a `width`×`height` photo, in 0..=1.
#[must_use]
pub fn visible_share(b: &BoxPx, width: f32, height: f32) -> f32 {
    let area = b.width() * b.height();
    if area <= 0.0 {
        return 0.0;
    }
    let w = (b.x2.min(width) - b.x1.max(0.0)).max(0.0);
    let h = (b.y2.min(height) - b.y1.max(0.0)).max(0.0);
    (w * h / area).clamp(0.0, 1.0)
}

/// Everything [`assess`] needs about one face.
#[derive(Debug, Clone, Copy)]
pub struct FaceEvidence<'a> {
    /// Box in photo pixels (may reach past the frame).
    pub bbox: &'a BoxPx,
    /// Landmarks in photo pixels.
    pub landmarks: &'a Landmarks,
    /// Detector score.
    pub detector_score: f32,
    /// The 112×112 aligned crop.
    pub aligned: &'a RgbImage,
    /// Photo width, pixels.
    pub width_px: u32,
    /// Photo height, pixels.
    pub height_px: u32,
}

/// The quality score, its parts and the head pose of one face.
#[must_use]
pub fn assess(e: &FaceEvidence<'_>) -> Quality {
    let l = e.landmarks;
    let eye_distance_px =
        ((l.eye_right.x - l.eye_left.x).powi(2) + (l.eye_right.y - l.eye_left.y).powi(2)).sqrt();
    let sharpness = laplacian_variance(e.aligned);
    let pose = head_pose(l);
    let visible = visible_share(e.bbox, e.width_px as f32, e.height_px as f32);
    let size_part = (eye_distance_px / FULL_SIZE_EYE_DISTANCE_PX).clamp(0.0, 1.0);
    let sharpness_part = sharpness / (sharpness + HALF_SHARPNESS);
    let worst_angle = pose.yaw_deg.abs().max(pose.pitch_deg.abs());
    let pose_part = (1.0 - (worst_angle / POSE_LIMIT_DEG).powi(2)).clamp(0.0, 1.0);
    let score_part = e.detector_score.clamp(0.0, 1.0);
    let parts = QualityParts {
        face_size_px: e.bbox.width().max(e.bbox.height()),
        eye_distance_px,
        sharpness,
        visible_share: visible,
        detector_score: e.detector_score,
        size_part,
        sharpness_part,
        pose_part,
        visible_part: visible,
        score_part,
    };
    let score = size_part * sharpness_part * pose_part * visible * score_part;
    let mut reasons = Vec::new();
    if size_part < 0.6 {
        reasons.push(format!(
            "small face ({eye_distance_px:.0} px between the eyes)"
        ));
    }
    if sharpness_part < 0.5 {
        reasons.push(format!("blurred (sharpness {sharpness:.0})"));
    }
    if pose_part < 0.6 {
        reasons.push(format!(
            "turned away (yaw {:.0}°, pitch {:.0}°)",
            pose.yaw_deg, pose.pitch_deg
        ));
    }
    if visible < 0.9 {
        reasons.push(format!(
            "cut by the frame ({:.0} % outside)",
            (1.0 - visible) * 100.0
        ));
    }
    Quality {
        score: score.clamp(0.0, 1.0),
        low: score < LOW_QUALITY,
        reasons,
        parts,
        pose,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::PointPx;

    fn template_landmarks(scale: f32, dx: f32, dy: f32) -> Landmarks {
        let p = |i: usize| PointPx {
            x: ARCFACE_TEMPLATE_112[i].0 * scale + dx,
            y: ARCFACE_TEMPLATE_112[i].1 * scale + dy,
        };
        Landmarks {
            eye_left: p(0),
            eye_right: p(1),
            nose: p(2),
            mouth_left: p(3),
            mouth_right: p(4),
        }
    }

    #[test]
    fn the_template_is_frontal_and_fits_exactly() {
        let l = template_landmarks(3.0, 100.0, 50.0);
        let pose = head_pose(&l);
        assert!(pose.yaw_deg.abs() < 2.0, "{pose:?}");
        // The template's nose sits higher than MTCNN's frontal nose: a little upward.
        assert!(pose.pitch_deg > 0.0 && pose.pitch_deg < 25.0, "{pose:?}");
        assert!(pose.roll_deg.abs() < 1.0, "{pose:?}");
        assert!(landmark_fit_error(&l) < 1e-3);
    }

    #[test]
    fn roll_follows_the_eye_line_and_yaw_the_nose() {
        // Rotate the template 20° clockwise on screen: roll +20, yaw and pitch unchanged.
        let (c, s) = (20f32.to_radians().cos(), 20f32.to_radians().sin());
        let mut l = template_landmarks(2.0, 0.0, 0.0);
        for p in [
            &mut l.eye_left,
            &mut l.eye_right,
            &mut l.nose,
            &mut l.mouth_left,
            &mut l.mouth_right,
        ] {
            let (x, y) = (p.x, p.y);
            *p = PointPx {
                x: c * x - s * y,
                y: s * x + c * y,
            };
        }
        let pose = head_pose(&l);
        assert!((pose.roll_deg - 20.0).abs() < 0.5, "{pose:?}");
        assert!(pose.yaw_deg.abs() < 2.0, "{pose:?}");
        // The nose moved towards the image's left by a third of the eye distance: turned left.
        let mut turned = template_landmarks(2.0, 0.0, 0.0);
        turned.nose.x -= (turned.eye_right.x - turned.eye_left.x) / 3.0;
        let pose = head_pose(&turned);
        assert!(pose.yaw_deg > 30.0 && pose.yaw_deg < 60.0, "{pose:?}");
        // Nose closer to the eyes: looking up.
        let mut up = template_landmarks(2.0, 0.0, 0.0);
        let pitch = head_pose(&up).pitch_deg;
        up.nose.y -= 8.0;
        assert!(head_pose(&up).pitch_deg > pitch + 15.0);
        // A scrambled layout fits badly.
        let mut bad = template_landmarks(2.0, 0.0, 0.0);
        std::mem::swap(&mut bad.nose, &mut bad.eye_left);
        assert!(landmark_fit_error(&bad) > 10.0);
    }

    #[test]
    fn sharpness_drops_with_blur_and_share_with_the_frame() {
        let sharp = RgbImage::from_fn(112, 112, |x, y| {
            image::Rgb(if (x / 4 + y / 4) % 2 == 0 {
                [255; 3]
            } else {
                [0; 3]
            })
        });
        let flat = RgbImage::from_pixel(112, 112, image::Rgb([90, 90, 90]));
        assert!(laplacian_variance(&sharp) > 1000.0);
        assert!(laplacian_variance(&flat) < 1e-3);
        let b = BoxPx {
            x1: -50.0,
            y1: 0.0,
            x2: 50.0,
            y2: 100.0,
        };
        assert!((visible_share(&b, 200.0, 200.0) - 0.5).abs() < 1e-6);
    }

    #[test]
    fn a_small_blurred_turned_face_scores_low_with_reasons() {
        let flat = RgbImage::from_pixel(112, 112, image::Rgb([90, 90, 90]));
        let mut l = template_landmarks(0.2, 10.0, 10.0);
        l.nose.x -= 4.0;
        let b = BoxPx {
            x1: 10.0,
            y1: 10.0,
            x2: 32.0,
            y2: 32.0,
        };
        let q = assess(&FaceEvidence {
            bbox: &b,
            landmarks: &l,
            detector_score: 0.97,
            aligned: &flat,
            width_px: 100,
            height_px: 100,
        });
        assert!(q.low && q.score < LOW_QUALITY, "{q:?}");
        assert!(q.reasons.iter().any(|r| r.contains("small")), "{q:?}");
        assert!(q.reasons.iter().any(|r| r.contains("blurred")), "{q:?}");
    }
}
