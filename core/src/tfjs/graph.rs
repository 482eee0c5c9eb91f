//! Reading a TensorFlow.js graph model: the node list of `modelTopology` and the weights described
//! by `weightsManifest` (float32, int32, float16- and uint8/uint16-quantised), dequantised to f32.

use std::collections::BTreeMap;

use serde_json::Value;

use super::ConvertError;

/// One node of the TF graph.
#[derive(Debug, Clone)]
pub struct Node {
    /// Node name (also the name of its first output tensor).
    pub name: String,
    /// TF op type.
    pub op: String,
    /// Data inputs, by node name (":0" and control inputs stripped).
    pub inputs: Vec<String>,
    /// Raw attribute JSON.
    pub attr: serde_json::Map<String, Value>,
}

/// A constant's values, dequantised.
#[derive(Debug, Clone, PartialEq)]
pub enum ConstData {
    /// Float values.
    F32(Vec<f32>),
    /// Integer values.
    I32(Vec<i32>),
}

/// A constant tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Const {
    /// Shape.
    pub shape: Vec<i64>,
    /// Values.
    pub data: ConstData,
}

/// A parsed graph model.
#[derive(Debug, Clone)]
pub struct Graph {
    /// Nodes in topological order.
    pub nodes: Vec<Node>,
    /// Constants by node name.
    pub consts: BTreeMap<String, Const>,
    /// Input names from the signature, by placeholder node name.
    pub input_names: BTreeMap<String, String>,
    /// Graph outputs: (ONNX output name, producing node name), in signature order.
    pub outputs: Vec<(String, String)>,
}

fn bad(msg: impl Into<String>) -> ConvertError {
    ConvertError::Malformed(msg.into())
}

/// Strips `^control` and `:0` decorations from an input reference. Returns `None` for control
/// inputs; an error for a non-zero output index (no op used here has several outputs).
fn data_input(s: &str) -> Result<Option<String>, ConvertError> {
    if s.starts_with('^') {
        return Ok(None);
    }
    match s.rsplit_once(':') {
        Some((n, "0")) => Ok(Some(n.to_owned())),
        Some((_, idx)) if idx.chars().all(|c| c.is_ascii_digit()) => Err(bad(format!(
            "input `{s}` uses output {idx}; only single-output ops are supported"
        ))),
        _ => Ok(Some(s.to_owned())),
    }
}

/// Parses `model.json` and its weight shards (all shards of all groups, in manifest order).
///
/// # Errors
/// [`ConvertError::Malformed`] for anything that is not a valid TFJS graph model.
pub fn parse(json: &[u8], shards: &[&[u8]]) -> Result<Graph, ConvertError> {
    let root: Value = serde_json::from_slice(json).map_err(|e| bad(format!("model.json: {e}")))?;
    if root.get("format").and_then(Value::as_str) != Some("graph-model") {
        return Err(bad("not a TFJS graph-model (format field)"));
    }
    let raw_nodes = root
        .pointer("/modelTopology/node")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("modelTopology.node missing"))?;
    let mut nodes = Vec::with_capacity(raw_nodes.len());
    for n in raw_nodes {
        let name = n
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("node without name"))?;
        let op = n
            .get("op")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("{name}: no op")))?;
        let mut inputs = Vec::new();
        for i in n
            .get("input")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let s = i
                .as_str()
                .ok_or_else(|| bad(format!("{name}: bad input")))?;
            if let Some(d) = data_input(s)? {
                inputs.push(d);
            }
        }
        let attr = n
            .get("attr")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        nodes.push(Node {
            name: name.to_owned(),
            op: op.to_owned(),
            inputs,
            attr,
        });
    }
    let consts = read_weights(&root, shards)?;
    let nodes = topo_sort(nodes)?;

    let mut input_names = BTreeMap::new();
    let sig_inputs = root.pointer("/signature/inputs").and_then(Value::as_object);
    for n in nodes.iter().filter(|n| n.op == "Placeholder") {
        let from_sig = sig_inputs.and_then(|m| {
            m.iter()
                .find(|(_, v)| {
                    v.get("name").and_then(Value::as_str) == Some(&format!("{}:0", n.name))
                })
                .map(|(k, _)| k.clone())
        });
        input_names.insert(
            n.name.clone(),
            from_sig.unwrap_or_else(|| format!("{}:0", n.name)),
        );
    }

    let outputs = match root
        .pointer("/signature/outputs")
        .and_then(Value::as_object)
    {
        Some(sig) if !sig.is_empty() => {
            let mut v = Vec::new();
            for (key, spec) in sig {
                let tensor = spec.get("name").and_then(Value::as_str).unwrap_or(key);
                let node = data_input(tensor)?.ok_or_else(|| bad("control output"))?;
                v.push((key.clone(), node));
            }
            v
        }
        _ => {
            // No signature: the outputs are the non-constant nodes nobody consumes.
            let used: std::collections::BTreeSet<&str> = nodes
                .iter()
                .flat_map(|n| n.inputs.iter().map(String::as_str))
                .collect();
            nodes
                .iter()
                .filter(|n| n.op != "Const" && !used.contains(n.name.as_str()))
                .map(|n| (format!("{}:0", n.name), n.name.clone()))
                .collect()
        }
    };
    if outputs.is_empty() {
        return Err(bad("graph has no outputs"));
    }
    Ok(Graph {
        nodes,
        consts,
        input_names,
        outputs,
    })
}

