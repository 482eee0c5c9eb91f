//! The gallery of known faces: a usearch index (cosine) for search, plus a JSON metadata store
//! (name, source image, enrolment time, the embedding itself) and a PNG thumbnail per entry.
//! Up to [`EXACT_SEARCH_MAX_ENTRIES`] entries a search compares the face with every entry (exact);
//! beyond, it walks the HNSW graph (approximate, much faster on millions; `bench/RESULTS.md` §5).
//! Every write is atomic (temporary file + rename); the index can always be rebuilt from the
//! metadata, so a lost or stale index file loses nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use image::RgbImage;
use serde::{Deserialize, Serialize};
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use crate::api::Match;
use crate::calibration::{is_same_person, same_person_score};
use crate::error::GalleryError;
use crate::models::embedder::EMBEDDING_DIM;

/// Environment variable that overrides the default gallery folder.
pub const GALLERY_DIR_ENV: &str = "FACELENS_GALLERY_DIR";
const META: &str = "gallery.json";
const INDEX: &str = "index.usearch";
const THUMBS: &str = "thumbs";

/// Galleries up to this many entries are searched exactly (every entry compared), larger ones
/// through the HNSW graph. Measured here (usearch with SIMD kernels, f32, 2-core machine): an
/// exact search of 20 000 vectors took 1.9 ms, HNSW 0.9 ms but it found only 24 % of the true
/// top-10 on random 512-d vectors; a desktop gallery is far smaller, and its user expects the
/// true nearest person.
pub const EXACT_SEARCH_MAX_ENTRIES: usize = 20_000;

/// One enrolled face.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Entry {
    /// Stable id (never reused).
    pub id: u64,
    /// Person's name.
    pub name: String,
    /// Where the face came from (file path or URL), as given at enrolment.
    pub source: String,
    /// Enrolment time, seconds since the Unix epoch.
    pub enrolled_at_unix_s: u64,
    /// The L2-normalised embedding.
    pub embedding: Vec<f32>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Meta {
    schema: u32,
    next_id: u64,
    entries: Vec<Entry>,
}

/// A gallery folder opened for reading and writing.
pub struct Gallery {
    dir: PathBuf,
    index: Index,
    entries: BTreeMap<u64, Entry>,
    next_id: u64,
}

impl std::fmt::Debug for Gallery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gallery")
            .field("dir", &self.dir)
            .field("entries", &self.entries.len())
            .finish_non_exhaustive()
    }
}

/// Resolves the gallery folder: `explicit`, else `$FACELENS_GALLERY_DIR`, else the user data dir.
#[must_use]
pub fn resolve_gallery_dir(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os(GALLERY_DIR_ENV).filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    dirs::data_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("facelens")
        .join("gallery")
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
    let index = Index::new(&opts).map_err(|e| GalleryError::Index(e.to_string()))?;
    index
        .reserve(capacity.max(16))
        .map_err(|e| GalleryError::Index(e.to_string()))?;
    Ok(index)
}

