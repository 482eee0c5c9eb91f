//! Mapping TF ops onto ONNX nodes, with layout (NHWC → NCHW) and static shape tracking.

use std::collections::BTreeMap;

use super::ConvertError;
use super::graph::{Const, ConstData, Graph, Node, attr};
use crate::onnx_proto::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, data_type,
    float_value_info,
};

const OPSET: i64 = 13;
const IR_VERSION: i64 = 7;

/// Axis order of an activation as it exists in the ONNX graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// A rank-4 TF NHWC tensor held as NCHW.
    Nchw,
    /// Same axes as in TF.
    Plain,
}

#[derive(Debug, Clone)]
struct Tensor {
    onnx: String,
    /// Shape in ONNX axis order; −1 = dynamic.
    shape: Vec<i64>,
    layout: Layout,
}

enum Operand<'g> {
    Act(Tensor),
    Const(&'g Const),
}

struct Builder<'g> {
    graph: &'g Graph,
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    inputs: Vec<crate::onnx_proto::ValueInfoProto>,
    tensors: BTreeMap<String, Tensor>,
}

fn unsupported(msg: impl Into<String>) -> ConvertError {
    ConvertError::Unsupported(msg.into())
}

pub fn build(graph: &Graph) -> Result<ModelProto, ConvertError> {
    let mut b = Builder {
        graph,
        nodes: Vec::new(),
        inits: Vec::new(),
        inputs: Vec::new(),
        tensors: BTreeMap::new(),
    };
    for n in &graph.nodes {
        b.node(n)?;
    }
    let mut outputs = Vec::new();
    for (out_name, node) in &graph.outputs {
        let t = b.act(node)?;
        let (src, shape) = if t.layout == Layout::Nchw {
            let name = format!("{}/to_nhwc", t.onnx);
            b.emit(
                "Transpose",
                &[&t.onnx],
                &name,
                vec![AttributeProto::ints("perm", vec![0, 2, 3, 1])],
            );
            (name, vec![t.shape[0], t.shape[2], t.shape[3], t.shape[1]])
        } else {
            (t.onnx.clone(), t.shape.clone())
        };
        b.emit("Identity", &[&src], out_name, vec![]);
        outputs.push(float_value_info(out_name, &shape));
    }
    Ok(ModelProto {
        ir_version: IR_VERSION,
        producer_name: "facelens-tfjs2onnx".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: Some(GraphProto {
            node: b.nodes,
            name: "tfjs_graph".into(),
            initializer: b.inits,
            input: b.inputs,
            output: outputs,
            ..GraphProto::default()
        }),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        ..ModelProto::default()
    })
}

