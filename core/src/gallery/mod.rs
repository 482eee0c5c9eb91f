//! The gallery of known faces: one store boundary ([`Gallery`]) over two real databases.
//!
//! - **Embedded (default):** a folder holding `gallery.db`, SQLite in WAL mode
//!   ([`sqlite`]). Persons and faces are separate rows; a face holds its embedding as a
//!   little-endian f32 BLOB, its thumbnail, source, enrolment time and detector score. Each write
//!   is one transaction touching only its rows, and appends to a change log. The usearch index
//!   ([`index`]) is a cache derived from the database: every handle catches up from the change
//!   log before it searches, so several processes on one folder see each other's writes and lose
//!   nothing. An old `gallery.json` folder is migrated on first open (kept as a backup).
//! - **Postgres** (`postgres://…` URL): pgvector `vector(512)` with an HNSW cosine index,
//!   versioned migrations run at open ([`pg`]). Any number of servers share it.
//!
//! Memory never runs ahead of the disk: a write changes the cache only after its transaction
//! committed, so a failed write (full disk, read-only folder, lost connection) changes nothing.

use std::fmt;
use std::path::{Path, PathBuf};

use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::api::Match;
use crate::calibration::{is_same_person, same_person_score};
use crate::error::GalleryError;
use crate::models::embedder::{EMBEDDING_DIM, l2_normalize};

pub mod export;
pub mod index;
mod legacy;
mod location;
pub mod pg;
pub mod sqlite;

pub use location::{GalleryLocation, redact_secrets, redact_url, resolve_gallery_location};

/// Environment variable that overrides the default gallery location (a folder or a URL).
pub const GALLERY_DIR_ENV: &str = "FACELENS_GALLERY_DIR";

/// Galleries up to this many entries are searched exactly (every entry's i8 copy compared), larger
/// ones through the HNSW graph; either way the candidates are re-ranked by their f32 embeddings.
/// An exact scan of 20 000 vectors takes about 2 ms here, and a desktop gallery is far smaller:
/// its user gets the true nearest person.
pub const EXACT_SEARCH_MAX_ENTRIES: usize = 20_000;

/// The embedding model every stored vector comes from (manifest id and sha256 prefix). A gallery
/// or export made with another model is refused rather than silently compared.
pub const EMBEDDING_MODEL_ID: &str = "fr_feature@87aacdfe57510db2";

/// Longest accepted `source` (bytes).
pub const MAX_SOURCE_BYTES: usize = 4096;
/// Largest accepted thumbnail side (pixels); facelens stores the 112×112 aligned crop.
pub const MAX_THUMBNAIL_SIDE_PX: u32 = 256;

/// One enrolled face.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Entry {
    /// Stable face id (never reused).
    pub id: u64,
    /// Person's name.
    pub name: String,
    /// Where the face came from (file path or URL), as given at enrolment.
    pub source: String,
    /// Enrolment time, seconds since the Unix epoch.
    pub enrolled_at_unix_s: u64,
    /// The L2-normalised embedding.
    pub embedding: Vec<f32>,
    /// The person this face belongs to (several faces may share one person).
    #[serde(default)]
    pub person_id: u64,
    /// The detector's score for this face, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detector_score: Option<f32>,
}

/// A face to enrol.
#[derive(Debug, Clone, Copy)]
pub struct NewFace<'a> {
    /// The person's name (a person is created when none has this name).
    pub name: &'a str,
    /// Where the face came from.
    pub source: &'a str,
    /// The L2-normalised 512-d embedding.
    pub embedding: &'a [f32],
    /// The aligned face crop.
    pub thumbnail: &'a RgbImage,
    /// The detector's score, when known.
    pub detector_score: Option<f32>,
}

/// A gallery opened for reading and writing. Every method takes `&self`: both backends
/// serialise their own access, so one handle may be shared between threads.
pub enum Gallery {
    /// The embedded SQLite store.
    Sqlite(sqlite::SqliteStore),
    /// The Postgres + pgvector store.
    Postgres(pg::PgStore),
}

impl fmt::Debug for Gallery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Gallery({})", self.location())
    }
}

impl Gallery {
    /// Opens (or creates) the embedded gallery in the folder `dir`.
    ///
    /// # Errors
    /// A folder or database that cannot be created or read, a corrupt database, a failed
    /// migration from `gallery.json`.
    pub fn open(dir: &Path) -> Result<Self, GalleryError> {
        Ok(Self::Sqlite(sqlite::SqliteStore::open(dir)?))
    }