fn now_unix_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Gallery {
    /// Opens (or creates) the gallery in `dir`.
    ///
    /// # Errors
    /// I/O errors and corrupt metadata. A missing or unreadable index is rebuilt, not an error.
    pub fn open(dir: &Path) -> Result<Self, GalleryError> {
        std::fs::create_dir_all(dir.join(THUMBS)).map_err(|e| GalleryError::io(dir, e))?;
        let meta_path = dir.join(META);
        let meta: Meta = match std::fs::read(&meta_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| GalleryError::Corrupt {
                path: meta_path.clone(),
                detail: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Meta::default(),
            Err(e) => return Err(GalleryError::io(&meta_path, e)),
        };
        let entries: BTreeMap<u64, Entry> = meta.entries.into_iter().map(|e| (e.id, e)).collect();
        let next_id = meta
            .next_id
            .max(entries.keys().next_back().map_or(1, |k| k + 1));
        let index_path = dir.join(INDEX);
        let loaded = new_index(entries.len())?;
        let index_ok = index_path.is_file()
            && loaded.load(&index_path.to_string_lossy()).is_ok()
            && loaded.size() == entries.len()
            && entries.keys().all(|&k| loaded.contains(k));
        let mut gallery = Self {
            dir: dir.to_path_buf(),
            index: loaded,
            entries,
            next_id,
        };
        if !index_ok {
            if index_path.is_file() {
                tracing::warn!(
                    "gallery index does not match its metadata; rebuilding {}",
                    index_path.display()
                );
            }
            gallery.rebuild_index()?;
        }
        Ok(gallery)
    }

    fn rebuild_index(&mut self) -> Result<(), GalleryError> {
        let index = new_index(self.entries.len())?;
        for e in self.entries.values() {
            index
                .add(e.id, &e.embedding)
                .map_err(|err| GalleryError::Index(err.to_string()))?;
        }
        self.index = index;
        Ok(())
    }

    /// The gallery folder.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// All entries, by id.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    /// Number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the gallery is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Path of an entry's thumbnail (the aligned face crop).
    #[must_use]
    pub fn thumbnail_path(&self, id: u64) -> PathBuf {
        self.dir.join(THUMBS).join(format!("{id}.png"))
    }

    /// Adds a face and saves. Returns its id.
    ///
    /// # Errors
    /// An empty name, a wrong embedding size, or an I/O / index error.
    pub fn enrol(
        &mut self,
        name: &str,
        source: &str,
        embedding: &[f32],
        thumbnail: &RgbImage,
    ) -> Result<u64, GalleryError> {
        let name = validate_name(name)?;
        if embedding.len() != EMBEDDING_DIM {
            return Err(GalleryError::Dimension {
                expected: EMBEDDING_DIM,
                got: embedding.len(),
            });
        }
        let id = self.next_id;
        let thumb_path = self.thumbnail_path(id);
        let mut png = std::io::Cursor::new(Vec::new());
        thumbnail
            .write_to(&mut png, image::ImageFormat::Png)
            .map_err(|e| GalleryError::Index(format!("thumbnail encoding: {e}")))?;
        write_atomic(&thumb_path, png.get_ref())?;
        if self.index.capacity() <= self.index.size() {
            self.index
                .reserve(self.index.size() * 2 + 16)
                .map_err(|e| GalleryError::Index(e.to_string()))?;
        }
        self.index
            .add(id, embedding)
            .map_err(|e| GalleryError::Index(e.to_string()))?;
        self.entries.insert(
            id,
            Entry {
                id,
                name,
                source: source.to_owned(),
                enrolled_at_unix_s: now_unix_s(),
                embedding: embedding.to_vec(),
            },
        );
        self.next_id += 1;
        self.save()?;
        Ok(id)
    }

    /// The `k` most similar people (one best entry per name), best first.
    ///
    /// # Errors
    /// A wrong embedding size or an index error.
    pub fn search(&self, embedding: &[f32], k: usize) -> Result<Vec<Match>, GalleryError> {
        if embedding.len() != EMBEDDING_DIM {
            return Err(GalleryError::Dimension {
                expected: EMBEDDING_DIM,
                got: embedding.len(),
            });
        }
        if self.entries.is_empty() || k == 0 {
            return Ok(Vec::new());
        }
        // Ask for more than k so that several photos of one person do not crowd out others.
        let want = (k * 4).min(self.entries.len());
        let found = if self.entries.len() <= EXACT_SEARCH_MAX_ENTRIES {
            self.index.exact_search(embedding, want)
        } else {
            self.index.search(embedding, want)
        }
        .map_err(|e| GalleryError::Index(e.to_string()))?;
        let mut out: Vec<Match> = Vec::new();
        for (&key, &distance) in found.keys.iter().zip(&found.distances) {
            let Some(e) = self.entries.get(&key) else {
                continue;
            };
            if out.iter().any(|m| m.name == e.name) {
                continue;
            }
            let cosine = 1.0 - distance;
            out.push(Match {
                id: key,
                name: e.name.clone(),
                cosine,
                score: same_person_score(cosine),
                same_person: is_same_person(cosine),
            });
            if out.len() == k {
                break;
            }
        }
        Ok(out)
    }

    /// Renames one entry and saves.
    ///
    /// # Errors
    /// Unknown id, an empty name, or an I/O error.
    pub fn rename(&mut self, id: u64, name: &str) -> Result<(), GalleryError> {
        let name = validate_name(name)?;
        let e = self
            .entries
            .get_mut(&id)
            .ok_or(GalleryError::NoSuchEntry(id))?;
        e.name = name;
        self.save()
    }

    /// Deletes one entry (and its thumbnail) and saves.
    ///
    /// # Errors
    /// Unknown id or an I/O / index error.
    pub fn delete(&mut self, id: u64) -> Result<(), GalleryError> {
        if self.entries.remove(&id).is_none() {
            return Err(GalleryError::NoSuchEntry(id));
        }
        self.index
            .remove(id)
            .map_err(|e| GalleryError::Index(e.to_string()))?;
        self.save()?;
        let thumb = self.thumbnail_path(id);
        if let Err(e) = std::fs::remove_file(&thumb) {
            tracing::warn!("could not remove {}: {e}", thumb.display());
        }
        Ok(())
    }

    /// Writes metadata and index atomically.
    ///
    /// # Errors
    /// I/O or index errors.
    pub fn save(&self) -> Result<(), GalleryError> {
        let meta = Meta {
            schema: 1,
            next_id: self.next_id,
            entries: self.entries.values().cloned().collect(),
        };
        let json = serde_json::to_vec(&meta).map_err(|e| GalleryError::Index(e.to_string()))?;
        let index_path = self.dir.join(INDEX);
        let tmp = self.dir.join(format!("{INDEX}.tmp"));
        self.index
            .save(&tmp.to_string_lossy())
            .map_err(|e| GalleryError::Index(e.to_string()))?;
        std::fs::rename(&tmp, &index_path).map_err(|e| GalleryError::io(&index_path, e))?;
        write_atomic(&self.dir.join(META), &json)
    }
}

fn validate_name(name: &str) -> Result<String, GalleryError> {
    let t = name.trim();
    if t.is_empty() {
        return Err(GalleryError::InvalidName("the name is empty".into()));
    }
    if t.chars().count() > 200 || t.chars().any(char::is_control) {
        return Err(GalleryError::InvalidName(
            "at most 200 printable characters".into(),
        ));
    }
    Ok(t.to_owned())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), GalleryError> {
    crate::provision::write_atomic_io(path, bytes).map_err(|e| GalleryError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(seed: u64) -> Vec<f32> {
        // Deterministic pseudo-random unit vector.
        let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let mut v: Vec<f32> = (0..EMBEDDING_DIM)
            .map(|_| {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                #[allow(clippy::cast_precision_loss)]
                let r = (x >> 40) as f32 / (1u64 << 24) as f32;
                r - 0.5
            })
            .collect();
        crate::models::embedder::l2_normalize(&mut v);
        v
    }

    #[test]
    fn enrol_search_rename_delete_and_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let thumb = RgbImage::new(4, 4);
        let mut g = Gallery::open(dir.path()).expect("open");
        let a = g.enrol("Alice", "a.jpg", &unit(1), &thumb).expect("enrol");
        let b = g.enrol("Bob", "b.jpg", &unit(2), &thumb).expect("enrol");
        let hits = g.search(&unit(2), 2).expect("search");
        assert_eq!(hits[0].id, b);
        assert!((hits[0].cosine - 1.0).abs() < 1e-4 && hits[0].same_person);
        assert!(
            !hits[1].same_person,
            "random vectors are not the same person"
        );
        g.rename(a, "Alicia").expect("rename");
        drop(g);

        let mut g = Gallery::open(dir.path()).expect("reopen");
        assert_eq!(g.len(), 2);
        assert_eq!(g.search(&unit(1), 1).expect("search")[0].name, "Alicia");
        g.delete(b).expect("delete");
        assert!(matches!(g.delete(b), Err(GalleryError::NoSuchEntry(_))));
        assert!(!g.thumbnail_path(b).exists());
        let c = g.enrol("Carol", "c.jpg", &unit(3), &thumb).expect("enrol");
        assert!(c > b, "ids are never reused");

        // A lost index is rebuilt from the metadata.
        std::fs::remove_file(dir.path().join(INDEX)).expect("rm index");
        let g = Gallery::open(dir.path()).expect("reopen without index");
        assert_eq!(g.search(&unit(3), 1).expect("search")[0].id, c);
    }

    #[test]
    fn search_finds_the_true_nearest_entries_also_after_deletes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let thumb = RgbImage::new(1, 1);
        let mut g = Gallery::open(dir.path()).expect("open");
        let mut ids = Vec::new();
        for k in 0..400u64 {
            let name = format!("p{k}");
            ids.push(g.enrol(&name, "x", &unit(100 + k), &thumb).expect("enrol"));
        }
        for &id in ids.iter().step_by(3) {
            g.delete(id).expect("delete");
        }
        for q in 0..20u64 {
            let query = unit(10_000 + q);
            // Brute force over what is left.
            let mut truth: Vec<(f32, u64)> = g
                .entries
                .values()
                .map(|e| (crate::models::embedder::cosine(&query, &e.embedding), e.id))
                .collect();
            truth.sort_by(|a, b| b.0.total_cmp(&a.0));
            let found: Vec<u64> = g
                .search(&query, 5)
                .expect("search")
                .iter()
                .map(|m| m.id)
                .collect();
            let want: Vec<u64> = truth.iter().take(5).map(|t| t.1).collect();
            assert_eq!(found, want, "query {q}");
        }
    }

    #[test]
    fn bad_requests_are_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut g = Gallery::open(dir.path()).expect("open");
        let t = RgbImage::new(1, 1);
        assert!(matches!(
            g.enrol("  ", "x", &unit(1), &t),
            Err(GalleryError::InvalidName(_))
        ));
        assert!(matches!(
            g.enrol("A", "x", &[0.0; 3], &t),
            Err(GalleryError::Dimension { .. })
        ));
        assert!(g.search(&unit(1), 5).expect("empty").is_empty());
        assert!(matches!(
            g.rename(42, "x"),
            Err(GalleryError::NoSuchEntry(42))
        ));
        std::fs::write(dir.path().join(META), b"{ not json").expect("write");
        assert!(matches!(
            Gallery::open(dir.path()),
            Err(GalleryError::Corrupt { .. })
        ));
    }
}
