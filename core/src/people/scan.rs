//! Scanning a folder of unlabelled photos into the people library: the one orchestrator the
//! CLI, the window and the server share.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::cluster::Params;
use super::{ClusterReport, NewScannedFace, People};
use crate::error::{CoreError, GalleryError};
use crate::image_io::list_image_files;
use crate::pipeline::Pipeline;

/// Where a scan is.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanProgress {
    /// Photos looked at so far (scanned, skipped or unreadable).
    pub done: usize,
    /// Photos found.
    pub total: usize,
    /// The photo just looked at.
    pub path: PathBuf,
    /// Faces found in it.
    pub faces: usize,
    /// Time since the scan started, ms.
    pub elapsed_ms: u64,
    /// Estimated time left, ms, from the pace of the photos analysed so far.
    pub eta_ms: Option<u64>,
}

/// A photo the scan could not read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Unreadable {
    /// The file.
    pub path: String,
    /// Why.
    pub error: String,
}

/// What a scan did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScanReport {
    /// Photos found under the folder.
    pub found: usize,
    /// Photos analysed and added.
    pub scanned: usize,
    /// Photos already in the library (not analysed again).
    pub skipped: usize,
    /// Faces added.
    pub faces: usize,
    /// Photos that could not be read or analysed.
    pub unreadable: Vec<Unreadable>,
    /// Entries of the folder passed over without being looked at: links not followed, folders
    /// and paths that could not be read (with why).
    #[serde(default)]
    pub not_scanned: Vec<Unreadable>,
    /// Stopped by the user before the end (the photos done so far are kept and grouped).
    pub cancelled: bool,
    /// The clustering of the new faces.
    pub cluster: ClusterReport,
    /// Wall time, ms.
    pub elapsed_ms: u64,
}

/// The key a photo is stored under: its absolute path when it can be found (a link's target),
/// as given otherwise; exactly, never with characters replaced.
///
/// # Errors
/// A path that is not valid Unicode (a non-UTF-8 file name): it cannot be stored as given, and
/// two such names must never share a key, so the photo is refused with this message.
pub fn photo_key(path: &Path) -> Result<String, String> {
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    real.to_str().map(str::to_owned).ok_or_else(|| {
        "its name is not valid UTF-8, so it cannot be kept without loss; rename the file".into()
    })
}

/// Scans `dir` recursively: every image not yet in the library is analysed and its faces
/// added, then the new faces are clustered (incrementally). Unreadable files are reported, not
/// fatal. `cancel` stops the scan between photos; what was scanned is kept and clustered.
///
/// # Errors
/// A database error (the photos stored before it stay).
pub fn scan(
    pipeline: &mut Pipeline,
    people: &People<'_>,
    dir: &Path,
    params: &Params,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(&ScanProgress),
) -> Result<ScanReport, CoreError> {
    let started = Instant::now();
    if !dir.is_dir() {
        return Err(CoreError::InvalidRequest(format!(
            "{} is not a folder",
            dir.display()
        )));
    }
    let listing = list_image_files(dir);
    let files = listing.files;
    let mut report = ScanReport {
        found: files.len(),
        not_scanned: listing
            .skipped
            .into_iter()
            .map(|s| Unreadable {
                path: s.path.display().to_string(),
                error: s.reason,
            })
            .collect(),
        ..ScanReport::default()
    };
    let mut analysed_ms = 0u64;
    for (i, path) in files.iter().enumerate() {
        if cancel.load(Ordering::Relaxed) {
            report.cancelled = true;
            break;
        }
        let mut faces = 0;
        let key = photo_key(path);
        if let Err(error) = &key {
            report.unreadable.push(Unreadable {
                path: path.display().to_string(),
                error: error.clone(),
            });
        }
        let key = key.unwrap_or_default();
        if key.is_empty() {
            // Refused above: not analysed.
        } else if people.has_photo(&key)? {
            report.skipped += 1;
        } else {
            let t = Instant::now();
            match pipeline.analyze_file_full(path, None) {
                Ok(r) => {
                    let new: Vec<NewScannedFace<'_>> = r
                        .analysis
                        .faces
                        .iter()
                        .zip(&r.aligned)
                        .map(|(f, crop)| NewScannedFace::of(f, crop))
                        .collect();
                    match people.add_photo(&key, r.analysis.width_px, r.analysis.height_px, &new) {
                        Ok(_) => {
                            faces = new.len();
                            report.scanned += 1;
                            report.faces += faces;
                        }
                        // A path the library cannot hold (control characters, too long): this
                        // photo is reported, the scan goes on. A database error stops it.
                        Err(e @ GalleryError::InvalidField { .. }) => {
                            report.unreadable.push(Unreadable {
                                path: path.display().to_string(),
                                error: e.to_string(),
                            });
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                Err(e) => report.unreadable.push(Unreadable {
                    path: path.display().to_string(),
                    error: e.to_string(),
                }),
            }
            analysed_ms += t.elapsed().as_millis() as u64;
        }
        let done = i + 1;
        let attempted = report.scanned + report.unreadable.len();
        progress(&ScanProgress {
            done,
            total: files.len(),
            path: path.clone(),
            faces,
            elapsed_ms: started.elapsed().as_millis() as u64,
            eta_ms: (attempted > 0)
                .then(|| analysed_ms / attempted as u64 * (files.len() - done) as u64),
        });
    }
    report.cluster = people.cluster(params)?;
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}
