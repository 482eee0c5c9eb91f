//! [`dynamic_batch`]: a model exported for one input at a time (the embedder: input `[1, 3, 112,
//! 112]`, a final `Reshape` to `[1, -1]`) made to take a batch. Its first input's and every
//! output's first dimension become a named dimension, and each constant `Reshape` target that
//! starts with 1 starts with 0 instead ("copy the input's first dimension"), which is the same for
//! a batch of one. Per-image results are unchanged (integration test `rewrite.rs`): a batch of
//! faces runs as one larger convolution per layer, which ONNX Runtime spreads over its threads
//! better than one face at a time.

use prost::Message;

use super::{RewriteError, Rewritten};
use crate::onnx_proto::{Dimension, GraphProto, ModelProto, ValueInfoProto};

/// The ONNX element type of int64 tensors.
const INT64: i32 = 7;

/// Makes the first dimension of `info` the named batch dimension; `true` when it was 1.
fn batch_dimension(info: &mut ValueInfoProto) -> bool {
    let Some(first) = info
        .r#type
        .as_mut()
        .and_then(|t| t.tensor_type.as_mut())
        .and_then(|t| t.shape.as_mut())
        .and_then(|s| s.dim.first_mut())
    else {
        return false;
    };
    let was_one = first.dim_value == Some(1);
    *first = Dimension {
        dim_value: None,
        dim_param: Some("batch".into()),
    };
    was_one
}

/// Rewrites every constant `Reshape` target `[1, …]` to `[0, …]`; returns how many.
fn reshapes_keep_the_batch(g: &mut GraphProto) -> usize {
    let targets: Vec<String> = g
        .node
        .iter()
        .filter(|n| n.op_type == "Reshape" && n.input.len() == 2)
        .map(|n| n.input[1].clone())
        .collect();
    let mut changed = 0;
    for t in g
        .initializer
        .iter_mut()
        .filter(|t| targets.contains(&t.name))
    {
        if t.data_type == INT64 && t.raw_data.len() >= 8 && t.raw_data[..8] == 1i64.to_le_bytes() {
            t.raw_data[..8].copy_from_slice(&0i64.to_le_bytes());
            changed += 1;
        }
    }
    changed
}

/// Gives a batch-of-one model a batch dimension (see the module doc).
///
/// # Errors
/// [`RewriteError`] when the bytes are not an ONNX model with a graph.
pub fn dynamic_batch(model: &[u8]) -> Result<Rewritten, RewriteError> {
    let mut m = ModelProto::decode(model)?;
    let g = m.graph.as_mut().ok_or(RewriteError::NoGraph)?;
    let initializers: Vec<String> = g.initializer.iter().map(|t| t.name.clone()).collect();
    let mut replaced = 0;
    if let Some(input) = g.input.iter_mut().find(|i| !initializers.contains(&i.name)) {
        replaced += usize::from(batch_dimension(input));
    }
    for output in &mut g.output {
        batch_dimension(output);
    }
    g.value_info.clear();
    replaced += reshapes_keep_the_batch(g);
    Ok(Rewritten {
        bytes: m.encode_to_vec(),
        replaced,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx_proto::{TensorProto, float_value_info};
    use crate::onnx_rewrite::node;

    #[test]
    fn the_first_dimension_becomes_a_batch_and_reshapes_copy_it() {
        let shape = |v: &[i64]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let m = ModelProto {
            ir_version: 7,
            graph: Some(GraphProto {
                node: vec![node("Reshape", "r".into(), &["x", "s"], "y")],
                initializer: vec![TensorProto {
                    dims: vec![2],
                    data_type: INT64,
                    name: "s".into(),
                    raw_data: shape(&[1, -1]),
                    ..TensorProto::default()
                }],
                input: vec![float_value_info("x", &[1, 3, 2, 2])],
                output: vec![float_value_info("y", &[1, 12])],
                ..GraphProto::default()
            }),
            ..ModelProto::default()
        };
        let r = dynamic_batch(&m.encode_to_vec()).expect("rewrites");
        assert_eq!(r.replaced, 2);
        let g = ModelProto::decode(r.bytes.as_slice())
            .expect("decodes")
            .graph
            .expect("graph");
        assert_eq!(g.initializer[0].raw_data, shape(&[0, -1]));
        for info in [&g.input[0], &g.output[0]] {
            let dims = &info
                .r#type
                .as_ref()
                .and_then(|t| t.tensor_type.as_ref())
                .and_then(|t| t.shape.as_ref())
                .expect("shape")
                .dim;
            assert_eq!(dims[0].dim_param.as_deref(), Some("batch"));
            assert_eq!(dims[0].dim_value, None);
        }
    }
}