/// Kahn's algorithm, stable: among ready nodes the one earliest in the file goes first.
fn topo_sort(nodes: Vec<Node>) -> Result<Vec<Node>, ConvertError> {
    let index: BTreeMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.as_str(), i))
        .collect();
    let mut indegree = vec![0usize; nodes.len()];
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        for inp in &n.inputs {
            let &j = index
                .get(inp.as_str())
                .ok_or_else(|| bad(format!("{}: input `{inp}` is not a node", n.name)))?;
            indegree[i] += 1;
            users[j].push(i);
        }
    }
    let mut ready: std::collections::BTreeSet<usize> =
        (0..nodes.len()).filter(|&i| indegree[i] == 0).collect();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &u in &users[i] {
            indegree[u] -= 1;
            if indegree[u] == 0 {
                ready.insert(u);
            }
        }
    }
    if order.len() != nodes.len() {
        return Err(bad("graph has a cycle"));
    }
    let mut slots: Vec<Option<Node>> = nodes.into_iter().map(Some).collect();
    Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
}

fn read_weights(root: &Value, shards: &[&[u8]]) -> Result<BTreeMap<String, Const>, ConvertError> {
    let groups = root
        .get("weightsManifest")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("weightsManifest missing"))?;
    let mut consts = BTreeMap::new();
    let mut shard_iter = shards.iter();
    for g in groups {
        let n_paths = g.get("paths").and_then(Value::as_array).map_or(0, Vec::len);
        let mut buf = Vec::new();
        for _ in 0..n_paths {
            let s = shard_iter
                .next()
                .ok_or_else(|| bad("fewer weight shards than weightsManifest paths"))?;
            buf.extend_from_slice(s);
        }
        let mut off = 0usize;
        for w in g
            .get("weights")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = w
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("weight without name"))?;
            let shape: Vec<i64> = w
                .get("shape")
                .and_then(Value::as_array)
                .ok_or_else(|| bad(format!("{name}: no shape")))?
                .iter()
                .map(|d| d.as_i64().ok_or_else(|| bad(format!("{name}: bad dim"))))
                .collect::<Result<_, _>>()?;
            let count = usize::try_from(shape.iter().product::<i64>().max(0))
                .map_err(|_| bad("bad size"))?;
            let dtype = w.get("dtype").and_then(Value::as_str).unwrap_or("float32");
            let quant = w.get("quantization");
            let (data, used) =
                decode_weight(name, dtype, quant, count, buf.get(off..).unwrap_or(&[]))?;
            off += used;
            consts.insert(name.to_owned(), Const { shape, data });
        }
    }
    Ok(consts)
}

fn decode_weight(
    name: &str,
    dtype: &str,
    quant: Option<&Value>,
    count: usize,
    bytes: &[u8],
) -> Result<(ConstData, usize), ConvertError> {
    let need = |width: usize| -> Result<&[u8], ConvertError> {
        bytes
            .get(..count * width)
            .ok_or_else(|| bad(format!("{name}: weight data ends early")))
    };
    let le4 = |c: &[u8]| [c[0], c[1], c[2], c[3]];
    if let Some(q) = quant {
        let qtype = q.get("dtype").and_then(Value::as_str).unwrap_or("");
        if dtype != "float32" {
            return Err(ConvertError::Unsupported(format!(
                "{name}: quantised {dtype} weights"
            )));
        }
        return match qtype {
            "float16" => {
                let b = need(2)?;
                let v = b
                    .chunks_exact(2)
                    .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                    .collect();
                Ok((ConstData::F32(v), count * 2))
            }
            "uint8" | "uint16" => {
                let scale = q
                    .get("scale")
                    .and_then(Value::as_f64)
                    .ok_or_else(|| bad(format!("{name}: no scale")))?;
                let min = q
                    .get("min")
                    .and_then(Value::as_f64)
                    .ok_or_else(|| bad(format!("{name}: no min")))?;
                let width = if qtype == "uint8" { 1 } else { 2 };
                let b = need(width)?;
                let v = b
                    .chunks_exact(width)
                    .map(|c| {
                        let q = if width == 1 {
                            u32::from(c[0])
                        } else {
                            u32::from(u16::from_le_bytes([c[0], c[1]]))
                        };
                        (f64::from(q) * scale + min) as f32
                    })
                    .collect();
                Ok((ConstData::F32(v), count * width))
            }
            other => Err(ConvertError::Unsupported(format!(
                "{name}: quantisation dtype `{other}`"
            ))),
        };
    }
    match dtype {
        "float32" => Ok((
            ConstData::F32(
                need(4)?
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(le4(c)))
                    .collect(),
            ),
            count * 4,
        )),
        "int32" => Ok((
            ConstData::I32(
                need(4)?
                    .chunks_exact(4)
                    .map(|c| i32::from_le_bytes(le4(c)))
                    .collect(),
            ),
            count * 4,
        )),
        other => Err(ConvertError::Unsupported(format!(
            "{name}: weight dtype `{other}`"
        ))),
    }
}

