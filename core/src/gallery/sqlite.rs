//! The embedded gallery: `gallery.db` (SQLite, WAL) in a folder, with the usearch index as a
//! cache kept up to date from the `changes` log.
//!
//! Schema (version 1, `PRAGMA user_version`):
//! - `meta(key, value)`: `embedding_model`, `legacy_json_migrated`;
//! - `persons(id, name UNIQUE, created_at)`;
//! - `faces(id AUTOINCREMENT, person_id, source, enrolled_at, detector_score, embedding BLOB)`:
//!   the embedding as 512 little-endian f32 (2048 bytes);
//! - `thumbnails(face_id, png)`: apart from `faces` so that scans of embeddings stay small;
//! - `changes(seq AUTOINCREMENT, face_id, op)`: op 1 = face added, 2 = face removed. Writers are
//!   serialised (`BEGIN IMMEDIATE`), so sequence numbers follow commit order and every handle,
//!   in any process, can bring its index up to date by reading the changes after its own `seq`.
//!
//!
//! Version 2 adds the people library (see [`crate::people`]): `library_photos`, `library_groups`
//! and `library_faces`, scanned faces that are not (yet) anyone's, in the same database so that
//! naming a group enrols its faces in the same transaction.
//!
//! Durability: `synchronous = FULL`, so a returned id survives a crash of the process or the
//! machine. Concurrency: a busy timeout of 30 s lets several processes write one folder.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::export::ImportedFace;
use super::index::VectorIndex;
use super::{
    EMBEDDING_MODEL_ID, ENTRY_SELECT, Entry, Hit, ValidFace, api_id, check_embedding_model,
    embedding_from_le_bytes, embedding_to_le_bytes, now_unix_s, rowid,
};
use crate::error::GalleryError;

/// The database file inside a gallery folder.
pub const DB_FILE: &str = "gallery.db";
/// Index additions applied together while catching up or rebuilding (bounds the memory held).
const CATCH_UP_BATCH: usize = 8192;

