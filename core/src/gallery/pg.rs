//! The Postgres gallery: pgvector `vector(512)` with an HNSW cosine index, shared by any number
//! of processes (server replicas, CLIs). Searches run in the database, so there is no local
//! index to keep in step.
//!
//! Schema migrations are numbered ([`MIGRATIONS`]), recorded in `facelens_schema_migrations`, and
//! run at open inside a transaction holding an advisory lock, so replicas starting together
//! apply each migration exactly once. A connection that dropped is re-established on next use.

use std::sync::{Mutex, MutexGuard};

use pgvector::Vector;
use postgres::{Client, NoTls};

use super::export::ImportedFace;
use super::{
    EMBEDDING_MODEL_ID, ENTRY_SELECT, Entry, Hit, ValidFace, api_id, check_embedding_model,
    now_unix_s, redact_url, rowid,
};
use crate::error::GalleryError;

/// HNSW candidate list size for searches (`hnsw.ef_search`; pgvector's default is 40). Larger
/// finds more of the true neighbours at some cost in time.
pub const EF_SEARCH: u32 = 200;

/// An arbitrary, fixed key for `pg_advisory_xact_lock` while migrating.
const MIGRATION_LOCK_KEY: i64 = 0x0066_6163_656c_656e; // "facelen"

/// The schema, one step per version; never edit a step that has shipped, add one.
pub const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        "CREATE EXTENSION IF NOT EXISTS vector;
     CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE persons (
         id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
         name TEXT NOT NULL UNIQUE,
         created_at BIGINT NOT NULL
     );
     CREATE TABLE faces (
         id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
         person_id BIGINT NOT NULL REFERENCES persons(id),
         source TEXT NOT NULL,
         enrolled_at BIGINT NOT NULL,
         detector_score REAL,
         embedding vector(512) NOT NULL
     );
     CREATE INDEX faces_by_person ON faces(person_id);
     CREATE INDEX faces_embedding_hnsw ON faces USING hnsw (embedding vector_cosine_ops);
     CREATE TABLE thumbnails (
         face_id BIGINT PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
         png BYTEA NOT NULL
     );",
    ),
    (
        2,
        // The people library (see `crate::people`); the same columns as the embedded store's.
        "CREATE TABLE library_photos (
         id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
         path TEXT NOT NULL UNIQUE,
         width BIGINT NOT NULL,
         height BIGINT NOT NULL,
         scanned_at BIGINT NOT NULL
     );
     CREATE TABLE library_groups (
         id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
         name TEXT UNIQUE,
         edited BIGINT NOT NULL DEFAULT 0
     );
     CREATE TABLE library_faces (
         id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
         photo_id BIGINT NOT NULL REFERENCES library_photos(id) ON DELETE CASCADE,
         face_index BIGINT NOT NULL,
         x1 DOUBLE PRECISION NOT NULL, y1 DOUBLE PRECISION NOT NULL,
         x2 DOUBLE PRECISION NOT NULL, y2 DOUBLE PRECISION NOT NULL,
         quality DOUBLE PRECISION NOT NULL,
         low_quality BIGINT NOT NULL,
         embedding BYTEA NOT NULL CHECK (length(embedding) = 2048),
         thumbnail BYTEA NOT NULL,
         group_id BIGINT REFERENCES library_groups(id),
         state BIGINT NOT NULL DEFAULT 0 CHECK (state IN (0, 1, 2)),
         gallery_face_id BIGINT,
         UNIQUE (photo_id, face_index)
     );
     CREATE INDEX library_faces_by_group ON library_faces(group_id);
     CREATE INDEX library_faces_by_state ON library_faces(state);",
    ),
];

/// A gallery in a Postgres database.
pub struct PgStore {
    url: String,
    location: String,
    client: Mutex<Client>,
}

impl PgStore {
    /// Connects and brings the schema up to date.
    ///
    /// # Errors
    /// An unreachable server, missing pgvector, a failed migration, or a database made for
    /// another embedding model.
    pub fn open(url: &str) -> Result<Self, GalleryError> {
        let location = redact_url(url);
        let err = |e: postgres::Error| GalleryError::Database {
            location: location.clone(),
            detail: describe(&e),
        };
        let mut client = connect(url).map_err(err)?;
        migrate(&mut client).map_err(err)?;
        let model: Option<String> = client
            .query_opt("SELECT value FROM meta WHERE key = 'embedding_model'", &[])
            .map_err(err)?
            .map(|r| r.get(0));
        check_embedding_model(model.as_deref(), location.clone())?;
        if model.is_none() {
            client
                .execute(
                    "INSERT INTO meta (key, value) VALUES ('embedding_model', $1)
                     ON CONFLICT (key) DO NOTHING",
                    &[&EMBEDDING_MODEL_ID],
                )
                .map_err(err)?;
        }
        Ok(Self {
            url: url.to_owned(),
            location,
            client: Mutex::new(client),
        })
    }

