//! The in-memory vector index of the embedded store: a usearch HNSW graph over i8-quantised
//! copies of the embeddings, derived from the database, never the source of truth. It only
//! proposes candidates; the store re-ranks them by the exact f32 cosine of the embeddings it
//! keeps (see [`RERANK_CANDIDATES`]). It remembers the change-log sequence number it reflects;
//! the store brings it up to date from the log before each search.
//!
//! The index may be saved beside the database as a start-up cache (`index.usearch` plus
//! `index.usearch.json` with the format, sequence number, size and sha256 of the file). A file
//! whose format, checksum or size does not match is ignored and the index rebuilt from the
//! database.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use super::EXACT_SEARCH_MAX_ENTRIES;
use crate::error::GalleryError;
use crate::models::embedder::EMBEDDING_DIM;

/// The graph's parameters. Chosen by measurement (bench/RESULTS.md §5, `facelens-search-bench`):
/// at 1M synthetic faces these find every real same-person match and ≥ 0.95 of the exact top-10
/// within the latency goal on the 2-core machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexParams {
    /// Graph degree (usearch `connectivity`, HNSW's M).
    pub connectivity: usize,
    /// Candidate list while inserting (`expansion_add`, ef_construction).
    pub expansion_add: usize,
    /// Candidate list while searching (`expansion_search`, ef).
    pub expansion_search: usize,
}

impl IndexParams {
    /// What the gallery uses.
    pub const GALLERY: Self = Self {
        connectivity: 32,
        expansion_add: 128,
        expansion_search: 224,
    };
}

/// How many candidates the graph proposes for the exact re-rank, at least. The i8 distances
/// order candidates only roughly; the exact cosine of this many puts the true best first.
pub const RERANK_CANDIDATES: usize = 64;

/// Format of the saved cache; a cache of another format (or none, the f32 index of earlier
/// versions) is rebuilt.
const CACHE_FORMAT: u32 = 2;

/// Adds at least this many vectors at once on all cores.
const PARALLEL_ADD_MIN: usize = 256;

/// Scales a vector so that its largest component is ±127 and rounds it: the i8 copy kept in the
/// graph. Cosine does not depend on a vector's length, so the per-vector scale costs nothing and
/// uses the whole i8 range (usearch's own conversion divides by the L2 norm and truncates, which
/// leaves a 512-d unit vector about 3 bits). A zero or non-finite vector gives zeros.
#[must_use]
pub fn quantise_i8(v: &[f32]) -> Vec<i8> {
    let max = v
        .iter()
        .filter(|x| x.is_finite())
        .fold(0.0f32, |m, x| m.max(x.abs()));
    if max <= 0.0 {
        return vec![0; v.len()];
    }
    let scale = 127.0 / max;
    v.iter()
        .map(|&x| {
            let q = if x.is_finite() {
                (x * scale).round()
            } else {
                0.0
            };
            // In range by construction: |x| <= max.
            q.clamp(-127.0, 127.0) as i8
        })
        .collect()
}

/// The vector index and the change-log position it reflects.
pub struct VectorIndex {
    index: Index,
    /// The last change-log sequence number applied.
    pub seq: i64,
}

#[derive(Serialize, Deserialize)]
struct Sidecar {
    #[serde(default)]
    format: u32,
    seq: i64,
    size: usize,
    bytes: u64,
    sha256: String,
}

fn index_err(e: impl std::fmt::Display) -> GalleryError {
    GalleryError::Index(e.to_string())
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

fn new_index(capacity: usize, p: IndexParams) -> Result<Index, GalleryError> {
    let opts = IndexOptions {
        dimensions: EMBEDDING_DIM,
        metric: MetricKind::Cos,
        quantization: ScalarKind::I8,
        connectivity: p.connectivity,
        expansion_add: p.expansion_add,
        expansion_search: p.expansion_search,
        multi: false,
    };
    let index = Index::new(&opts).map_err(index_err)?;
    index
        .reserve_capacity_and_threads(capacity.max(16), threads())
        .map_err(index_err)?;
    Ok(index)
}

fn sha256_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let n = std::io::copy(&mut f, &mut h)?;
    Ok((n, format!("{:x}", h.finalize())))
}