    /// Opens the gallery at `location` (a folder or a Postgres URL), running migrations.
    ///
    /// # Errors
    /// As [`Gallery::open`]; for Postgres also an unreachable server or a failed migration.
    pub fn open_location(location: &GalleryLocation) -> Result<Self, GalleryError> {
        match location {
            GalleryLocation::Dir(dir) => Self::open(dir),
            GalleryLocation::Postgres(url) => Ok(Self::Postgres(pg::PgStore::open(url)?)),
        }
    }

    /// Where this gallery lives (passwords redacted).
    #[must_use]
    pub fn location(&self) -> String {
        match self {
            Self::Sqlite(s) => s.dir().display().to_string(),
            Self::Postgres(p) => p.location().to_owned(),
        }
    }

    /// Number of faces.
    ///
    /// # Errors
    /// A database error.
    pub fn len(&self) -> Result<usize, GalleryError> {
        match self {
            Self::Sqlite(s) => s.len(),
            Self::Postgres(p) => p.len(),
        }
    }

    /// Whether the gallery holds no face.
    ///
    /// # Errors
    /// A database error.
    pub fn is_empty(&self) -> Result<bool, GalleryError> {
        Ok(self.len()? == 0)
    }

    /// Every face with its embedding, by id.
    ///
    /// # Errors
    /// A database error.
    pub fn entries(&self) -> Result<Vec<Entry>, GalleryError> {
        self.entries_between(i64::MIN, i64::MAX)
    }

    /// Up to `limit` faces with ids above `after_id`, by id: one page of the gallery (the next
    /// page starts after the last id of this one).
    ///
    /// # Errors
    /// A database error.
    pub fn entries_after(&self, after_id: u64, limit: usize) -> Result<Vec<Entry>, GalleryError> {
        // Ids above i64::MAX exist nowhere: nothing lies after them.
        let Some(after_id) = rowid(after_id) else {
            return Ok(Vec::new());
        };
        self.entries_between(after_id, i64::try_from(limit).unwrap_or(i64::MAX))
    }

    /// Up to `limit` faces with row ids above `after_id`, by id: the one query behind
    /// [`Gallery::entries`] and [`Gallery::entries_after`].
    fn entries_between(&self, after_id: i64, limit: i64) -> Result<Vec<Entry>, GalleryError> {
        match self {
            Self::Sqlite(s) => s.entries_after(after_id, limit),
            Self::Postgres(p) => p.entries_after(after_id, limit),
        }
    }

    /// One face.
    ///
    /// # Errors
    /// [`GalleryError::NoSuchEntry`] or a database error.
    pub fn entry(&self, id: u64) -> Result<Entry, GalleryError> {
        match self {
            Self::Sqlite(s) => s.entry(id),
            Self::Postgres(p) => p.entry(id),
        }?
        .ok_or(GalleryError::NoSuchEntry(id))
    }

    /// A face's thumbnail (PNG bytes of the aligned crop).
    ///
    /// # Errors
    /// [`GalleryError::NoSuchEntry`] or a database error.
    pub fn thumbnail_png(&self, id: u64) -> Result<Vec<u8>, GalleryError> {
        match self {
            Self::Sqlite(s) => s.thumbnail_png(id),
            Self::Postgres(p) => p.thumbnail_png(id),
        }?
        .ok_or(GalleryError::NoSuchEntry(id))
    }

    /// Adds a face under `name` (without a detector score). Returns its id.
    ///
    /// # Errors
    /// As [`Gallery::enrol_face`].
    pub fn enrol(
        &self,
        name: &str,
        source: &str,
        embedding: &[f32],
        thumbnail: &RgbImage,
    ) -> Result<u64, GalleryError> {
        self.enrol_face(&NewFace {
            name,
            source,
            embedding,
            thumbnail,
            detector_score: None,
        })
    }

    /// Adds a face; once this returns its id, the face is durably stored.
    ///
    /// # Errors
    /// An invalid name, source, embedding or thumbnail, or a database error (then nothing
    /// changed).
    pub fn enrol_face(&self, face: &NewFace<'_>) -> Result<u64, GalleryError> {
        let valid = ValidFace::check(face)?;
        match self {
            Self::Sqlite(s) => s.enrol(&valid),
            Self::Postgres(p) => p.enrol(&valid),
        }
    }

    /// The `k` most similar people (one best face per person), best first.
    ///
    /// # Errors
    /// A wrong embedding size, an index or database error.
    pub fn search(&self, embedding: &[f32], k: usize) -> Result<Vec<Match>, GalleryError> {
        check_dimension(embedding)?;
        if k == 0 {
            return Ok(Vec::new());
        }
        // Ask for more than k so that several photos of one person do not crowd out others.
        let want = k * 4;
        let hits = match self {
            Self::Sqlite(s) => s.nearest(embedding, want),
            Self::Postgres(p) => p.nearest(embedding, want),
        }?;
        Ok(best_per_person(hits, k))
    }

