//! [`prune_dead_channels`]: a pruned network keeps its pruned channels as zeros, and ONNX Runtime
//! computes them like any other. In the embedder (a MobileFaceNet), 3–58 % of the channels of 16
//! of its 17 depthwise convolutions have all-zero weights (the batch norm's scale was pruned to 0),
//! so the channel is its bias everywhere, whatever its input. Such a channel is removed from the
//! three convolutions it passes through, exactly:
//!
//! ```text
//! A: Conv ─▶ [PRelu|Relu] ─▶ D: depthwise Conv ─▶ [PRelu|Relu] ─▶ P: 1×1 Conv (no padding)
//! ```
//!
//! - `D`'s dead channel `i` is the constant `b_D[i]`, so after the activation the constant
//!   `c_i = act(b_D[i])`, and `P` adds `W_P[:, i] · c_i` to every pixel: that goes into `P`'s bias.
//! - `A`'s output channel `i` is read only by the dead channel, so it goes too, with its slope.
//!
//! The results differ by float rounding only (the bias sum is added in another order).

use std::collections::HashSet;

use prost::Message;

use super::{
    RewriteError, Rewritten, attr, constant, conv_constants, dim, float_tensor, prune_initializers,
    readers, sole_reader,
};
use crate::onnx_proto::{AttributeProto, GraphProto, ModelProto, NodeProto};

fn int_attr(n: &NodeProto, name: &str) -> Option<i64> {
    attr(n, name).map(|a| a.i)
}

fn ints_attr<'a>(n: &'a NodeProto, name: &str) -> Option<&'a [i64]> {
    attr(n, name).map(|a| a.ints.as_slice())
}

/// An optional per-channel activation between two convolutions.
#[derive(Debug, Clone)]
enum Act {
    /// `PRelu` with a constant slope per channel (node index, slopes).
    PRelu(usize, Vec<f32>),
    /// `Relu` (node index).
    Relu,
    /// Nothing.
    None,
}

impl Act {
    fn apply(&self, channel: usize, x: f32) -> f32 {
        match self {
            Self::PRelu(_, s) if x < 0.0 => s[channel] * x,
            Self::Relu => x.max(0.0),
            Self::PRelu(..) | Self::None => x,
        }
    }
}

/// The activation node reading `t` alone (with `channels` slopes), and the tensor it writes.
fn activation_after(
    g: &GraphProto,
    readers: &std::collections::HashMap<String, usize>,
    t: &str,
    channels: usize,
) -> Option<(Act, String)> {
    let j = sole_reader(g, readers, t)?;
    let n = &g.node[j];
    match n.op_type.as_str() {
        "Relu" => Some((Act::Relu, n.output[0].clone())),
        "PRelu" if n.input.len() == 2 && n.input[0] == t => {
            let (dims, s) = constant(g, &n.input[1])?;
            let significant: Vec<i64> = dims.iter().copied().skip_while(|&d| d == 1).collect();
            let c = i64::try_from(channels).ok()?;
            (s.len() == channels && significant == [c, 1, 1])
                .then(|| (Act::PRelu(j, s), n.output[0].clone()))
        }
        _ => Some((Act::None, t.to_owned())),
    }
}

/// The rows `keep` of a row-major tensor with `rows` rows.
fn keep_rows(values: &[f32], rows: usize, keep: &[usize]) -> Vec<f32> {
    let per = values.len() / rows.max(1);
    keep.iter()
        .flat_map(|&r| values[r * per..(r + 1) * per].iter().copied())
        .collect()
}

/// Prunes the dead channels of one depthwise convolution, if any; returns how many.
fn prune_one(g: &mut GraphProto, tried: &mut HashSet<usize>, fresh: &mut usize) -> Option<usize> {
    let readers = readers(g);
    for d in 0..g.node.len() {
        if tried.contains(&d) {
            continue;
        }
        tried.insert(d);
        let Some(found) = pattern(g, &readers, d) else {
            continue;
        };
        let pruned = found.dead.len();
        apply(g, found, fresh);
        // Node indices are unchanged (nodes are edited in place), so `tried` stays valid.
        return Some(pruned);
    }
    None
}

