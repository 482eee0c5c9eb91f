//! P-Net in facelens's own kernels: the pinned graph's weights, run without ONNX Runtime.
//!
//! P-Net is four small convolutions (3→10→16→32 channels, then 1×1 heads) over every pixel of
//! every pyramid level: most of a photo's detection time. Its layers are too narrow for ONNX
//! Runtime's blocked convolutions, which reach about a quarter of the CPU's sgemm speed on them and
//! spend the rest reordering activations between ops (`bench/RESULTS.md` §12). Here each layer is
//! one direct convolution with its PRelu fused, vectorised over output channels, and the level
//! streams through the net a column at a time (two input columns make one pooled row), so the
//! activations in flight are a few rows, not a level, and no run needs strips.
//!
//! The weights come from the pinned `mtcnn_pnet.onnx`: [`NativePnet::from_onnx`] checks the graph is
//! the expected one (ops, order, shapes, attributes) and refuses anything else. The output maps are
//! the graph's own (`reg` `[W', H', 4]`, `prob` `[W', H', 2]`, transposed like its input) and agree
//! with ONNX Runtime's to float rounding (the `mtcnn` integration tests compare both on photos).
//!
//! The kernels are compiled for AVX-512 and AVX2+FMA and chosen at run time ([`multiversion`]);
//! [`NativePnet::supported`] says whether this CPU has either (or is aarch64); elsewhere the
//! detector keeps ONNX Runtime's P-Net. The summation order of every output is fixed by the loops,
//! not the vector width, so every kernel gives the same bits.

use multiversion::multiversion;
use prost::Message;

use crate::onnx_proto::{GraphProto, ModelProto, NodeProto};
use crate::onnx_rewrite::{attr, constant, conv_constants};

/// Spare positions at the end of every row buffer: the kernels work in whole blocks of
/// positions, so the last block may read and write up to a block past a row's end.
const SLACK: usize = 8;

/// A convolution's packed constants: weights `[kh][kw][cin][cout]` (output channels padded with
/// zeros to `cout`), bias and PRelu slope per output channel (slope 1: no activation).
#[derive(Debug, Clone)]
struct Layer<const CIN: usize, const COUT: usize> {
    weights: Vec<f32>,
    bias: [f32; COUT],
    slope: [f32; COUT],
}

/// P-Net's outputs for one level, in the graph's layout.
#[derive(Debug, Clone, PartialEq)]
pub struct PnetMaps {
    /// Output cells across (the level's width: P-Net's input is transposed).
    pub w_out: usize,
    /// Output cells down.
    pub h_out: usize,
    /// Box regression, `[w_out][h_out][4]`.
    pub reg: Vec<f32>,
    /// Softmax of (not face, face), `[w_out][h_out][2]`.
    pub prob: Vec<f32>,
}

/// P-Net's weights, ready for the kernels.
#[derive(Debug, Clone)]
pub struct NativePnet {
    conv1: Layer<3, 16>,
    conv2: Layer<10, 16>,
    conv3: Layer<16, 32>,
    /// Both 1×1 heads in one: channels 0–3 the box regression, 4–5 the two class logits.
    head: Layer<32, 8>,
}

/// Why a graph is not the P-Net these kernels run.
#[derive(Debug, thiserror::Error)]
#[error("not the pinned P-Net graph: {0}")]
pub struct NotPnet(String);

