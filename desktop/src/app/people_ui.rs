//! The People view: scan a folder, see the groups, open one, name, merge, take faces out, and the
//! photos "Find this person" found. Panels only push commands.

use std::path::PathBuf;

use egui::{ProgressBar, RichText};
use facelens_core::people::PeopleGroup;

use super::{Command, FacelensApp, View};
use crate::worker::Source;

const THUMB_PX: f32 = 72.0;

fn file_name(path: &str) -> String {
    std::path::Path::new(path)
        .file_name()
        .map_or_else(|| path.to_owned(), |n| n.to_string_lossy().into_owned())
}

impl FacelensApp {
    fn face_image(&self, ui: &mut egui::Ui, face: u64, side: f32) {
        match self.people.textures.get(&face) {
            Some(t) => {
                ui.add(egui::Image::new(egui::load::SizedTexture::new(
                    t.id(),
                    [side, side],
                )));
            }
            None => {
                ui.allocate_space(egui::vec2(side, side));
            }
        }
    }

    fn open_photo(&mut self, path: &str) {
        self.push(Command::Open(Source::File(PathBuf::from(path))));
        self.push(Command::ShowView(View::Photo));
    }

    pub(super) fn people_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.heading("People");
            if ui
                .add_enabled(self.people.scan.is_none(), egui::Button::new("Scan a folder…"))
                .on_hover_text("Find the faces in every photo under a folder and group them by person; no labels needed. Photos scanned before are skipped.")
                .clicked()
            {
                self.push(Command::PickScanFolder);
            }
        });
        if let Some(scan) = &self.people.scan {
            let (done, total, eta) = scan.progress;
            ui.horizontal(|ui| {
                let frac = if total == 0 {
                    0.0
                } else {
                    done as f32 / total as f32
                };
                let eta = if eta.is_finite() {
                    format!(", about {eta:.0} s left")
                } else {
                    String::new()
                };
                ui.add(
                    ProgressBar::new(frac)
                        .desired_width(320.0)
                        .text(format!("Scanning {done} of {total} photos{eta}")),
                );
                if ui.button("Cancel scan").clicked() {
                    self.push(Command::CancelScan);
                }
            });
        }
        if let Some(r) = self.people.scan_report.clone() {
            ui.label(format!(
                "{}Scanned {} of {} photos ({} already known): {} faces, {} grouped, {} unsorted (low quality), {} new groups.",
                if r.cancelled { "Cancelled. " } else { "" },
                r.scanned,
                r.found,
                r.skipped,
                r.faces,
                r.cluster.grouped,
                r.cluster.unsorted,
                r.cluster.groups_opened
            ));
            if !r.unreadable.is_empty() {
                egui::CollapsingHeader::new(format!("{} unreadable file(s)", r.unreadable.len()))
                    .show(ui, |ui| {
                        for u in &r.unreadable {
                            ui.label(format!("{}: {}", u.path, u.error));
                        }
                    });
            }
            if !r.not_scanned.is_empty() {
                egui::CollapsingHeader::new(format!(
                    "{} entr{} not scanned",
                    r.not_scanned.len(),
                    if r.not_scanned.len() == 1 { "y" } else { "ies" }
                ))
                .show(ui, |ui| {
                    for u in &r.not_scanned {
                        ui.label(format!("{}: {}", u.path, u.error));
                    }
                });
            }
        }
        ui.separator();
        egui::ScrollArea::vertical().show(ui, |ui| {
            self.found_ui(ui);
            self.open_group_ui(ui);
            self.groups_ui(ui);
        });
    }

    fn found_ui(&mut self, ui: &mut egui::Ui) {
        let Some(found) = self.people.found.clone() else {
            return;
        };
        ui.horizontal(|ui| {
            ui.label(
                RichText::new(format!(
                    "This person is in {} scanned photo(s)",
                    found.len()
                ))
                .strong(),
            );
            if ui.button("Close").clicked() {
                self.people.found = None;
            }
        });
        if found.is_empty() {
            ui.label("No scanned photo shows this person. Scan a folder first.");
        }
        for m in &found {
            ui.horizontal(|ui| {
                self.face_image(ui, m.face, 48.0);
                ui.label(format!("{:.0} %", m.score * 100.0))
                    .on_hover_text(format!("cosine {:.3}", m.cosine));
                if ui
                    .link(file_name(&m.photo))
                    .on_hover_text(&m.photo)
                    .clicked()
                {
                    self.open_photo(&m.photo);
                }
            });
        }
        ui.separator();
    }

    fn open_group_ui(&mut self, ui: &mut egui::Ui) {
        let Some((id, faces)) = self.people.snapshot.open.clone() else {
            return;
        };
        let group = self
            .people
            .snapshot
            .groups
            .iter()
            .find(|(g, _)| g.id == id)
            .map(|(g, _)| g.clone());
        ui.horizontal(|ui| {
            ui.label(
                RichText::new(match group.as_ref().and_then(|g| g.name.clone()) {
                    Some(n) => format!("{n}: {} face(s)", faces.len()),
                    None => format!("Group {id}: {} face(s)", faces.len()),
                })
                .strong(),
            );
            if ui.button("Close group").clicked() {
                self.push(Command::OpenGroup(None));
            }
        });
        ui.horizontal(|ui| {
            let label = ui.label("Name:");
            ui.text_edit_singleline(&mut self.people.name_edit)
                .labelled_by(label.id);
            if ui.button("Name this person").clicked() {
                let name = self.people.name_edit.clone();
                self.push(Command::NameGroup(id, name));
            }
        });
        let others: Vec<(u64, String)> = self
            .people
            .snapshot
            .groups
            .iter()
            .filter(|(g, _)| g.id != id)
            .map(|(g, _)| {
                (
                    g.id,
                    g.name
                        .clone()
                        .unwrap_or_else(|| format!("Group {} ({} faces)", g.id, g.faces)),
                )
            })
            .collect();
        if !others.is_empty() {
            ui.horizontal(|ui| {
                let picked = self
                    .people
                    .merge_from
                    .and_then(|m| others.iter().find(|(o, _)| *o == m))
                    .map_or_else(|| "choose a group".to_owned(), |(_, n)| n.clone());
                egui::ComboBox::from_label("same person: merge into this group")
                    .selected_text(picked)
                    .show_ui(ui, |ui| {
                        for (o, n) in &others {
                            ui.selectable_value(&mut self.people.merge_from, Some(*o), n);
                        }
                    });
                if let Some(from) = self.people.merge_from
                    && ui.button("Merge").clicked()
                {
                    self.push(Command::MergeGroups { into: id, from });
                }
            });
        }
        for (f, _) in &faces {
            ui.horizontal(|ui| {
                self.face_image(ui, f.id, 48.0);
                if ui
                    .link(file_name(&f.photo))
                    .on_hover_text(&f.photo)
                    .clicked()
                {
                    self.open_photo(&f.photo);
                }
                ui.label(format!("quality {:.2}", f.quality));
                if ui
                    .button("Not this person")
                    .on_hover_text("Take the face out of the group; it stays unsorted")
                    .clicked()
                {
                    self.push(Command::MoveFace {
                        face: f.id,
                        group: None,
                    });
                }
                if !others.is_empty() {
                    egui::ComboBox::from_id_salt(("move", f.id))
                        .selected_text("Move to…")
                        .show_ui(ui, |ui| {
                            for (o, n) in &others {
                                if ui.selectable_label(false, n).clicked() {
                                    self.push(Command::MoveFace {
                                        face: f.id,
                                        group: Some(*o),
                                    });
                                }
                            }
                        });
                }
            });
        }
        ui.separator();
    }

    fn groups_ui(&mut self, ui: &mut egui::Ui) {
        let groups: Vec<PeopleGroup> = self
            .people
            .snapshot
            .groups
            .iter()
            .map(|(g, _)| g.clone())
            .collect();
        ui.label(format!(
            "{} group(s), {} unsorted face(s)",
            groups.len(),
            self.people.snapshot.unsorted
        ));
        if groups.is_empty() {
            ui.label("Scan a folder of photos to see the people in them.");
            return;
        }
        // People seen once (often strangers in the background) do not crowd out the others.
        let (several, once): (Vec<PeopleGroup>, Vec<PeopleGroup>) =
            groups.into_iter().partition(|g| g.faces > 1 || g.locked);
        self.group_grid(ui, "people-groups", &several);
        if !once.is_empty() {
            egui::CollapsingHeader::new(format!("Seen in one photo only ({})", once.len()))
                .show(ui, |ui| self.group_grid(ui, "people-seen-once", &once));
        }
    }

    fn group_grid(&mut self, ui: &mut egui::Ui, id: &str, groups: &[PeopleGroup]) {
        let per_row = ((ui.available_width() / (THUMB_PX + 60.0)).floor() as usize).max(1);
        egui::Grid::new(id).show(ui, |ui| {
            for (i, g) in groups.iter().enumerate() {
                ui.vertical(|ui| {
                    self.face_image(ui, g.representative_face, THUMB_PX);
                    let title = g.name.clone().unwrap_or_else(|| format!("Group {}", g.id));
                    let open = self
                        .people
                        .snapshot
                        .open
                        .as_ref()
                        .is_some_and(|(o, _)| *o == g.id);
                    if ui.selectable_label(open, title).clicked() {
                        self.push(Command::OpenGroup(Some(g.id)));
                    }
                    ui.label(format!("{} faces, {} photos", g.faces, g.photos));
                });
                if (i + 1) % per_row == 0 {
                    ui.end_row();
                }
            }
        });
    }
}