impl<'g> Builder<'g> {
    fn emit(&mut self, op: &str, inputs: &[&str], output: &str, attribute: Vec<AttributeProto>) {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| (*s).to_owned()).collect(),
            output: vec![output.to_owned()],
            name: output.to_owned(),
            op_type: op.to_owned(),
            attribute,
            ..NodeProto::default()
        });
    }

    fn init_f32(&mut self, name: &str, dims: Vec<i64>, data: &[f32]) -> String {
        self.inits.push(TensorProto {
            dims,
            data_type: data_type::FLOAT,
            name: name.to_owned(),
            raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..TensorProto::default()
        });
        name.to_owned()
    }

    fn operand(&self, name: &str) -> Result<Operand<'g>, ConvertError> {
        if let Some(c) = self.graph.consts.get(name) {
            return Ok(Operand::Const(c));
        }
        self.tensors
            .get(name)
            .cloned()
            .map(Operand::Act)
            .ok_or_else(|| {
                ConvertError::Malformed(format!("tensor `{name}` used before it is produced"))
            })
    }

    fn act(&self, name: &str) -> Result<Tensor, ConvertError> {
        match self.operand(name)? {
            Operand::Act(t) => Ok(t),
            Operand::Const(_) => Err(unsupported(format!(
                "`{name}` is a constant where an activation is expected"
            ))),
        }
    }

    fn constant(&self, name: &str) -> Result<&'g Const, ConvertError> {
        match self.operand(name)? {
            Operand::Const(c) => Ok(c),
            Operand::Act(_) => Err(unsupported(format!(
                "`{name}` must be a constant (weights)"
            ))),
        }
    }

    /// Name of data input `i` of `n` (nodes borrow from the graph, which outlives the builder).
    fn input(n: &'g Node, i: usize) -> Result<&'g str, ConvertError> {
        n.inputs
            .get(i)
            .map(String::as_str)
            .ok_or_else(|| ConvertError::Malformed(format!("{}: missing input {i}", n.name)))
    }

    fn set(&mut self, tf_name: &str, onnx: String, shape: Vec<i64>, layout: Layout) {
        self.tensors.insert(
            tf_name.to_owned(),
            Tensor {
                onnx,
                shape,
                layout,
            },
        );
    }

    fn node(&mut self, n: &'g Node) -> Result<(), ConvertError> {
        match n.op.as_str() {
            "Const" => Ok(()),
            "Placeholder" => self.placeholder(n),
            "Identity" => {
                let t = self.act(Self::input(n, 0)?)?;
                self.emit("Identity", &[&t.onnx], &n.name, vec![]);
                self.set(&n.name, n.name.clone(), t.shape, t.layout);
                Ok(())
            }
            "Conv2D" => self.conv(n, false, None, &[]),
            "DepthwiseConv2dNative" => self.conv(n, true, None, &[]),
            "_FusedConv2D" => {
                let fused = attr::strings(n, "fused_ops");
                if fused.first().map(String::as_str) != Some("BiasAdd")
                    || attr::int(n, "num_args") != Some(1)
                {
                    return Err(unsupported(format!("{}: fused ops {fused:?}", n.name)));
                }
                let bias = self.constant(Self::input(n, 2)?)?;
                self.conv(n, false, Some(bias), &fused[1..])
            }
            "_FusedMatMul" => self.matmul(n),
            "MaxPool" => self.max_pool(n),
            "Mean" => self.reduce(n, "ReduceMean"),
            "Max" => self.reduce(n, "ReduceMax"),
            "Add" | "AddV2" => self.binary(n, "Add"),
            "Mul" => self.binary(n, "Mul"),
            "Minimum" => self.binary(n, "Min"),
            "Maximum" => self.binary(n, "Max"),
            "Relu" | "Sigmoid" => {
                let t = self.act(Self::input(n, 0)?)?;
                self.emit(&n.op, &[&t.onnx], &n.name, vec![]);
                self.set(&n.name, n.name.clone(), t.shape, t.layout);
                Ok(())
            }
            "Softmax" => {
                let t = self.act(Self::input(n, 0)?)?;
                if t.layout != Layout::Plain {
                    return Err(unsupported(format!(
                        "{}: Softmax over a rank-4 activation",
                        n.name
                    )));
                }
                self.emit(
                    "Softmax",
                    &[&t.onnx],
                    &n.name,
                    vec![AttributeProto::int("axis", -1)],
                );
                self.set(&n.name, n.name.clone(), t.shape, t.layout);
                Ok(())
            }
            _ => Err(ConvertError::UnsupportedOp {
                op: n.op.clone(),
                node: n.name.clone(),
            }),
        }
    }

    fn placeholder(&mut self, n: &Node) -> Result<(), ConvertError> {
        let shape = attr::shape(n);
        let name = self
            .graph
            .input_names
            .get(&n.name)
            .cloned()
            .unwrap_or_else(|| format!("{}:0", n.name));
        self.inputs.push(float_value_info(&name, &shape));
        if shape.len() == 4 {
            let nchw = format!("{}/to_nchw", n.name);
            self.emit(
                "Transpose",
                &[&name],
                &nchw,
                vec![AttributeProto::ints("perm", vec![0, 3, 1, 2])],
            );
            self.set(
                &n.name,
                nchw,
                vec![shape[0], shape[3], shape[1], shape[2]],
                Layout::Nchw,
            );
        } else {
            self.set(&n.name, name, shape, Layout::Plain);
        }
        Ok(())
    }

    /// Conv2D / DepthwiseConv2dNative / _FusedConv2D (bias + activations after it).
    fn conv(
        &mut self,
        n: &'g Node,
        depthwise: bool,
        bias: Option<&Const>,
        activations: &[String],
    ) -> Result<(), ConvertError> {
        let x = self.act(Self::input(n, 0)?)?;
        if x.layout != Layout::Nchw {
            return Err(unsupported(format!(
                "{}: convolution input is not rank 4",
                n.name
            )));
        }
        check_nhwc(n)?;
        let f = self.constant(Self::input(n, 1)?)?;
        let ConstData::F32(fd) = &f.data else {
            return Err(unsupported(format!("{}: integer filter", n.name)));
        };
        let [kh, kw, cin, cm] = dims4(&f.shape, &n.name)?;
        let (weights, out_c, group) = if depthwise {
            (depthwise_filter(fd, kh, kw, cin, cm), cin * cm, cin)
        } else {
            (conv_filter(fd, kh, kw, cin, cm), cm, 1)
        };
        let w_dims = if depthwise {
            vec![out_c, 1, kh, kw]
        } else {
            vec![out_c, cin, kh, kw]
        };
        let w_name = self.init_f32(&format!("{}/W", n.name), w_dims, &weights);
        let mut ins = vec![x.onnx.clone(), w_name];
        if let Some(b) = bias {
            let ConstData::F32(bd) = &b.data else {
                return Err(unsupported(format!("{}: integer bias", n.name)));
            };
            ins.push(self.init_f32(&format!("{}/B", n.name), vec![out_c], bd));
        }
        let strides = spatial(&attr::ints(n, "strides"), &n.name, "strides")?;
        let dil = spatial(&attr::ints(n, "dilations"), &n.name, "dilations").unwrap_or([1, 1]);
        let (out_hw, pads) = window(n, [x.shape[2], x.shape[3]], [kh, kw], strides, dil)?;
        let conv_out = if activations.is_empty() {
            n.name.clone()
        } else {
            format!("{}/conv", n.name)
        };
        let refs: Vec<&str> = ins.iter().map(String::as_str).collect();
        self.emit(
            "Conv",
            &refs,
            &conv_out,
            vec![
                AttributeProto::ints("kernel_shape", vec![kh, kw]),
                AttributeProto::ints("strides", strides.to_vec()),
                AttributeProto::ints("dilations", dil.to_vec()),
                AttributeProto::ints("pads", pads.to_vec()),
                AttributeProto::int("group", group),
            ],
        );
        let out = self.activations(n, conv_out, activations)?;
        self.set(
            &n.name,
            out,
            vec![x.shape[0], out_c, out_hw[0], out_hw[1]],
            Layout::Nchw,
        );
        Ok(())
    }

    /// Applies fused activations after a node's main output; returns the final ONNX name.
    fn activations(
        &mut self,
        n: &Node,
        mut cur: String,
        activations: &[String],
    ) -> Result<String, ConvertError> {
        for (i, a) in activations.iter().enumerate() {
            let out = if i + 1 == activations.len() {
                n.name.clone()
            } else {
                format!("{}/{a}", n.name)
            };
            match a.as_str() {
                "Relu" => self.emit("Relu", &[&cur], &out, vec![]),
                other => {
                    return Err(unsupported(format!(
                        "{}: fused activation `{other}`",
                        n.name
                    )));
                }
            }
            cur = out;
        }
        Ok(cur)
    }

    fn matmul(&mut self, n: &'g Node) -> Result<(), ConvertError> {
        let fused = attr::strings(n, "fused_ops");
        if fused.first().map(String::as_str) != Some("BiasAdd")
            || attr::int(n, "num_args") != Some(1)
        {
            return Err(unsupported(format!("{}: fused ops {fused:?}", n.name)));
        }
        let a = self.act(Self::input(n, 0)?)?;
        if a.layout != Layout::Plain || a.shape.len() != 2 {
            return Err(unsupported(format!(
                "{}: MatMul input is not rank 2",
                n.name
            )));
        }
        let w = self.constant(Self::input(n, 1)?)?;
        let b = self.constant(Self::input(n, 2)?)?;
        let (ConstData::F32(wd), ConstData::F32(bd)) = (&w.data, &b.data) else {
            return Err(unsupported(format!("{}: integer weights", n.name)));
        };
        let trans_a = attr::boolean(n, "transpose_a");
        let trans_b = attr::boolean(n, "transpose_b");
        if trans_a {
            return Err(unsupported(format!("{}: transpose_a", n.name)));
        }
        let out_dim = if trans_b { w.shape[0] } else { w.shape[1] };
        let wn = self.init_f32(&format!("{}/W", n.name), w.shape.clone(), wd);
        let bn = self.init_f32(&format!("{}/B", n.name), b.shape.clone(), bd);
        let gemm_out = if fused.len() > 1 {
            format!("{}/gemm", n.name)
        } else {
            n.name.clone()
        };
        self.emit(
            "Gemm",
            &[&a.onnx, &wn, &bn],
            &gemm_out,
            vec![AttributeProto::int("transB", i64::from(trans_b))],
        );
        let out = self.activations(n, gemm_out, &fused[1..])?;
        self.set(&n.name, out, vec![a.shape[0], out_dim], Layout::Plain);
        Ok(())
    }

    fn max_pool(&mut self, n: &'g Node) -> Result<(), ConvertError> {
        let x = self.act(Self::input(n, 0)?)?;
        if x.layout != Layout::Nchw {
            return Err(unsupported(format!(
                "{}: pooling input is not rank 4",
                n.name
            )));
        }
        check_nhwc(n)?;
        let k = spatial(&attr::ints(n, "ksize"), &n.name, "ksize")?;
        let s = spatial(&attr::ints(n, "strides"), &n.name, "strides")?;
        let (out_hw, pads) = window(n, [x.shape[2], x.shape[3]], k, s, [1, 1])?;
        self.emit(
            "MaxPool",
            &[&x.onnx],
            &n.name,
            vec![
                AttributeProto::ints("kernel_shape", k.to_vec()),
                AttributeProto::ints("strides", s.to_vec()),
                AttributeProto::ints("pads", pads.to_vec()),
            ],
        );
        self.set(
            &n.name,
            n.name.clone(),
            vec![x.shape[0], x.shape[1], out_hw[0], out_hw[1]],
            Layout::Nchw,
        );
        Ok(())
    }

    fn reduce(&mut self, n: &'g Node, op: &str) -> Result<(), ConvertError> {
        let x = self.act(Self::input(n, 0)?)?;
        let axes_c = self.constant(Self::input(n, 1)?)?;
        let ConstData::I32(axes_tf) = &axes_c.data else {
            return Err(unsupported(format!("{}: float reduction axes", n.name)));
        };
        let keep = attr::boolean(n, "keep_dims");
        let rank = i64::try_from(x.shape.len()).unwrap_or(0);
        let mut axes: Vec<i64> = axes_tf
            .iter()
            .map(|&a| {
                let a = if a < 0 {
                    i64::from(a) + rank
                } else {
                    i64::from(a)
                };
                match x.layout {
                    // NHWC axis → NCHW axis.
                    Layout::Nchw => [0, 2, 3, 1][usize::try_from(a).unwrap_or(0).min(3)],
                    Layout::Plain => a,
                }
            })
            .collect();
        axes.sort_unstable();
        let mut shape = x.shape.clone();
        let layout = if keep {
            for &a in &axes {
                shape[usize::try_from(a).unwrap_or(0)] = 1;
            }
            x.layout
        } else {
            // Dropping spatial axes of an NCHW tensor leaves [N, C], which is also TF's order.
            if x.layout == Layout::Nchw && axes != [2, 3] {
                return Err(unsupported(format!(
                    "{}: reduction over axes {axes_tf:?} without keep_dims",
                    n.name
                )));
            }
            shape = shape
                .iter()
                .enumerate()
                .filter(|(i, _)| !axes.contains(&i64::try_from(*i).unwrap_or(-1)))
                .map(|(_, &d)| d)
                .collect();
            Layout::Plain
        };
        self.emit(
            op,
            &[&x.onnx],
            &n.name,
            vec![
                AttributeProto::ints("axes", axes),
                AttributeProto::int("keepdims", i64::from(keep)),
            ],
        );
        self.set(&n.name, n.name.clone(), shape, layout);
        Ok(())
    }

    fn binary(&mut self, n: &'g Node, op: &str) -> Result<(), ConvertError> {
        let a = self.operand(Self::input(n, 0)?)?;
        let b = self.operand(Self::input(n, 1)?)?;
        let (x, other, const_first) = match (a, b) {
            (Operand::Act(x), Operand::Act(y)) => {
                if x.layout != y.layout || x.shape.len() != y.shape.len() {
                    return Err(unsupported(format!(
                        "{}: operands of different layouts",
                        n.name
                    )));
                }
                self.emit(op, &[&x.onnx, &y.onnx], &n.name, vec![]);
                self.set(&n.name, n.name.clone(), x.shape, x.layout);
                return Ok(());
            }
            (Operand::Act(x), Operand::Const(c)) => (x, c, false),
            (Operand::Const(c), Operand::Act(x)) => (x, c, true),
            (Operand::Const(_), Operand::Const(_)) => {
                return Err(unsupported(format!(
                    "{}: constant folding is not supported",
                    n.name
                )));
            }
        };
        let ConstData::F32(data) = &other.data else {
            return Err(unsupported(format!("{}: integer operand", n.name)));
        };
        let dims = broadcast_const_dims(&other.shape, &x, &n.name)?;
        let data = if x.layout == Layout::Nchw && other.shape.len() == 4 {
            nhwc_to_nchw(data, &other.shape)
        } else {
            data.clone()
        };
        let cn = self.init_f32(&format!("{}/c", n.name), dims, &data);
        let ins = if const_first {
            [cn.as_str(), x.onnx.as_str()]
        } else {
            [x.onnx.as_str(), cn.as_str()]
        };
        self.emit(op, &ins, &n.name, vec![]);
        self.set(&n.name, n.name.clone(), x.shape, x.layout);
        Ok(())
    }
}

