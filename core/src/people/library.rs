//! The people library on either gallery backend: every operation one transaction, through the
//! [`super::sql`] boundary.

use std::collections::{BTreeMap, HashMap};

use image::RgbImage;

use super::cluster::{self, Candidate, Group, Params};
use super::sql::{PeopleTx, PgTx, Row, SqliteTx, Val, one};
use super::{ClusterReport, PeopleGroup, PhotoMatch, ScannedFace};
use crate::api::BoxPx;
use crate::calibration::{is_same_person, same_person_score};
use crate::error::GalleryError;
use crate::gallery::pg::PgStore;
use crate::gallery::sqlite::SqliteStore;
use crate::gallery::{
    ValidFace, api_id, embedding_from_le_bytes, embedding_to_le_bytes, now_unix_s, rowid,
    validate_embedding, validate_name, validate_source,
};
use crate::models::embedder::cosine;

/// `library_faces.state`: waiting for the clusterer.
const NEW: i64 = 0;
/// Placed by the clusterer (in a group, or unsorted).
const PLACED: i64 = 1;
/// Placed by the user; the clusterer never moves it.
const USER: i64 = 2;

/// A face to add to the library.
#[derive(Debug, Clone, Copy)]
pub struct NewScannedFace<'a> {
    /// Box in photo pixels.
    pub bbox: BoxPx,
    /// Quality score 0..1.
    pub quality: f32,
    /// Below the quality floor (left unsorted).
    pub low_quality: bool,
    /// L2-normalised 512-d embedding.
    pub embedding: &'a [f32],
    /// The 112×112 aligned crop.
    pub thumbnail: &'a RgbImage,
}

impl<'a> NewScannedFace<'a> {
    /// A face of an analysis with its aligned crop (quality 1 when the analysis has none).
    #[must_use]
    pub fn of(face: &'a crate::api::Face, crop: &'a RgbImage) -> Self {
        Self {
            bbox: face.detection.bbox,
            quality: face.quality.as_ref().map_or(1.0, |q| q.score),
            low_quality: face.quality.as_ref().is_some_and(|q| q.low),
            embedding: &face.embedding,
            thumbnail: crop,
        }
    }
}

#[derive(Clone, Copy)]
enum Store<'g> {
    Sqlite(&'g SqliteStore),
    Postgres(&'g PgStore),
}

/// The people library of a gallery ([`crate::gallery::Gallery::people`]).
#[derive(Clone, Copy)]
pub struct People<'g> {
    store: Store<'g>,
}

impl std::fmt::Debug for People<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.store {
            Store::Sqlite(s) => write!(f, "People({})", s.dir().display()),
            Store::Postgres(p) => write!(f, "People({})", p.location()),
        }
    }
}

fn group_rowid(id: u64) -> Result<i64, GalleryError> {
    rowid(id).ok_or(GalleryError::NoSuchGroup(id))
}

fn face_rowid(id: u64) -> Result<i64, GalleryError> {
    rowid(id).ok_or(GalleryError::NoSuchFace(id))
}

fn png(img: &RgbImage) -> Result<Vec<u8>, GalleryError> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| GalleryError::InvalidField {
            field: "thumbnail",
            detail: format!("PNG encoding failed: {e}"),
        })?;
    Ok(out.into_inner())
}

fn count(v: &Val) -> Result<usize, GalleryError> {
    Ok(usize::try_from(v.int()?).unwrap_or(0))
}

fn bbox(r: &[Val]) -> Result<BoxPx, GalleryError> {
    Ok(BoxPx {
        x1: r[0].real()? as f32,
        y1: r[1].real()? as f32,
        x2: r[2].real()? as f32,
        y2: r[3].real()? as f32,
    })
}

fn embedding_of(v: &Val) -> Result<Vec<f32>, GalleryError> {
    embedding_from_le_bytes(&v.bytes()?).ok_or_else(|| GalleryError::Database {
        location: "people library".into(),
        detail: "a damaged embedding".into(),
    })
}

