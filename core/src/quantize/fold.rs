//! Float simplifications made before quantising, so that each convolution ends where ONNX
//! Runtime's int8 kernels can end it:
//! - a per-channel `Mul`/`Add` after a `Conv` (a batch norm the TFJS export left unfused) goes
//!   into the convolution's weights and bias;
//! - a batch norm after the `Relu` (`Conv → Relu → Mul(s > 0) → Add(d)`) is split: the positive
//!   scale goes into the convolution before the `Relu` (`s·relu(x) = relu(s·x)`), the shift is
//!   carried through max-pools (`max(x + d) = max(x) + d`) into the bias of each unpadded
//!   convolution or `Gemm` that reads it;
//! - TensorFlow's `Relu → Minimum → Maximum` (ReLU6) becomes one `Clip`.
//!
//! Each computes the same function up to float rounding; the graph keeps its output names.

use std::collections::HashMap;

use crate::onnx_proto::{GraphProto, NodeProto};
use crate::onnx_rewrite::{
    attr, constant, conv_constants, dim, float_tensor, plain_gemm, prune_initializers, readers,
    sole_reader,
};

/// The per-output-channel values of a constant that broadcasts against an NCHW tensor of
/// `channels` channels along the channel axis only (shape `[C, 1, 1]`, `[1, C, 1, 1]` or a scalar).
fn per_channel(dims: &[i64], values: &[f32], channels: usize) -> Option<Vec<f32>> {
    let significant: Vec<i64> = dims.iter().copied().skip_while(|&d| d == 1).collect();
    let c = i64::try_from(channels).ok()?;
    if values.len() == 1 && dims.len() <= 4 {
        return Some(vec![values[0]; channels]);
    }
    (values.len() == channels && dims.len() <= 4 && significant == [c, 1, 1])
        .then(|| values.to_vec())
}

/// A convolution's constants, as [`conv_constants`] reads them.
struct ConvConstants {
    w_dims: Vec<i64>,
    w: Vec<f32>,
    b: Vec<f32>,
    /// Output channels.
    channels: usize,
}

/// The constants of a `Conv` whose weights divide evenly into its output channels.
fn conv_channels(g: &GraphProto, n: &NodeProto) -> Option<ConvConstants> {
    let (w_dims, w, b) = conv_constants(g, n)?;
    let channels = usize::try_from(*w_dims.first()?).ok()?;
    (channels > 0 && w.len() % channels == 0).then_some(ConvConstants {
        w_dims,
        w,
        b,
        channels,
    })
}

/// Multiplies each output channel's weights and bias by its factor in `s`.
fn scale_channels(w: &mut [f32], b: &mut [f32], s: &[f32]) {
    let per = w.len() / s.len().max(1);
    for ((ws, bias), &v) in w.chunks_mut(per.max(1)).zip(b.iter_mut()).zip(s) {
        ws.iter_mut().for_each(|x| *x *= v);
        *bias *= v;
    }
}

/// Gives node `i` (a `Conv`) new weights and bias, stored as fresh initializers.
fn set_conv_constants(
    g: &mut GraphProto,
    i: usize,
    fresh: &mut usize,
    w_dims: Vec<i64>,
    w: &[f32],
    b: &[f32],
) {
    *fresh += 1;
    let (w_name, b_name) = (
        format!("facelens_fold/{}/w", *fresh),
        format!("facelens_fold/{}/b", *fresh),
    );
    g.initializer.push(float_tensor(w_name.clone(), w_dims, w));
    g.initializer
        .push(float_tensor(b_name.clone(), vec![dim(b.len())], b));
    let conv = &mut g.node[i];
    conv.input.truncate(1);
    conv.input.extend([w_name, b_name]);
}

/// A convolution a fold starts from.
struct Site<'a> {
    /// How many nodes read each tensor, before the fold.
    readers: &'a HashMap<String, usize>,
    /// The convolution's index.
    node: usize,
    conv: ConvConstants,
}