/// The saved index cache inside a gallery folder.
pub const INDEX_FILE: &str = "index.usearch";
const SCHEMA_VERSION: i64 = 2;
/// Below this many faces the index is rebuilt from the database at open rather than saved.
const SAVE_INDEX_MIN_FACES: usize = 5_000;
const OP_ADD: i64 = 1;
const OP_REMOVE: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS persons (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS faces (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    person_id INTEGER NOT NULL REFERENCES persons(id),
    source TEXT NOT NULL,
    enrolled_at INTEGER NOT NULL,
    detector_score REAL,
    embedding BLOB NOT NULL CHECK (length(embedding) = 2048)
);
CREATE INDEX IF NOT EXISTS faces_by_person ON faces(person_id);
CREATE TABLE IF NOT EXISTS thumbnails (
    face_id INTEGER PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
    png BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    face_id INTEGER NOT NULL,
    op INTEGER NOT NULL CHECK (op IN (1, 2))
);
";

/// The people library (schema version 2).
const PEOPLE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS library_photos (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL UNIQUE,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    scanned_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS library_groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT UNIQUE,
    edited INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS library_faces (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    photo_id INTEGER NOT NULL REFERENCES library_photos(id) ON DELETE CASCADE,
    face_index INTEGER NOT NULL,
    x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL,
    quality REAL NOT NULL,
    low_quality INTEGER NOT NULL,
    embedding BLOB NOT NULL CHECK (length(embedding) = 2048),
    thumbnail BLOB NOT NULL,
    group_id INTEGER REFERENCES library_groups(id),
    state INTEGER NOT NULL DEFAULT 0 CHECK (state IN (0, 1, 2)),
    gallery_face_id INTEGER,
    UNIQUE (photo_id, face_index)
);
CREATE INDEX IF NOT EXISTS library_faces_by_group ON library_faces(group_id);
CREATE INDEX IF NOT EXISTS library_faces_by_state ON library_faces(state);
";

struct Inner {
    conn: Connection,
    index: VectorIndex,
    /// `index.seq` when the index was loaded or last saved.
    saved_seq: i64,
}

/// The embedded SQLite store of one gallery folder.
pub struct SqliteStore {
    dir: PathBuf,
    db_path: PathBuf,
    inner: Mutex<Inner>,
}

impl SqliteStore {
    /// Opens or creates the gallery in `dir`, migrating a `gallery.json` folder on first open.
    ///
    /// # Errors
    /// The folder or database cannot be created or read, the database was made for another
    /// embedding model, or the migration failed (then nothing was changed).
    pub fn open(dir: &Path) -> Result<Self, GalleryError> {
        std::fs::create_dir_all(dir).map_err(|e| GalleryError::io(dir, e))?;
        Self::open_inner(dir).map_err(|e| match (e, folder_not_writable(dir)) {
            (GalleryError::Database { location, detail }, Some(why)) => GalleryError::Database {
                location,
                detail: format!(
                    "{detail}: the gallery folder is read-only or not writable ({why})"
                ),
            },
            (e, _) => e,
        })
    }

    fn open_inner(dir: &Path) -> Result<Self, GalleryError> {
        let db_path = dir.join(DB_FILE);
        let db_err = |e: rusqlite::Error| db_error(&db_path, &e);
        let mut conn = Connection::open(&db_path).map_err(db_err)?;
        conn.busy_timeout(Duration::from_secs(30)).map_err(db_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db_err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(db_err)?;
        migrate_schema(&mut conn).map_err(db_err)?;
        check_model(&conn, &db_path)?;
        let migrated = super::legacy::migrate_if_present(dir, &mut conn, &db_path)?;

        let index_path = dir.join(INDEX_FILE);
        super::index::sweep_stale_temporaries(dir, INDEX_FILE);
        let index = match VectorIndex::load(&index_path) {
            Some(ix) if ix.seq <= max_seq(&conn).map_err(db_err)? => ix,
            _ => rebuild_index(&mut conn, &db_path)?,
        };
        let saved_seq = index.seq;
        let store = Self {
            dir: dir.to_path_buf(),
            db_path,
            inner: Mutex::new(Inner {
                conn,
                index,
                saved_seq,
            }),
        };
        store.lock()?.catch_up(&store.db_path)?;
        if migrated {
            super::legacy::move_legacy_files_aside(dir);
        }
        Ok(store)
    }

    /// The gallery folder.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>, GalleryError> {
        self.inner.lock().map_err(|_| GalleryError::Database {
            location: self.db_path.display().to_string(),
            detail: "a thread panicked while using the gallery".into(),
        })
    }

    /// A write transaction (`BEGIN IMMEDIATE`: it waits, up to the busy timeout, for other
    /// writers, so change-log numbers follow commit order).
    fn write_tx<'c>(
        &self,
        conn: &'c mut Connection,
    ) -> Result<rusqlite::Transaction<'c>, GalleryError> {
        conn.transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.err())
    }

    /// Runs `f` on the connection (reads, or statements that need no transaction).
    pub(crate) fn read<R>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, GalleryError>,
    ) -> Result<R, GalleryError> {
        let g = self.lock()?;
        f(&g.conn)
    }

    /// Runs `f` in one write transaction, committed only if `f` succeeds; then brings the index
    /// up to date with whatever faces it added or removed.
    pub(crate) fn write<R>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<R, GalleryError>,
    ) -> Result<R, GalleryError> {
        let mut g = self.lock()?;
        let r = {
            let tx = self.write_tx(&mut g.conn)?;
            let r = f(&tx)?;
            tx.commit().map_err(self.err())?;
            r
        };
        g.follow_write(&self.db_path);
        Ok(r)
    }

    pub(crate) fn err(&self) -> impl Fn(rusqlite::Error) -> GalleryError + '_ {
        |e| db_error(&self.db_path, &e)
    }

    pub(crate) fn len(&self) -> Result<usize, GalleryError> {
        let g = self.lock()?;
        let n: i64 = g
            .conn
            .query_row("SELECT count(*) FROM faces", [], |r| r.get(0))
            .map_err(self.err())?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    pub(crate) fn entries_after(
        &self,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<Entry>, GalleryError> {
        let g = self.lock()?;
        let mut st = g
            .conn
            .prepare_cached(&format!(
                "{ENTRY_SELECT} WHERE f.id > ?1 ORDER BY f.id LIMIT ?2"
            ))
            .map_err(self.err())?;
        let rows = st
            .query_map([after_id, limit], entry_row)
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    pub(crate) fn entry(&self, id: u64) -> Result<Option<Entry>, GalleryError> {
        let Some(id) = rowid(id) else { return Ok(None) };
        let g = self.lock()?;
        g.conn
            .query_row(&format!("{ENTRY_SELECT} WHERE f.id = ?1"), [id], entry_row)
            .optional()
            .map_err(self.err())
    }

    pub(crate) fn thumbnail_png(&self, id: u64) -> Result<Option<Vec<u8>>, GalleryError> {
        let Some(id) = rowid(id) else { return Ok(None) };
        let g = self.lock()?;
        g.conn
            .query_row("SELECT png FROM thumbnails WHERE face_id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(self.err())
    }

    pub(crate) fn enrol(&self, face: &ValidFace) -> Result<u64, GalleryError> {
        self.write(|tx| insert_face(tx, face, now_unix_s()).map_err(self.err()))
            .map(api_id)
    }

    pub(crate) fn import(&self, faces: &[ImportedFace]) -> Result<(), GalleryError> {
        self.write(|tx| {
            for f in faces {
                insert_face(tx, &f.face, f.enrolled_at_unix_s).map_err(self.err())?;
            }
            Ok(())
        })
    }

    pub(crate) fn rename(&self, id: u64, name: &str) -> Result<(), GalleryError> {
        let rid = rowid(id).ok_or(GalleryError::NoSuchEntry(id))?;
        let mut g = self.lock()?;
        let tx = self.write_tx(&mut g.conn)?;
        if !reassign_face(&tx, rid, name).map_err(self.err())? {
            return Err(GalleryError::NoSuchEntry(id));
        }
        tx.commit().map_err(self.err())
    }

    pub(crate) fn delete(&self, id: u64) -> Result<(), GalleryError> {
        let rid = rowid(id).ok_or(GalleryError::NoSuchEntry(id))?;
        self.write(|tx| {
            if delete_face(tx, rid).map_err(self.err())? {
                Ok(())
            } else {
                Err(GalleryError::NoSuchEntry(id))
            }
        })
    }

    /// The `want` faces nearest `v` by exact cosine: the index proposes candidates, and each is
    /// re-ranked with the f32 embedding stored in its row.
    pub(crate) fn nearest(&self, v: &[f32], want: usize) -> Result<Vec<Hit>, GalleryError> {
        let mut g = self.lock()?;
        g.catch_up(&self.db_path)?;
        let found = g
            .index
            .candidates(v, want.max(super::index::RERANK_CANDIDATES))?;
        let mut st = g
            .conn
            .prepare_cached(
                "SELECT f.person_id, p.name, f.embedding FROM faces f
                 JOIN persons p ON p.id = f.person_id WHERE f.id = ?1",
            )
            .map_err(self.err())?;
        let mut hits = Vec::with_capacity(found.len());
        for face_id in found {
            let Some(rid) = rowid(face_id) else { continue };
            let row: Option<(i64, String, Vec<u8>)> = st
                .query_row([rid], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()
                .map_err(self.err())?;
            let Some((person_id, name, blob)) = row else {
                continue;
            };
            let stored = embedding_from_le_bytes(&blob).ok_or_else(|| GalleryError::Corrupt {
                path: self.db_path.clone(),
                detail: format!("face {face_id} has an embedding of {} bytes", blob.len()),
            })?;
            hits.push(Hit {
                face_id,
                person_id: api_id(person_id),
                name,
                cosine: crate::models::embedder::cosine(v, &stored),
            });
        }
        hits.sort_by(|a, b| b.cosine.total_cmp(&a.cosine));
        hits.truncate(want);
        Ok(hits)
    }
}

impl Inner {
    /// After a committed write: the write is durable, and the index follows. A failure here is
    /// only logged, and retried by the next search's catch-up.
    fn follow_write(&mut self, db_path: &Path) {
        if let Err(e) = self.catch_up(db_path) {
            tracing::warn!("gallery index update deferred: {e}");
        }
    }

    /// Applies every change committed after `index.seq`, in order.
    fn catch_up(&mut self, db_path: &Path) -> Result<(), GalleryError> {
        let err = |e: rusqlite::Error| db_error(db_path, &e);
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT c.seq, c.face_id, c.op, f.embedding FROM changes c
                 LEFT JOIN faces f ON f.id = c.face_id AND c.op = 1
                 WHERE c.seq > ?1 ORDER BY c.seq",
            )
            .map_err(err)?;
        let mut rows = st.query([self.index.seq]).map_err(err)?;
        // Consecutive additions go to the index together (on all cores when there are many);
        // a removal first applies the additions logged before it, so the log's order is kept.
        let mut adds: Vec<(u64, Vec<f32>)> = Vec::new();
        let mut last = self.index.seq;
        while let Some(r) = rows.next().map_err(err)? {
            let seq: i64 = r.get(0).map_err(err)?;
            let face_id = api_id(r.get(1).map_err(err)?);
            let op: i64 = r.get(2).map_err(err)?;
            let blob: Option<Vec<u8>> = r.get(3).map_err(err)?;
            match (op, blob) {
                (OP_ADD, Some(b)) => {
                    let v = embedding_from_le_bytes(&b).ok_or_else(|| GalleryError::Corrupt {
                        path: db_path.to_path_buf(),
                        detail: format!("face {face_id} has an embedding of {} bytes", b.len()),
                    })?;
                    adds.push((face_id, v));
                }
                // Added, then removed before we saw it: the removal follows in the log.
                (OP_ADD, None) => {}
                _ => {
                    apply(&mut self.index, &mut adds, last)?;
                    self.index.remove(face_id)?;
                }
            }
            last = seq;
            if adds.len() >= CATCH_UP_BATCH {
                apply(&mut self.index, &mut adds, last)?;
            }
        }
        apply(&mut self.index, &mut adds, last)
    }
}

/// Adds `adds` to `index`, which then reflects the change log up to `seq`.
fn apply(
    index: &mut VectorIndex,
    adds: &mut Vec<(u64, Vec<f32>)>,
    seq: i64,
) -> Result<(), GalleryError> {
    index.upsert_many(adds)?;
    adds.clear();
    index.seq = seq;
    Ok(())
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        let Ok(g) = self.inner.get_mut() else { return };
        if g.index.seq != g.saved_seq
            && g.index.len() >= SAVE_INDEX_MIN_FACES
            && let Err(e) = g.index.save(&self.dir.join(INDEX_FILE))
        {
            tracing::warn!("could not save the gallery index cache: {e}");
        }
    }
}

fn entry_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
    let blob: Vec<u8> = r.get(4)?;
    let embedding = embedding_from_le_bytes(&blob).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            4,
            rusqlite::types::Type::Blob,
            format!("embedding of {} bytes", blob.len()).into(),
        )
    })?;
    let enrolled: i64 = r.get(3)?;
    let score: Option<f64> = r.get(6)?;
    Ok(Entry {
        id: api_id(r.get(0)?),
        name: r.get(1)?,
        source: r.get(2)?,
        enrolled_at_unix_s: api_id(enrolled),
        embedding,
        person_id: api_id(r.get(5)?),
        detector_score: score.map(|s| s as f32),
    })
}