    /// The URL with its password redacted.
    #[must_use]
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Runs `f` in one transaction, committed only if `f` succeeds.
    pub(crate) fn transaction<R>(
        &self,
        f: impl FnOnce(&mut postgres::Transaction<'_>) -> Result<R, GalleryError>,
    ) -> Result<R, GalleryError> {
        let mut c = self.client()?;
        let mut tx = c.transaction().map_err(self.err())?;
        let r = f(&mut tx)?;
        tx.commit().map_err(self.err())?;
        Ok(r)
    }

    pub(crate) fn err(&self) -> impl Fn(postgres::Error) -> GalleryError + '_ {
        |e| GalleryError::Database {
            location: self.location.clone(),
            detail: describe(&e),
        }
    }

    /// The client, reconnected first if the connection was lost.
    fn client(&self) -> Result<MutexGuard<'_, Client>, GalleryError> {
        let mut g = self.client.lock().map_err(|_| GalleryError::Database {
            location: self.location.clone(),
            detail: "a thread panicked while using the gallery".into(),
        })?;
        if g.is_closed() {
            *g = connect(&self.url).map_err(self.err())?;
        }
        Ok(g)
    }

    pub(crate) fn len(&self) -> Result<usize, GalleryError> {
        let n: i64 = self
            .client()?
            .query_one("SELECT count(*) FROM faces", &[])
            .map_err(self.err())?
            .get(0);
        Ok(usize::try_from(n).unwrap_or(0))
    }

    pub(crate) fn entries_after(
        &self,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<Entry>, GalleryError> {
        let rows = self
            .client()?
            .query(
                &format!("{ENTRY_SELECT} WHERE f.id > $1 ORDER BY f.id LIMIT $2"),
                &[&after_id, &limit],
            )
            .map_err(self.err())?;
        Ok(rows.iter().map(entry_row).collect())
    }

    pub(crate) fn entry(&self, id: u64) -> Result<Option<Entry>, GalleryError> {
        let Some(id) = rowid(id) else { return Ok(None) };
        Ok(self
            .client()?
            .query_opt(&format!("{ENTRY_SELECT} WHERE f.id = $1"), &[&id])
            .map_err(self.err())?
            .as_ref()
            .map(entry_row))
    }

    pub(crate) fn thumbnail_png(&self, id: u64) -> Result<Option<Vec<u8>>, GalleryError> {
        let Some(id) = rowid(id) else { return Ok(None) };
        Ok(self
            .client()?
            .query_opt("SELECT png FROM thumbnails WHERE face_id = $1", &[&id])
            .map_err(self.err())?
            .map(|r| r.get(0)))
    }

    pub(crate) fn enrol(&self, face: &ValidFace) -> Result<u64, GalleryError> {
        self.transaction(|tx| insert_face(tx, face, now_unix_s()).map_err(self.err()))
            .map(api_id)
    }

    pub(crate) fn import(&self, faces: &[ImportedFace]) -> Result<(), GalleryError> {
        self.transaction(|tx| {
            for f in faces {
                insert_face(tx, &f.face, f.enrolled_at_unix_s).map_err(self.err())?;
            }
            Ok(())
        })
    }

    pub(crate) fn rename(&self, id: u64, name: &str) -> Result<(), GalleryError> {
        let rid = rowid(id).ok_or(GalleryError::NoSuchEntry(id))?;
        self.transaction(|tx| {
            if reassign_face(tx, rid, name).map_err(self.err())? {
                Ok(())
            } else {
                Err(GalleryError::NoSuchEntry(id))
            }
        })
    }

    pub(crate) fn delete(&self, id: u64) -> Result<(), GalleryError> {
        let rid = rowid(id).ok_or(GalleryError::NoSuchEntry(id))?;
        self.transaction(|tx| {
            if delete_face(tx, rid).map_err(self.err())? {
                Ok(())
            } else {
                Err(GalleryError::NoSuchEntry(id))
            }
        })
    }

    pub(crate) fn nearest(&self, v: &[f32], want: usize) -> Result<Vec<Hit>, GalleryError> {
        let limit = i64::try_from(want).unwrap_or(i64::MAX);
        let rows = self
            .client()?
            .query(
                "SELECT f.id, f.person_id, p.name, f.d FROM (
                     SELECT id, person_id, (embedding <=> $1)::float8 AS d FROM faces
                     ORDER BY embedding <=> $1 LIMIT $2
                 ) f JOIN persons p ON p.id = f.person_id ORDER BY f.d, f.id",
                &[&Vector::from(v.to_vec()), &limit],
            )
            .map_err(self.err())?;
        Ok(rows
            .iter()
            .map(|r| Hit {
                face_id: api_id(r.get(0)),
                person_id: api_id(r.get(1)),
                name: r.get(2),
                cosine: (1.0 - r.get::<_, f64>(3)) as f32,
            })
            .collect())
    }
}