const FACE_SELECT: &str = "SELECT f.id, p.path, f.face_index, f.x1, f.y1, f.x2, f.y2, f.quality,
        f.low_quality, f.group_id, f.state
     FROM library_faces f JOIN library_photos p ON p.id = f.photo_id";

fn scanned_face(r: &Row) -> Result<ScannedFace, GalleryError> {
    Ok(ScannedFace {
        id: api_id(r[0].int()?),
        photo: r[1].text()?,
        face_index: u32::try_from(r[2].int()?).unwrap_or(0),
        bbox: bbox(&r[3..7])?,
        quality: r[7].real()? as f32,
        low_quality: r[8].int()? != 0,
        group: r[9].opt_int()?.map(api_id),
        placed_by_user: r[10].int()? == USER,
    })
}

impl<'g> People<'g> {
    pub(crate) fn sqlite(store: &'g SqliteStore) -> Self {
        Self {
            store: Store::Sqlite(store),
        }
    }

    pub(crate) fn postgres(store: &'g PgStore) -> Self {
        Self {
            store: Store::Postgres(store),
        }
    }

    /// Runs `f` in one transaction, committed only when it succeeds.
    fn write<R>(
        &self,
        f: impl FnOnce(&mut dyn PeopleTx) -> Result<R, GalleryError>,
    ) -> Result<R, GalleryError> {
        match self.store {
            Store::Sqlite(s) => s.write(|tx| f(&mut SqliteTx { conn: tx, store: s })),
            Store::Postgres(p) => p.transaction(|tx| f(&mut PgTx { tx, store: p })),
        }
    }

    /// Runs reads (no gallery writes) on one consistent view.
    fn read<R>(
        &self,
        f: impl FnOnce(&mut dyn PeopleTx) -> Result<R, GalleryError>,
    ) -> Result<R, GalleryError> {
        match self.store {
            Store::Sqlite(s) => s.read(|conn| f(&mut SqliteTx { conn, store: s })),
            Store::Postgres(p) => p.transaction(|tx| f(&mut PgTx { tx, store: p })),
        }
    }

    /// Whether a photo at `path` was scanned already.
    ///
    /// # Errors
    /// A database error.
    pub fn has_photo(&self, path: &str) -> Result<bool, GalleryError> {
        self.read(|tx| {
            Ok(!tx
                .rows(
                    "SELECT id FROM library_photos WHERE path = $1",
                    &[path.into()],
                )?
                .is_empty())
        })
    }

    /// Adds a scanned photo and its faces (new, waiting for [`Self::cluster`]); a photo with no
    /// face is recorded too, so a rescan skips it. Returns the face ids in order.
    ///
    /// # Errors
    /// An invalid embedding or box, a photo already in the library, or a database error; then
    /// nothing was added.
    pub fn add_photo(
        &self,
        path: &str,
        width_px: u32,
        height_px: u32,
        faces: &[NewScannedFace<'_>],
    ) -> Result<Vec<u64>, GalleryError> {
        let path = validate_source(path)?;
        let mut checked = Vec::with_capacity(faces.len());
        for f in faces {
            let b = f.bbox;
            if ![b.x1, b.y1, b.x2, b.y2, f.quality]
                .iter()
                .all(|v| v.is_finite())
            {
                return Err(GalleryError::InvalidField {
                    field: "face",
                    detail: "box or quality is not a finite number".into(),
                });
            }
            checked.push((validate_embedding(f.embedding)?, png(f.thumbnail)?));
        }
        self.write(|tx| {
            let taken = tx.rows(
                "SELECT id FROM library_photos WHERE path = $1",
                &[path.as_str().into()],
            )?;
            if !taken.is_empty() {
                return Err(GalleryError::PeopleConflict(format!(
                    "{path} is already in the library"
                )));
            }
            let rows = tx.rows(
                "INSERT INTO library_photos (path, width, height, scanned_at)
                 VALUES ($1, $2, $3, $4) RETURNING id",
                &[
                    path.as_str().into(),
                    i64::from(width_px).into(),
                    i64::from(height_px).into(),
                    i64::try_from(now_unix_s()).unwrap_or(i64::MAX).into(),
                ],
            )?;
            let photo = one(&rows).map_or(Ok(0), Val::int)?;
            let mut ids = Vec::with_capacity(faces.len());
            for (i, (f, (embedding, thumb))) in faces.iter().zip(&checked).enumerate() {
                let rows = tx.rows(
                    "INSERT INTO library_faces (photo_id, face_index, x1, y1, x2, y2, quality,
                     low_quality, embedding, thumbnail, state)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
                    &[
                        photo.into(),
                        i64::try_from(i).unwrap_or(i64::MAX).into(),
                        f64::from(f.bbox.x1).into(),
                        f64::from(f.bbox.y1).into(),
                        f64::from(f.bbox.x2).into(),
                        f64::from(f.bbox.y2).into(),
                        f64::from(f.quality).into(),
                        i64::from(f.low_quality).into(),
                        embedding_to_le_bytes(embedding).into(),
                        thumb.clone().into(),
                        NEW.into(),
                    ],
                )?;
                ids.push(api_id(one(&rows).map_or(Ok(0), Val::int)?));
            }
            Ok(ids)
        })
    }

