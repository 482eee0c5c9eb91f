//! People: faces scanned from unlabelled photos, grouped by person ([`cluster`]), named once.
//!
//! The library lives in the gallery's own database (embedded store: schema version 2; Postgres:
//! migration 2), beside the named people: `library_photos`, `library_groups` and `library_faces`. A scanned face is *new*
//! until the clusterer places it, then *placed* (in a group, or unsorted when its quality is
//! low), or *placed by the user* (moved or removed by hand), which the clusterer never changes.
//! A group the user named, merged or edited is locked: new faces may join it, but it is never
//! merged or split without being asked. Naming a group enrols its faces in the gallery under
//! that name, in the same transaction, so the people found are recognised everywhere.
//!
//! Every operation is one transaction: a failed write changes nothing.

pub mod cluster;
mod library;
pub mod scan;
mod sql;

use serde::{Deserialize, Serialize};

use crate::api::BoxPx;
use crate::gallery::Gallery;

pub use library::{NewScannedFace, People};

/// A group of faces the clusterer believes are one person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PeopleGroup {
    /// Group id.
    pub id: u64,
    /// The name the user gave it, if any.
    pub name: Option<String>,
    /// Named, merged or edited by the user: never merged or split by the clusterer.
    pub locked: bool,
    /// How many faces.
    pub faces: usize,
    /// How many photos they come from.
    pub photos: usize,
    /// The face that stands for the group (the best-quality one).
    pub representative_face: u64,
}

/// A face found by a scan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScannedFace {
    /// Face id (for thumbnails, moves and `find`).
    pub id: u64,
    /// The photo's path, as scanned.
    pub photo: String,
    /// The face's position in the photo's analysis (0 = largest).
    pub face_index: u32,
    /// Box in photo pixels.
    pub bbox: BoxPx,
    /// Quality score 0..1 (see docs/quality.md).
    pub quality: f32,
    /// Below the quality floor: left unsorted rather than grouped.
    pub low_quality: bool,
    /// Its group, `None` when unsorted.
    pub group: Option<u64>,
    /// Moved or removed by the user (the clusterer leaves it where it is).
    pub placed_by_user: bool,
}

/// A photo in which a face like the query appears.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PhotoMatch {
    /// The photo's path.
    pub photo: String,
    /// The best-matching face in it.
    pub face: u64,
    /// Its position in the photo's analysis.
    pub face_index: u32,
    /// Its box, photo pixels.
    pub bbox: BoxPx,
    /// Cosine similarity to the query.
    pub cosine: f32,
    /// Calibrated same-person probability.
    pub score: f32,
}

/// What one clustering run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClusterReport {
    /// New faces placed in a group.
    pub grouped: usize,
    /// New faces left unsorted (below the quality floor).
    pub unsorted: usize,
    /// Groups opened.
    pub groups_opened: usize,
    /// Groups merged into others.
    pub merges: usize,
}

impl Gallery {
    /// The people library in this gallery's database.
    #[must_use]
    pub fn people(&self) -> People<'_> {
        match self {
            Self::Sqlite(s) => People::sqlite(s),
            Self::Postgres(p) => People::postgres(p),
        }
    }
}