fn entry_row(r: &postgres::Row) -> Entry {
    let embedding: Vector = r.get(4);
    Entry {
        id: api_id(r.get(0)),
        name: r.get(1),
        source: r.get(2),
        enrolled_at_unix_s: api_id(r.get(3)),
        embedding: embedding.to_vec(),
        person_id: api_id(r.get(5)),
        detector_score: r.get(6),
    }
}

fn connect(url: &str) -> Result<Client, postgres::Error> {
    let mut client = Client::connect(url, NoTls)?;
    client.batch_execute(&format!("SET hnsw.ef_search = {EF_SEARCH}"))?;
    Ok(client)
}

/// The server's own message when there is one (it names the missing extension, the full disk…).
fn describe(e: &postgres::Error) -> String {
    if let Some(d) = e.as_db_error() {
        return format!("{}: {}", d.code().code(), d.message());
    }
    // "error connecting to server" alone does not say why; the cause does.
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

fn migrate(client: &mut Client) -> Result<(), postgres::Error> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK_KEY])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS facelens_schema_migrations (
             version INT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )?;
    let done: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM facelens_schema_migrations",
            &[],
        )?
        .get(0);
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > done) {
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO facelens_schema_migrations (version) VALUES ($1)",
            &[version],
        )?;
        tracing::info!("gallery database migrated to schema version {version}");
    }
    tx.commit()
}

pub(crate) fn insert_face(
    tx: &mut postgres::Transaction<'_>,
    face: &ValidFace,
    enrolled_at_unix_s: u64,
) -> Result<i64, postgres::Error> {
    let person = person_id_for(tx, &face.name)?;
    let enrolled = i64::try_from(enrolled_at_unix_s).unwrap_or(i64::MAX);
    let id: i64 = tx
        .query_one(
            "INSERT INTO faces (person_id, source, enrolled_at, detector_score, embedding)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
            &[
                &person,
                &face.source,
                &enrolled,
                &face.detector_score,
                &Vector::from(face.embedding.clone()),
            ],
        )?
        .get(0);
    tx.execute(
        "INSERT INTO thumbnails (face_id, png) VALUES ($1, $2)",
        &[&id, &face.thumbnail_png],
    )?;
    Ok(id)
}

pub(crate) fn person_id_for(
    tx: &mut postgres::Transaction<'_>,
    name: &str,
) -> Result<i64, postgres::Error> {
    let created = i64::try_from(now_unix_s()).unwrap_or(i64::MAX);
    // Insert-or-select in one statement, safe against a concurrent insert of the same name.
    let row = tx.query_opt(
        "WITH ins AS (
             INSERT INTO persons (name, created_at) VALUES ($1, $2)
             ON CONFLICT (name) DO NOTHING RETURNING id)
         SELECT id FROM ins UNION ALL SELECT id FROM persons WHERE name = $1 LIMIT 1",
        &[&name, &created],
    )?;
    match row {
        Some(r) => Ok(r.get(0)),
        // Another transaction inserted the name after this statement's snapshot was taken: a
        // new statement sees it.
        None => Ok(tx
            .query_one("SELECT id FROM persons WHERE name = $1", &[&name])?
            .get(0)),
    }
}

/// Deletes a face, and its person when it was their last; `false` when there is no such face.
pub(crate) fn delete_face(
    tx: &mut postgres::Transaction<'_>,
    rid: i64,
) -> Result<bool, postgres::Error> {
    let Some(person) = tx.query_opt(
        "DELETE FROM faces WHERE id = $1 RETURNING person_id",
        &[&rid],
    )?
    else {
        return Ok(false);
    };
    drop_person_if_empty(tx, person.get(0))?;
    Ok(true)
}

/// Gives a face to the person called `name` (created if needed; the old person goes when this
/// was their last face); `false` when there is no such face.
pub(crate) fn reassign_face(
    tx: &mut postgres::Transaction<'_>,
    rid: i64,
    name: &str,
) -> Result<bool, postgres::Error> {
    let Some(old) = tx.query_opt(
        "SELECT person_id FROM faces WHERE id = $1 FOR UPDATE",
        &[&rid],
    )?
    else {
        return Ok(false);
    };
    let old: i64 = old.get(0);
    let new = person_id_for(tx, name)?;
    if new != old {
        tx.execute(
            "UPDATE faces SET person_id = $1 WHERE id = $2",
            &[&new, &rid],
        )?;
        drop_person_if_empty(tx, old)?;
    }
    Ok(true)
}

pub(crate) fn drop_person_if_empty(
    tx: &mut postgres::Transaction<'_>,
    person: i64,
) -> Result<(), postgres::Error> {
    tx.execute(
        "DELETE FROM persons WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM faces WHERE person_id = $1)",
        &[&person],
    )?;
    Ok(())
}