/// One match of the module doc's pattern.
struct Found {
    a: usize,
    act1: Act,
    d: usize,
    act2: Act,
    p: usize,
    dead: Vec<usize>,
    keep: Vec<usize>,
}

fn pattern(
    g: &GraphProto,
    readers: &std::collections::HashMap<String, usize>,
    d: usize,
) -> Option<Found> {
    let dn = &g.node[d];
    let (d_dims, d_w, _) = conv_constants(g, dn)?;
    let channels = usize::try_from(d_dims[0]).ok()?;
    // Depthwise: one input channel per output channel.
    if int_attr(dn, "group") != Some(d_dims[0]) || d_dims.get(1) != Some(&1) {
        return None;
    }
    let per = d_w.len() / channels;
    let dead: Vec<usize> = (0..channels)
        .filter(|&c| d_w[c * per..(c + 1) * per].iter().all(|&v| v == 0.0))
        .collect();
    let keep: Vec<usize> = (0..channels).filter(|c| !dead.contains(c)).collect();
    if dead.is_empty() || keep.is_empty() {
        return None;
    }
    // Backwards: D's input is A's output, maybe through an activation, each read once.
    let x = &dn.input[0];
    let producer = |t: &str| g.node.iter().position(|n| n.output.iter().any(|o| o == t));
    let mut a = producer(x)?;
    let mut act1 = Act::None;
    if g.node[a].op_type == "PRelu" || g.node[a].op_type == "Relu" {
        let act_input = g.node[a].input[0].clone();
        let (act, out) = activation_after(g, readers, &act_input, channels)?;
        if out != *x || matches!(act, Act::None) {
            return None;
        }
        act1 = act;
        a = producer(&act_input)?;
        if readers.get(&act_input) != Some(&1) {
            return None;
        }
    }
    if readers.get(x) != Some(&1) {
        return None;
    }
    let an = &g.node[a];
    let (a_dims, _, _) = conv_constants(g, an)?;
    if a_dims[0] != d_dims[0] || int_attr(an, "group").is_some_and(|v| v != 1) {
        return None;
    }
    // Forwards: D's output, maybe through an activation, is read only by a 1×1 convolution
    // without padding.
    let (act2, y) = activation_after(g, readers, &dn.output[0], channels)?;
    let p = sole_reader(g, readers, &y)?;
    let pn = &g.node[p];
    let (p_dims, _, _) = conv_constants(g, pn)?;
    let no_pads = ints_attr(pn, "pads").is_none_or(|p| p.iter().all(|&v| v == 0));
    let plain = int_attr(pn, "group").is_none_or(|v| v == 1)
        && pn
            .attribute
            .iter()
            .all(|a| a.name != "auto_pad" || a.s.is_empty() || a.s == b"NOTSET");
    if !(no_pads && plain && p_dims.len() == 4 && p_dims[1] == d_dims[0] && p_dims[2..] == [1, 1]) {
        return None;
    }
    if pn.input[0] != y {
        return None;
    }
    Some(Found {
        a,
        act1,
        d,
        act2,
        p,
        dead,
        keep,
    })
}