impl NativePnet {
    /// Whether this CPU runs the kernels at full speed: x86-64 with AVX2 and FMA (AVX-512 is used
    /// where present), or aarch64. Elsewhere they would still be right, but slow.
    #[must_use]
    pub fn supported() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
        }
        #[cfg(target_arch = "aarch64")]
        {
            true
        }
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        {
            false
        }
    }

    /// Reads the weights of the pinned P-Net graph, checking every op, shape and attribute the
    /// kernels assume.
    ///
    /// # Errors
    /// [`NotPnet`] naming the first thing that differs.
    pub fn from_onnx(bytes: &[u8]) -> Result<Self, NotPnet> {
        let model = ModelProto::decode(bytes).map_err(|e| NotPnet(e.to_string()))?;
        let g = model.graph.ok_or_else(|| NotPnet("no graph".into()))?;
        let ops: Vec<&str> = g.node.iter().map(|n| n.op_type.as_str()).collect();
        let expected = [
            "Transpose",
            "Conv",
            "PRelu",
            "MaxPool",
            "Conv",
            "PRelu",
            "Conv",
            "PRelu",
            "Conv",
            "Conv",
            "Transpose",
            "Transpose",
            "Softmax",
        ];
        if ops != expected {
            return Err(NotPnet(format!("ops {ops:?}")));
        }
        let n = &g.node;
        check_ints(&n[0], "perm", &[0, 3, 1, 2])?;
        check_ints(&n[3], "kernel_shape", &[2, 2])?;
        check_ints(&n[3], "strides", &[2, 2])?;
        if attr(&n[3], "auto_pad").map(|a| a.s.as_slice()) != Some(b"SAME_UPPER") {
            return Err(NotPnet("the max-pool is not SAME_UPPER".into()));
        }
        check_ints(&n[10], "perm", &[0, 2, 3, 1])?;
        check_ints(&n[11], "perm", &[0, 2, 3, 1])?;
        check_ints(&n[12], "axis", &[3])?;
        // The data path: each op reads the previous one's output.
        let chain = [
            (1, 0),
            (2, 1),
            (3, 2),
            (4, 3),
            (5, 4),
            (6, 5),
            (7, 6),
            (8, 7),
            (9, 7),
        ];
        for (reader, writer) in chain {
            if n[reader].input.first() != n[writer].output.first() {
                return Err(NotPnet(format!(
                    "node {reader} does not read node {writer}"
                )));
            }
        }
        // Which head is which: the graph's outputs name them.
        let output = |i: usize| g.output.get(i).map(|o| o.name.as_str());
        let reg_head = &n[8];
        let cls_head = &n[9];
        if n[10].input.first() != reg_head.output.first()
            || n[11].input.first() != cls_head.output.first()
            || n[12].input.first() != n[11].output.first()
            || output(0) != n[10].output.first().map(String::as_str)
            || output(1) != n[12].output.first().map(String::as_str)
        {
            return Err(NotPnet("the heads are not wired as expected".into()));
        }
        let reg = conv::<32, 4>(&g, reg_head, 1, None)?;
        let cls = conv::<32, 2>(&g, cls_head, 1, None)?;
        let mut head = Layer::<32, 8> {
            weights: vec![0.0; 32 * 8],
            bias: [0.0; 8],
            slope: [1.0; 8],
        };
        for ci in 0..32 {
            head.weights[ci * 8..ci * 8 + 4].copy_from_slice(&reg.weights[ci * 4..ci * 4 + 4]);
            head.weights[ci * 8 + 4..ci * 8 + 6].copy_from_slice(&cls.weights[ci * 2..ci * 2 + 2]);
        }
        head.bias[..4].copy_from_slice(&reg.bias);
        head.bias[4..6].copy_from_slice(&cls.bias);
        Ok(Self {
            conv1: conv::<3, 16>(&g, &n[1], 3, Some((&n[2], 10)))?,
            conv2: conv::<10, 16>(&g, &n[4], 3, Some((&n[5], 16)))?,
            conv3: conv::<16, 32>(&g, &n[6], 3, Some((&n[7], 32)))?,
            head,
        })
    }

    /// Runs P-Net on a whole level image, read transposed and normalised as the graph's input
    /// (`[width][height][3]`). `None` when the level is smaller than one 12×12 window.
    #[must_use]
    pub fn run(&self, level: &image::RgbImage) -> Option<PnetMaps> {
        let (a_in, b_in) = (level.width() as usize, level.height() as usize);
        let maps = plan(a_in, b_in)?;
        let Plan {
            b1,
            b_pool,
            b2,
            b3,
            a_pool,
            a3,
        } = maps;
        let mut input = Vec::with_capacity((4 * b_in + SLACK) * 3);
        let mut c1 = [
            vec![0.0f32; (b1 + SLACK) * 16],
            vec![0.0f32; (b1 + SLACK) * 16],
        ];
        // Rings of the last three pooled rows and the last three conv2 rows.
        let mut pooled: [Vec<f32>; 3] = std::array::from_fn(|_| vec![0.0; (b_pool + SLACK) * 10]);
        let mut c2: [Vec<f32>; 3] = std::array::from_fn(|_| vec![0.0; (b2 + SLACK) * 16]);
        let mut c3 = vec![0.0f32; (b3 + SLACK) * 32];
        let mut head = vec![0.0f32; (b3 + SLACK) * 8];
        let mut out = PnetMaps {
            w_out: a3,
            h_out: b3,
            reg: Vec::with_capacity(a3 * b3 * 4),
            prob: Vec::with_capacity(a3 * b3 * 2),
        };
        let a1 = a_in - 2;
        for q in 0..a_pool {
            // Conv1 rows 2q and 2q + 1 (when the level has it) read input columns 2q .. 2q + 4.
            let two = 2 * q + 1 < a1;
            let cols = 2 * q..(2 * q + if two { 4 } else { 3 });
            // Columns 2q and 2q + 1 were the previous pooled row's last two (that row always had
            // four): moved to the front, not gathered from the level again.
            let column = b_in * 3;
            let kept = if q == 0 { 0 } else { 2 };
            if kept > 0 {
                input.copy_within(2 * column..4 * column, 0);
            }
            input.truncate(kept * column);
            super::pack_columns_transposed(level, cols.start + kept..cols.end, &mut input);
            input.resize(input.len() + SLACK * 3, 0.0);
            let row = |i: usize| &input[i * b_in * 3..];
            CONV1(
                &self.conv1.weights,
                &self.conv1.bias,
                &self.conv1.slope,
                [row(0), row(1), row(2)],
                b1,
                &mut c1[0],
            );
            if two {
                CONV1(
                    &self.conv1.weights,
                    &self.conv1.bias,
                    &self.conv1.slope,
                    [row(1), row(2), row(3)],
                    b1,
                    &mut c1[1],
                );
            }
            let rows = if two { &c1[..] } else { &c1[..1] };
            max_pool(rows, b1, &mut pooled[q % 3]);
            if q >= 2 {
                let r = q - 2;
                let p = |i: usize| pooled[(r + i) % 3].as_slice();
                CONV2(
                    &self.conv2.weights,
                    &self.conv2.bias,
                    &self.conv2.slope,
                    [p(0), p(1), p(2)],
                    b2,
                    &mut c2[r % 3],
                );
                if r >= 2 {
                    let s = r - 2;
                    let c = |i: usize| c2[(s + i) % 3].as_slice();
                    conv3(
                        &self.conv3.weights,
                        &self.conv3.bias,
                        &self.conv3.slope,
                        [c(0), c(1), c(2)],
                        b3,
                        &mut c3,
                    );
                    HEADS(
                        &self.head.weights,
                        &self.head.bias,
                        &self.head.slope,
                        [&c3],
                        b3,
                        &mut head,
                    );
                    push_maps(&head[..b3 * 8], &mut out);
                }
            }
        }
        Some(out)
    }
}

