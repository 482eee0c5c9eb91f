//! The int8 rewrite proper, in ONNX's QDQ form: `QuantizeLinear → DequantizeLinear` pairs around
//! the tensors that convolutions, `Gemm`s and two-input `Add`s read and write, weights stored as
//! int8 per output channel and biases as int32. ONNX Runtime fuses each such group into one
//! integer kernel (`QLinearConv`, `QGemm`, `QLinearAdd`); ops in between run on the dequantised
//! floats.
//!
//! Activations are uint8 with a zero point (the calibrated range, widened to include 0); weights
//! are symmetric int8. With [`WeightBits::Seven`] weights use ±63: on x86 CPUs without VNNI, ONNX
//! Runtime multiplies uint8 by int8 with an instruction that saturates int16 pair sums
//! (255·127·2 > 32767), and 7-bit weights keep every sum exact.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::QuantizeError;
use crate::onnx_proto::{AttributeProto, GraphProto, NodeProto, TensorProto, data_type};
use crate::onnx_rewrite::{constant, dim, float_tensor, plain_gemm, readers, sole_reader};

/// The width of the weights' integer range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightBits {
    /// ±127.
    Eight,
    /// ±63: exact on every x86 CPU (see the module doc).
    Seven,
}

impl WeightBits {
    fn max(self) -> f32 {
        match self {
            Self::Eight => 127.0,
            Self::Seven => 63.0,
        }
    }
}

/// Scale and zero point of a uint8 activation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActivationParams {
    /// Real value of one step.
    pub scale: f32,
    /// The uint8 that stands for 0.0.
    pub zero_point: u8,
}

/// uint8 parameters covering `[lo, hi]` widened to include 0 (so that 0.0, the padding of every
/// convolution, is exact). An empty or degenerate range gets scale 1.
#[must_use]
pub fn activation_params(lo: f32, hi: f32) -> ActivationParams {
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    let scale = (hi - lo) / 255.0;
    if !(scale.is_finite() && scale > 0.0) {
        return ActivationParams {
            scale: 1.0,
            zero_point: 0,
        };
    }
    let zero_point = (-lo / scale).round().clamp(0.0, 255.0) as u8;
    ActivationParams { scale, zero_point }
}

/// Symmetric per-channel int8 weights: values and one scale per channel of `axis` (`dims` is the
/// weight's shape). An all-zero channel gets scale 1.
#[must_use]
pub fn quantize_weights(
    w: &[f32],
    dims: &[usize],
    axis: usize,
    bits: WeightBits,
) -> (Vec<i8>, Vec<f32>) {
    let channels = dims.get(axis).copied().unwrap_or(1).max(1);
    let inner: usize = dims.iter().skip(axis + 1).product();
    let index = |i: usize| (i / inner.max(1)) % channels;
    let mut max_abs = vec![0.0f32; channels];
    for (i, &v) in w.iter().enumerate() {
        let c = index(i);
        max_abs[c] = max_abs[c].max(v.abs());
    }
    let q = bits.max();
    let scales: Vec<f32> = max_abs
        .iter()
        .map(|&m| if m > 0.0 && m.is_finite() { m / q } else { 1.0 })
        .collect();
    let values = w
        .iter()
        .enumerate()
        .map(|(i, &v)| (v / scales[index(i)]).round().clamp(-q, q) as i8)
        .collect();
    (values, scales)
}

/// int32 bias values at scale `x_scale · w_scale[c]` (what the integer accumulator holds).
#[must_use]
pub fn quantize_bias(b: &[f32], x_scale: f32, w_scales: &[f32]) -> (Vec<i32>, Vec<f32>) {
    let scales: Vec<f32> = w_scales.iter().map(|&s| x_scale * s).collect();
    let values = b
        .iter()
        .zip(&scales)
        .map(|(&v, &s)| {
            (f64::from(v) / f64::from(s))
                .round()
                .clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32
        })
        .collect();
    (values, scales)
}

/// A node whose weight is quantised: its index, and the axis of its output channels in the weight.
struct Weighted {
    node: usize,
    axis: usize,
}

