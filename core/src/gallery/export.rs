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
    /// Writes every face to `path` (a temporary file beside it, renamed when complete).
    /// Returns the count.
    ///
    /// `path` must be a new file or an earlier facelens export, outside the gallery's own
    /// folder: the gallery's database, a device, a link, a folder or any other file is refused
    /// before anything is written ([`check_export_target`]). Temporary files that an interrupted
    /// export left (its process gone) are removed first.
    ///
    /// # Errors
    /// [`GalleryError::RefusedTarget`]; a database or I/O error, after which `path` is as it was
    /// and no temporary file is left.
    pub fn export(&self, path: &Path) -> Result<usize, GalleryError> {
        let own_folder = match self {
            Self::Sqlite(s) => Some(s.dir().to_path_buf()),
            Self::Postgres(_) => None,
        };
        let replaces = check_export_target(path, own_folder.as_deref())?;
        let io = |e: std::io::Error| GalleryError::io(path, e);
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| Path::new("."));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        remove_stale_temp_files(dir);
        let entries = self.entries()?;
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}{TEMP_MARK}{}-", std::process::id()))
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(io)?;
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
        // A file that appeared since the check is not replaced.
        if replaces {
            tmp.persist(path).map_err(|e| io(e.error))?;
        } else {
            tmp.persist_noclobber(path).map_err(|e| io(e.error))?;
        }
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

/// Largest import file read (bytes), checked from its metadata before reading: 2 GiB, about
/// 60 000 faces with their thumbnails.
pub const MAX_IMPORT_FILE_BYTES: u64 = 2 << 30;

/// Longest line of an import file (bytes): a face's line is about 40 KB with its thumbnail.
pub const MAX_IMPORT_LINE_BYTES: usize = 4 << 20;

/// The next line (without its line ending), read without ever holding more than
/// [`MAX_IMPORT_LINE_BYTES`]; `None` at the end of the file.
fn bounded_line(r: &mut impl BufRead) -> Result<Option<String>, String> {
    let mut line = Vec::new();
    loop {
        let buf = r.fill_buf().map_err(|e| e.to_string())?;
        if buf.is_empty() {
            break;
        }
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        if line.len() + chunk.len() > MAX_IMPORT_LINE_BYTES {
            return Err(format!(
                "a line longer than {MAX_IMPORT_LINE_BYTES} bytes; not a facelens gallery export"
            ));
        }
        line.extend_from_slice(chunk);
        let used = done.unwrap_or(chunk.len());
        r.consume(used);
        if done.is_some() {
            return String::from_utf8(line)
                .map(Some)
                .map_err(|_| "not UTF-8 text".into());
        }
    }
    if line.is_empty() {
        return Ok(None);
    }
    String::from_utf8(line)
        .map(Some)
        .map_err(|_| "not UTF-8 text".into())
}

/// What marks an export's temporary file (`.NAME.facelens-export-PID-XXXXXX.tmp`).
const TEMP_MARK: &str = ".facelens-export-";

/// Checks that an export may write `path`: a new file, or a regular file that is already a
/// facelens gallery export, not inside `own_folder` (the gallery's folder). Returns whether a
/// file is there to be replaced.
///
/// # Errors
/// [`GalleryError::RefusedTarget`] for the gallery's own files, anything that is not a regular
/// file (device, folder, link, pipe), and a file that is not a facelens export.
pub fn check_export_target(path: &Path, own_folder: Option<&Path>) -> Result<bool, GalleryError> {
    let refuse = |detail: String| GalleryError::RefusedTarget {
        path: path.to_path_buf(),
        detail,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    if path.file_name().is_none() {
        return Err(refuse("not a file name".into()));
    }
    if let (Some(own), Ok(target_dir)) = (own_folder, std::fs::canonicalize(dir)) {
        let own = std::fs::canonicalize(own).unwrap_or_else(|_| own.to_path_buf());
        if target_dir.starts_with(&own) {
            return Err(refuse(format!(
                "it is inside the gallery's own folder {}; write the export elsewhere",
                own.display()
            )));
        }
    }
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(GalleryError::io(path, e)),
    };
    if !meta.file_type().is_file() {
        let kind = if meta.file_type().is_symlink() {
            "a symbolic link"
        } else if meta.is_dir() {
            "a folder"
        } else {
            "not a regular file (a device, pipe or socket)"
        };
        return Err(refuse(format!(
            "it is {kind}; export writes only regular files"
        )));
    }
    if !is_export(path) {
        return Err(refuse(
            "it exists and is not a facelens gallery export; choose a new file name".into(),
        ));
    }
    Ok(true)
}