fn apply(g: &mut GraphProto, f: Found, fresh: &mut usize) {
    *fresh += 1;
    let tag = |what: &str| format!("facelens_prune/{fresh}/{what}");
    let add = |g: &mut GraphProto, name: String, dims: Vec<i64>, values: &[f32]| {
        g.initializer.push(float_tensor(name.clone(), dims, values));
        name
    };
    let kept = f.keep.len();
    let (a_dims, a_w, a_b) = conv_constants(g, &g.node[f.a]).unwrap_or_default();
    let (d_dims, d_w, d_b) = conv_constants(g, &g.node[f.d]).unwrap_or_default();
    let (p_dims, p_w, mut p_b) = conv_constants(g, &g.node[f.p]).unwrap_or_default();
    let channels = f.keep.len() + f.dead.len();
    // P's bias takes the dead channels' constants.
    let outputs = usize::try_from(p_dims[0]).unwrap_or(0);
    for &i in &f.dead {
        let c = f.act2.apply(i, d_b[i]);
        for (o, b) in p_b.iter_mut().enumerate().take(outputs) {
            *b += p_w[o * channels + i] * c;
        }
    }
    let rows = |dims: &[i64]| {
        let mut d = dims.to_vec();
        d[0] = dim(kept);
        d
    };
    let a_w = keep_rows(&a_w, channels, &f.keep);
    let a_b = keep_rows(&a_b, channels, &f.keep);
    let d_w = keep_rows(&d_w, channels, &f.keep);
    let d_b = keep_rows(&d_b, channels, &f.keep);
    let p_w: Vec<f32> = (0..outputs)
        .flat_map(|o| f.keep.iter().map(move |&i| (o, i)))
        .map(|(o, i)| p_w[o * channels + i])
        .collect();
    let mut p_w_dims = p_dims.clone();
    p_w_dims[1] = dim(kept);
    let names = [
        add(g, tag("a_w"), rows(&a_dims), &a_w),
        add(g, tag("a_b"), vec![dim(kept)], &a_b),
        add(g, tag("d_w"), rows(&d_dims), &d_w),
        add(g, tag("d_b"), vec![dim(kept)], &d_b),
        add(g, tag("p_w"), p_w_dims, &p_w),
        add(g, tag("p_b"), vec![p_dims[0]], &p_b),
    ];
    let set_wb = |n: &mut NodeProto, w: &str, b: &str| {
        n.input.truncate(1);
        n.input.push(w.to_owned());
        n.input.push(b.to_owned());
    };
    set_wb(&mut g.node[f.a], &names[0], &names[1]);
    set_wb(&mut g.node[f.d], &names[2], &names[3]);
    set_wb(&mut g.node[f.p], &names[4], &names[5]);
    let d = &mut g.node[f.d];
    d.attribute.retain(|a| a.name != "group");
    d.attribute.push(AttributeProto::int("group", dim(kept)));
    for (act, what) in [(&f.act1, "slope1"), (&f.act2, "slope2")] {
        if let Act::PRelu(j, s) = act {
            let kept_s: Vec<f32> = f.keep.iter().map(|&i| s[i]).collect();
            let name = add(g, tag(what), vec![dim(kept), 1, 1], &kept_s);
            g.node[*j].input[1] = name;
        }
    }
    // Shapes recorded for the changed tensors no longer hold.
    let changed: HashSet<String> = [f.a, f.d]
        .iter()
        .flat_map(|&i| g.node[i].output.clone())
        .collect();
    g.value_info.retain(|v| !changed.contains(&v.name));
}

