//! Migration of the first gallery format (`gallery.json` + `thumbs/ID.png` + `index.usearch`) into
//! the SQLite store, in one transaction. Ids are kept, and so is the next id (ids are never
//! reused). After the commit the old files move to `backup-json/`; if the process dies before
//! that, the `legacy_json_migrated` marker stops a second import.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Deserialize;

use super::{embedding_to_le_bytes, sanitise_legacy_text, validate_embedding, validate_name};
use crate::error::GalleryError;

const JSON: &str = "gallery.json";
const THUMBS: &str = "thumbs";
const OLD_INDEX: &str = "index.usearch";
/// Where the migrated files are kept.
pub const BACKUP_DIR: &str = "backup-json";

#[derive(Deserialize)]
struct OldEntry {
    id: u64,
    name: String,
    source: String,
    enrolled_at_unix_s: u64,
    embedding: Vec<f32>,
}

#[derive(Deserialize)]
struct OldMeta {
    #[serde(default)]
    next_id: u64,
    entries: Vec<OldEntry>,
}

/// Imports `gallery.json` when present and not yet imported. Returns whether it imported.
pub(crate) fn migrate_if_present(
    dir: &Path,
    conn: &mut Connection,
    db_path: &Path,
) -> Result<bool, GalleryError> {
    let json_path = dir.join(JSON);
    let bytes = match std::fs::read(&json_path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(GalleryError::io(&json_path, e)),
    };
    let db_err = |e: rusqlite::Error| GalleryError::Database {
        location: db_path.display().to_string(),
        detail: e.to_string(),
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db_err)?;
    let done: Option<String> = tx
        .query_row(
            "SELECT value FROM meta WHERE key = 'legacy_json_migrated'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(db_err)?;
    if done.is_some() {
        return Ok(true);
    }
    let meta: OldMeta = serde_json::from_slice(&bytes).map_err(|e| GalleryError::Corrupt {
        path: json_path.clone(),
        detail: e.to_string(),
    })?;
    let (mut kept, mut skipped) = (0usize, 0usize);
    let mut max_id = 0u64;
    for e in &meta.entries {
        max_id = max_id.max(e.id);
        let (Ok(embedding), Some(id)) = (
            validate_embedding(&e.embedding),
            i64::try_from(e.id).ok().filter(|&i| i > 0),
        ) else {
            skipped += 1;
            continue;
        };
        let name = validate_name(&sanitise_legacy_text(&e.name))
            .unwrap_or_else(|_| format!("person {}", e.id));
        let thumb = std::fs::read(dir.join(THUMBS).join(format!("{}.png", e.id)))
            .ok()
            .filter(|b| image::guess_format(b).ok() == Some(image::ImageFormat::Png))
            .unwrap_or_else(placeholder_png);
        let person = super::sqlite::person_id_for(&tx, &name).map_err(db_err)?;
        tx.execute(
            "INSERT INTO faces (id, person_id, source, enrolled_at, embedding) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                id,
                person,
                sanitise_legacy_text(&e.source),
                i64::try_from(e.enrolled_at_unix_s).unwrap_or(0),
                embedding_to_le_bytes(&embedding)
            ],
        )
        .map_err(db_err)?;
        tx.execute(
            "INSERT INTO thumbnails (face_id, png) VALUES (?1, ?2)",
            params![id, thumb],
        )
        .map_err(db_err)?;
        tx.execute("INSERT INTO changes (face_id, op) VALUES (?1, 1)", [id])
            .map_err(db_err)?;
        kept += 1;
    }
    // Ids are never reused: the next face id continues after the old gallery's.
    let last = i64::try_from(meta.next_id.saturating_sub(1).max(max_id)).unwrap_or(i64::MAX);
    tx.execute(
        "INSERT INTO sqlite_sequence (name, seq) SELECT 'faces', 0
         WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'faces')",
        [],
    )
    .map_err(db_err)?;
    tx.execute(
        "UPDATE sqlite_sequence SET seq = max(seq, ?1) WHERE name = 'faces'",
        [last],
    )
    .map_err(db_err)?;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('legacy_json_migrated', ?1)",
        [format!("{kept} faces imported, {skipped} skipped")],
    )
    .map_err(db_err)?;
    tx.commit().map_err(db_err)?;
    tracing::info!(
        "migrated {} to {}: {kept} faces imported, {skipped} skipped (bad embedding or id)",
        json_path.display(),
        db_path.display()
    );
    Ok(true)
}

/// Moves the migrated files into `backup-json/` (best effort: they are no longer read).
pub(crate) fn move_legacy_files_aside(dir: &Path) {
    let backup = dir.join(BACKUP_DIR);
    if let Err(e) = std::fs::create_dir_all(&backup) {
        tracing::warn!("could not create {}: {e}", backup.display());
        return;
    }
    for name in [JSON, THUMBS, OLD_INDEX] {
        let from = dir.join(name);
        if from.exists()
            && let Err(e) = std::fs::rename(&from, backup.join(name))
        {
            tracing::warn!("could not move {} aside: {e}", from.display());
        }
    }
}

fn placeholder_png() -> Vec<u8> {
    let img = image::RgbImage::from_pixel(112, 112, image::Rgb([128, 128, 128]));
    let mut png = std::io::Cursor::new(Vec::new());
    // Encoding a small in-memory image cannot fail; an empty thumbnail is the fallback.
    let _ = img.write_to(&mut png, image::ImageFormat::Png);
    png.into_inner()
}