    /// Places every new face: joins the group it links to best, or opens one; low-quality faces
    /// stay unsorted; then merges unlocked groups that belong together. Incremental: only pairs
    /// involving a changed group are compared.
    ///
    /// # Errors
    /// A database error (then nothing changed).
    pub fn cluster(&self, params: &Params) -> Result<ClusterReport, GalleryError> {
        self.write(|tx| cluster_in(tx, params))
    }

    /// Forgets every group the user has not named or edited and clusters all their faces again
    /// (faces placed by the user and locked groups stay as they are).
    ///
    /// # Errors
    /// A database error (then nothing changed).
    pub fn recluster(&self, params: &Params) -> Result<ClusterReport, GalleryError> {
        self.write(|tx| {
            tx.exec(
                "UPDATE library_faces SET group_id = NULL, state = 0
                   WHERE state = 1 AND (group_id IS NULL OR group_id IN
                     (SELECT id FROM library_groups WHERE edited = 0 AND name IS NULL))",
                &[],
            )?;
            tx.exec(
                "DELETE FROM library_groups WHERE edited = 0 AND name IS NULL
                   AND NOT EXISTS (SELECT 1 FROM library_faces f WHERE f.group_id = library_groups.id)",
                &[],
            )?;
            cluster_in(tx, params)
        })
    }

    /// Every group, largest first.
    ///
    /// # Errors
    /// A database error.
    pub fn groups(&self) -> Result<Vec<PeopleGroup>, GalleryError> {
        self.read(|tx| {
            tx.rows(
                "SELECT g.id, g.name, g.edited, count(f.id), count(DISTINCT f.photo_id),
                   (SELECT r.id FROM library_faces r WHERE r.group_id = g.id
                      ORDER BY r.quality DESC, r.id LIMIT 1)
                 FROM library_groups g JOIN library_faces f ON f.group_id = g.id
                 GROUP BY g.id, g.name, g.edited ORDER BY count(f.id) DESC, g.id",
                &[],
            )?
            .iter()
            .map(|r| {
                let name = r[1].opt_text()?;
                Ok(PeopleGroup {
                    id: api_id(r[0].int()?),
                    locked: r[2].int()? != 0 || name.is_some(),
                    name,
                    faces: count(&r[3])?,
                    photos: count(&r[4])?,
                    representative_face: api_id(r[5].int()?),
                })
            })
            .collect()
        })
    }

    /// The faces of a group (`Some(id)`) or the unsorted faces (`None`), best quality first.
    ///
    /// # Errors
    /// [`GalleryError::NoSuchGroup`], or a database error.
    pub fn faces(&self, group: Option<u64>) -> Result<Vec<ScannedFace>, GalleryError> {
        self.faces_window(group, 0, usize::MAX)
    }