/// Removes the dead channels of every depthwise convolution in the module doc's pattern; returns
/// the model and how many channels were removed.
///
/// # Errors
/// [`RewriteError`] when the bytes are not an ONNX model with a graph.
pub fn prune_dead_channels(model: &[u8]) -> Result<Rewritten, RewriteError> {
    let mut m = ModelProto::decode(model)?;
    let g = m.graph.as_mut().ok_or(RewriteError::NoGraph)?;
    let (mut tried, mut fresh, mut replaced) = (HashSet::new(), 0, 0);
    while let Some(n) = prune_one(g, &mut tried, &mut fresh) {
        replaced += n;
    }
    prune_initializers(g);
    Ok(Rewritten {
        bytes: m.encode_to_vec(),
        replaced,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx_proto::float_value_info;
    use crate::onnx_rewrite::node;

    fn model(d_weights: &[f32]) -> Vec<u8> {
        let mut dw = node("Conv", "d".into(), &["a1", "dw", "db"], "d");
        dw.attribute.push(AttributeProto::int("group", 3));
        dw.attribute
            .push(AttributeProto::ints("pads", vec![1, 1, 1, 1]));
        let g = GraphProto {
            node: vec![
                node("Conv", "a".into(), &["x", "aw", "ab"], "a"),
                node("PRelu", "pa".into(), &["a", "s1"], "a1"),
                dw,
                node("PRelu", "pd".into(), &["d", "s2"], "d1"),
                node("Conv", "p".into(), &["d1", "pw", "pb"], "y"),
            ],
            initializer: vec![
                float_tensor(
                    "aw".into(),
                    vec![3, 2, 1, 1],
                    &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
                ),
                float_tensor("ab".into(), vec![3], &[0.0, 1.0, 2.0]),
                float_tensor("s1".into(), vec![3, 1, 1], &[0.1, 0.2, 0.3]),
                float_tensor("dw".into(), vec![3, 1, 3, 3], d_weights),
                float_tensor("db".into(), vec![3], &[0.1, -2.0, 0.3]),
                float_tensor("s2".into(), vec![3, 1, 1], &[0.5, 0.25, 0.1]),
                float_tensor(
                    "pw".into(),
                    vec![2, 3, 1, 1],
                    &[1.0, 10.0, 100.0, -1.0, -10.0, -100.0],
                ),
                float_tensor("pb".into(), vec![2], &[0.5, 0.5]),
            ],
            input: vec![float_value_info("x", &[1, 2, 4, 4])],
            output: vec![float_value_info("y", &[1, 2, 4, 4])],
            ..GraphProto::default()
        };
        ModelProto {
            ir_version: 7,
            graph: Some(g),
            ..ModelProto::default()
        }
        .encode_to_vec()
    }

    fn weights(g: &GraphProto, node: usize, input: usize) -> (Vec<i64>, Vec<f32>) {
        constant(g, &g.node[node].input[input]).expect("constant")
    }

    #[test]
    fn a_dead_depthwise_channel_leaves_all_three_convolutions() {
        // Channel 1 of the depthwise convolution has all-zero weights.
        let mut d = vec![1.0f32; 27];
        d[9..18].fill(0.0);
        let r = prune_dead_channels(&model(&d)).expect("rewrites");
        assert_eq!(r.replaced, 1);
        let g = ModelProto::decode(r.bytes.as_slice())
            .expect("decodes")
            .graph
            .expect("graph");
        assert_eq!(
            weights(&g, 0, 1),
            (vec![2, 2, 1, 1], vec![1.0, 2.0, 5.0, 6.0])
        );
        assert_eq!(weights(&g, 0, 2).1, [0.0, 2.0]);
        assert_eq!(weights(&g, 1, 1), (vec![2, 1, 1], vec![0.1, 0.3]));
        assert_eq!(weights(&g, 2, 1).0, [2, 1, 3, 3]);
        assert_eq!(weights(&g, 2, 2).1, [0.1, 0.3]);
        assert_eq!(int_attr(&g.node[2], "group"), Some(2));
        assert_eq!(weights(&g, 3, 1).1, [0.5, 0.1]);
        assert_eq!(
            weights(&g, 4, 1),
            (vec![2, 2, 1, 1], vec![1.0, 100.0, -1.0, -100.0])
        );
        // The dead channel is PRelu(−2) = −2 · 0.25 = −0.5 everywhere: 10 · −0.5 and −10 · −0.5.
        assert_eq!(weights(&g, 4, 2).1, [0.5 - 5.0, 0.5 + 5.0]);
        // Nodes and outputs keep their names.
        assert_eq!(g.node[4].output, ["y"]);
    }

    #[test]
    fn without_dead_channels_or_with_only_dead_ones_nothing_changes() {
        let r = prune_dead_channels(&model(&[1.0; 27])).expect("rewrites");
        assert_eq!(r.replaced, 0);
        let r = prune_dead_channels(&model(&[0.0; 27])).expect("rewrites");
        assert_eq!(r.replaced, 0);
    }
}