/// Conv and Gemm nodes with float-initializer weights (and bias), and the weight's channel axis.
fn weighted(g: &GraphProto) -> Vec<Weighted> {
    g.node
        .iter()
        .enumerate()
        .filter(|(_, n)| n.domain.is_empty() && n.input.len() >= 2)
        .filter(|(_, n)| constant(g, &n.input[1]).is_some())
        .filter(|(_, n)| {
            n.input
                .get(2)
                .is_none_or(|b| b.is_empty() || constant(g, b).is_some())
        })
        .filter_map(|(i, n)| match n.op_type.as_str() {
            "Conv" => Some(Weighted { node: i, axis: 0 }),
            "Gemm" => plain_gemm(g, n).map(|transposed| Weighted {
                node: i,
                axis: if transposed { 0 } else { 1 },
            }),
            _ => None,
        })
        .collect()
}

/// Follows `t` through `Relu`s and `Clip`s that are its only reader: ONNX Runtime removes such an
/// activation when a quantiser follows it whose range it already implies.
fn after_activations(g: &GraphProto, readers: &HashMap<String, usize>, mut t: String) -> String {
    while let Some(j) = sole_reader(g, readers, &t) {
        let n = &g.node[j];
        if !(n.op_type == "Relu" || n.op_type == "Clip") || n.input[0] != t {
            break;
        }
        t = n.output[0].clone();
    }
    t
}

/// The activations to quantise, in graph order: every input of a weighted node, every input of a
/// two-tensor `Add`, and their outputs (after a following `Relu`/`Clip`). Graph outputs stay
/// float.
#[must_use]
pub fn plan(g: &GraphProto) -> Vec<String> {
    let readers = readers(g);
    let is_const: HashSet<&str> = g.initializer.iter().map(|t| t.name.as_str()).collect();
    let graph_out: HashSet<&str> = g.output.iter().map(|o| o.name.as_str()).collect();
    let mut wanted: HashSet<String> = HashSet::new();
    let mark = |t: String, wanted: &mut HashSet<String>| {
        if !graph_out.contains(t.as_str()) && !is_const.contains(t.as_str()) {
            wanted.insert(t);
        }
    };
    for w in weighted(g) {
        let n = &g.node[w.node];
        mark(n.input[0].clone(), &mut wanted);
        mark(
            after_activations(g, &readers, n.output[0].clone()),
            &mut wanted,
        );
    }
    for n in &g.node {
        if n.op_type == "Add"
            && n.input.len() == 2
            && n.input.iter().all(|i| !is_const.contains(i.as_str()))
        {
            for i in &n.input {
                mark(i.clone(), &mut wanted);
            }
            mark(
                after_activations(g, &readers, n.output[0].clone()),
                &mut wanted,
            );
        }
    }
    // Graph order: graph inputs, then node outputs as produced.
    g.input
        .iter()
        .map(|i| &i.name)
        .chain(g.node.iter().flat_map(|n| n.output.iter()))
        .filter(|t| wanted.contains(*t))
        .cloned()
        .collect()
}

fn tensor(name: String, dims: Vec<i64>, data_type: i32, raw_data: Vec<u8>) -> TensorProto {
    TensorProto {
        dims,
        data_type,
        name,
        raw_data,
        ..TensorProto::default()
    }
}

fn op(op_type: &str, inputs: Vec<String>, output: String, axis: Option<i64>) -> NodeProto {
    NodeProto {
        name: format!("{output}/node"),
        input: inputs,
        output: vec![output],
        op_type: op_type.into(),
        attribute: axis
            .map(|a| AttributeProto::int("axis", a))
            .into_iter()
            .collect(),
        ..NodeProto::default()
    }
}