impl VectorIndex {
    /// An empty index at change-log position `seq`, with the gallery's parameters.
    ///
    /// # Errors
    /// usearch could not allocate.
    pub fn empty(capacity: usize, seq: i64) -> Result<Self, GalleryError> {
        Self::with_params(capacity, seq, IndexParams::GALLERY)
    }

    /// An empty index with other parameters (for measuring them).
    ///
    /// # Errors
    /// usearch could not allocate.
    pub fn with_params(capacity: usize, seq: i64, p: IndexParams) -> Result<Self, GalleryError> {
        Ok(Self {
            index: new_index(capacity, p)?,
            seq,
        })
    }

    /// Changes the search breadth (ef) of this index (for measuring it).
    pub fn set_expansion_search(&self, ef: usize) {
        self.index.change_expansion_search(ef);
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

    /// Bytes the index holds in memory.
    #[must_use]
    pub fn memory_bytes(&self) -> usize {
        self.index.memory_usage()
    }

    fn grow_for(&self, more: usize) -> Result<(), GalleryError> {
        let need = self.index.size() + more;
        if self.index.capacity() < need {
            self.index
                .reserve_capacity_and_threads(need.max(self.index.size() * 2 + 16), threads())
                .map_err(index_err)?;
        }
        Ok(())
    }

    /// Adds (or replaces) one vector.
    ///
    /// # Errors
    /// usearch could not allocate.
    pub fn upsert(&mut self, id: u64, v: &[f32]) -> Result<(), GalleryError> {
        self.remove(id)?;
        self.grow_for(1)?;
        self.index.add(id, &quantise_i8(v)).map_err(index_err)
    }

    /// Adds (or replaces) many vectors, on all cores when there are many: a rebuild, or catching
    /// up with a large import.
    ///
    /// # Errors
    /// usearch could not allocate.
    pub fn upsert_many(&mut self, items: &[(u64, Vec<f32>)]) -> Result<(), GalleryError> {
        for (id, _) in items {
            self.remove(*id)?;
        }
        self.grow_for(items.len())?;
        let n_threads = if items.len() >= PARALLEL_ADD_MIN {
            threads()
        } else {
            1
        };
        let index = &self.index;
        std::thread::scope(|s| {
            let workers: Vec<_> = (0..n_threads)
                .map(|w| {
                    s.spawn(move || -> Result<(), GalleryError> {
                        for (id, v) in items.iter().skip(w).step_by(n_threads) {
                            index.add(*id, &quantise_i8(v)).map_err(index_err)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            workers.into_iter().try_for_each(|w| {
                w.join()
                    .map_err(|_| index_err("an index thread panicked"))?
            })
        })
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

    /// Up to `n` candidate ids for the vectors nearest `v`, roughly best first: every stored
    /// vector compared up to [`EXACT_SEARCH_MAX_ENTRIES`], the HNSW graph beyond. The caller
    /// re-ranks them exactly.
    ///
    /// # Errors
    /// usearch failed.
    pub fn candidates(&self, v: &[f32], n: usize) -> Result<Vec<u64>, GalleryError> {
        let size = self.index.size();
        if size == 0 || n == 0 {
            return Ok(Vec::new());
        }
        let q = quantise_i8(v);
        let n = n.min(size);
        let found = if size <= EXACT_SEARCH_MAX_ENTRIES {
            self.index.exact_search(&q, n)
        } else {
            self.index.search(&q, n)
        }
        .map_err(index_err)?;
        Ok(found.keys)
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
            format: CACHE_FORMAT,
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
        if side.format != CACHE_FORMAT {
            tracing::info!(
                "gallery index cache {} is of an earlier format; rebuilding it from the database",
                path.display()
            );
            return None;
        }
        if bytes != side.bytes || sha256 != side.sha256 {
            tracing::warn!(
                "gallery index cache {} does not match its checksum; rebuilding it from the database",
                path.display()
            );
            return None;
        }
        let index = new_index(side.size, IndexParams::GALLERY).ok()?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(seed: u32) -> Vec<f32> {
        let mut v: Vec<f32> = (0..EMBEDDING_DIM)
            .map(|i| {
                let x = ((i as u32).wrapping_mul(2_654_435_761) ^ seed.wrapping_mul(40_503)) as f32;
                (x * 1e-6).sin()
            })
            .collect();
        crate::models::embedder::l2_normalize(&mut v);
        v
    }

    #[test]
    fn quantise_uses_the_whole_range_and_keeps_the_direction() {
        let v = vector(1);
        let q = quantise_i8(&v);
        assert_eq!(q.iter().map(|x| x.unsigned_abs()).max(), Some(127));
        let back: Vec<f32> = q.iter().map(|&x| f32::from(x)).collect();
        let c = crate::models::embedder::cosine(&v, &back);
        assert!(c > 0.999, "cosine to the original {c}");
        // Halving the vector changes nothing: cosine ignores length.
        let half: Vec<f32> = v.iter().map(|x| x * 0.5).collect();
        assert_eq!(quantise_i8(&half), q);
    }

    #[test]
    fn quantise_rounds_and_survives_zero_and_nan() {
        assert_eq!(
            quantise_i8(&[1.0, -0.5, 0.251, -0.003]),
            vec![127, -64, 32, 0]
        );
        assert_eq!(quantise_i8(&[0.0; 4]), vec![0; 4]);
        assert_eq!(quantise_i8(&[f32::NAN, 1.0]), vec![0, 127]);
        assert_eq!(quantise_i8(&[f32::NAN, f32::INFINITY]), vec![0, 0]);
    }

    #[test]
    fn candidates_hold_the_true_nearest_and_upserts_replace() {
        let mut index = VectorIndex::empty(0, 0).unwrap_or_else(|e| panic!("{e}"));
        let items: Vec<(u64, Vec<f32>)> = (0..600).map(|i| (i, vector(i as u32 + 7))).collect();
        index.upsert_many(&items).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(index.len(), 600);
        for (id, v) in items.iter().step_by(37) {
            let c = index.candidates(v, 5).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(c.first(), Some(id), "a stored vector is its own nearest");
        }
        // Replacing a vector moves it; removing it takes it out.
        index
            .upsert(3, &items[9].1)
            .unwrap_or_else(|e| panic!("{e}"));
        let c = index
            .candidates(&items[9].1, 2)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(c.contains(&3) && c.contains(&9), "{c:?}");
        index.remove(3).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(index.len(), 599);
        assert!(
            !index
                .candidates(&items[9].1, 5)
                .unwrap_or_default()
                .contains(&3)
        );
    }

    #[test]
    fn a_cache_of_another_format_is_not_loaded() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("index.usearch");
        let mut index = VectorIndex::empty(0, 5).unwrap_or_else(|e| panic!("{e}"));
        index
            .upsert(1, &vector(1))
            .unwrap_or_else(|e| panic!("{e}"));
        index.save(&path).unwrap_or_else(|e| panic!("{e}"));
        let loaded = VectorIndex::load(&path).expect("its own cache loads");
        assert_eq!((loaded.len(), loaded.seq), (1, 5));
        // The sidecar of an earlier version had no format.
        let side = sidecar_path(&path);
        let text = std::fs::read_to_string(&side).unwrap_or_default();
        let old = text.replace(&format!("\"format\":{CACHE_FORMAT},"), "");
        assert_ne!(old, text);
        std::fs::write(&side, old).unwrap_or_else(|e| panic!("{e}"));
        assert!(VectorIndex::load(&path).is_none());
    }
}