    /// Moves one face to the person called `name` (created if needed). A person left without
    /// faces is removed.
    ///
    /// # Errors
    /// Unknown id, an invalid name, or a database error (then nothing changed).
    pub fn rename(&self, id: u64, name: &str) -> Result<(), GalleryError> {
        let name = validate_name(name)?;
        match self {
            Self::Sqlite(s) => s.rename(id, &name),
            Self::Postgres(p) => p.rename(id, &name),
        }
    }

    /// Deletes one face (and its thumbnail).
    ///
    /// # Errors
    /// Unknown id or a database error (then nothing changed).
    pub fn delete(&self, id: u64) -> Result<(), GalleryError> {
        match self {
            Self::Sqlite(s) => s.delete(id),
            Self::Postgres(p) => p.delete(id),
        }
    }
}

/// A search hit before grouping by person: face id, person id, name, cosine similarity.
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    pub face_id: u64,
    pub person_id: u64,
    pub name: String,
    pub cosine: f32,
}

/// The best hit per person, best first, at most `k`.
fn best_per_person(mut hits: Vec<Hit>, k: usize) -> Vec<Match> {
    hits.sort_by(|a, b| {
        b.cosine
            .total_cmp(&a.cosine)
            .then(a.face_id.cmp(&b.face_id))
    });
    let mut seen = std::collections::HashSet::new();
    hits.into_iter()
        .filter(|h| seen.insert(h.person_id))
        .take(k)
        .map(|h| Match {
            id: h.face_id,
            name: h.name,
            cosine: h.cosine,
            score: same_person_score(h.cosine),
            same_person: is_same_person(h.cosine),
        })
        .collect()
}

/// A face that passed validation: name trimmed, thumbnail encoded, embedding a unit vector.
#[derive(Debug)]
pub(crate) struct ValidFace {
    pub name: String,
    pub source: String,
    pub embedding: Vec<f32>,
    pub thumbnail_png: Vec<u8>,
    pub detector_score: Option<f32>,
}

impl ValidFace {
    fn check(face: &NewFace<'_>) -> Result<Self, GalleryError> {
        let name = validate_name(face.name)?;
        let source = validate_source(face.source)?;
        let embedding = validate_embedding(face.embedding)?;
        let (w, h) = face.thumbnail.dimensions();
        check_thumbnail_size(w, h)?;
        let mut png = std::io::Cursor::new(Vec::new());
        face.thumbnail
            .write_to(&mut png, image::ImageFormat::Png)
            .map_err(|e| GalleryError::InvalidField {
                field: "thumbnail",
                detail: format!("PNG encoding failed: {e}"),
            })?;
        Ok(Self {
            name,
            source,
            embedding,
            thumbnail_png: png.into_inner(),
            detector_score: check_detector_score(face.detector_score)?,
        })
    }
}

/// A thumbnail must be 1..=[`MAX_THUMBNAIL_SIDE_PX`] pixels a side.
pub(crate) fn check_thumbnail_size(w: u32, h: u32) -> Result<(), GalleryError> {
    if w == 0 || h == 0 || w > MAX_THUMBNAIL_SIDE_PX || h > MAX_THUMBNAIL_SIDE_PX {
        return Err(GalleryError::InvalidField {
            field: "thumbnail",
            detail: format!(
                "{w}x{h} px; each side must be 1..={MAX_THUMBNAIL_SIDE_PX} px (facelens stores the 112x112 aligned crop)"
            ),
        });
    }
    Ok(())
}

/// A detector score, when given, lies in 0..1.
pub(crate) fn check_detector_score(score: Option<f32>) -> Result<Option<f32>, GalleryError> {
    match score {
        Some(s) if !(0.0..=1.0).contains(&s) => Err(GalleryError::InvalidField {
            field: "detector_score",
            detail: format!("{s} is outside 0..1"),
        }),
        other => Ok(other),
    }
}

/// Refuses a gallery whose embeddings come from another model (`stored` is the model id the
/// database records, if any).
pub(crate) fn check_embedding_model(
    stored: Option<&str>,
    location: impl Into<PathBuf>,
) -> Result<(), GalleryError> {
    match stored {
        Some(m) if m != EMBEDDING_MODEL_ID => Err(GalleryError::Corrupt {
            path: location.into(),
            detail: format!(
                "its embeddings come from model {m}; this facelens uses {EMBEDDING_MODEL_ID}"
            ),
        }),
        _ => Ok(()),
    }
}