/// Rewrites `g` (already folded) to QDQ form with the calibrated `ranges` of every tensor
/// [`plan`] names; returns how many weighted nodes were quantised.
///
/// # Errors
/// [`QuantizeError::MissingRange`] when a planned tensor has no range.
pub fn insert(
    g: &mut GraphProto,
    ranges: &BTreeMap<String, [f32; 2]>,
    bits: WeightBits,
) -> Result<usize, QuantizeError> {
    let planned = plan(g);
    let mut params: HashMap<String, ActivationParams> = HashMap::new();
    for t in &planned {
        let [lo, hi] = ranges
            .get(t)
            .ok_or_else(|| QuantizeError::MissingRange(t.clone()))?;
        params.insert(t.clone(), activation_params(*lo, *hi));
    }
    // A max-pool's output lies inside its input's range: with the input's parameters ONNX
    // Runtime pools the uint8 values directly instead of dequantising around the pool.
    for n in g.node.iter().filter(|n| n.op_type == "MaxPool") {
        if let (Some(x), Some(y)) = (n.input.first(), n.output.first())
            && let (Some(&p), true) = (params.get(x), params.contains_key(y))
        {
            params.insert(y.clone(), p);
        }
    }
    let dq_name = |t: &str| format!("{t}/facelens_q/dq");
    let mut new_init: Vec<TensorProto> = Vec::new();
    let qdq_pair = |t: &str, p: ActivationParams, new_init: &mut Vec<TensorProto>| {
        let (scale, zp, q) = (
            format!("{t}/facelens_q/scale"),
            format!("{t}/facelens_q/zero_point"),
            format!("{t}/facelens_q/q"),
        );
        new_init.push(float_tensor(scale.clone(), vec![], &[p.scale]));
        new_init.push(tensor(
            zp.clone(),
            vec![],
            data_type::UINT8,
            vec![p.zero_point],
        ));
        [
            op(
                "QuantizeLinear",
                vec![t.to_owned(), scale.clone(), zp.clone()],
                q.clone(),
                None,
            ),
            op("DequantizeLinear", vec![q, scale, zp], dq_name(t), None),
        ]
    };
    // The weight (and bias) dequantisers of each weighted node, emitted just before it.
    let mut before: HashMap<usize, Vec<NodeProto>> = HashMap::new();
    let weighted = weighted(g);
    for w in &weighted {
        let n = &g.node[w.node];
        let Some(x) = params.get(&n.input[0]).copied() else {
            continue;
        };
        let Some((w_dims, w_values)) = constant(g, &n.input[1]) else {
            continue;
        };
        let dims: Vec<usize> = w_dims
            .iter()
            .map(|&d| usize::try_from(d).unwrap_or(0))
            .collect();
        let (q, scales) = quantize_weights(&w_values, &dims, w.axis, bits);
        let channels = scales.len();
        let base = format!("{}/facelens_q", n.output[0]);
        let (wq, ws, wz, wd) = (
            format!("{base}/w_int8"),
            format!("{base}/w_scale"),
            format!("{base}/w_zero_point"),
            format!("{base}/w"),
        );
        new_init.push(tensor(
            wq.clone(),
            w_dims.clone(),
            data_type::INT8,
            q.iter().map(|&v| v as u8).collect(),
        ));
        new_init.push(float_tensor(ws.clone(), vec![dim(channels)], &scales));
        new_init.push(tensor(
            wz.clone(),
            vec![dim(channels)],
            data_type::INT8,
            vec![0; channels],
        ));
        let axis = dim(w.axis);
        let mut nodes = vec![op(
            "DequantizeLinear",
            vec![wq, ws, wz],
            wd.clone(),
            Some(axis),
        )];
        let mut inputs = vec![n.input[0].clone(), wd];
        if let Some(b_name) = n.input.get(2).filter(|b| !b.is_empty()) {
            let Some((b_dims, b_values)) = constant(g, b_name) else {
                continue;
            };
            if b_values.len() != channels {
                continue;
            }
            let (bq, bs) = quantize_bias(&b_values, x.scale, &scales);
            let (bqn, bsn, bzn, bdn) = (
                format!("{base}/b_int32"),
                format!("{base}/b_scale"),
                format!("{base}/b_zero_point"),
                format!("{base}/b"),
            );
            new_init.push(tensor(
                bqn.clone(),
                b_dims,
                data_type::INT32,
                bq.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ));
            new_init.push(float_tensor(bsn.clone(), vec![dim(channels)], &bs));
            new_init.push(tensor(
                bzn.clone(),
                vec![dim(channels)],
                data_type::INT32,
                vec![0; 4 * channels],
            ));
            nodes.push(op(
                "DequantizeLinear",
                vec![bqn, bsn, bzn],
                bdn.clone(),
                Some(0),
            ));
            inputs.push(bdn);
        }
        before.insert(w.node, nodes);
        g.node[w.node].input = inputs;
    }
    let quantised = before.len();
    let mut nodes: Vec<NodeProto> =
        Vec::with_capacity(g.node.len() + 2 * planned.len() + 2 * quantised);
    let input_names: Vec<String> = g.input.iter().map(|i| i.name.clone()).collect();
    for t in input_names.iter().filter(|t| params.contains_key(*t)) {
        nodes.extend(qdq_pair(t, params[t], &mut new_init));
    }
    for (i, mut n) in std::mem::take(&mut g.node).into_iter().enumerate() {
        for input in &mut n.input {
            if params.contains_key(input) {
                *input = dq_name(input);
            }
        }
        if let Some(dq) = before.remove(&i) {
            nodes.extend(dq);
        }
        let outputs = n.output.clone();
        nodes.push(n);
        for t in outputs.iter().filter(|t| params.contains_key(*t)) {
            nodes.extend(qdq_pair(t, params[t], &mut new_init));
        }
    }
    g.node = nodes;
    g.initializer.extend(new_init);
    crate::onnx_rewrite::prune_initializers(g);
    Ok(quantised)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_ranges_include_zero_exactly() {
        let p = activation_params(-1.0, 3.0);
        assert!((p.scale - 4.0 / 255.0).abs() < 1e-7);
        assert_eq!(p.zero_point, 64);
        // 0 maps to the zero point and back to exactly 0.
        assert_eq!(
            (f32::from(p.zero_point) - f32::from(p.zero_point)) * p.scale,
            0.0
        );
        // A post-ReLU range starts at zero point 0.
        assert_eq!(activation_params(0.5, 6.0).zero_point, 0);
        assert_eq!(activation_params(-2.0, -1.0).zero_point, 255);
        assert_eq!(
            activation_params(0.0, 0.0),
            ActivationParams {
                scale: 1.0,
                zero_point: 0
            }
        );
        assert_eq!(activation_params(f32::NAN, 1.0).scale, 1.0 / 255.0);
    }

    #[test]
    fn weights_are_symmetric_per_channel() {
        // Two output channels of a [2, 1, 1, 2] convolution weight.
        let (q, s) = quantize_weights(
            &[1.0, -0.25, 0.01, -0.04],
            &[2, 1, 1, 2],
            0,
            WeightBits::Eight,
        );
        assert_eq!(s, [1.0 / 127.0, 0.04 / 127.0]);
        assert_eq!(q, [127, -32, 32, -127]);
        let (q7, _) =
            quantize_weights(&[1.0, -0.25, 0.0, 0.0], &[2, 1, 1, 2], 0, WeightBits::Seven);
        assert_eq!(q7, [63, -16, 0, 0]);
        // A Gemm weight [K = 3, N = 2] is quantised per column (axis 1).
        let (q, s) = quantize_weights(
            &[1.0, 10.0, -1.0, 5.0, 0.5, -10.0],
            &[3, 2],
            1,
            WeightBits::Eight,
        );
        assert_eq!(s, [1.0 / 127.0, 10.0 / 127.0]);
        assert_eq!(q, [127, 127, -127, 64, 64, -127]);
    }

    #[test]
    fn bias_is_at_the_accumulator_scale() {
        let (q, s) = quantize_bias(&[1.0, -2.0], 0.5, &[0.25, 0.01]);
        assert_eq!(s, [0.125, 0.005]);
        assert_eq!(q, [8, -400]);
        let (q, _) = quantize_bias(&[1e30], 1e-10, &[1e-10]);
        assert_eq!(q, [i32::MAX]);
    }
}