/// Tries `fold` at each convolution with constant weights, in graph order, until one folds;
/// `false` when none did.
fn fold_first_conv(
    g: &mut GraphProto,
    fresh: &mut usize,
    fold: fn(&mut GraphProto, Site<'_>, &mut usize) -> bool,
) -> bool {
    let readers = readers(g);
    for node in 0..g.node.len() {
        if let Some(conv) = conv_channels(g, &g.node[node]) {
            let site = Site {
                readers: &readers,
                node,
                conv,
            };
            if fold(g, site, fresh) {
                return true;
            }
        }
    }
    false
}

/// The `Conv → Mul/Add (per-channel constant)` fold at a convolution whose output is such a pair.
fn fold_affine_at(g: &mut GraphProto, at: Site<'_>, fresh: &mut usize) -> bool {
    let (readers, i, channels) = (at.readers, at.node, at.conv.channels);
    let (w_dims, mut w, mut b) = (at.conv.w_dims, at.conv.w, at.conv.b);
    let y = &g.node[i].output[0];
    if let Some((j, s)) = channel_op(g, readers, y, "Mul", channels) {
        scale_channels(&mut w, &mut b, &s);
        fold_into(g, i, j, fresh, w_dims, &w, &b);
        return true;
    }
    if let Some((j, d)) = channel_op(g, readers, y, "Add", channels) {
        b.iter_mut().zip(&d).for_each(|(bias, &v)| *bias += v);
        fold_into(g, i, j, fresh, w_dims, &w, &b);
        return true;
    }
    false
}

/// Node `i` (a `Conv`) takes the new constants and node `j`'s output; node `j` goes.
fn fold_into(
    g: &mut GraphProto,
    i: usize,
    j: usize,
    fresh: &mut usize,
    w_dims: Vec<i64>,
    w: &[f32],
    b: &[f32],
) {
    set_conv_constants(g, i, fresh, w_dims, w, b);
    g.node[i].output[0] = g.node[j].output[0].clone();
    g.node.remove(j);
}

/// The per-channel constant of `op(t, c)` (either order), the only node reading `t`: the node and
/// the values.
fn channel_op(
    g: &GraphProto,
    readers: &HashMap<String, usize>,
    t: &str,
    op: &str,
    channels: usize,
) -> Option<(usize, Vec<f32>)> {
    let j = sole_reader(g, readers, t)?;
    let n = &g.node[j];
    if n.op_type != op || !n.domain.is_empty() || n.input.len() != 2 {
        return None;
    }
    let other = if n.input[0] == t {
        &n.input[1]
    } else {
        &n.input[0]
    };
    let (dims, values) = constant(g, other)?;
    per_channel(&dims, &values, channels).map(|c| (j, c))
}

/// Whether adding a per-channel constant to the input of `n` adds the same constant to its output
/// (channel by channel): a max-pool, or a max over spatial axes only.
fn passes_shift(n: &NodeProto) -> bool {
    if !n.domain.is_empty() || n.output.len() != 1 {
        return false;
    }
    match n.op_type.as_str() {
        "MaxPool" => true,
        // Axes as an attribute (opsets before 18), none of them the channel axis.
        "ReduceMax" => {
            n.input.len() == 1
                && attr(n, "axes").is_some_and(|a| !a.ints.is_empty() && !a.ints.contains(&1))
        }
        _ => false,
    }
}

/// The bias of `n` (an unpadded, ungrouped `Conv` or a plain `Gemm` reading `x` as its data
/// input) after a per-channel `shift` of its input: `b + W·shift`. `None` when `n` is not such a
/// node or the shapes do not match.
fn shifted_bias(g: &GraphProto, n: &NodeProto, shift: &[f32]) -> Option<Vec<f32>> {
    let channels = shift.len();
    match n.op_type.as_str() {
        "Conv" => {
            let unpadded = attr(n, "pads").is_none_or(|a| a.ints.iter().all(|&p| p == 0))
                && attr(n, "auto_pad").is_none_or(|a| a.s == b"NOTSET" || a.s == b"VALID");
            if !(unpadded && attr(n, "group").is_none_or(|a| a.i == 1)) {
                return None;
            }
            let (dims, w, mut b) = conv_constants(g, n)?;
            let (&outs, &ins) = (dims.first()?, dims.get(1)?);
            let (outs, ins) = (usize::try_from(outs).ok()?, usize::try_from(ins).ok()?);
            if ins != channels || outs == 0 || w.len() % (outs * ins) != 0 {
                return None;
            }
            let taps = w.len() / (outs * ins);
            for (o, bias) in b.iter_mut().enumerate() {
                for (c, &d) in shift.iter().enumerate() {
                    let k = (o * ins + c) * taps;
                    *bias += d * w[k..k + taps].iter().sum::<f32>();
                }
            }
            Some(b)
        }
        "Gemm" => {
            let transposed = plain_gemm(g, n)?;
            let (dims, w) = constant(g, n.input.get(1)?)?;
            let [rows, cols] = dims[..] else {
                return None;
            };
            let (rows, cols) = (usize::try_from(rows).ok()?, usize::try_from(cols).ok()?);
            let (k, m) = if transposed {
                (cols, rows)
            } else {
                (rows, cols)
            };
            if k != channels {
                return None;
            }
            let mut b = match n.input.get(2) {
                Some(name) => constant(g, name)?.1,
                None => vec![0.0; m],
            };
            if b.len() != m {
                return None;
            }
            for (j, bias) in b.iter_mut().enumerate() {
                for (c, &d) in shift.iter().enumerate() {
                    *bias += d * if transposed {
                        w[j * k + c]
                    } else {
                        w[c * m + j]
                    };
                }
            }
            Some(b)
        }
        _ => None,
    }
}

/// The nodes that read `t`, each counted once.
fn reading(g: &GraphProto, t: &str) -> Vec<usize> {
    g.node
        .iter()
        .enumerate()
        .filter(|(_, n)| n.input.iter().filter(|i| *i == t).count() == 1)
        .map(|(k, _)| k)
        .collect()
}

/// The fold of a batch norm after a `Relu` (module doc) at a convolution that leads into one.
fn fold_post_relu_at(g: &mut GraphProto, at: Site<'_>, fresh: &mut usize) -> bool {
    let (readers, i, channels) = (at.readers, at.node, at.conv.channels);
    let (w_dims, mut w, mut b) = (at.conv.w_dims, at.conv.w, at.conv.b);
    let Some(r) = sole_reader(g, readers, &g.node[i].output[0]) else {
        return false;
    };
    if g.node[r].op_type != "Relu" || !g.node[r].domain.is_empty() {
        return false;
    }
    let relu_out = g.node[r].output[0].clone();
    let mut t = relu_out.clone();
    let mut removed = Vec::new();
    let mut scale = None;
    if let Some((j, s)) = channel_op(g, readers, &t, "Mul", channels)
        && s.iter().all(|&v| v > 0.0 && v.is_finite())
    {
        t = g.node[j].output[0].clone();
        removed.push(j);
        scale = Some(s);
    }
    let mut shift = None;
    if let Some((j, d)) = channel_op(g, readers, &t, "Add", channels) {
        t = g.node[j].output[0].clone();
        removed.push(j);
        shift = Some(d);
    }
    if removed.is_empty() {
        return false;
    }
    // Carry the shift through max-pools read by nothing else, to the nodes that absorb it.
    let mut u = t.clone();
    while let Some(k) = sole_reader(g, readers, &u).filter(|&k| passes_shift(&g.node[k])) {
        u.clone_from(&g.node[k].output[0]);
    }
    let ends = reading(g, &u);
    if ends.is_empty() || readers.get(&u) != Some(&ends.len()) {
        return false;
    }
    let mut end_biases = Vec::new();
    if let Some(d) = &shift {
        for &k in &ends {
            match shifted_bias(g, &g.node[k], d) {
                Some(bias) => end_biases.push((k, bias)),
                None => break,
            }
        }
        if end_biases.len() != ends.len() {
            return false;
        }
    }
    match &scale {
        Some(s) => {
            scale_channels(&mut w, &mut b, s);
            set_conv_constants(g, i, fresh, w_dims, &w, &b);
        }
        // The convolution keeps its constants; the shifted biases still get fresh names.
        None => *fresh += 1,
    }
    for (k, bias) in end_biases {
        let name = format!("facelens_fold/{}/shifted_b{k}", *fresh);
        g.initializer
            .push(float_tensor(name.clone(), vec![dim(bias.len())], &bias));
        let n = &mut g.node[k];
        n.input.resize(2, String::new());
        n.input.push(name);
    }
    for input in g.node.iter_mut().flat_map(|n| n.input.iter_mut()) {
        if *input == t {
            input.clone_from(&relu_out);
        }
    }
    removed.sort_unstable();
    for j in removed.into_iter().rev() {
        g.node.remove(j);
    }
    true
}

/// The value of a scalar float initializer.
fn scalar(g: &GraphProto, name: &str) -> Option<f32> {
    constant(g, name).and_then(|(_, v)| (v.len() == 1).then(|| v[0]))
}

/// The node `op(t, scalar)` (either order) reading `t` alone, with the scalar.
fn scalar_op(
    g: &GraphProto,
    readers: &HashMap<String, usize>,
    t: &str,
    op: &str,
) -> Option<(usize, f32)> {
    let j = sole_reader(g, readers, t)?;
    let n = &g.node[j];
    if n.op_type != op || n.input.len() != 2 {
        return None;
    }
    let other = if n.input[0] == t {
        &n.input[1]
    } else {
        &n.input[0]
    };
    scalar(g, other).map(|s| (j, s))
}

/// Turns one `Relu → Min(a ≥ 0) → Max(b ≤ 0)` chain into `Clip(0, a)`; `false` when none is left.
fn fold_one_relu6(g: &mut GraphProto, fresh: &mut usize) -> bool {
    let readers = readers(g);
    for i in 0..g.node.len() {
        if g.node[i].op_type != "Relu" || !g.node[i].domain.is_empty() {
            continue;
        }
        let r = g.node[i].output[0].clone();
        let Some((j, a)) = scalar_op(g, &readers, &r, "Min") else {
            continue;
        };
        let m = g.node[j].output[0].clone();
        let Some((k, b)) = scalar_op(g, &readers, &m, "Max") else {
            continue;
        };
        if !(a >= 0.0 && b <= 0.0) {
            continue;
        }
        *fresh += 1;
        let (lo, hi) = (
            format!("facelens_fold/{}/min", *fresh),
            format!("facelens_fold/{}/max", *fresh),
        );
        g.initializer.push(float_tensor(lo.clone(), vec![], &[0.0]));
        g.initializer.push(float_tensor(hi.clone(), vec![], &[a]));
        let out = g.node[k].output[0].clone();
        let relu = &mut g.node[i];
        relu.op_type = "Clip".into();
        relu.input.extend([lo, hi]);
        relu.output[0] = out;
        let (first, second) = (j.max(k), j.min(k));
        g.node.remove(first);
        g.node.remove(second);
        return true;
    }
    false
}

/// Folds every pattern it can; returns how many it folded.
pub(super) fn fold(g: &mut GraphProto) -> usize {
    let mut fresh = 0;
    while fold_first_conv(g, &mut fresh, fold_affine_at) {}
    while fold_first_conv(g, &mut fresh, fold_post_relu_at) {}
    while fold_one_relu6(g, &mut fresh) {}
    prune_initializers(g);
    fresh
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx_proto::{AttributeProto, float_value_info};
    use crate::onnx_rewrite::node;

    fn graph() -> GraphProto {
        GraphProto {
            node: vec![
                node("Conv", "c".into(), &["x", "w", "b"], "y"),
                node("Mul", "m".into(), &["y", "s"], "ys"),
                node("Add", "a".into(), &["ys", "d"], "z"),
                node("Relu", "r".into(), &["z"], "zr"),
                node("Min", "mn".into(), &["zr", "six"], "zm"),
                node("Max", "mx".into(), &["zero", "zm"], "out"),
            ],
            initializer: vec![
                float_tensor("w".into(), vec![2, 1, 1, 1], &[1.0, 2.0]),
                float_tensor("b".into(), vec![2], &[0.5, -1.0]),
                float_tensor("s".into(), vec![2, 1, 1], &[3.0, -1.0]),
                float_tensor("d".into(), vec![1, 2, 1, 1], &[1.0, 10.0]),
                float_tensor("six".into(), vec![], &[6.0]),
                float_tensor("zero".into(), vec![1], &[0.0]),
            ],
            input: vec![float_value_info("x", &[1, 1, 1, 1])],
            output: vec![float_value_info("out", &[1, 2, 1, 1])],
            ..GraphProto::default()
        }
    }

    #[test]
    fn batch_norm_goes_into_the_convolution_and_relu6_becomes_clip() {
        let mut g = graph();
        assert_eq!(fold(&mut g), 3);
        let ops: Vec<&str> = g.node.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, ["Conv", "Clip"]);
        assert_eq!(g.node[0].output, ["z"]);
        assert_eq!(g.node[1].output, ["out"]);
        let (_, w) = constant(&g, &g.node[0].input[1]).expect("weights");
        let (_, b) = constant(&g, &g.node[0].input[2]).expect("bias");
        // (x·w + b)·s + d per channel.
        assert_eq!(w, [3.0, -2.0]);
        assert_eq!(b, [0.5 * 3.0 + 1.0, -1.0 * -1.0 + 10.0]);
        assert_eq!(scalar(&g, &g.node[1].input[2]), Some(6.0));
        assert_eq!(scalar(&g, &g.node[1].input[1]), Some(0.0));
        // Only the initializers still read remain.
        assert_eq!(g.initializer.len(), 4);
    }

    #[test]
    fn a_tensor_read_twice_or_a_non_channel_constant_is_left_alone() {
        let mut g = graph();
        // `y` also read by a second node: the Mul cannot fold into the Conv.
        g.node
            .push(node("Relu", "extra".into(), &["y"], "extra_out"));
        g.output.push(float_value_info("extra_out", &[1, 2, 1, 1]));
        fold(&mut g);
        assert_eq!(g.node[0].output, ["y"]);
        let mut g = graph();
        // A constant along the width axis does not broadcast per channel.
        g.initializer[2] = float_tensor("s".into(), vec![1, 1, 1, 2], &[3.0, -1.0]);
        fold(&mut g);
        assert_eq!(g.node[1].op_type, "Mul");
    }

    #[test]
    fn relu_then_clip_above_zero_is_not_relu6() {
        let mut g = graph();
        g.initializer[5] = float_tensor("zero".into(), vec![1], &[1.0]);
        fold(&mut g);
        assert!(g.node.iter().all(|n| n.op_type != "Clip"));
    }

    /// `Conv → Relu → Mul → Add → MaxPool → reader`, two channels.
    fn post_relu_graph(
        reader: NodeProto,
        reader_init: Vec<crate::onnx_proto::TensorProto>,
    ) -> GraphProto {
        let mut initializer = vec![
            float_tensor("w".into(), vec![2, 1, 1, 1], &[1.0, -1.0]),
            float_tensor("b".into(), vec![2], &[0.0, 1.0]),
            float_tensor("s".into(), vec![2, 1, 1], &[2.0, 0.5]),
            float_tensor("d".into(), vec![2, 1, 1], &[1.0, -2.0]),
        ];
        initializer.extend(reader_init);
        GraphProto {
            node: vec![
                node("Conv", "c".into(), &["x", "w", "b"], "y"),
                node("Relu", "r".into(), &["y"], "yr"),
                node("Mul", "m".into(), &["yr", "s"], "ys"),
                node("Add", "a".into(), &["ys", "d"], "z"),
                node("MaxPool", "p".into(), &["z"], "zp"),
                reader,
            ],
            initializer,
            input: vec![float_value_info("x", &[1, 1, 4, 4])],
            output: vec![float_value_info("out", &[])],
            ..GraphProto::default()
        }
    }

    fn values(g: &GraphProto, name: &str) -> Vec<f32> {
        constant(g, name).expect("constant").1
    }

    #[test]
    fn batch_norm_after_relu_goes_into_both_convolutions() {
        // Second conv: one output, 2×2 taps of ones per channel, unpadded.
        let reader = node("Conv", "c1".into(), &["zp", "w1", "b1"], "out");
        let mut g = post_relu_graph(
            reader,
            vec![
                float_tensor("w1".into(), vec![1, 2, 2, 2], &[1.0; 8]),
                float_tensor("b1".into(), vec![1], &[0.5]),
            ],
        );
        assert_eq!(fold(&mut g), 1);
        let ops: Vec<&str> = g.node.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, ["Conv", "Relu", "MaxPool", "Conv"]);
        assert_eq!(g.node[2].input, ["yr"]);
        // The scale s into the first conv: w·s, b·s.
        assert_eq!(values(&g, &g.node[0].input[1]), [2.0, -0.5]);
        assert_eq!(values(&g, &g.node[0].input[2]), [0.0, 0.5]);
        // The shift d through the pool into the second conv's bias: 0.5 + 4·1 + 4·(−2).
        assert_eq!(values(&g, &g.node[3].input[2]), [-3.5]);
    }

    #[test]
    fn the_shift_reaches_every_gemm_head_through_a_spatial_max() {
        let mut reduce = node("ReduceMax", "rm".into(), &["zp"], "v");
        reduce.attribute = vec![
            AttributeProto::ints("axes", vec![2, 3]),
            AttributeProto::int("keepdims", 0),
        ];
        let mut head_a = node("Gemm", "ga".into(), &["v", "B"], "out");
        head_a.attribute = vec![AttributeProto::int("transB", 1)];
        let head_b = node("Gemm", "gb".into(), &["v", "C", "c"], "out_b");
        let mut g = post_relu_graph(
            reduce,
            vec![
                float_tensor("B".into(), vec![3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
                float_tensor("C".into(), vec![2, 1], &[1.0, 1.0]),
                float_tensor("c".into(), vec![1], &[0.25]),
            ],
        );
        g.node.extend([head_a, head_b]);
        g.output.push(float_value_info("out_b", &[]));
        fold(&mut g);
        let ops: Vec<&str> = g.node.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(
            ops,
            ["Conv", "Relu", "MaxPool", "ReduceMax", "Gemm", "Gemm"]
        );
        // No bias before: B·d = [1 − 4, 3 − 8, 5 − 12].
        assert_eq!(values(&g, &g.node[4].input[2]), [-3.0, -5.0, -7.0]);
        // 0.25 + d·C = 0.25 + 1 − 2.
        assert_eq!(values(&g, &g.node[5].input[2]), [-0.75]);
        // A max over every axis, channels included, cannot carry the shift: nothing folds.
        let mut g = post_relu_graph(node("ReduceMax", "rm".into(), &["zp"], "v"), Vec::new());
        assert_eq!(fold(&mut g), 0);
    }

    #[test]
    fn a_negative_scale_or_a_padded_reader_is_left_alone() {
        let plain = || node("Conv", "c1".into(), &["zp", "w1"], "out");
        let w1 = || vec![float_tensor("w1".into(), vec![1, 2, 1, 1], &[1.0, 1.0])];
        // max(−x) is not −max(x).
        let mut g = post_relu_graph(plain(), w1());
        g.initializer[2] = float_tensor("s".into(), vec![2, 1, 1], &[2.0, -0.5]);
        assert_eq!(fold(&mut g), 0);
        // Zero padding would be shifted too.
        let mut padded = plain();
        padded.attribute = vec![AttributeProto::ints("pads", vec![1, 1, 1, 1])];
        let mut g = post_relu_graph(padded, w1());
        assert_eq!(fold(&mut g), 0);
        assert_eq!(g.node.len(), 6);
    }
}
