//! # facelens_core
//!
//! The face pipeline: decode → detect (MTCNN pyramid) → align (5-point similarity, 112×112) →
//! embed (512-d) → analyse (age, gender, race, emotion) → search a gallery. Groups the faces of
//! unlabelled photos by person ([`people`]). Also provisions its own models from pinned registry
//! packages, converts TensorFlow.js graphs to ONNX and quantises float models to int8
//! ([`quantize`]) in Rust.
//!
//! Knows nothing of UIs or HTTP; the desktop app and the server are thin layers over [`Pipeline`].
//!
//! ```no_run
//! use facelens_core::{Pipeline, PipelineConfig};
//! let mut pipeline = Pipeline::load(&PipelineConfig::default(), &mut |e| eprintln!("{e:?}"))?;
//! let analysis = pipeline.analyze_file(std::path::Path::new("group.jpg"), None)?;
//! for face in &analysis.faces {
//!     println!("{:?} age {:.0}", face.detection.bbox, face.attributes.age.years);
//! }
//! # Ok::<(), facelens_core::CoreError>(())
//! ```

pub mod anonymise;
pub mod api;
pub mod calibration;
pub mod error;
#[doc(hidden)]
pub mod fuzz_entry;
pub mod gallery;
pub mod geometry;
pub mod image_io;
pub mod manifest;
pub mod models;
mod onnx_proto;
pub mod onnx_rewrite;
pub mod people;
pub mod pipeline;
pub mod preprocess;
pub mod provision;
pub mod pyramid;
pub mod quality;
pub mod quantize;
pub mod runtime;
pub mod stages;
pub mod tfjs;

pub use error::{CoreError, GalleryError, ImageError, ModelError, ProvisionError};
pub use pipeline::{Pipeline, PipelineConfig};
