//! The in-memory vector index of the embedded store: a usearch index (cosine, f32) derived from
//! the database, never the source of truth. It remembers the change-log sequence number it
//! reflects; the store brings it up to date from the log before each search.
//!
//! The index may be saved beside the database as a start-up cache (`index.usearch` plus
//! `index.usearch.json` with the sequence number, size and sha256 of the file). A file whose
//! checksum or size does not match is ignored and the index rebuilt from the database.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use super::EXACT_SEARCH_MAX_ENTRIES;
use crate::error::GalleryError;
use crate::models::embedder::EMBEDDING_DIM;

/// The vector index and the change-log position it reflects.
pub struct VectorIndex {
    index: Index,
    /// The last change-log sequence number applied.
    pub seq: i64,
}

#[derive(Serialize, Deserialize)]
struct Sidecar {
    seq: i64,
    size: usize,
    bytes: u64,
    sha256: String,
}

fn index_err(e: impl std::fmt::Display) -> GalleryError {
    GalleryError::Index(e.to_string())
}

fn new_index(capacity: usize) -> Result<Index, GalleryError> {
    let opts = IndexOptions {
        dimensions: EMBEDDING_DIM,
        metric: MetricKind::Cos,
        quantization: ScalarKind::F32,
        connectivity: 0,
        expansion_add: 0,
        expansion_search: 0,
        multi: false,
    };
    let index = Index::new(&opts).map_err(index_err)?;
    index.reserve(capacity.max(16)).map_err(index_err)?;
    Ok(index)
}

fn sha256_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let n = std::io::copy(&mut f, &mut h)?;
    Ok((n, format!("{:x}", h.finalize())))
}

impl VectorIndex {
    /// An empty index at change-log position `seq`.
    ///
    /// # Errors
    /// usearch could not allocate.
    pub fn empty(capacity: usize, seq: i64) -> Result<Self, GalleryError> {
        Ok(Self {
            index: new_index(capacity)?,
            seq,
        })
    }

    /// Number of vectors.
    #[must_use]
    pub fn len(&self) -> usize {
        self.index.size()
    }

    /// Whether the index is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.index.size() == 0
    }

    /// Adds (or replaces) one vector.
    ///
    /// # Errors
    /// usearch could not allocate.
    pub fn upsert(&mut self, id: u64, v: &[f32]) -> Result<(), GalleryError> {
        if self.index.contains(id) {
            self.index.remove(id).map_err(index_err)?;
        }
        if self.index.capacity() <= self.index.size() {
            self.index
                .reserve(self.index.size() * 2 + 16)
                .map_err(index_err)?;
        }
        self.index.add(id, v).map_err(index_err)
    }

    /// Removes one vector (absent ids are fine).
    ///
    /// # Errors
    /// usearch failed.
    pub fn remove(&mut self, id: u64) -> Result<(), GalleryError> {
        if self.index.contains(id) {
            self.index.remove(id).map_err(index_err)?;
        }
        Ok(())
    }

    /// The `want` nearest ids with their cosine similarity: exact up to
    /// [`EXACT_SEARCH_MAX_ENTRIES`] vectors, HNSW beyond.
    ///
    /// # Errors
    /// usearch failed.
    pub fn nearest(&self, v: &[f32], want: usize) -> Result<Vec<(u64, f32)>, GalleryError> {
        let n = self.index.size();
        if n == 0 || want == 0 {
            return Ok(Vec::new());
        }
        let want = want.min(n);
        let found = if n <= EXACT_SEARCH_MAX_ENTRIES {
            self.index.exact_search(v, want)
        } else {
            self.index.search(v, want)
        }
        .map_err(index_err)?;
        Ok(found
            .keys
            .iter()
            .zip(&found.distances)
            .map(|(&k, &d)| (k, 1.0 - d))
            .collect())
    }

    /// Saves the index and its sidecar (temporary files + rename; the sidecar last, so a crash in
    /// between leaves a sidecar that does not match and the file is ignored).
    ///
    /// # Errors
    /// I/O or usearch errors.
    pub fn save(&self, path: &Path) -> Result<(), GalleryError> {
        // A name of this process's own: two processes closing one gallery at once must not
        // write into the same temporary file.
        let tmp = path.with_extension(format!("usearch.tmp{}", std::process::id()));
        self.index
            .save(&tmp.to_string_lossy())
            .map_err(|e| GalleryError::Index(format!("{e}: {}", tmp.display())))?;
        let (bytes, sha256) = sha256_file(&tmp).map_err(|e| GalleryError::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| GalleryError::io(path, e))?;
        let side = Sidecar {
            seq: self.seq,
            size: self.index.size(),
            bytes,
            sha256,
        };
        let json = serde_json::to_vec(&side).map_err(index_err)?;
        let side_path = sidecar_path(path);
        crate::provision::write_atomic_io(&side_path, &json)
            .map_err(|e| GalleryError::io(&side_path, e))
    }

    /// Loads a saved index whose sidecar matches it, or `None` (missing, stale format, checksum
    /// mismatch: the caller rebuilds).
    #[must_use]
    pub fn load(path: &Path) -> Option<Self> {
        let side: Sidecar =
            serde_json::from_slice(&std::fs::read(sidecar_path(path)).ok()?).ok()?;
        let (bytes, sha256) = sha256_file(path).ok()?;
        if bytes != side.bytes || sha256 != side.sha256 {
            tracing::warn!(
                "gallery index cache {} does not match its checksum; rebuilding it from the database",
                path.display()
            );
            return None;
        }
        let index = new_index(side.size).ok()?;
        index.load(&path.to_string_lossy()).ok()?;
        (index.size() == side.size).then_some(Self {
            index,
            seq: side.seq,
        })
    }
}

/// A temporary file older than this cannot belong to a write in progress (those take
/// milliseconds): it was left by a process killed mid-write.
const STALE_TEMPORARY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes what a process killed while saving left in the gallery folder `dir`: index
/// temporaries (`index.usearch.tmp<pid>`) of processes that are gone, and atomic-write
/// temporaries (`.tmp*`) older than [`STALE_TEMPORARY`]. Returns how many were removed; files
/// that cannot be removed (read-only folder) are left alone.
pub fn sweep_stale_temporaries(dir: &Path, index_file: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let index_tmp = format!("{index_file}.tmp");
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let old = || {
            e.metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > STALE_TEMPORARY)
        };
        let stale = if let Some(pid) = name.strip_prefix(&index_tmp) {
            let gone = pid.parse::<u32>().is_ok_and(|pid| {
                pid != std::process::id()
                    && Path::new("/proc/self").exists()
                    && !Path::new("/proc").join(pid.to_string()).exists()
            });
            gone || old()
        } else {
            name.starts_with(".tmp") && old()
        };
        if stale
            && e.file_type().is_ok_and(|t| t.is_file())
            && std::fs::remove_file(e.path()).is_ok()
        {
            tracing::info!(
                "removed {} (left by a process killed mid-write)",
                e.path().display()
            );
            removed += 1;
        }
    }
    removed
}

fn sidecar_path(path: &Path) -> std::path::PathBuf {
    path.with_extension("usearch.json")
}
