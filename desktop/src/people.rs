//! People jobs on the worker thread: folder scans, the library's edits and "find this person",
//! always on this computer's gallery (the library lives in its database; in connected mode too,
//! a scan analyses on this computer).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use facelens_core::people::cluster::Params;
use facelens_core::people::scan::{ScanReport, scan};
use facelens_core::people::{PeopleGroup, PhotoMatch, ScannedFace};
use image::RgbImage;

use crate::backend::{LocalBackend, decode_thumb};
use crate::worker::Event;

/// A people job.
#[derive(Debug)]
pub enum PeopleJob {
    /// Send the groups again, with the faces of `open` (the group the view shows).
    Refresh {
        /// The open group.
        open: Option<u64>,
    },
    /// Scan a folder (recursively) into the library and group the new faces.
    Scan(PathBuf, Arc<AtomicBool>),
    /// Name a group.
    Name(u64, String),
    /// Merge group `from` into `into`.
    Merge {
        /// The group that stays.
        into: u64,
        /// The group merged into it.
        from: u64,
    },
    /// Put a face in another group (`Some`) or in none (`None`: it stays unsorted).
    MoveFace {
        /// The face.
        face: u64,
        /// The target group.
        group: Option<u64>,
        /// The open group (to send again).
        open: Option<u64>,
    },
    /// Every scanned photo showing the person of this embedding.
    Find(Vec<f32>),
}

/// A scanned face and its aligned crop (when it could be read).
pub type FaceWithCrop = (ScannedFace, Option<RgbImage>);

/// The library as the People view shows it.
#[derive(Debug, Clone, Default)]
pub struct PeopleSnapshot {
    /// Groups, largest first, each with its representative face's crop.
    pub groups: Vec<(PeopleGroup, Option<RgbImage>)>,
    /// How many faces are unsorted.
    pub unsorted: usize,
    /// The open group's faces, with their crops.
    pub open: Option<(u64, Vec<FaceWithCrop>)>,
}

/// What people jobs report.
#[derive(Debug)]
pub enum PeopleEvent {
    /// The library, after a change or on request.
    Snapshot(PeopleSnapshot),
    /// A scan is under way.
    ScanProgress {
        /// Photos looked at.
        done: usize,
        /// Photos found.
        total: usize,
        /// Estimated seconds left.
        eta_secs: Option<f64>,
    },
    /// A scan finished (or was cancelled).
    ScanDone(ScanReport),
    /// "Find this person": photos best first, with the matching face's crop.
    Found(Vec<(PhotoMatch, Option<RgbImage>)>),
}

fn snapshot(
    local: &LocalBackend,
    open: Option<u64>,
) -> Result<PeopleSnapshot, facelens_core::GalleryError> {
    let people = local.gallery().people();
    let thumb = |face: u64| {
        people
            .thumbnail_png(face)
            .ok()
            .as_deref()
            .and_then(decode_thumb)
    };
    let groups = people
        .groups()?
        .into_iter()
        .map(|g| {
            let t = thumb(g.representative_face);
            (g, t)
        })
        .collect();
    let unsorted = people.faces(None)?.len();
    let open = match open {
        // A group merged away or emptied is simply no longer open.
        Some(id) => people.faces(Some(id)).ok().map(|faces| {
            let faces = faces
                .into_iter()
                .map(|f| {
                    let t = thumb(f.id);
                    (f, t)
                })
                .collect();
            (id, faces)
        }),
        None => None,
    };
    Ok(PeopleSnapshot {
        groups,
        unsorted,
        open,
    })
}

fn send_snapshot(local: &LocalBackend, open: Option<u64>, send: &impl Fn(Event)) {
    match snapshot(local, open) {
        Ok(s) => send(Event::People(PeopleEvent::Snapshot(s))),
        Err(e) => send(Event::Error(format!(
            "could not read the people library: {e}"
        ))),
    }
}

/// Runs a people job on the worker thread. Returns whether the gallery may have changed (a
/// named group enrols its faces).
pub fn run(local: &mut LocalBackend, job: PeopleJob, send: &impl Fn(Event)) -> bool {
    let params = Params::default();
    match job {
        PeopleJob::Refresh { open } => {
            send_snapshot(local, open, send);
            false
        }
        PeopleJob::Scan(dir, cancel) => {
            let (pipeline, gallery) = match local.parts_mut() {
                Ok(parts) => parts,
                Err(e) => {
                    send(Event::People(PeopleEvent::ScanDone(ScanReport::default())));
                    send(Event::Error(format!("cannot load the models: {e}")));
                    return false;
                }
            };
            let people = gallery.people();
            let result = scan(pipeline, &people, &dir, &params, &cancel, &mut |p| {
                send(Event::People(PeopleEvent::ScanProgress {
                    done: p.done,
                    total: p.total,
                    eta_secs: p.eta_ms.map(|ms| ms as f64 / 1000.0),
                }));
            });
            match result {
                Ok(report) => send(Event::People(PeopleEvent::ScanDone(report))),
                Err(e) => {
                    send(Event::People(PeopleEvent::ScanDone(ScanReport::default())));
                    send(Event::Error(format!("the scan stopped: {e}")));
                }
            }
            send_snapshot(local, None, send);
            true
        }
        PeopleJob::Name(group, name) => {
            let r = local.gallery().people().name(group, &name);
            if let Err(e) = r {
                send(Event::Error(format!("could not name the group: {e}")));
            }
            send_snapshot(local, Some(group), send);
            true
        }
        PeopleJob::Merge { into, from } => {
            let r = local.gallery().people().merge(into, from);
            if let Err(e) = r {
                send(Event::Error(format!("could not merge: {e}")));
            }
            send_snapshot(local, Some(into), send);
            true
        }
        PeopleJob::MoveFace { face, group, open } => {
            let r = local.gallery().people().move_face(face, group);
            if let Err(e) = r {
                send(Event::Error(format!("could not move the face: {e}")));
            }
            send_snapshot(local, open, send);
            true
        }
        PeopleJob::Find(embedding) => {
            let p = local.gallery().people();
            let r = p.find(&embedding, 200).map(|found| {
                found
                    .into_iter()
                    .map(|m| {
                        let t = p
                            .thumbnail_png(m.face)
                            .ok()
                            .as_deref()
                            .and_then(decode_thumb);
                        (m, t)
                    })
                    .collect()
            });
            match r {
                Ok(found) => send(Event::People(PeopleEvent::Found(found))),
                Err(e) => send(Event::Error(format!("could not search the photos: {e}"))),
            }
            false
        }
    }
}
