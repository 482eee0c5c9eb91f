//! The photo canvas: fit-to-window with zoom and pan, every face boxed and numbered, landmarks
//! drawn, hover and click to select. Faces live in image pixels; `ui_from_image` maps them.

use egui::emath::RectTransform;
use egui::{Align2, Color32, FontId, Pos2, Rect, Sense, Stroke, StrokeKind, Vec2};

use super::{Command, FacelensApp};
use crate::theme;

impl FacelensApp {
    pub(super) fn canvas_ui(&mut self, ui: &mut egui::Ui) {
        let avail = ui.available_rect_before_wrap();
        let resp = ui.allocate_rect(avail, Sense::click_and_drag());
        let Some(cur) = &self.current else {
            let text = if self.is_busy() {
                "Analysing…"
            } else {
                "Drop a photo here, paste one (Ctrl+V), or open one (Ctrl+O)"
            };
            ui.painter().text(
                avail.center(),
                Align2::CENTER_CENTER,
                text,
                FontId::proportional(18.0),
                ui.visuals().weak_text_color(),
            );
            if resp.clicked() {
                self.push(Command::OpenDialog);
            }
            return;
        };
        // Zoom around the pointer, pan by dragging, double-click to fit again.
        if resp.hovered() {
            let scroll = ui.input(|i| i.smooth_scroll_delta.y);
            if scroll != 0.0 {
                let factor = (scroll * 0.002).exp();
                let new_zoom = (self.zoom * factor).clamp(0.2, 20.0);
                if let Some(p) = resp.hover_pos() {
                    let c = avail.center() + self.pan;
                    self.pan += (p - c) * (1.0 - new_zoom / self.zoom);
                }
                self.zoom = new_zoom;
            }
        }
        if resp.dragged() {
            self.pan += resp.drag_delta();
        }
        if resp.double_clicked() {
            self.zoom = 1.0;
            self.pan = Vec2::ZERO;
        }
        let size = cur.texture.size_vec2();
        let fit = (avail.width() / size.x).min(avail.height() / size.y);
        let image_in_ui = Rect::from_center_size(avail.center() + self.pan, size * fit * self.zoom);
        let ui_from_image =
            RectTransform::from_to(Rect::from_min_size(Pos2::ZERO, size), image_in_ui);
        let painter = ui.painter_at(avail);
        painter.image(
            cur.texture.id(),
            image_in_ui,
            Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)),
            Color32::WHITE,
        );

        // Hit-test in image pixels: the smallest box under the pointer wins.
        let image_from_ui = ui_from_image.inverse();
        self.hovered = resp.hover_pos().and_then(|p| {
            let q = image_from_ui.transform_pos(p);
            cur.analysis
                .faces
                .iter()
                .enumerate()
                .filter(|(_, f)| {
                    let b = &f.detection.bbox;
                    q.x >= b.x1 && q.x <= b.x2 && q.y >= b.y1 && q.y <= b.y2
                })
                .min_by(|a, b| {
                    let area = |f: &facelens_core::api::Face| {
                        f.detection.bbox.width() * f.detection.bbox.height()
                    };
                    area(a.1).total_cmp(&area(b.1))
                })
                .map(|(i, _)| i)
        });
        let clicked = resp.clicked().then_some(self.hovered).flatten();

        for (i, f) in cur.analysis.faces.iter().enumerate() {
            let b = &f.detection.bbox;
            let box_in_ui = ui_from_image.transform_rect(Rect::from_min_max(
                Pos2::new(b.x1, b.y1),
                Pos2::new(b.x2, b.y2),
            ));
            let active = self.selected == Some(i) || self.hovered == Some(i);
            let color = if active {
                theme::FACE_BOX_SELECTED
            } else {
                theme::FACE_BOX
            };
            let width = if active {
                theme::BOX_STROKE * 1.5
            } else {
                theme::BOX_STROKE
            };
            painter.rect_stroke(
                box_in_ui,
                2.0,
                Stroke::new(width, color),
                StrokeKind::Outside,
            );
            let tag = format!("{}", i + 1);
            let tag_rect = painter.text(
                box_in_ui.left_top() + Vec2::new(3.0, 2.0),
                Align2::LEFT_TOP,
                &tag,
                FontId::proportional(15.0),
                Color32::BLACK,
            );
            painter.rect_filled(tag_rect.expand(2.0), 2.0, color);
            painter.text(
                box_in_ui.left_top() + Vec2::new(3.0, 2.0),
                Align2::LEFT_TOP,
                &tag,
                FontId::proportional(15.0),
                Color32::BLACK,
            );
            let l = &f.detection.landmarks;
            let to_ui =
                |p: facelens_core::api::PointPx| ui_from_image.transform_pos(Pos2::new(p.x, p.y));
            for eye in [l.eye_left, l.eye_right] {
                painter.circle(
                    to_ui(eye),
                    theme::EYE_RADIUS,
                    theme::EYE,
                    Stroke::new(1.0, Color32::BLACK),
                );
            }
            for p in [l.nose, l.mouth_left, l.mouth_right] {
                painter.circle_filled(to_ui(p), theme::EYE_RADIUS * 0.6, theme::LANDMARK);
            }
        }
        if let Some(i) = clicked {
            self.push(Command::Select(Some(i)));
        }
    }
}
