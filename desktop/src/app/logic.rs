//! Non-drawing work of a frame: worker events in, input turned into commands, commands run.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use egui::{ColorImage, Key, TextureOptions};

use super::{Command, ConfirmEnrol, Current, FacelensApp, Import, Mode, Status, View};
use crate::fetch::is_http_url;
use crate::people::{PeopleEvent, PeopleJob};
use crate::worker::{Event, Job, Source};

/// Uploads an RGB image as a texture.
pub fn texture(ctx: &egui::Context, name: &str, img: &image::RgbImage) -> egui::TextureHandle {
    let size = [img.width() as usize, img.height() as usize];
    let color = ColorImage::from_rgb(size, img.as_raw());
    ctx.load_texture(name, color, TextureOptions::LINEAR)
}

impl FacelensApp {
    pub(super) fn poll_worker(&mut self, ctx: &egui::Context) {
        while let Ok(ev) = self.worker.events.try_recv() {
            match ev {
                Event::Provision(p) => {
                    if let Status::Loading { lines, done, total } = &mut self.status {
                        if let facelens_core::provision::ProvisionEvent::Progress {
                            done: d,
                            total: t,
                        } = p
                        {
                            (*done, *total) = (d, t);
                        } else {
                            lines.push(crate::progress::describe_progress(&p));
                            if lines.len() > 8 {
                                lines.remove(0);
                            }
                        }
                    }
                }
                Event::Ready => self.status = Status::Ready,
                Event::LoadFailed(e) => self.status = Status::Failed(e),
                Event::Analyzed { id, source, result } => {
                    if self.pending.as_ref().is_some_and(|(p, _)| *p == id) {
                        self.pending = None;
                    }
                    match result {
                        Ok(b) => {
                            let (img, analysis, crops) = *b;
                            let tex = texture(ctx, "photo", &img);
                            let crop_tex = crops
                                .iter()
                                .enumerate()
                                .map(|(i, c)| texture(ctx, &format!("face-{i}"), c))
                                .collect();
                            self.selected = (!analysis.faces.is_empty()).then_some(0);
                            self.current = Some(Current {
                                source,
                                texture: tex,
                                analysis,
                                crops: crop_tex,
                                crop_pixels: crops,
                            });
                            self.zoom = 1.0;
                            self.pan = egui::Vec2::ZERO;
                            self.error = None;
                        }
                        Err(f) => {
                            self.error = Some(format!("{}: {}", source.describe(), f.message));
                            self.offer_local = f.local_fallback;
                        }
                    }
                }
                Event::Gallery(items) => {
                    self.gallery_textures.clear();
                    for it in &items {
                        if let Some(t) = &it.thumb {
                            let tex = texture(ctx, &format!("gallery-{}", it.entry.id), t);
                            self.gallery_textures.insert(it.entry.id, tex);
                        }
                    }
                    self.gallery = items;
                }
                Event::ImportProgress {
                    done,
                    total,
                    eta_secs,
                } => {
                    if let Some(imp) = &mut self.import {
                        imp.progress = (done, total, eta_secs);
                    }
                }
                Event::ImportDone {
                    enrolled,
                    failures,
                    cancelled,
                } => {
                    self.import = None;
                    self.import_report = Some((enrolled, failures, cancelled));
                }
                Event::People(ev) => self.people_event(ctx, ev),
                Event::Error(e) => {
                    self.error = Some(e);
                    self.offer_local = false;
                }
                Event::Connection { test, result } => {
                    if let (false, Err(e)) = (test, &result) {
                        self.error = Some(format!("connected mode: {e}"));
                        self.offer_local = false;
                    }
                    self.connection = Some(result);
                }
            }
        }
        let open = |path| Command::Open(Source::File(path));
        for (slot, then) in [
            (&mut self.dialog, &open as &dyn Fn(PathBuf) -> Command),
            (&mut self.folder_dialog, &Command::ImportFolder),
            (&mut self.scan_dialog, &Command::ScanFolder),
        ] {
            let Some(rx) = slot else { continue };
            match rx.try_recv() {
                Ok(Some(path)) => {
                    *slot = None;
                    self.commands.push(then(path));
                }
                Ok(None) | Err(mpsc::TryRecvError::Disconnected) => *slot = None,
                Err(mpsc::TryRecvError::Empty) => {}
            }
        }
    }