/// Why nothing can be written in `dir`, if so (SQLite only says "unable to open database file").
fn folder_not_writable(dir: &Path) -> Option<String> {
    tempfile::tempfile_in(dir).err().map(|e| e.to_string())
}

fn db_error(path: &Path, e: &rusqlite::Error) -> GalleryError {
    GalleryError::Database {
        location: path.display().to_string(),
        detail: e.to_string(),
    }
}

fn migrate_schema(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version < 1 {
        tx.execute_batch(SCHEMA)?;
        tx.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('embedding_model', ?1)",
            [EMBEDDING_MODEL_ID],
        )?;
    }
    if version < 2 {
        tx.execute_batch(PEOPLE_SCHEMA)?;
    }
    if version < SCHEMA_VERSION {
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    tx.commit()
}

fn check_model(conn: &Connection, db_path: &Path) -> Result<(), GalleryError> {
    let model: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'embedding_model'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| db_error(db_path, &e))?;
    check_embedding_model(model.as_deref(), db_path)
}

fn max_seq(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT coalesce(max(seq), 0) FROM changes", [], |r| {
        r.get(0)
    })
}

/// Builds the index from every face, at the change-log position of the same snapshot.
fn rebuild_index(conn: &mut Connection, db_path: &Path) -> Result<VectorIndex, GalleryError> {
    let err = |e: rusqlite::Error| db_error(db_path, &e);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Deferred)
        .map_err(err)?;
    let seq = max_seq(&tx).map_err(err)?;
    let n: i64 = tx
        .query_row("SELECT count(*) FROM faces", [], |r| r.get(0))
        .map_err(err)?;
    let mut index = VectorIndex::empty(usize::try_from(n).unwrap_or(0), seq)?;
    {
        let mut st = tx.prepare("SELECT id, embedding FROM faces").map_err(err)?;
        let mut rows = st.query([]).map_err(err)?;
        let mut batch = Vec::with_capacity(CATCH_UP_BATCH);
        while let Some(r) = rows.next().map_err(err)? {
            let id: i64 = r.get(0).map_err(err)?;
            let blob: Vec<u8> = r.get(1).map_err(err)?;
            if let Some(v) = embedding_from_le_bytes(&blob) {
                batch.push((api_id(id), v));
            }
            if batch.len() == CATCH_UP_BATCH {
                index.upsert_many(&batch)?;
                batch.clear();
            }
        }
        index.upsert_many(&batch)?;
    }
    tx.commit().map_err(err)?;
    Ok(index)
}