/// Row lengths (positions) and row counts of each layer for a level of `a_in` columns and `b_in`
/// rows; `None` when it is smaller than a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Plan {
    b1: usize,
    b_pool: usize,
    b2: usize,
    b3: usize,
    a_pool: usize,
    a3: usize,
}

fn plan(a_in: usize, b_in: usize) -> Option<Plan> {
    if a_in < 12 || b_in < 12 {
        return None;
    }
    let pooled = |n: usize| (n - 2).div_ceil(2);
    let (a_pool, b_pool) = (pooled(a_in), pooled(b_in));
    Some(Plan {
        b1: b_in - 2,
        b_pool,
        b2: b_pool - 2,
        b3: b_pool - 4,
        a_pool,
        a3: a_pool - 4,
    })
}

/// One row of P-Net's heads as the graph's two outputs: regression, and the softmax of the logits.
fn push_maps(head: &[f32], out: &mut PnetMaps) {
    for v in head.chunks_exact(8) {
        out.reg.extend_from_slice(&v[..4]);
        let m = v[4].max(v[5]);
        let (e0, e1) = ((v[4] - m).exp(), (v[5] - m).exp());
        let sum = e0 + e1;
        out.prob.extend_from_slice(&[e0 / sum, e1 / sum]);
    }
}

