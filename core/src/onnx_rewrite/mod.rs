//! Load-time rewrites of pinned ONNX graphs: the same function, in ops ONNX Runtime's CPU provider
//! runs faster. Pure functions from model bytes to model bytes; the files on disk stay as pinned.
//!
//! [`prelu_as_affine`]: MTCNN's nets (converted from Keras) follow every convolution with a PRelu,
//! a per-channel slope for negative values. ONNX Runtime runs PRelu as a branchy loop over every
//! element in plain NCHW layout, so around each PRelu the activations leave its blocked (NCHWc)
//! convolution layout and come back, and the loop's speed depends on the photo (measured: 39 ms
//! against 21 ms for the first P-Net level of two photos of the same size). Written as
//! `(1 − s)·Relu(x) + s·x`, the same function uses only ops that stay in the blocked layout (ONNX
//! Runtime turns the products with per-channel constants into depthwise convolutions) and do not
//! branch. The results differ by float rounding only (see the unit test and the MTCNN tests).

use std::collections::{HashMap, HashSet};

mod batch;
mod prune;

pub use batch::dynamic_batch;
pub use prune::prune_dead_channels;

use prost::Message;

use crate::onnx_proto::{
    AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, data_type,
};

/// Why a model could not be rewritten.
#[derive(Debug, thiserror::Error)]
pub enum RewriteError {
    /// The bytes are not an ONNX model.
    #[error("not an ONNX model: {0}")]
    Decode(#[from] prost::DecodeError),
    /// The model has no graph.
    #[error("the ONNX model has no graph")]
    NoGraph,
}

/// A rewritten model.
#[derive(Debug, Clone)]
pub struct Rewritten {
    /// The new model, serialised.
    pub bytes: Vec<u8>,
    /// Nodes replaced.
    pub replaced: usize,
}

/// The float values of an initializer (raw little-endian bytes or `float_data`).
pub(crate) fn float_values(t: &TensorProto) -> Option<Vec<f32>> {
    if t.data_type != data_type::FLOAT {
        return None;
    }
    if t.raw_data.is_empty() {
        return Some(t.float_data.clone());
    }
    t.raw_data.len().is_multiple_of(4).then(|| {
        t.raw_data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    })
}

/// A float initializer's dimensions and values.
pub(crate) fn constant(g: &GraphProto, name: &str) -> Option<(Vec<i64>, Vec<f32>)> {
    g.initializer
        .iter()
        .find(|t| t.name == name)
        .and_then(|t| float_values(t).map(|v| (t.dims.clone(), v)))
}

/// A float initializer from dimensions and values.
pub(crate) fn float_tensor(name: String, dims: Vec<i64>, values: &[f32]) -> TensorProto {
    TensorProto {
        dims,
        data_type: data_type::FLOAT,
        name,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..TensorProto::default()
    }
}

/// How many node inputs read each tensor (graph outputs count as a reader too).
pub(crate) fn readers(g: &GraphProto) -> HashMap<String, usize> {
    let mut n: HashMap<String, usize> = HashMap::new();
    for name in g.node.iter().flat_map(|x| x.input.iter()) {
        *n.entry(name.clone()).or_default() += 1;
    }
    for o in &g.output {
        *n.entry(o.name.clone()).or_default() += 1;
    }
    n
}

/// The index of the only node that reads `tensor`, when exactly one node (and no graph output)
/// does.
pub(crate) fn sole_reader(
    g: &GraphProto,
    readers: &HashMap<String, usize>,
    tensor: &str,
) -> Option<usize> {
    if readers.get(tensor) != Some(&1) {
        return None;
    }
    g.node
        .iter()
        .position(|n| n.input.iter().any(|i| i == tensor))
}

/// Drops initializers no node reads.
pub(crate) fn prune_initializers(g: &mut GraphProto) {
    let read: HashSet<String> = g
        .node
        .iter()
        .flat_map(|n| n.input.iter().cloned())
        .collect();
    g.initializer.retain(|t| read.contains(&t.name));
}

/// A `Conv` with constant float weights and bias (missing bias = zeros): weights' dims and values,
/// bias values.
pub(crate) fn conv_constants(
    g: &GraphProto,
    n: &NodeProto,
) -> Option<(Vec<i64>, Vec<f32>, Vec<f32>)> {
    if n.op_type != "Conv" || !n.domain.is_empty() || n.input.len() < 2 {
        return None;
    }
    let (dims, w) = constant(g, &n.input[1])?;
    let channels = usize::try_from(*dims.first()?).ok()?;
    let b = match n.input.get(2).filter(|b| !b.is_empty()) {
        Some(name) => constant(g, name)?.1,
        None => vec![0.0; channels],
    };
    (b.len() == channels && !w.is_empty()).then_some((dims, w, b))
}

/// A node's attribute, when present.
pub(crate) fn attr<'a>(n: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    n.attribute.iter().find(|a| a.name == name)
}

/// For a `Gemm` that computes `A·B + C` as written (A not transposed, alpha and beta 1, C missing
/// or a one-dimensional constant): whether B is stored transposed. `None` for any other node.
pub(crate) fn plain_gemm(g: &GraphProto, n: &NodeProto) -> Option<bool> {
    let plain = n.op_type == "Gemm"
        && n.domain.is_empty()
        && attr(n, "transA").is_none_or(|a| a.i == 0)
        && attr(n, "alpha").is_none_or(|a| a.f == 1.0)
        && attr(n, "beta").is_none_or(|a| a.f == 1.0)
        && n.input
            .get(2)
            .is_none_or(|c| constant(g, c).is_some_and(|(d, _)| d.len() == 1));
    plain.then(|| attr(n, "transB").is_some_and(|a| a.i == 1))
}