/// Whether the file starts with an export header line.
fn is_export(path: &Path) -> bool {
    use std::io::Read;
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let mut head = Vec::with_capacity(512);
    if file.take(4096).read_to_end(&mut head).is_err() {
        return false;
    }
    let first = head.split(|&b| b == b'\n').next().unwrap_or_default();
    serde_json::from_slice::<Header>(first).is_ok_and(|h| h.format == FORMAT)
}

/// Removes export temporary files in `dir` whose process is gone (an export killed mid-way).
/// Where a process cannot be looked up (not Linux), files older than a day count as left over.
fn remove_stale_temp_files(dir: &Path) {
    let Ok(read) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in read.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(pid) = name
            .split_once(TEMP_MARK)
            .filter(|_| name.starts_with('.') && name.ends_with(".tmp"))
            .and_then(|(_, rest)| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if is_file && !process_alive(pid, &entry) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn process_alive(pid: u32, entry: &std::fs::DirEntry) -> bool {
    if cfg!(target_os = "linux") {
        return pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists();
    }
    entry
        .metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_none_or(|age| age < std::time::Duration::from_secs(24 * 3600))
}

fn read_export(path: &Path) -> Result<Vec<ImportedFace>, GalleryError> {
    let bad = |detail: String| GalleryError::BadExport {
        path: path.to_path_buf(),
        detail,
    };
    let file = std::fs::File::open(path).map_err(|e| GalleryError::io(path, e))?;
    let size = file
        .metadata()
        .map_err(|e| GalleryError::io(path, e))?
        .len();
    if size > MAX_IMPORT_FILE_BYTES {
        return Err(bad(format!(
            "{size} bytes; an import file may hold at most {MAX_IMPORT_FILE_BYTES} bytes \
             (split a larger gallery into several exports)"
        )));
    }
    let mut reader = BufReader::new(file);
    let mut lines = std::iter::from_fn(move || bounded_line(&mut reader).transpose());
    let first = lines
        .next()
        .ok_or_else(|| bad("the file is empty".into()))?
        .map_err(|e| bad(format!("line 1: {e}")))?;
    let first_json: serde_json::Value = serde_json::from_str(&first).map_err(|_| {
        bad("not a facelens gallery export (its first line is not a JSON header)".into())
    })?;
    let header: Header = serde_json::from_value(first_json).map_err(|e| {
        bad(format!(
            "not a facelens gallery export: the header line is invalid ({e})"
        ))
    })?;
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
    let mut faces = Vec::with_capacity(header.faces.min(1 << 16));
    // Each face's name and embedding, to refuse a face given twice.
    let mut seen = std::collections::HashMap::new();
    for (i, line) in lines.enumerate() {
        let n = i + 2;
        let line = line.map_err(|e| bad(format!("line {n}: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let f: Face = serde_json::from_str(&line).map_err(|e| bad(format!("line {n}: {e}")))?;
        let key = (f.name.clone(), f.embedding_f32le.clone());
        if let Some(first) = seen.insert(key, n) {
            return Err(bad(format!(
                "line {n} repeats the face of line {first} (same name and embedding)"
            )));
        }
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
    if image::guess_format(&png).ok() != Some(image::ImageFormat::Png) {
        return Err(GalleryError::InvalidField {
            field: "thumbnail",
            detail: "not a PNG".into(),
        });
    }
    let thumbnail_error = |e: crate::error::ImageError| GalleryError::InvalidField {
        field: "thumbnail",
        detail: e.to_string(),
    };
    let (w, h) = crate::image_io::dimensions(&png).map_err(thumbnail_error)?;
    check_thumbnail_size(w, h)?;
    // Every pixel is decoded: a valid header over damaged data is refused, not stored.
    crate::image_io::decode_picture(&png, crate::image_io::DecodeLimits::default())
        .map_err(thumbnail_error)?;
    if i64::try_from(f.enrolled_at_unix_s).is_err() {
        return Err(GalleryError::InvalidField {
            field: "enrolled_at_unix_s",
            detail: format!("{} is past the year 292 billion", f.enrolled_at_unix_s),
        });
    }
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