/// The 2×2, stride-2 max-pool (SAME_UPPER: an odd last row or position pools alone) of one or two
/// conv1 rows of `n` positions, keeping conv1's 10 real channels.
fn max_pool(rows: &[Vec<f32>], n: usize, out: &mut [f32]) {
    for (j, o) in out.chunks_exact_mut(10).take(n.div_ceil(2)).enumerate() {
        let mut m = [f32::NEG_INFINITY; 10];
        for row in rows {
            for pos in (2 * j)..(2 * j + 2).min(n) {
                for (m, &v) in m.iter_mut().zip(&row[pos * 16..pos * 16 + 10]) {
                    *m = m.max(v);
                }
            }
        }
        o.copy_from_slice(&m);
    }
}

fn check_ints(n: &NodeProto, name: &str, want: &[i64]) -> Result<(), NotPnet> {
    let got = attr(n, name).map(|a| {
        if a.ints.is_empty() {
            vec![a.i]
        } else {
            a.ints.clone()
        }
    });
    if got.as_deref() == Some(want) {
        Ok(())
    } else {
        Err(NotPnet(format!(
            "{} {name} is {got:?}, expected {want:?}",
            n.op_type
        )))
    }
}

/// A `ks`×`ks` unit-stride, unpadded convolution of `CIN` to (at most `COUT`) channels, with the
/// PRelu that follows it (`prelu`: the node and its channel count).
fn conv<const CIN: usize, const COUT: usize>(
    g: &GraphProto,
    n: &NodeProto,
    ks: usize,
    prelu: Option<(&NodeProto, usize)>,
) -> Result<Layer<CIN, COUT>, NotPnet> {
    let (dims, w, b) = conv_constants(g, n)
        .ok_or_else(|| NotPnet(format!("{} has no constant weights", n.name)))?;
    let cout = prelu.map_or(COUT, |(_, c)| c);
    let ks_i = ks as i64;
    let want = [cout as i64, CIN as i64, ks_i, ks_i];
    if dims != want || w.len() != cout * CIN * ks * ks {
        return Err(NotPnet(format!(
            "{} weights {dims:?} ({} values), expected {want:?}",
            n.name,
            w.len()
        )));
    }
    check_ints(n, "strides", &[1, 1])?;
    check_ints(n, "kernel_shape", &[ks_i, ks_i])?;
    if attr(n, "dilations").is_some() {
        check_ints(n, "dilations", &[1, 1])?;
    }
    if attr(n, "group").is_some() {
        check_ints(n, "group", &[1])?;
    }
    if attr(n, "pads").is_some_and(|a| a.ints.iter().any(|&p| p != 0))
        || attr(n, "auto_pad").is_some_and(|a| a.s != b"VALID" && a.s != b"NOTSET")
    {
        return Err(NotPnet(format!("{} is padded", n.name)));
    }
    let mut layer = Layer {
        weights: vec![0.0; ks * ks * CIN * COUT],
        bias: [0.0; COUT],
        slope: [1.0; COUT],
    };
    for co in 0..cout {
        for ci in 0..CIN {
            for k in 0..ks * ks {
                layer.weights[(k * CIN + ci) * COUT + co] = w[(co * CIN + ci) * ks * ks + k];
            }
        }
    }
    layer.bias[..cout].copy_from_slice(&b);
    if let Some((p, c)) = prelu {
        let (dims, s) = p
            .input
            .get(1)
            .and_then(|name| constant(g, name))
            .ok_or_else(|| NotPnet(format!("{} has no constant slope", p.name)))?;
        if s.len() != c || dims.iter().product::<i64>() != c as i64 {
            return Err(NotPnet(format!("{} slope {dims:?}", p.name)));
        }
        layer.slope[..c].copy_from_slice(&s);
        // Padded channels stay 0 (zero weights and bias), so their slope does not matter.
    }
    Ok(layer)
}