/// A count as an ONNX dimension.
pub(crate) fn dim(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) fn node(op: &str, name: String, inputs: &[&str], output: &str) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| (*s).to_owned()).collect(),
        output: vec![output.to_owned()],
        name,
        op_type: op.to_owned(),
        ..NodeProto::default()
    }
}

/// Replaces every `PRelu(x, s)` whose slope `s` is a float initializer by
/// `Add(Mul(Relu(x), 1 − s), Mul(x, s))`, in place (the node order stays topological). Other nodes,
/// and PRelus with a computed slope, are kept as they are.
///
/// # Errors
/// [`RewriteError`] when the bytes are not an ONNX model with a graph.
pub fn prelu_as_affine(model: &[u8]) -> Result<Rewritten, RewriteError> {
    let mut m = ModelProto::decode(model)?;
    let g = m.graph.as_mut().ok_or(RewriteError::NoGraph)?;
    let slopes: HashMap<String, (Vec<i64>, Vec<f32>)> = g
        .initializer
        .iter()
        .filter_map(|t| float_values(t).map(|v| (t.name.clone(), (t.dims.clone(), v))))
        .collect();
    let mut nodes = Vec::with_capacity(g.node.len());
    let mut replaced = 0;
    for n in std::mem::take(&mut g.node) {
        let slope = (n.op_type == "PRelu"
            && n.domain.is_empty()
            && n.input.len() == 2
            && n.output.len() == 1)
            .then(|| slopes.get(&n.input[1]))
            .flatten();
        let Some((dims, s)) = slope else {
            nodes.push(n);
            continue;
        };
        let (x, s_name, y) = (&n.input[0], &n.input[1], &n.output[0]);
        let tag = |what: &str| format!("facelens_prelu/{y}/{what}");
        let keep = tag("one_minus_slope");
        g.initializer.push(TensorProto {
            dims: dims.clone(),
            data_type: data_type::FLOAT,
            name: keep.clone(),
            raw_data: s.iter().flat_map(|v| (1.0 - v).to_le_bytes()).collect(),
            ..TensorProto::default()
        });
        let (relu, positive, linear) = (tag("relu"), tag("positive"), tag("linear"));
        nodes.push(node("Relu", relu.clone(), &[x], &relu));
        nodes.push(node("Mul", positive.clone(), &[&relu, &keep], &positive));
        nodes.push(node("Mul", linear.clone(), &[x, s_name], &linear));
        nodes.push(node("Add", tag("sum"), &[&positive, &linear], y));
        replaced += 1;
    }
    g.node = nodes;
    Ok(Rewritten {
        bytes: m.encode_to_vec(),
        replaced,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx_proto::{GraphProto, float_value_info};

    fn prelu_model(slope: &[f32]) -> Vec<u8> {
        let n = i64::try_from(slope.len()).unwrap_or(0);
        ModelProto {
            ir_version: 7,
            graph: Some(GraphProto {
                node: vec![
                    node("Relu", "first".into(), &["x"], "r"),
                    node("PRelu", "p".into(), &["r", "s"], "y"),
                    // A computed slope is left alone.
                    node("PRelu", "q".into(), &["y", "r"], "z"),
                ],
                initializer: vec![TensorProto {
                    dims: vec![1, n, 1, 1],
                    data_type: data_type::FLOAT,
                    name: "s".into(),
                    float_data: slope.to_vec(),
                    ..TensorProto::default()
                }],
                input: vec![float_value_info("x", &[1, n, 2, 2])],
                output: vec![float_value_info("z", &[1, n, 2, 2])],
                ..GraphProto::default()
            }),
            ..ModelProto::default()
        }
        .encode_to_vec()
    }

    #[test]
    fn prelu_with_a_constant_slope_becomes_relu_mul_add() {
        let r = prelu_as_affine(&prelu_model(&[0.25, -0.5, 1.5])).expect("rewrites");
        assert_eq!(r.replaced, 1);
        let m = ModelProto::decode(r.bytes.as_slice()).expect("decodes");
        let g = m.graph.expect("graph");
        let ops: Vec<&str> = g.node.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, ["Relu", "Relu", "Mul", "Mul", "Add", "PRelu"]);
        // The sum writes the PRelu's output name, so later nodes are untouched.
        assert_eq!(g.node[4].output, ["y"]);
        assert_eq!(g.node[5].input, ["y", "r"]);
        let keep = g
            .initializer
            .iter()
            .find(|t| t.name.ends_with("one_minus_slope"))
            .expect("1 - s");
        assert_eq!(keep.dims, [1, 3, 1, 1]);
        assert_eq!(float_values(keep), Some(vec![0.75, 1.5, -0.5]));
        // The function is the same: (1 − s)·max(x, 0) + s·x = x for x ≥ 0, s·x below.
        let s = [0.25f32, -0.5, 1.5];
        for x in [-2.0f32, -0.3, 0.0, 0.7, 3.0] {
            for (&si, &ki) in s.iter().zip(&[0.75f32, 1.5, -0.5]) {
                let prelu = if x >= 0.0 { x } else { si * x };
                assert!((ki * x.max(0.0) + si * x - prelu).abs() <= 1e-6 * x.abs().max(1.0));
            }
        }
    }

    #[test]
    fn bad_bytes_are_an_error() {
        assert!(matches!(
            prelu_as_affine(&[0xff, 0xff, 0xff]),
            Err(RewriteError::Decode(_))
        ));
        assert!(matches!(prelu_as_affine(&[]), Err(RewriteError::NoGraph)));
    }
}