/// ONNX dims for a TF constant broadcast against activation `x`.
fn broadcast_const_dims(shape: &[i64], x: &Tensor, node: &str) -> Result<Vec<i64>, ConvertError> {
    match (x.layout, shape.len()) {
        (Layout::Plain, _) | (Layout::Nchw, 0) => Ok(shape.to_vec()),
        // A per-channel vector broadcasts over TF's last axis, which is axis 1 in NCHW.
        (Layout::Nchw, 1) => Ok(vec![shape[0], 1, 1]),
        (Layout::Nchw, 4) => Ok(vec![shape[0], shape[3], shape[1], shape[2]]),
        (Layout::Nchw, r) => Err(unsupported(format!(
            "{node}: rank-{r} constant against a rank-4 activation"
        ))),
    }
}

fn nhwc_to_nchw(data: &[f32], s: &[i64]) -> Vec<f32> {
    let [n, h, w, c] = [s[0], s[1], s[2], s[3]].map(|d| usize::try_from(d).unwrap_or(0));
    let mut out = vec![0.0; data.len()];
    for b in 0..n {
        for y in 0..h {
            for x in 0..w {
                for ch in 0..c {
                    out[((b * c + ch) * h + y) * w + x] = data[((b * h + y) * w + x) * c + ch];
                }
            }
        }
    }
    out
}