/// Inserts one face with its thumbnail and its change-log row; returns its id.
pub(crate) fn insert_face(
    tx: &Connection,
    face: &ValidFace,
    enrolled_at_unix_s: u64,
) -> rusqlite::Result<i64> {
    let person = person_id_for(tx, &face.name)?;
    tx.execute(
        "INSERT INTO faces (person_id, source, enrolled_at, detector_score, embedding)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            person,
            face.source,
            i64::try_from(enrolled_at_unix_s).unwrap_or(i64::MAX),
            face.detector_score.map(f64::from),
            embedding_to_le_bytes(&face.embedding),
        ],
    )?;
    let id = tx.last_insert_rowid();
    tx.execute(
        "INSERT INTO thumbnails (face_id, png) VALUES (?1, ?2)",
        params![id, face.thumbnail_png],
    )?;
    tx.execute(
        "INSERT INTO changes (face_id, op) VALUES (?1, ?2)",
        params![id, OP_ADD],
    )?;
    Ok(id)
}

/// Deletes a face (its thumbnail goes with it, ON DELETE CASCADE) and logs the removal.
pub(crate) fn remove_face(tx: &Connection, rid: i64) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM faces WHERE id = ?1", [rid])?;
    tx.execute(
        "INSERT INTO changes (face_id, op) VALUES (?1, ?2)",
        params![rid, OP_REMOVE],
    )?;
    Ok(())
}

