//! TensorFlow.js graph model → ONNX, in Rust, so provisioning needs neither Python nor TensorFlow.
//!
//! The converter reads `model.json` (node list + weights manifest) and the weight shards,
//! dequantises float16/uint8 weights to f32, and rewrites the graph into ONNX opset 13. TF's NHWC
//! activations become NCHW right after the input (one Transpose) and stay NCHW: filters, biases and
//! reduction axes are rewritten to match, and rank-4 outputs are transposed back. Input and output
//! names are the graph's own (its signature keys where it has them, else `node:0`).
//!
//! Exactly the ops the three pinned graphs use are supported (see [`SUPPORTED_OPS`]); any other op
//! fails with [`ConvertError::UnsupportedOp`] naming it. The output is deterministic byte for byte,
//! so the manifest pins its sha256.

mod graph;
mod ops;

pub use graph::{Const, ConstData, Graph, Node, parse};

/// TF ops the converter maps, and the fused activations it accepts.
pub const SUPPORTED_OPS: &[&str] = &[
    "Placeholder",
    "Const",
    "Identity",
    "Conv2D",
    "DepthwiseConv2dNative",
    "_FusedConv2D (BiasAdd, Relu)",
    "_FusedMatMul (BiasAdd, Relu)",
    "MaxPool",
    "Mean",
    "Max",
    "Add",
    "AddV2",
    "Mul",
    "Minimum",
    "Maximum",
    "Relu",
    "Sigmoid",
    "Softmax",
];

/// Why a graph could not be converted.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The JSON or weights are not a valid TFJS graph model.
    #[error("malformed TFJS graph: {0}")]
    Malformed(String),
    /// The graph uses an op the converter does not map.
    #[error("unsupported TF op `{op}` at node `{node}` (supported: {})", SUPPORTED_OPS.join(", "))]
    UnsupportedOp {
        /// TF op type.
        op: String,
        /// Node name.
        node: String,
    },
    /// A supported op is used with attributes or inputs the converter does not handle.
    #[error("unsupported use: {0}")]
    Unsupported(String),
}

/// Converts a TFJS graph model to ONNX bytes. `shards` are the weight files of all
/// `weightsManifest` groups, in manifest order.
///
/// # Errors
/// [`ConvertError`] for malformed input or unsupported ops.
pub fn convert(model_json: &[u8], shards: &[&[u8]]) -> Result<Vec<u8>, ConvertError> {
    let graph = graph::parse(model_json, shards)?;
    let model = ops::build(&graph)?;
    Ok(prost::Message::encode_to_vec(&model))
}

/// The distinct op types of a graph, sorted (for reports and the closing note).
///
/// # Errors
/// As [`parse`].
pub fn op_list(model_json: &[u8], shards: &[&[u8]]) -> Result<Vec<String>, ConvertError> {
    let g = graph::parse(model_json, shards)?;
    let set: std::collections::BTreeSet<String> = g.nodes.iter().map(|n| n.op.clone()).collect();
    Ok(set.into_iter().collect())
}
