//! A portable gallery file, to move a gallery between backends or machines: JSON Lines, a header
//! line, then one face per line.
//!
//! ```text
//! {"format":"facelens-gallery","version":1,"embedding_model":"fr_feature@…","faces":N}
//! {"name":"Ann","source":"a.jpg","enrolled_at_unix_s":…,"detector_score":0.99,
//!  "embedding_f32le":"<base64 of 2048 bytes>","thumbnail_png":"<base64>"}
//! ```
//!
//! Import reads and checks the whole file first (format, version, embedding model, every face's
//! name, embedding and thumbnail), then writes every face in one transaction: it lands whole or
//! not at all. Face ids are not carried over (each store hands out its own); names join existing
//! persons of the same name.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use super::{
    EMBEDDING_MODEL_ID, Gallery, ValidFace, check_detector_score, check_thumbnail_size,
    embedding_from_le_bytes, embedding_to_le_bytes, validate_embedding, validate_name,
    validate_source,
};
use crate::error::GalleryError;

/// The `format` value of an export header.
pub const FORMAT: &str = "facelens-gallery";
/// The current export version.
pub const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
    embedding_model: String,
    faces: usize,
}

#[derive(Serialize, Deserialize)]
struct Face {
    name: String,
    source: String,
    enrolled_at_unix_s: u64,
    #[serde(default)]
    detector_score: Option<f32>,
    embedding_f32le: String,
    thumbnail_png: String,
}

/// A face read from an export, checked and ready to store.
pub(crate) struct ImportedFace {
    pub face: ValidFace,
    pub enrolled_at_unix_s: u64,
}

impl Gallery {
    /// Writes every face to `path` (a temporary file, renamed when complete). Returns the count.
    ///
    /// # Errors
    /// A database or I/O error; then no file is left at `path`.
    pub fn export(&self, path: &Path) -> Result<usize, GalleryError> {
        let entries = self.entries()?;
        let io = |e: std::io::Error| GalleryError::io(path, e);
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
        let tmp =
            tempfile::NamedTempFile::new_in(dir.unwrap_or_else(|| Path::new("."))).map_err(io)?;
        {
            let mut w = BufWriter::new(tmp.as_file());
            let header = Header {
                format: FORMAT.into(),
                version: VERSION,
                embedding_model: EMBEDDING_MODEL_ID.into(),
                faces: entries.len(),
            };
            serde_json::to_writer(&mut w, &header).map_err(|e| io(e.into()))?;
            w.write_all(b"\n").map_err(io)?;
            for e in &entries {
                let face = Face {
                    name: e.name.clone(),
                    source: e.source.clone(),
                    enrolled_at_unix_s: e.enrolled_at_unix_s,
                    detector_score: e.detector_score,
                    embedding_f32le: STANDARD.encode(embedding_to_le_bytes(&e.embedding)),
                    thumbnail_png: STANDARD.encode(self.thumbnail_png(e.id)?),
                };
                serde_json::to_writer(&mut w, &face).map_err(|e| io(e.into()))?;
                w.write_all(b"\n").map_err(io)?;
            }
            w.flush().map_err(io)?;
        }
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(path).map_err(|e| io(e.error))?;
        Ok(entries.len())
    }

    /// Adds every face of an export file, all or nothing. Returns the count.
    ///
    /// # Errors
    /// [`GalleryError::BadExport`] for a file that is not an export, another version or
    /// embedding model, or any invalid face (then nothing was written); database errors.
    pub fn import(&self, path: &Path) -> Result<usize, GalleryError> {
        let faces = read_export(path)?;
        match self {
            Self::Sqlite(s) => s.import(&faces),
            Self::Postgres(p) => p.import(&faces),
        }?;
        Ok(faces.len())
    }
}

fn read_export(path: &Path) -> Result<Vec<ImportedFace>, GalleryError> {
    let bad = |detail: String| GalleryError::BadExport {
        path: path.to_path_buf(),
        detail,
    };
    let file = std::fs::File::open(path).map_err(|e| GalleryError::io(path, e))?;
    let mut lines = BufReader::new(file).lines();
    let first = lines
        .next()
        .ok_or_else(|| bad("the file is empty".into()))?
        .map_err(|e| bad(format!("not a text file: {e}")))?;
    let header: Header = serde_json::from_str(&first)
        .map_err(|_| bad("not a facelens gallery export (no header line)".into()))?;
    if header.format != FORMAT {
        return Err(bad(format!(
            "format is {:?}, not {FORMAT:?}",
            header.format
        )));
    }
    if header.version != VERSION {
        return Err(bad(format!(
            "export version {} (this facelens reads version {VERSION})",
            header.version
        )));
    }
    if header.embedding_model != EMBEDDING_MODEL_ID {
        return Err(bad(format!(
            "its embeddings come from model {}; this facelens uses {EMBEDDING_MODEL_ID}, and \
             embeddings of different models cannot be compared",
            header.embedding_model
        )));
    }
    let mut faces = Vec::with_capacity(header.faces.min(1 << 20));
    for (i, line) in lines.enumerate() {
        let n = i + 2;
        let line = line.map_err(|e| bad(format!("line {n}: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let f: Face = serde_json::from_str(&line).map_err(|e| bad(format!("line {n}: {e}")))?;
        faces.push(check_face(f).map_err(|e| bad(format!("line {n}: {e}")))?);
    }
    if faces.len() != header.faces {
        return Err(bad(format!(
            "the header announces {} faces, the file holds {} (truncated?)",
            header.faces,
            faces.len()
        )));
    }
    Ok(faces)
}

fn check_face(f: Face) -> Result<ImportedFace, GalleryError> {
    let raw = STANDARD
        .decode(&f.embedding_f32le)
        .map_err(|e| GalleryError::InvalidEmbedding(format!("base64: {e}")))?;
    let v = embedding_from_le_bytes(&raw).ok_or_else(|| {
        GalleryError::InvalidEmbedding(format!("{} bytes, expected 2048", raw.len()))
    })?;
    let png = STANDARD
        .decode(&f.thumbnail_png)
        .map_err(|e| GalleryError::InvalidField {
            field: "thumbnail",
            detail: format!("base64: {e}"),
        })?;
    let (w, h) = crate::image_io::dimensions(&png).map_err(|e| GalleryError::InvalidField {
        field: "thumbnail",
        detail: e.to_string(),
    })?;
    if image::guess_format(&png).ok() != Some(image::ImageFormat::Png) {
        return Err(GalleryError::InvalidField {
            field: "thumbnail",
            detail: "not a PNG".into(),
        });
    }
    check_thumbnail_size(w, h)?;
    let detector_score = check_detector_score(f.detector_score)?;
    Ok(ImportedFace {
        face: ValidFace {
            name: validate_name(&f.name)?,
            source: validate_source(&f.source)?,
            embedding: validate_embedding(&v)?,
            thumbnail_png: png,
            detector_score,
        },
        enrolled_at_unix_s: f.enrolled_at_unix_s,
    })
}