/// One output row of a `KS`×`KS` convolution with its PRelu (`weights` `[KS][KS][CIN][COUT]`,
/// `bias` and `slope` per output channel): `rows` are the `KS` input rows (`[position][CIN]`, each
/// at least `n + KS - 1` positions plus [`SLACK`]), `out` gets `n` positions of `[COUT]` (and up to
/// a block more, in its slack). `NB` positions at a time, their `NB × COUT` sums held in vector
/// registers.
///
/// Written with index loops over plain slices and arrays, and called with the layer's parts rather
/// than the `Layer`: that is the form LLVM turned into vector code in every kernel. With the
/// `Layer` as an argument conv3 stayed scalar, 20× slower (measured in release).
#[inline(always)]
#[allow(clippy::needless_range_loop)]
fn conv_row<const KS: usize, const CIN: usize, const COUT: usize, const NB: usize>(
    weights: &[f32],
    bias: &[f32; COUT],
    slope: &[f32; COUT],
    rows: [&[f32]; KS],
    n: usize,
    out: &mut [f32],
) {
    let mut j = 0;
    while j < n {
        let mut acc = [*bias; NB];
        for di in 0..KS {
            let row = rows[di];
            for dj in 0..KS {
                let k = di * KS + dj;
                let (wk, _) = weights[k * CIN * COUT..(k + 1) * CIN * COUT].as_chunks::<COUT>();
                let xs = &row[(j + dj) * CIN..(j + dj + NB) * CIN];
                for ci in 0..CIN {
                    let wv = &wk[ci];
                    for p in 0..NB {
                        let x = xs[p * CIN + ci];
                        for c in 0..COUT {
                            acc[p][c] = x.mul_add(wv[c], acc[p][c]);
                        }
                    }
                }
            }
        }
        let o = &mut out[j * COUT..(j + NB) * COUT];
        for p in 0..NB {
            for c in 0..COUT {
                let v = acc[p][c];
                o[p * COUT + c] = if v > 0.0 { v } else { v * slope[c] };
            }
        }
        j += NB;
    }
}

/// A kernel: weights, bias, slope, the `KS` input rows, the row length and the output row.
type Kernel<const KS: usize, const COUT: usize> =
    fn(&[f32], &[f32; COUT], &[f32; COUT], [&[f32]; KS], usize, &mut [f32]);

// Block sizes per layer and instruction set, measured on an AVX-512 Xeon (RESULTS §12): the
// narrow layers (conv1, conv2, the heads) run fastest as AVX2 code, conv3 as AVX-512.

/// [`conv_row`] compiled for AVX2+FMA (and without, for other CPUs), chosen at run time.
#[multiversion(targets("x86_64+avx2+fma"))]
fn narrow<const KS: usize, const CIN: usize, const COUT: usize, const NB: usize>(
    w: &[f32],
    bias: &[f32; COUT],
    slope: &[f32; COUT],
    rows: [&[f32]; KS],
    n: usize,
    out: &mut [f32],
) {
    conv_row::<KS, CIN, COUT, NB>(w, bias, slope, rows, n, out);
}

const CONV1: Kernel<3, 16> = narrow::<3, 3, 16, 3>;
const CONV2: Kernel<3, 16> = narrow::<3, 10, 16, 3>;
const HEADS: Kernel<1, 8> = narrow::<1, 32, 8, 4>;

