//! Everything the UI (and tests) can ask the app to do. Panels push commands; `logic` runs them.

use std::path::PathBuf;

use crate::worker::Source;

/// A request from the UI.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Analyse an image (what a drop, paste, dialog or test produces).
    Open(Source, Option<Vec<u8>>),
    /// Show the open-file dialog.
    OpenDialog,
    /// Paste from the clipboard (image or URL).
    Paste,
    /// Forget the current image.
    Clear,
    /// Select a face (or none).
    Select(Option<usize>),
    /// Select the next face.
    SelectNext,
    /// Select the previous face.
    SelectPrevious,
    /// Enrol face `face` of the current image under `name`. A low-quality face is enrolled only
    /// when `confirmed`; otherwise the window asks first.
    Enrol {
        /// Face index.
        face: usize,
        /// Person's name.
        name: String,
        /// The user confirmed enrolling a low-quality face.
        confirmed: bool,
    },
    /// Drop the pending "enrol a low-quality face?" question.
    CancelEnrol,
    /// Rename a gallery entry.
    Rename(u64, String),
    /// Delete a gallery entry.
    Delete(u64),
    /// Ask for a folder to import.
    PickImportFolder,
    /// Import a folder into the gallery.
    ImportFolder(PathBuf),
    /// Stop the running import.
    CancelImport,
    /// Change the detection threshold.
    SetThreshold(f32),
    /// Hide the error banner.
    DismissError,
    /// Switch between local and connected mode (connected uses the settings' server).
    SetMode(crate::app::Mode),
    /// Check the settings' server without switching to it.
    TestConnection,
    /// Analyse the last image on this computer (after a server failure).
    AnalyzeLocally,
}