    /// Up to `limit` faces of [`People::faces`]'s list, from position `offset`: one page.
    ///
    /// # Errors
    /// As [`People::faces`].
    pub fn faces_window(
        &self,
        group: Option<u64>,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<ScannedFace>, GalleryError> {
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|tx| {
            let rows = match group {
                Some(g) => {
                    let gid = group_rowid(g)?;
                    if !group_exists(tx, gid)? {
                        return Err(GalleryError::NoSuchGroup(g));
                    }
                    tx.rows(
                        &format!(
                            "{FACE_SELECT} WHERE f.group_id = $1 ORDER BY f.quality DESC, f.id
                             LIMIT $2 OFFSET $3"
                        ),
                        &[gid.into(), limit.into(), offset.into()],
                    )?
                }
                None => tx.rows(
                    &format!(
                        "{FACE_SELECT} WHERE f.group_id IS NULL AND f.state != 0
                         ORDER BY f.quality DESC, f.id LIMIT $1 OFFSET $2"
                    ),
                    &[limit.into(), offset.into()],
                )?,
            };
            rows.iter().map(scanned_face).collect()
        })
    }

    /// The aligned crop of a scanned face, as PNG.
    ///
    /// # Errors
    /// [`GalleryError::NoSuchFace`], or a database error.
    pub fn thumbnail_png(&self, face: u64) -> Result<Vec<u8>, GalleryError> {
        let fid = face_rowid(face)?;
        self.read(|tx| {
            let rows = tx.rows(
                "SELECT thumbnail FROM library_faces WHERE id = $1",
                &[fid.into()],
            )?;
            one(&rows).ok_or(GalleryError::NoSuchFace(face))?.bytes()
        })
    }

    /// Names a group (or renames it). Its faces that are not low quality are enrolled in the
    /// gallery under `name` (faces enrolled earlier move to the new name); the group is locked.
    /// Returns how many faces the person now has from this group.
    ///
    /// # Errors
    /// An invalid name, [`GalleryError::NoSuchGroup`], [`GalleryError::PeopleConflict`] when
    /// another group has this name (merge them instead), or a database error; then nothing
    /// changed.
    pub fn name(&self, group: u64, name: &str) -> Result<usize, GalleryError> {
        let name = validate_name(name)?;
        let gid = group_rowid(group)?;
        self.write(|tx| {
            if !group_exists(tx, gid)? {
                return Err(GalleryError::NoSuchGroup(group));
            }
            let other = tx.rows(
                "SELECT id FROM library_groups WHERE name = $1 AND id != $2",
                &[name.as_str().into(), gid.into()],
            )?;
            if let Some(o) = one(&other) {
                return Err(GalleryError::PeopleConflict(format!(
                    "group {} is already called \"{name}\"; merge the two groups instead",
                    api_id(o.int()?)
                )));
            }
            tx.exec(
                "UPDATE library_groups SET name = $1, edited = 1 WHERE id = $2",
                &[name.as_str().into(), gid.into()],
            )?;
            sync_gallery(tx, gid)
        })
    }

