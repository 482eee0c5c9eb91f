//! Everything the UI (and tests) can ask the app to do. Panels push commands; `logic` runs them.

use std::path::PathBuf;

use crate::worker::Source;

/// A request from the UI.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Analyse an image (what a drop, paste, dialog or test produces).
    Open(Source),
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
    /// Show the photo or the People view.
    ShowView(crate::app::View),
    /// Ask for a folder to scan for people.
    PickScanFolder,
    /// Scan a folder (recursively) for people.
    ScanFolder(PathBuf),
    /// Stop the running scan.
    CancelScan,
    /// Show a group's faces (or none).
    OpenGroup(Option<u64>),
    /// Name a group (its faces join the gallery under the name).
    NameGroup(u64, String),
    /// Merge group `from` into group `into`.
    MergeGroups {
        /// The group that stays.
        into: u64,
        /// The group merged into it.
        from: u64,
    },
    /// Put a scanned face in another group (`Some`), or take it out of its group (`None`).
    MoveFace {
        /// The face.
        face: u64,
        /// The target group.
        group: Option<u64>,
    },
    /// Find every scanned photo showing face `n` of the current image.
    FindPerson(usize),
}
