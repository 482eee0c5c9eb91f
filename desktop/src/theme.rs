//! Colours and sizes of the overlay, in one place.

use egui::Color32;

/// Box of an unselected face.
pub const FACE_BOX: Color32 = Color32::from_rgb(0, 200, 255);
/// Box of the selected or hovered face.
pub const FACE_BOX_SELECTED: Color32 = Color32::from_rgb(255, 210, 0);
/// Eye points.
pub const EYE: Color32 = Color32::from_rgb(60, 255, 90);
/// Nose and mouth corners.
pub const LANDMARK: Color32 = Color32::from_rgb(255, 120, 40);
/// Error banner background.
pub const ERROR_BG: Color32 = Color32::from_rgb(120, 20, 20);
/// Success text (connection checks).
pub const OK: Color32 = Color32::from_rgb(40, 170, 70);
/// Drop-target overlay.
pub const DROP_OVERLAY: Color32 = Color32::from_rgba_premultiplied(0, 90, 160, 150);
/// Face box stroke width in points.
pub const BOX_STROKE: f32 = 2.0;
/// Eye point radius in points.
pub const EYE_RADIUS: f32 = 4.0;