    /// Moves every face of `from` into `into` and deletes `from`. The result is locked and keeps
    /// `into`'s name, or takes `from`'s when `into` has none.
    ///
    /// # Errors
    /// [`GalleryError::NoSuchGroup`]; [`GalleryError::PeopleConflict`] when both have a face in
    /// one photo or both are named differently; a database error. Then nothing changed.
    pub fn merge(&self, into: u64, from: u64) -> Result<(), GalleryError> {
        let (a, b) = (group_rowid(into)?, group_rowid(from)?);
        if a == b {
            return Err(GalleryError::PeopleConflict(format!(
                "cannot merge group {into} with itself"
            )));
        }
        self.write(|tx| {
            let name_a = group_name(tx, a)?.ok_or(GalleryError::NoSuchGroup(into))?;
            let name_b = group_name(tx, b)?.ok_or(GalleryError::NoSuchGroup(from))?;
            if let (Some(x), Some(y)) = (&name_a, &name_b)
                && x != y
            {
                return Err(GalleryError::PeopleConflict(format!(
                    "group {into} is \"{x}\" and group {from} is \"{y}\"; rename one first"
                )));
            }
            let shared = tx.rows(
                "SELECT p.path FROM library_faces f JOIN library_faces g ON g.photo_id = f.photo_id
                 JOIN library_photos p ON p.id = f.photo_id
                 WHERE f.group_id = $1 AND g.group_id = $2 LIMIT 1",
                &[a.into(), b.into()],
            )?;
            if let Some(p) = one(&shared) {
                return Err(GalleryError::PeopleConflict(format!(
                    "groups {into} and {from} both have a face in {}: one photo cannot show a person twice",
                    p.text()?
                )));
            }
            tx.exec(
                "UPDATE library_faces SET group_id = $1 WHERE group_id = $2",
                &[a.into(), b.into()],
            )?;
            // The name moves only after `from` is gone (names are unique).
            tx.exec("DELETE FROM library_groups WHERE id = $1", &[b.into()])?;
            tx.exec(
                "UPDATE library_groups SET edited = 1 WHERE id = $1",
                &[a.into()],
            )?;
            if let (None, Some(n)) = (&name_a, &name_b) {
                tx.exec(
                    "UPDATE library_groups SET name = $2 WHERE id = $1",
                    &[a.into(), n.as_str().into()],
                )?;
            }
            sync_gallery(tx, a).map(|_| ())
        })
    }

    /// Moves a face into a group (`Some`), or out of every group (`None`: it stays unsorted).
    /// The clusterer never moves it again; both groups are locked. A face leaving a named group
    /// leaves that person in the gallery too.
    ///
    /// # Errors
    /// [`GalleryError::NoSuchFace`], [`GalleryError::NoSuchGroup`],
    /// [`GalleryError::PeopleConflict`] when the group has a face of the same photo, or a
    /// database error; then nothing changed.
    pub fn move_face(&self, face: u64, group: Option<u64>) -> Result<(), GalleryError> {
        let fid = face_rowid(face)?;
        let target = group.map(group_rowid).transpose()?;
        self.write(|tx| {
            let rows = tx.rows(
                "SELECT photo_id, group_id, gallery_face_id FROM library_faces WHERE id = $1",
                &[fid.into()],
            )?;
            let r = rows.first().ok_or(GalleryError::NoSuchFace(face))?;
            let (photo, old, enrolled) = (r[0].int()?, r[1].opt_int()?, r[2].opt_int()?);
            if let Some(t) = target {
                if !group_exists(tx, t)? {
                    return Err(GalleryError::NoSuchGroup(api_id(t)));
                }
                let clash = tx.rows(
                    "SELECT id FROM library_faces WHERE group_id = $1 AND photo_id = $2 AND id != $3",
                    &[t.into(), photo.into(), fid.into()],
                )?;
                if let Some(other) = one(&clash) {
                    return Err(GalleryError::PeopleConflict(format!(
                        "group {} already has face {} of the same photo",
                        api_id(t),
                        api_id(other.int()?)
                    )));
                }
            }
            tx.exec(
                "UPDATE library_faces SET group_id = $1, state = $2 WHERE id = $3",
                &[target.into(), USER.into(), fid.into()],
            )?;
            if let Some(g) = enrolled
                && old != target
            {
                tx.unenrol(g)?;
                tx.exec(
                    "UPDATE library_faces SET gallery_face_id = NULL WHERE id = $1",
                    &[fid.into()],
                )?;
            }
            for g in [old, target].into_iter().flatten() {
                tx.exec(
                    "UPDATE library_groups SET edited = 1 WHERE id = $1",
                    &[g.into()],
                )?;
            }
            if let Some(o) = old {
                tx.exec(
                    "DELETE FROM library_groups WHERE id = $1
                       AND NOT EXISTS (SELECT 1 FROM library_faces WHERE group_id = $1)",
                    &[o.into()],
                )?;
            }
            if let Some(t) = target {
                sync_gallery(tx, t)?;
            }
            Ok(())
        })
    }

