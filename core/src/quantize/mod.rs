//! Static int8 quantisation of the pinned float models, done by facelens itself at provisioning,
//! like the TFJS conversion: a pure function from the float model's bytes and the calibrated
//! activation ranges (`models/calibration.toml`, compiled in) to an int8 model in ONNX's QDQ form,
//! pinned by sha256 in the manifest (`quantize = { from = "…" }`).
//!
//! Three steps, each its own file:
//! - [`fold`]: float simplifications, so each convolution ends where an int8 kernel can end it.
//! - [`calibrate`]: runs the folded float model on the inputs the pipeline built for real faces
//!   (recorded with [`crate::models::record_inputs`]) and keeps each quantised tensor's range.
//!   A development step (`facelens models calibrate`), its result checked in.
//! - [`qdq`]: the rewrite to QDQ form with int8 weights per channel and uint8 activations.
//!
//! Accuracy against the float models is measured on real photos by the integration test
//! `int8_models_agree_with_float` and in `bench/RESULTS.md`; `SessionOptions::int8` chooses.

pub mod calibrate;
pub mod fold;
pub mod qdq;

use std::collections::BTreeMap;

use prost::Message;

use crate::onnx_proto::{ModelProto, OperatorSetIdProto};

pub use qdq::WeightBits;

/// Why a model could not be quantised.
#[derive(Debug, thiserror::Error)]
pub enum QuantizeError {
    /// The bytes are not an ONNX model.
    #[error("not an ONNX model: {0}")]
    Decode(#[from] prost::DecodeError),
    /// The model has no graph.
    #[error("the ONNX model has no graph")]
    NoGraph,
    /// The model's opset is below 13 and it uses an op whose meaning may have changed since.
    #[error("opset {opset} with op `{op}`: cannot raise it to 13 safely")]
    Opset {
        /// The model's default-domain opset.
        opset: i64,
        /// The first op not known to mean the same at opset 13.
        op: String,
    },
    /// A tensor to quantise has no calibrated range.
    #[error("no calibrated range for tensor `{0}` (run `facelens models calibrate`)")]
    MissingRange(String),
    /// The calibration table has no entry for the model.
    #[error("the calibration table has no ranges for model `{0}`")]
    NotCalibrated(String),
    /// The calibration table cannot be read.
    #[error("calibration table: {0}")]
    Table(String),
}

/// The opset QDQ with per-channel scales needs.
const QDQ_OPSET: i64 = 13;

/// Ops whose definition is the same from opset 9 to 13 for float tensors (the versions in between
/// only added types or attributes with the old default).
const SAME_SINCE_OPSET_9: &[&str] = &[
    "Conv",
    "PRelu",
    "Add",
    "Mul",
    "Relu",
    "Reshape",
    "MaxPool",
    "AveragePool",
    "Gemm",
    "Transpose",
];

/// Raises the default-domain opset to 13 where that keeps every op's meaning.
fn raise_opset(m: &mut ModelProto) -> Result<(), QuantizeError> {
    let ops: Vec<String> = m
        .graph
        .as_ref()
        .map(|g| g.node.iter().map(|n| n.op_type.clone()).collect())
        .unwrap_or_default();
    let default = m
        .opset_import
        .iter_mut()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx");
    match default {
        Some(o) if o.version >= QDQ_OPSET => Ok(()),
        Some(o) => {
            if let Some(op) = ops
                .iter()
                .find(|op| !SAME_SINCE_OPSET_9.contains(&op.as_str()))
            {
                return Err(QuantizeError::Opset {
                    opset: o.version,
                    op: op.clone(),
                });
            }
            if o.version < 9 {
                return Err(QuantizeError::Opset {
                    opset: o.version,
                    op: String::new(),
                });
            }
            o.version = QDQ_OPSET;
            Ok(())
        }
        None => {
            m.opset_import.push(OperatorSetIdProto {
                domain: String::new(),
                version: QDQ_OPSET,
            });
            Ok(())
        }
    }
}

/// The folded float model and the tensors whose ranges quantising it needs.
#[derive(Debug, Clone)]
pub struct Prepared {
    model: ModelProto,
    /// Tensors to calibrate, in graph order.
    pub tensors: Vec<String>,
}

impl Prepared {
    /// Decodes, raises the opset and folds `model`.
    ///
    /// # Errors
    /// [`QuantizeError`] when the bytes are not a model this can quantise.
    pub fn new(model: &[u8]) -> Result<Self, QuantizeError> {
        let mut m = ModelProto::decode(model)?;
        raise_opset(&mut m)?;
        let g = m.graph.as_mut().ok_or(QuantizeError::NoGraph)?;
        fold::fold(g);
        let tensors = qdq::plan(g);
        Ok(Self { model: m, tensors })
    }

    /// The folded float model with every tensor to calibrate added as a graph output.
    #[must_use]
    pub fn with_tensors_as_outputs(&self) -> Vec<u8> {
        let mut m = self.model.clone();
        if let Some(g) = m.graph.as_mut() {
            let inputs: Vec<String> = g.input.iter().map(|i| i.name.clone()).collect();
            // A graph input as an output would alias the caller's input buffer (freed after the
            // run): its range comes from the input itself.
            for t in self.tensors.iter().filter(|t| !inputs.contains(t)) {
                let mut info = crate::onnx_proto::float_value_info(t, &[]);
                if let Some(tt) = info.r#type.as_mut().and_then(|t| t.tensor_type.as_mut()) {
                    tt.shape = None;
                }
                g.output.push(info);
            }
        }
        m.encode_to_vec()
    }

    /// The int8 model (QDQ form) for the calibrated `ranges`.
    ///
    /// # Errors
    /// [`QuantizeError::MissingRange`] when a tensor of [`Prepared::tensors`] has no range.
    pub fn quantize(
        &self,
        ranges: &BTreeMap<String, [f32; 2]>,
        bits: WeightBits,
    ) -> Result<Vec<u8>, QuantizeError> {
        let mut m = self.model.clone();
        let g = m.graph.as_mut().ok_or(QuantizeError::NoGraph)?;
        qdq::insert(g, ranges, bits)?;
        m.producer_name = "facelens".into();
        Ok(m.encode_to_vec())
    }
}

/// The int8 model of `model` (the float file's bytes) with the compiled-in calibration table's
/// ranges for `id`: what provisioning writes. Deterministic, so its sha256 is pinned.
///
/// # Errors
/// [`QuantizeError`].
pub fn quantize_model(id: &str, model: &[u8]) -> Result<Vec<u8>, QuantizeError> {
    quantize_with(&calibrate::Table::embedded()?, id, model)
}

/// As [`quantize_model`], with the ranges of `table` (a calibration not yet compiled in).
///
/// # Errors
/// [`QuantizeError`].
pub fn quantize_with(
    table: &calibrate::Table,
    id: &str,
    model: &[u8],
) -> Result<Vec<u8>, QuantizeError> {
    let entry = table
        .models
        .get(id)
        .ok_or_else(|| QuantizeError::NotCalibrated(id.to_owned()))?;
    Prepared::new(model)?.quantize(&entry.ranges, calibrate::WEIGHT_BITS)
}