    /// Drops, pastes and shortcuts become commands.
    pub(super) fn handle_input(&mut self, ctx: &egui::Context) {
        let (dropped, pasted, open, paste_key, esc, next, prev) = ctx.input(|i| {
            let pasted: Vec<String> = i
                .events
                .iter()
                .filter_map(|e| {
                    if let egui::Event::Paste(t) = e {
                        Some(t.clone())
                    } else {
                        None
                    }
                })
                .collect();
            (
                i.raw.dropped_files.clone(),
                pasted,
                i.modifiers.command && i.key_pressed(Key::O),
                i.modifiers.command && i.key_pressed(Key::V),
                i.key_pressed(Key::Escape),
                i.key_pressed(Key::ArrowRight) || i.key_pressed(Key::ArrowDown),
                i.key_pressed(Key::ArrowLeft) || i.key_pressed(Key::ArrowUp),
            )
        });
        let typing = ctx.memory(|m| m.focused().is_some());
        for f in dropped {
            let path = f.path().to_path_buf();
            if path.as_os_str().is_empty() {
                match f.bytes() {
                    Ok(b) => self.push(Command::Open(Source::Bytes {
                        name: "dropped image".into(),
                        bytes: b.into(),
                    })),
                    Err(e) => self.error = Some(format!("the dropped item could not be read: {e}")),
                }
            } else {
                self.push(Command::Open(Source::File(path)));
            }
        }
        if !typing {
            for t in &pasted {
                if is_http_url(t) {
                    self.push(Command::Open(Source::Url(t.trim().to_owned())));
                }
            }
            if paste_key && pasted.is_empty() {
                self.push(Command::Paste);
            }
            if next {
                self.push(Command::SelectNext);
            }
            if prev {
                self.push(Command::SelectPrevious);
            }
        }
        if open {
            self.push(Command::OpenDialog);
        }
        if esc {
            self.push(Command::Clear);
        }
    }

    fn analyze(&mut self, source: Source, force_local: bool) {
        let id = self.next_request;
        self.next_request += 1;
        self.offer_local = false;
        if self.worker.send(Job::Analyze {
            id,
            source: source.clone(),
            force_local,
        }) {
            self.pending = Some((id, source));
        } else {
            self.error = Some("the analysis worker is busy or stopped; try again".into());
        }
    }

    pub(super) fn run_commands(&mut self, ctx: &egui::Context) {
        for cmd in std::mem::take(&mut self.commands) {
            self.run(ctx, cmd);
        }
    }