fn check_nhwc(n: &Node) -> Result<(), ConvertError> {
    match attr::string(n, "data_format").as_deref() {
        None | Some("NHWC") => Ok(()),
        Some(other) => Err(unsupported(format!("{}: data_format {other}", n.name))),
    }
}

fn dims4(shape: &[i64], node: &str) -> Result<[i64; 4], ConvertError> {
    <[i64; 4]>::try_from(shape)
        .map_err(|_| unsupported(format!("{node}: filter of rank {}", shape.len())))
}

/// The H, W entries of a TF `[1, h, w, 1]` attribute.
fn spatial(v: &[i64], node: &str, what: &str) -> Result<[i64; 2], ConvertError> {
    match v {
        [1, h, w, 1] => Ok([*h, *w]),
        _ => Err(unsupported(format!("{node}: {what} {v:?}"))),
    }
}

/// Output size and ONNX pads `[top, left, bottom, right]` for TF's VALID / SAME padding.
fn window(
    n: &Node,
    input_hw: [i64; 2],
    k: [i64; 2],
    s: [i64; 2],
    d: [i64; 2],
) -> Result<([i64; 2], [i64; 4]), ConvertError> {
    let padding = attr::string(n, "padding").unwrap_or_default();
    let mut out = [0; 2];
    let mut pads = [0; 4];
    // Sizes a real graph has: strides, dilations and kernels ≥ 1, all far below 2^31 (a graph
    // that says otherwise is refused, never divided by zero or overflowed).
    const MAX: i64 = 1 << 31;
    let bad = |what: &str| unsupported(format!("{}: {what}", n.name));
    for i in 0..2 {
        let len = input_hw[i];
        if len < 0 {
            return Err(bad("dynamic spatial size"));
        }
        if !(1..MAX).contains(&s[i]) || !(1..MAX).contains(&d[i]) || !(1..MAX).contains(&k[i]) {
            return Err(bad("stride, dilation or kernel size out of range"));
        }
        if len >= MAX {
            return Err(bad("spatial size out of range"));
        }
        let k_eff = (k[i] - 1) * d[i] + 1;
        match padding.as_str() {
            "VALID" if len >= k_eff => out[i] = (len - k_eff) / s[i] + 1,
            "VALID" => return Err(bad("kernel larger than its input")),
            "SAME" => {
                out[i] = (len + s[i] - 1) / s[i];
                let total = ((out[i] - 1).max(0) * s[i] + k_eff - len).max(0);
                pads[i] = total / 2;
                pads[i + 2] = total - total / 2;
            }
            other => return Err(unsupported(format!("{}: padding `{other}`", n.name))),
        }
    }
    Ok((out, pads))
}

