//! Result types: what the pipeline returns, what `facelens analyze --json` prints and what the
//! server sends. Coordinates are in original-image pixels (after EXIF orientation), x right, y down.

use serde::{Deserialize, Serialize};

/// Schema version of the JSON output; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// A point in original-image pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PointPx {
    /// Column, pixels from the left edge.
    pub x: f32,
    /// Row, pixels from the top edge.
    pub y: f32,
}

/// An axis-aligned box in original-image pixels. For a face cut by the frame the box may reach
/// past the image edge (its landmarks are predicted there too); clip it for display.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BoxPx {
    /// Left edge.
    pub x1: f32,
    /// Top edge.
    pub y1: f32,
    /// Right edge.
    pub x2: f32,
    /// Bottom edge.
    pub y2: f32,
}

impl BoxPx {
    /// Width in pixels.
    #[must_use]
    pub fn width(&self) -> f32 {
        self.x2 - self.x1
    }
    /// Height in pixels.
    #[must_use]
    pub fn height(&self) -> f32 {
        self.y2 - self.y1
    }
    /// Whether `p` lies inside the box (edges included).
    #[must_use]
    pub fn contains(&self, p: PointPx) -> bool {
        p.x >= self.x1 && p.x <= self.x2 && p.y >= self.y1 && p.y <= self.y2
    }
}

/// The five facial landmarks, named by where they appear in the image (not the subject's left/right).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Landmarks {
    /// Eye nearer the image's left edge.
    pub eye_left: PointPx,
    /// Eye nearer the image's right edge.
    pub eye_right: PointPx,
    /// Nose tip.
    pub nose: PointPx,
    /// Mouth corner nearer the image's left edge.
    pub mouth_left: PointPx,
    /// Mouth corner nearer the image's right edge.
    pub mouth_right: PointPx,
}

impl Landmarks {
    /// The points in template order: eye L, eye R, nose, mouth L, mouth R.
    #[must_use]
    pub fn as_array(&self) -> [PointPx; 5] {
        [
            self.eye_left,
            self.eye_right,
            self.nose,
            self.mouth_left,
            self.mouth_right,
        ]
    }
}

/// One detected face.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Detection {
    /// Face box.
    pub bbox: BoxPx,
    /// Detector confidence in [0, 1].
    pub score: f32,
    /// Five landmarks.
    pub landmarks: Landmarks,
}

/// Age estimate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Age {
    /// Point estimate in years.
    pub years: f32,
    /// One standard deviation in years (see ARCHITECTURE.md › Uncertainty).
    pub std_years: f32,
}

/// Gender estimate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Gender {
    /// P(male) in [0, 1]; P(female) is 1 − this.
    pub male_probability: f32,
    /// "male" when `male_probability` > 0.5, else "female".
    pub label: String,
}

/// A named probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LabelProb {
    /// Class label.
    pub label: String,
    /// Probability in [0, 1].
    pub probability: f32,
}

/// Attribute estimates for one face.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attributes {
    /// Age.
    pub age: Age,
    /// Gender.
    pub gender: Gender,
    /// Race distribution over white, black, asian, indian, other (sums to 1).
    pub race: Vec<LabelProb>,
    /// Emotion distribution over angry, disgust, fear, happy, sad, surprise, neutral (sums to 1).
    pub emotion: Vec<LabelProb>,
}

impl Attributes {
    /// The most probable race label.
    #[must_use]
    pub fn top_race(&self) -> Option<&LabelProb> {
        top(&self.race)
    }
    /// The most probable emotion label.
    #[must_use]
    pub fn top_emotion(&self) -> Option<&LabelProb> {
        top(&self.emotion)
    }
}

fn top(v: &[LabelProb]) -> Option<&LabelProb> {
    v.iter()
        .max_by(|a, b| a.probability.total_cmp(&b.probability))
}

/// One gallery hit for a face.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Match {
    /// Gallery entry id.
    pub id: u64,
    /// Name of the person.
    pub name: String,
    /// Cosine similarity of the embeddings, in [−1, 1].
    pub cosine: f32,
    /// Calibrated probability that it is the same person, in [0, 1].
    pub score: f32,
    /// Whether `cosine` is at or above the documented same-person threshold.
    pub same_person: bool,
}

/// Head pose in degrees, estimated from the five landmarks (rough: see `docs/quality.md`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HeadPose {
    /// Left–right turn; > 0 when the face turns towards the image's left.
    pub yaw_deg: f32,
    /// Up–down tilt; > 0 when the face tilts up.
    pub pitch_deg: f32,
    /// In-plane rotation of the eye line; > 0 clockwise on screen.
    pub roll_deg: f32,
}

/// What a face's quality score is made of: the measurements and the part (0..1) each gives.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QualityParts {
    /// The box's longer side, photo pixels.
    pub face_size_px: f32,
    /// Distance between the eyes, photo pixels.
    pub eye_distance_px: f32,
    /// Variance of the Laplacian of the aligned crop's grey levels.
    pub sharpness: f32,
    /// Share of the face box inside the photo, 0..1.
    pub visible_share: f32,
    /// The detector's score.
    pub detector_score: f32,
    /// Part from the face's size.
    pub size_part: f32,
    /// Part from sharpness.
    pub sharpness_part: f32,
    /// Part from the head pose.
    pub pose_part: f32,
    /// Part from the share inside the frame.
    pub visible_part: f32,
    /// Part from the detector's score.
    pub score_part: f32,
}

/// How usable a face is for recognition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Quality {
    /// 0 (unusable) .. 1 (good): the product of the parts.
    pub score: f32,
    /// Below the documented low-quality threshold (enrolling asks first).
    pub low: bool,
    /// What lowers it, in words (empty when nothing does).
    pub reasons: Vec<String>,
    /// Measurements and parts.
    pub parts: QualityParts,
    /// Head pose.
    pub pose: HeadPose,
}

/// Everything facelens knows about one face.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Face {
    /// Detection.
    pub detection: Detection,
    /// L2-normalised 512-d identity embedding.
    pub embedding: Vec<f32>,
    /// Attribute estimates.
    pub attributes: Attributes,
    /// Best gallery matches, best first (empty when the gallery is empty or not searched).
    pub matches: Vec<Match>,
    /// Quality score with its parts and the head pose (absent from servers before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<Quality>,
}

/// Milliseconds spent in each stage of one request. Nothing is cached between requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Timings {
    /// Reading and decoding the file, EXIF orientation.
    pub decode_ms: f64,
    /// Face detection (pyramid, three nets, NMS).
    pub detect_ms: f64,
    /// 5-point alignment of all faces.
    pub align_ms: f64,
    /// Identity embeddings of all faces.
    pub embed_ms: f64,
    /// Age, gender, race and emotion of all faces.
    pub analyze_ms: f64,
    /// Gallery search of all faces.
    pub search_ms: f64,
    /// Connected mode: the round trip to the server minus the server's own time (transfer,
    /// encoding, queueing in the network); 0 locally.
    #[serde(default)]
    pub network_ms: f64,
    /// Wall time of the whole request.
    pub total_ms: f64,
}

/// The result of analysing one image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Analysis {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Image width in pixels after EXIF orientation.
    pub width_px: u32,
    /// Image height in pixels after EXIF orientation.
    pub height_px: u32,
    /// Faces, largest first.
    pub faces: Vec<Face>,
    /// When no face was found: the reason in words (e.g. the best candidate's score).
    pub no_face_reason: Option<String>,
    /// Stage timings.
    pub timings: Timings,
}
