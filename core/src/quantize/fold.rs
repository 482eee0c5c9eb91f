//! Float simplifications made before quantising, so that each convolution ends where ONNX
//! Runtime's int8 kernels can end it: a per-channel `Mul`/`Add` after a `Conv` (a batch norm the
//! TFJS export left unfused) goes into the convolution's weights and bias, and TensorFlow's
//! `Relu → Minimum → Maximum` (ReLU6) becomes one `Clip`. Both compute the same function up to
//! float rounding; the graph keeps its output names.

use std::collections::HashMap;

use crate::onnx_proto::GraphProto;
use crate::onnx_rewrite::{
    constant, conv_constants, dim, float_tensor, prune_initializers, readers, sole_reader,
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

/// Folds one `Conv → Mul/Add (per-channel constant)` pair; `false` when none is left.
fn fold_one_affine(g: &mut GraphProto, fresh: &mut usize) -> bool {
    let readers = readers(g);
    for i in 0..g.node.len() {
        let Some((w_dims, mut w, mut b)) = conv_constants(g, &g.node[i]) else {
            continue;
        };
        let Ok(channels) = usize::try_from(w_dims[0]) else {
            continue;
        };
        let y = g.node[i].output[0].clone();
        let Some(j) = sole_reader(g, &readers, &y) else {
            continue;
        };
        let next = &g.node[j];
        if !(next.op_type == "Mul" || next.op_type == "Add") || next.input.len() != 2 {
            continue;
        }
        let other = if next.input[0] == y {
            &next.input[1]
        } else {
            &next.input[0]
        };
        let Some((c_dims, c_values)) = constant(g, other) else {
            continue;
        };
        let Some(c) = per_channel(&c_dims, &c_values, channels) else {
            continue;
        };
        if w.len() % channels != 0 {
            continue;
        }
        let per = w.len() / channels;
        if next.op_type == "Mul" {
            for (ch, (&s, bias)) in c.iter().zip(b.iter_mut()).enumerate() {
                w[ch * per..(ch + 1) * per].iter_mut().for_each(|v| *v *= s);
                *bias *= s;
            }
        } else {
            b.iter_mut().zip(&c).for_each(|(bias, &d)| *bias += d);
        }
        *fresh += 1;
        let (w_name, b_name) = (
            format!("facelens_fold/{}/w", *fresh),
            format!("facelens_fold/{}/b", *fresh),
        );
        g.initializer.push(float_tensor(w_name.clone(), w_dims, &w));
        g.initializer
            .push(float_tensor(b_name.clone(), vec![dim(channels)], &b));
        let out = g.node[j].output[0].clone();
        let conv = &mut g.node[i];
        conv.input.truncate(1);
        conv.input.push(w_name);
        conv.input.push(b_name);
        conv.output[0] = out;
        g.node.remove(j);
        return true;
    }
    false
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
    while fold_one_affine(g, &mut fresh) {}
    while fold_one_relu6(g, &mut fresh) {}
    prune_initializers(g);
    fresh
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx_proto::float_value_info;
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
}