/// TF filter [kh, kw, cin, cout] → ONNX [cout, cin, kh, kw].
fn conv_filter(f: &[f32], kh: i64, kw: i64, cin: i64, cout: i64) -> Vec<f32> {
    let [kh, kw, cin, cout] = [kh, kw, cin, cout].map(|d| usize::try_from(d).unwrap_or(0));
    let mut w = vec![0.0; f.len()];
    for i in 0..kh {
        for j in 0..kw {
            for c in 0..cin {
                for o in 0..cout {
                    w[((o * cin + c) * kh + i) * kw + j] = f[((i * kw + j) * cin + c) * cout + o];
                }
            }
        }
    }
    w
}

/// TF depthwise filter [kh, kw, cin, mult] → ONNX grouped [cin·mult, 1, kh, kw].
fn depthwise_filter(f: &[f32], kh: i64, kw: i64, cin: i64, mult: i64) -> Vec<f32> {
    let [kh, kw, cin, mult] = [kh, kw, cin, mult].map(|d| usize::try_from(d).unwrap_or(0));
    let mut w = vec![0.0; f.len()];
    for i in 0..kh {
        for j in 0..kw {
            for c in 0..cin {
                for m in 0..mult {
                    w[((c * mult + m) * kh + i) * kw + j] = f[((i * kw + j) * cin + c) * mult + m];
                }
            }
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_reordered() {
        // kh=1, kw=2, cin=2, cout=3: TF index ((i*kw + j)*cin + c)*cout + o.
        let f: Vec<f32> = (0..12u8).map(f32::from).collect();
        let w = conv_filter(&f, 1, 2, 2, 3);
        // ONNX [o=2, c=1, i=0, j=1] = TF [i=0, j=1, c=1, o=2] = ((1)*2 + 1)*3 + 2 = 11.
        assert_eq!(w[(2 * 2 + 1) * 2 + 1], 11.0);
        // ONNX [o=1, c=0, i=0, j=0] = TF [0, 0, 0, 1] = 1.
        assert_eq!(w[2 * 2], 1.0);
        let d = depthwise_filter(&f, 1, 2, 3, 2);
        // ONNX [c*mult+m = 2*2+1 = 5, 0, 0, j=1] = TF [0, 1, c=2, m=1] = (1*3 + 2)*2 + 1 = 11.
        assert_eq!(d[5 * 2 + 1], 11.0);
    }

    #[test]
    fn same_and_valid_windows_match_tf() {
        let n = |pad: &str| Node {
            name: "n".into(),
            op: "Conv2D".into(),
            inputs: vec![],
            attr: serde_json::json!({"padding": {"s": base64_of(pad)}})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        };
        // TF SAME, 224 input, k=3, s=2: out 112, total pad 1 → 0 before, 1 after.
        let (out, pads) = window(&n("SAME"), [224, 224], [3, 3], [2, 2], [1, 1]).expect("same");
        assert_eq!((out, pads), ([112, 112], [0, 0, 1, 1]));
        let (out, pads) = window(&n("VALID"), [198, 198], [3, 3], [1, 1], [1, 1]).expect("valid");
        assert_eq!((out, pads), ([196, 196], [0, 0, 0, 0]));
        assert!(window(&n("EXPLICIT"), [8, 8], [3, 3], [1, 1], [1, 1]).is_err());
    }

    fn base64_of(s: &str) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn unknown_op_is_named() {
        let json = serde_json::json!({
            "format": "graph-model",
            "modelTopology": {"node": [
                {"name": "x", "op": "Placeholder", "attr": {"shape": {"shape": {"dim": [{"size": "-1"}, {"size": "4"}]}}}},
                {"name": "y", "op": "Erf", "input": ["x"]}
            ]},
            "weightsManifest": []
        });
        let err =
            super::super::convert(json.to_string().as_bytes(), &[]).expect_err("Erf unsupported");
        assert!(
            matches!(&err, ConvertError::UnsupportedOp { op, node } if op == "Erf" && node == "y"),
            "{err}"
        );
    }
}