/// The person a face belongs to, or `None` when there is no such face.
fn person_of(tx: &Connection, rid: i64) -> rusqlite::Result<Option<i64>> {
    tx.query_row("SELECT person_id FROM faces WHERE id = ?1", [rid], |r| {
        r.get(0)
    })
    .optional()
}

/// Deletes a face, and its person when it was their last; `false` when there is no such face.
pub(crate) fn delete_face(tx: &Connection, rid: i64) -> rusqlite::Result<bool> {
    let Some(person) = person_of(tx, rid)? else {
        return Ok(false);
    };
    remove_face(tx, rid)?;
    drop_person_if_empty(tx, person)?;
    Ok(true)
}

/// Gives a face to the person called `name` (created if needed; the old person goes when this
/// was their last face); `false` when there is no such face.
pub(crate) fn reassign_face(tx: &Connection, rid: i64, name: &str) -> rusqlite::Result<bool> {
    let Some(old) = person_of(tx, rid)? else {
        return Ok(false);
    };
    let new = person_id_for(tx, name)?;
    if new != old {
        tx.execute(
            "UPDATE faces SET person_id = ?1 WHERE id = ?2",
            params![new, rid],
        )?;
        drop_person_if_empty(tx, old)?;
    }
    Ok(true)
}

/// The id of the person called `name`, created if there is none.
pub(crate) fn person_id_for(tx: &Connection, name: &str) -> rusqlite::Result<i64> {
    if let Some(id) = tx
        .query_row("SELECT id FROM persons WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()?
    {
        return Ok(id);
    }
    tx.execute(
        "INSERT INTO persons (name, created_at) VALUES (?1, ?2)",
        params![name, i64::try_from(now_unix_s()).unwrap_or(i64::MAX)],
    )?;
    Ok(tx.last_insert_rowid())
}

pub(crate) fn drop_person_if_empty(tx: &Connection, person: i64) -> rusqlite::Result<()> {
    tx.execute(
        "DELETE FROM persons WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM faces WHERE person_id = ?1)",
        [person],
    )?;
    Ok(())
}