    /// Every scanned photo with a face like `embedding` (at or above the same-person threshold),
    /// its best face only, best first; at most `limit`.
    ///
    /// # Errors
    /// An invalid embedding, or a database error.
    pub fn find(&self, embedding: &[f32], limit: usize) -> Result<Vec<PhotoMatch>, GalleryError> {
        let query = validate_embedding(embedding)?;
        let mut best: HashMap<i64, PhotoMatch> = HashMap::new();
        self.read(|tx| {
            let rows = tx.rows(
                "SELECT f.id, f.photo_id, p.path, f.face_index, f.x1, f.y1, f.x2, f.y2, f.embedding
                 FROM library_faces f JOIN library_photos p ON p.id = f.photo_id",
                &[],
            )?;
            for r in &rows {
                let cos = cosine(&query, &embedding_of(&r[8])?);
                if !is_same_person(cos) {
                    continue;
                }
                let photo = r[1].int()?;
                if best.get(&photo).is_some_and(|m| m.cosine >= cos) {
                    continue;
                }
                best.insert(
                    photo,
                    PhotoMatch {
                        photo: r[2].text()?,
                        face: api_id(r[0].int()?),
                        face_index: u32::try_from(r[3].int()?).unwrap_or(0),
                        bbox: bbox(&r[4..8])?,
                        cosine: cos,
                        score: same_person_score(cos),
                    },
                );
            }
            Ok(())
        })?;
        let mut out: Vec<PhotoMatch> = best.into_values().collect();
        out.sort_by(|a, b| b.cosine.total_cmp(&a.cosine).then(a.photo.cmp(&b.photo)));
        out.truncate(limit);
        Ok(out)
    }
}

fn group_exists(tx: &mut dyn PeopleTx, gid: i64) -> Result<bool, GalleryError> {
    Ok(!tx
        .rows("SELECT id FROM library_groups WHERE id = $1", &[gid.into()])?
        .is_empty())
}

/// `None` when there is no such group, `Some(name)` otherwise.
fn group_name(tx: &mut dyn PeopleTx, gid: i64) -> Result<Option<Option<String>>, GalleryError> {
    let rows = tx.rows(
        "SELECT name FROM library_groups WHERE id = $1",
        &[gid.into()],
    )?;
    one(&rows).map(Val::opt_text).transpose()
}

/// Makes the gallery agree with a named group: its faces (not low quality) enrolled under its
/// name, enrolled faces moved to it. Returns how many gallery faces the group has. Nothing to
/// do for an unnamed group.
fn sync_gallery(tx: &mut dyn PeopleTx, gid: i64) -> Result<usize, GalleryError> {
    let Some(Some(name)) = group_name(tx, gid)? else {
        return Ok(0);
    };
    let faces = tx.rows(
        "SELECT f.id, f.gallery_face_id, p.path, f.embedding, f.thumbnail
         FROM library_faces f JOIN library_photos p ON p.id = f.photo_id
         WHERE f.group_id = $1 AND f.low_quality = 0 ORDER BY f.id",
        &[gid.into()],
    )?;
    for r in &faces {
        let (fid, enrolled) = (r[0].int()?, r[1].opt_int()?);
        if let Some(g) = enrolled
            && tx.move_enrolled(g, &name)?
        {
            continue;
        }
        // Never enrolled, or deleted from the gallery since: enrol it.
        let face = ValidFace {
            name: name.clone(),
            source: validate_source(&r[2].text()?)?,
            embedding: validate_embedding(&embedding_of(&r[3])?)?,
            thumbnail_png: r[4].bytes()?,
            detector_score: None,
        };
        let g = tx.enrol(&face)?;
        tx.exec(
            "UPDATE library_faces SET gallery_face_id = $1 WHERE id = $2",
            &[g.into(), fid.into()],
        )?;
    }
    Ok(faces.len())
}

/// A member of a group as the clusterer loads it: its photo and embedding.
type PhotoEmbedding = (u64, Vec<f32>);

