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

/// The app icon (assets/icons/facelens-256.png, drawn from facelens.svg) for the window.
#[must_use]
pub fn app_icon() -> Option<egui::IconData> {
    let img = image::load_from_memory_with_format(
        include_bytes!("../../assets/icons/facelens-256.png"),
        image::ImageFormat::Png,
    )
    .ok()?
    .into_rgba8();
    Some(egui::IconData {
        width: img.width(),
        height: img.height(),
        rgba: img.into_raw(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_app_icon_decodes() {
        let icon = super::app_icon().expect("icon");
        assert_eq!((icon.width, icon.height), (256, 256));
        assert_eq!(icon.rgba.len(), 256 * 256 * 4);
    }
}