/// Attribute helpers over TFJS's JSON encoding of `AttrValue`.
pub mod attr {
    use super::{Node, Value};
    use base64::Engine as _;

    /// A string attribute (`{"s": base64}`), decoded.
    #[must_use]
    pub fn string(n: &Node, key: &str) -> Option<String> {
        let s = n.attr.get(key)?.get("s")?.as_str()?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
        String::from_utf8(bytes).ok()
    }

    /// A list of strings (`{"list": {"s": [...]}}`), decoded.
    #[must_use]
    pub fn strings(n: &Node, key: &str) -> Vec<String> {
        n.attr
            .get(key)
            .and_then(|v| v.pointer("/list/s"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| {
                let b = base64::engine::general_purpose::STANDARD
                    .decode(s.as_str()?)
                    .ok()?;
                String::from_utf8(b).ok()
            })
            .collect()
    }

    /// A list of ints (`{"list": {"i": ["1", ...]}}`; TFJS writes int64 as strings).
    #[must_use]
    pub fn ints(n: &Node, key: &str) -> Vec<i64> {
        n.attr
            .get(key)
            .and_then(|v| v.pointer("/list/i"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()))
            .collect()
    }

    /// An int (`{"i": "1"}`).
    #[must_use]
    pub fn int(n: &Node, key: &str) -> Option<i64> {
        let v = n.attr.get(key)?.get("i")?;
        v.as_i64().or_else(|| v.as_str()?.parse().ok())
    }

    /// A bool (`{"b": true}`), false when absent.
    #[must_use]
    pub fn boolean(n: &Node, key: &str) -> bool {
        n.attr
            .get(key)
            .and_then(|v| v.get("b"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// Placeholder shape dims (`{"shape": {"dim": [{"size": "-1"}, ...]}}`).
    #[must_use]
    pub fn shape(n: &Node) -> Vec<i64> {
        n.attr
            .get("shape")
            .and_then(|v| v.pointer("/shape/dim"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|d| {
                let s = d.get("size")?;
                s.as_i64().or_else(|| s.as_str()?.parse().ok())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_quantised_weights() {
        let f16 = [
            half::f16::from_f32(1.5).to_le_bytes(),
            half::f16::from_f32(-2.0).to_le_bytes(),
        ]
        .concat();
        let q = serde_json::json!({"dtype": "float16"});
        let (d, used) = decode_weight("w", "float32", Some(&q), 2, &f16).expect("f16");
        assert_eq!((d, used), (ConstData::F32(vec![1.5, -2.0]), 4));
        let q = serde_json::json!({"dtype": "uint8", "scale": 0.5, "min": -1.0});
        let (d, _) = decode_weight("w", "float32", Some(&q), 3, &[0, 2, 4]).expect("u8");
        assert_eq!(d, ConstData::F32(vec![-1.0, 0.0, 1.0]));
        assert!(
            decode_weight("w", "float32", None, 2, &[0; 7]).is_err(),
            "short data"
        );
        assert!(decode_weight("w", "complex64", None, 1, &[0; 8]).is_err());
    }

    #[test]
    fn parses_and_sorts_a_tiny_graph() {
        // Nodes deliberately out of order: the output first, then its inputs.
        let json = serde_json::json!({
            "format": "graph-model",
            "modelTopology": {"node": [
                {"name": "out", "op": "Relu", "input": ["add"]},
                {"name": "add", "op": "AddV2", "input": ["x", "b:0", "^ctrl"]},
                {"name": "x", "op": "Placeholder", "attr": {"shape": {"shape": {"dim": [{"size": "-1"}, {"size": "3"}]}}}},
                {"name": "b", "op": "Const"}
            ]},
            "weightsManifest": [{"paths": ["w.bin"], "weights": [{"name": "b", "shape": [3], "dtype": "float32"}]}]
        });
        let bytes: Vec<u8> = [1.0f32, 2.0, 3.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let g = parse(json.to_string().as_bytes(), &[&bytes]).expect("parses");
        let order: Vec<&str> = g.nodes.iter().map(|n| n.name.as_str()).collect();
        let pos = |n: &str| order.iter().position(|o| *o == n).expect("present");
        assert!(pos("x") < pos("add") && pos("b") < pos("add") && pos("add") < pos("out"));
        assert_eq!(g.outputs, vec![("out:0".to_owned(), "out".to_owned())]);
        assert_eq!(g.input_names["x"], "x:0");
        assert_eq!(g.consts["b"].data, ConstData::F32(vec![1.0, 2.0, 3.0]));
        assert!(parse(b"{}", &[]).is_err());
    }
}