    fn run(&mut self, ctx: &egui::Context, cmd: Command) {
        match cmd {
            Command::Open(source) => {
                self.last_request = Some(source.clone());
                self.analyze(source, false);
            }
            Command::AnalyzeLocally => {
                if let Some(source) = self.last_request.clone() {
                    self.analyze(source, true);
                }
            }
            Command::SetMode(mode) => {
                self.settings.mode = mode;
                self.connection = None;
                let address = (mode == Mode::Connected).then(|| self.settings.server_address());
                if !self.worker.send(Job::SetConnection(address)) {
                    self.error = Some("the analysis worker is busy or stopped; try again".into());
                }
            }
            Command::TestConnection => {
                self.connection = None;
                let _ = self
                    .worker
                    .send(Job::TestConnection(self.settings.server_address()));
            }
            Command::OpenDialog => {
                self.dialog = Some(spawn_dialog(false));
            }
            Command::PickImportFolder => {
                self.folder_dialog = Some(spawn_dialog(true));
            }
            Command::Paste => self.paste_image(),
            Command::Clear => {
                self.current = None;
                self.selected = None;
                self.error = None;
            }
            Command::Select(i) => self.selected = i,
            Command::SelectNext | Command::SelectPrevious => {
                let n = self.current.as_ref().map_or(0, |c| c.analysis.faces.len());
                if n > 0 {
                    let cur = self.selected.unwrap_or(0);
                    self.selected = Some(if cmd == Command::SelectNext {
                        (cur + 1) % n
                    } else {
                        (cur + n - 1) % n
                    });
                }
            }
            Command::Enrol {
                face,
                name,
                confirmed,
            } => {
                self.confirm_enrol = None;
                let Some(c) = &self.current else { return };
                let (Some(f), Some(crop)) = (c.analysis.faces.get(face), c.crop_pixels.get(face))
                else {
                    return;
                };
                if name.trim().is_empty() {
                    self.error = Some("type a name before enrolling".into());
                    return;
                }
                if let Some(q) = f.quality.as_ref().filter(|q| q.low && !confirmed) {
                    self.confirm_enrol = Some(ConfirmEnrol {
                        face,
                        name,
                        reasons: q.reasons.join("; "),
                        score: q.score,
                    });
                    return;
                }
                self.worker.send(Job::Enrol {
                    name,
                    source: c.source.describe(),
                    embedding: f.embedding.clone(),
                    crop: crop.clone(),
                });
                self.enrol_name.clear();
            }
            Command::CancelEnrol => self.confirm_enrol = None,
            Command::Rename(id, name) => {
                self.worker.send(Job::Rename(id, name));
            }
            Command::Delete(id) => {
                self.worker.send(Job::Delete(id));
            }
            Command::ImportFolder(dir) => {
                let cancel = Arc::new(AtomicBool::new(false));
                if self.worker.send(Job::ImportFolder(dir, cancel.clone())) {
                    self.import_report = None;
                    self.import = Some(Import {
                        progress: (0, 0, 0.0),
                        cancel,
                    });
                }
            }
            Command::CancelImport => {
                if let Some(i) = &self.import {
                    i.cancel.store(true, Ordering::Relaxed);
                }
            }
            Command::SetThreshold(t) => {
                self.settings.threshold = t;
                self.worker.send(Job::SetThreshold(t));
            }
            Command::DismissError => {
                self.error = None;
                self.offer_local = false;
            }
            Command::ShowView(v) => {
                self.view = v;
                if v == View::People {
                    self.send_people(PeopleJob::Refresh {
                        open: self.open_group(),
                    });
                }
            }
            Command::PickScanFolder => self.scan_dialog = Some(spawn_dialog(true)),
            Command::ScanFolder(dir) => {
                let cancel = Arc::new(AtomicBool::new(false));
                if self.send_people(PeopleJob::Scan(dir, cancel.clone())) {
                    self.view = View::People;
                    self.people.scan_report = None;
                    self.people.scan = Some(Import {
                        progress: (0, 0, 0.0),
                        cancel,
                    });
                }
            }
            Command::CancelScan => {
                if let Some(s) = &self.people.scan {
                    s.cancel.store(true, Ordering::Relaxed);
                }
            }
            Command::OpenGroup(g) => {
                self.people.merge_from = None;
                self.people.name_edit = g
                    .and_then(|id| {
                        self.people
                            .snapshot
                            .groups
                            .iter()
                            .find(|(x, _)| x.id == id)
                            .and_then(|(x, _)| x.name.clone())
                    })
                    .unwrap_or_default();
                self.send_people(PeopleJob::Refresh { open: g });
            }
            Command::NameGroup(g, name) => {
                if name.trim().is_empty() {
                    self.error = Some("type a name first".into());
                } else {
                    self.send_people(PeopleJob::Name(g, name));
                }
            }
            Command::MergeGroups { into, from } => {
                self.people.merge_from = None;
                self.send_people(PeopleJob::Merge { into, from });
            }
            Command::MoveFace { face, group } => {
                self.send_people(PeopleJob::MoveFace {
                    face,
                    group,
                    open: self.open_group(),
                });
            }
            Command::FindPerson(i) => {
                let Some(f) = self.current.as_ref().and_then(|c| c.analysis.faces.get(i)) else {
                    return;
                };
                let embedding = f.embedding.clone();
                if self.send_people(PeopleJob::Find(embedding)) {
                    self.view = View::People;
                    self.people.found = None;
                }
            }
        }
        ctx.request_repaint();
    }