/// The columns of an [`Entry`], in the order both backends read them (the SQL is the same in
/// SQLite and Postgres).
pub(crate) const ENTRY_SELECT: &str = "SELECT f.id, p.name, f.source, f.enrolled_at, f.embedding,
    f.person_id, f.detector_score FROM faces f JOIN persons p ON p.id = f.person_id";

/// An API id as a database row id (ids above `i64::MAX` exist nowhere).
pub(crate) fn rowid(id: u64) -> Option<i64> {
    i64::try_from(id).ok()
}

/// A database row id (always positive) as an API id.
pub(crate) fn api_id(rowid: i64) -> u64 {
    rowid.max(0) as u64
}

fn check_dimension(embedding: &[f32]) -> Result<(), GalleryError> {
    if embedding.len() == EMBEDDING_DIM {
        Ok(())
    } else {
        Err(GalleryError::Dimension {
            expected: EMBEDDING_DIM,
            got: embedding.len(),
        })
    }
}

/// Accepts only finite vectors of norm 1 ± 1 % (what the embedder produces), and returns them
/// re-normalised in f64 so that stored vectors are exact unit vectors.
pub(crate) fn validate_embedding(embedding: &[f32]) -> Result<Vec<f32>, GalleryError> {
    check_dimension(embedding)?;
    if let Some(i) = embedding.iter().position(|v| !v.is_finite()) {
        return Err(GalleryError::InvalidEmbedding(format!(
            "component {i} is not a finite number"
        )));
    }
    let mut unit = embedding.to_vec();
    let norm = l2_normalize(&mut unit);
    if !(0.99..=1.01).contains(&norm) {
        return Err(GalleryError::InvalidEmbedding(format!(
            "its L2 norm is {norm:.3e}; facelens embeddings are unit vectors (norm 1 ± 0.01)"
        )));
    }
    Ok(unit)
}

/// Characters that change text direction or are invisible; a name may not use the former, and
/// must have at least one character that is neither.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Control and text-direction characters: never stored in a name or a source.
fn is_unsafe_in_text(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(c, '\u{00AD}' | '\u{034F}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
            | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{206F}'
            | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}')
}

/// A person's name: trimmed, 1–200 characters, no control or direction-override characters, and
/// at least one visible character.
pub(crate) fn validate_name(name: &str) -> Result<String, GalleryError> {
    let t = name.trim();
    if t.is_empty() {
        return Err(GalleryError::InvalidName("the name is empty".into()));
    }
    let n = t.chars().count();
    if n > 200 {
        return Err(GalleryError::InvalidName(format!(
            "{n} characters; at most 200"
        )));
    }
    if let Some(c) = t.chars().find(|c| c.is_control()) {
        return Err(GalleryError::InvalidName(format!(
            "control character U+{:04X} (tab, newline and the like are not allowed in a name)",
            u32::from(c)
        )));
    }
    if t.chars().any(is_bidi_control) {
        return Err(GalleryError::InvalidName(
            "text-direction control characters (U+202A–U+202E, U+2066–U+2069, U+200E/F) are not allowed".into(),
        ));
    }
    if t.chars().all(is_invisible) {
        return Err(GalleryError::InvalidName(
            "the name has no visible character".into(),
        ));
    }
    Ok(t.to_owned())
}

/// A face's source: at most [`MAX_SOURCE_BYTES`] bytes, no control characters.
pub(crate) fn validate_source(source: &str) -> Result<String, GalleryError> {
    if source.len() > MAX_SOURCE_BYTES {
        return Err(GalleryError::InvalidField {
            field: "source",
            detail: format!("{} bytes; at most {MAX_SOURCE_BYTES}", source.len()),
        });
    }
    if source.chars().any(is_unsafe_in_text) {
        return Err(GalleryError::InvalidField {
            field: "source",
            detail: "control or text-direction characters are not allowed".into(),
        });
    }
    Ok(source.to_owned())
}

/// Text from an older gallery made safe to store: control and direction characters become U+FFFD.
pub(crate) fn sanitise_legacy_text(s: &str) -> String {
    s.chars()
        .map(|c| if is_unsafe_in_text(c) { '\u{FFFD}' } else { c })
        .collect()
}

pub(crate) fn now_unix_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Little-endian f32 bytes of an embedding (the stored BLOB format).
pub(crate) fn embedding_to_le_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The embedding in a little-endian f32 BLOB, or `None` when its length is wrong.
pub(crate) fn embedding_from_le_bytes(b: &[u8]) -> Option<Vec<f32>> {
    if b.len() != EMBEDDING_DIM * 4 {
        return None;
    }
    Some(
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

#[cfg(test)]
pub(crate) mod tests;