/// One clustering run inside the caller's transaction.
fn cluster_in(tx: &mut dyn PeopleTx, params: &Params) -> Result<ClusterReport, GalleryError> {
    // Existing groups, from their members.
    let mut members: BTreeMap<i64, (bool, Vec<PhotoEmbedding>)> = BTreeMap::new();
    for r in tx.rows(
        "SELECT id, edited, name FROM library_groups ORDER BY id",
        &[],
    )? {
        let locked = r[1].int()? != 0 || r[2].opt_text()?.is_some();
        members.insert(r[0].int()?, (locked, Vec::new()));
    }
    for r in tx.rows(
        "SELECT group_id, photo_id, embedding FROM library_faces
         WHERE group_id IS NOT NULL ORDER BY id",
        &[],
    )? {
        if let Some(m) = members.get_mut(&r[0].int()?) {
            m.1.push((api_id(r[1].int()?), embedding_of(&r[2])?));
        }
    }
    let mut groups: Vec<Group> = members
        .iter()
        .map(|(&id, (locked, faces))| {
            Group::from_members(
                api_id(id),
                *locked,
                faces.iter().map(|(p, e)| (*p, e.as_slice())),
            )
        })
        .collect();
    let existing = groups.len();

    // New faces in a fixed order: photo path (as bytes, the same on every backend), then
    // position in the photo.
    let mut new_faces: Vec<(String, i64, i64, u64, bool, Vec<f32>)> = Vec::new();
    for r in tx.rows(
        "SELECT f.id, f.photo_id, f.low_quality, f.embedding, p.path, f.face_index
         FROM library_faces f JOIN library_photos p ON p.id = f.photo_id
         WHERE f.state = 0",
        &[],
    )? {
        new_faces.push((
            r[4].text()?,
            r[5].int()?,
            r[0].int()?,
            api_id(r[1].int()?),
            r[2].int()? != 0,
            embedding_of(&r[3])?,
        ));
    }
    new_faces.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut report = ClusterReport::default();
    let (low, usable): (Vec<_>, Vec<_>) = new_faces.iter().partition(|f| f.4);
    for f in &low {
        tx.exec(
            "UPDATE library_faces SET state = $1, group_id = NULL WHERE id = $2",
            &[PLACED.into(), f.2.into()],
        )?;
        report.unsorted += 1;
    }
    let candidates: Vec<Candidate<'_>> = usable
        .iter()
        .map(|f| Candidate {
            photo: f.3,
            embedding: &f.5,
        })
        .collect();
    let placed = cluster::assign(&mut groups, &candidates, params);
    let merges = cluster::merge(&mut groups, params);
    report.merges = merges.len();

    // Store ids for the groups this run opened and that survived.
    let mut ids: Vec<Option<i64>> = groups.iter().map(|g| g.id.and_then(rowid)).collect();
    for (i, g) in groups.iter().enumerate().skip(existing) {
        if g.merged_into.is_none() && g.count > 0 {
            let rows = tx.rows(
                "INSERT INTO library_groups (edited) VALUES (0) RETURNING id",
                &[],
            )?;
            ids[i] = one(&rows).map(Val::int).transpose()?;
            report.groups_opened += 1;
        }
    }
    let final_id = |i: usize| ids[cluster::resolve(&groups, i)];
    for (f, &g) in usable.iter().zip(&placed) {
        tx.exec(
            "UPDATE library_faces SET state = $1, group_id = $2 WHERE id = $3",
            &[PLACED.into(), final_id(g).into(), f.2.into()],
        )?;
        report.grouped += 1;
    }
    // Existing groups merged away: their faces follow, the group goes.
    for (i, g) in groups.iter().enumerate().take(existing) {
        if g.merged_into.is_some()
            && let Some(old) = ids[i]
        {
            tx.exec(
                "UPDATE library_faces SET group_id = $1 WHERE group_id = $2",
                &[final_id(i).into(), old.into()],
            )?;
            tx.exec("DELETE FROM library_groups WHERE id = $1", &[old.into()])?;
        }
    }
    // A locked group with a name that took new faces: enrol them too.
    for (i, g) in groups.iter().enumerate().take(existing) {
        if g.locked
            && g.touched
            && let Some(id) = ids[i]
        {
            sync_gallery(tx, id)?;
        }
    }
    Ok(report)
}