#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
fn conv3(
    w: &[f32],
    bias: &[f32; 32],
    slope: &[f32; 32],
    rows: [&[f32]; 3],
    n: usize,
    out: &mut [f32],
) {
    const WIDE: bool = multiversion::target::selected_target!().supports_feature_str("avx512f");
    conv_row::<3, 16, 32, { if WIDE { 4 } else { 3 } }>(w, bias, slope, rows, n, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A layer with deterministic, varied weights.
    fn layer<const CIN: usize, const COUT: usize>(ks: usize, seed: u32) -> Layer<CIN, COUT> {
        let mut s = seed;
        let mut next = || {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            f32::from(u16::try_from(s >> 16).unwrap_or(0)) / 65536.0 - 0.5
        };
        Layer {
            weights: (0..ks * ks * CIN * COUT).map(|_| next()).collect(),
            bias: std::array::from_fn(|_| next()),
            slope: std::array::from_fn(|_| next()),
        }
    }

    /// The convolution row written the slow, obvious way.
    fn naive<const CIN: usize, const COUT: usize>(
        l: &Layer<CIN, COUT>,
        rows: &[&[f32]],
        ks: usize,
        n: usize,
    ) -> Vec<f32> {
        let mut out = vec![0.0; n * COUT];
        for j in 0..n {
            for co in 0..COUT {
                let mut v = l.bias[co];
                for (di, row) in rows.iter().enumerate() {
                    for dj in 0..ks {
                        for ci in 0..CIN {
                            v = row[(j + dj) * CIN + ci]
                                .mul_add(l.weights[((di * ks + dj) * CIN + ci) * COUT + co], v);
                        }
                    }
                }
                out[j * COUT + co] = if v > 0.0 { v } else { v * l.slope[co] };
            }
        }
        out
    }

    /// `kernel` against [`naive`] on rows of `n` positions, for many `n` (whole blocks, partial
    /// blocks, shorter than one block).
    fn check<const KS: usize, const CIN: usize, const COUT: usize>(
        name: &str,
        kernel: Kernel<KS, COUT>,
        seed: usize,
    ) {
        let l = layer::<CIN, COUT>(KS, u32::try_from(seed).unwrap_or(1));
        for n in [1usize, 2, 3, 4, 5, 7, 8, 9, 31] {
            let rows: Vec<Vec<f32>> = (0..KS)
                .map(|r| {
                    (0..(n + KS - 1 + SLACK) * CIN)
                        .map(|i| (((i * 37 + (seed + r) * 101) % 211) as f32) / 105.0 - 1.0)
                        .collect()
                })
                .collect();
            let refs: [&[f32]; KS] = std::array::from_fn(|r| rows[r].as_slice());
            let mut out = vec![0.0; (n + SLACK) * COUT];
            kernel(&l.weights, &l.bias, &l.slope, refs, n, &mut out);
            assert_eq!(
                out[..n * COUT],
                naive(&l, &refs, KS, n)[..],
                "{name}, n = {n}"
            );
        }
    }

    #[test]
    fn kernels_match_the_obvious_loops_at_every_row_length() {
        check::<3, 3, 16>("conv1", CONV1, 11);
        check::<3, 10, 16>("conv2", CONV2, 17);
        check::<3, 16, 32>("conv3", conv3, 7);
        check::<1, 32, 8>("heads", HEADS, 13);
    }

    #[test]
    fn pooling_keeps_the_odd_edge() {
        // Two conv1 rows of 3 positions: pooled positions are {0, 1} and {2} alone.
        let mut rows = vec![vec![0.0f32; 3 * 16]; 2];
        rows[0][16] = 5.0; // position 1, channel 0
        rows[1][2 * 16 + 9] = -1.0; // position 2, channel 9: pools alone with row 0's 0.0
        rows[0][2 * 16 + 9] = -3.0;
        let mut out = vec![9.0f32; 2 * 10];
        max_pool(&rows, 3, &mut out);
        assert_eq!(out[0], 5.0);
        assert_eq!(out[10 + 9], -1.0);
        // One row: the last pooled row of an odd level.
        max_pool(&rows[..1], 3, &mut out);
        assert_eq!(out[10 + 9], -3.0);
    }

    #[test]
    fn plan_follows_the_graph_shapes() {
        assert_eq!(plan(11, 40), None);
        // 12×12: one cell. 13: conv1 11 → pooled 6 (odd edge) → conv2 4 → conv3 2.
        let p = plan(12, 13).expect("one window");
        assert_eq!((p.a3, p.b3, p.b1, p.b_pool), (1, 2, 11, 6));
        assert_eq!(plan(100, 57).map(|p| (p.a3, p.b3)), Some((45, 24)));
    }
}