    fn open_group(&self) -> Option<u64> {
        self.people.snapshot.open.as_ref().map(|(id, _)| *id)
    }

    fn send_people(&mut self, job: PeopleJob) -> bool {
        let sent = self.worker.send(Job::People(job));
        if !sent {
            self.error = Some("the analysis worker is busy or stopped; try again".into());
        }
        sent
    }

    fn people_event(&mut self, ctx: &egui::Context, ev: PeopleEvent) {
        match ev {
            PeopleEvent::Snapshot(s) => {
                self.people.textures.clear();
                for (g, t) in &s.groups {
                    if let Some(t) = t {
                        let tex = texture(ctx, &format!("people-{}", g.representative_face), t);
                        self.people.textures.insert(g.representative_face, tex);
                    }
                }
                if let Some((_, faces)) = &s.open {
                    for (f, t) in faces {
                        if let Some(t) = t {
                            let tex = texture(ctx, &format!("people-{}", f.id), t);
                            self.people.textures.insert(f.id, tex);
                        }
                    }
                }
                self.people.snapshot = s;
            }
            PeopleEvent::ScanProgress {
                done,
                total,
                eta_secs,
            } => {
                if let Some(scan) = &mut self.people.scan {
                    scan.progress = (done, total, eta_secs.unwrap_or(f64::NAN));
                }
            }
            PeopleEvent::ScanDone(report) => {
                self.people.scan = None;
                self.people.scan_report = Some(report);
            }
            PeopleEvent::Found(found) => {
                for (m, t) in &found {
                    if let Some(t) = t {
                        let tex = texture(ctx, &format!("people-{}", m.face), t);
                        self.people.textures.insert(m.face, tex);
                    }
                }
                self.people.found = Some(found.into_iter().map(|(m, _)| m).collect());
            }
        }
    }

    fn paste_image(&mut self) {
        let got = arboard::Clipboard::new().and_then(|mut c| c.get_image());
        match got {
            Ok(img) => {
                let (w, h) = (
                    u32::try_from(img.width).unwrap_or(0),
                    u32::try_from(img.height).unwrap_or(0),
                );
                let Some(rgba) = image::RgbaImage::from_raw(w, h, img.bytes.into_owned()) else {
                    self.error = Some("the clipboard image has an unexpected layout".into());
                    return;
                };
                let mut png = std::io::Cursor::new(Vec::new());
                if image::DynamicImage::ImageRgba8(rgba)
                    .write_to(&mut png, image::ImageFormat::Png)
                    .is_ok()
                {
                    self.push(Command::Open(Source::Bytes {
                        name: "pasted image".into(),
                        bytes: png.into_inner().into(),
                    }));
                }
            }
            Err(_) => {
                self.error = Some("the clipboard holds no image or image URL".into());
            }
        }
    }
}

/// Runs the blocking file dialog on its own named thread; the answer arrives on the channel.
fn spawn_dialog(folder: bool) -> mpsc::Receiver<Option<PathBuf>> {
    let (tx, rx) = mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name("facelens-file-dialog".into())
        .spawn(move || {
            let d = rfd::FileDialog::new();
            let picked = if folder {
                d.pick_folder()
            } else {
                d.add_filter(
                    "Images",
                    &["jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff"],
                )
                .pick_file()
            };
            let _ = tx.send(picked);
        });
    if spawned.is_err() {
        let (tx, rx2) = mpsc::sync_channel(1);
        let _ = tx.send(None);
        return rx2;
    }
    rx
}
