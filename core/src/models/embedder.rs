//! faceplugin `fr_feature`: 512-d identity embedding of an aligned 112×112 face (BGR input).

use image::RgbImage;

use super::{CheckedSession, RewriteFn, rows};
use crate::error::ModelError;
use crate::onnx_rewrite::{RewriteError, Rewritten, dynamic_batch, prune_dead_channels};
use crate::preprocess::{ALIGNED_SIDE_PX, Channels, to_nchw};
use crate::provision::ModelStore;
use crate::runtime::SessionOptions;

/// Embedding dimension.
pub const EMBEDDING_DIM: usize = 512;

/// The identity embedder.
#[derive(Debug)]
pub struct Embedder {
    session: CheckedSession,
}

/// Scales `v` to unit length and returns the length it had (`v` is unchanged when that is 0 or
/// not finite). Computed in f64, so vectors of huge or tiny components neither overflow to
/// infinity nor underflow to zero.
pub fn l2_normalize(v: &mut [f32]) -> f64 {
    let n = v
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt();
    if n > 0.0 && n.is_finite() {
        v.iter_mut().for_each(|x| *x = (f64::from(*x) / n) as f32);
    }
    n
}

/// Cosine similarity of two vectors.
#[must_use]
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

/// The embedder's load-time graph: batched ([`dynamic_batch`]) and its pruned channels removed
/// ([`prune_dead_channels`]).
fn batched_and_pruned(model: &[u8]) -> Result<Rewritten, RewriteError> {
    let pruned = prune_dead_channels(model)?;
    let batched = dynamic_batch(&pruned.bytes)?;
    Ok(Rewritten {
        bytes: batched.bytes,
        replaced: pruned.replaced + batched.replaced,
    })
}

impl Embedder {
    /// Loads the model, batched, with its pruned channels removed under
    /// [`SessionOptions::prune_channels`].
    ///
    /// # Errors
    /// As [`CheckedSession::load`].
    pub fn load(store: &ModelStore, opts: SessionOptions) -> Result<Self, ModelError> {
        // On one 2-core Intel Xeon the blocked layout made this net 2× slower (52 vs 25 ms a
        // face), while it is the faster one for the other models: measured per CPU at load.
        let probe_face = crate::stages::warm_up_image(ALIGNED_SIDE_PX, ALIGNED_SIDE_PX);
        let probe_input = to_nchw(&probe_face, Channels::Bgr, 1.0, [127.0; 3], [128.0; 3]);
        let rewrite: RewriteFn = if opts.prune_channels {
            batched_and_pruned
        } else {
            dynamic_batch
        };
        Ok(Self {
            session: CheckedSession::load_fastest_layout(
                store,
                "fr_feature",
                opts,
                Some(rewrite),
                |s| {
                    s.run("input", &[1, 3, 112, 112], probe_input.clone())
                        .map(drop)
                },
            )?,
        })
    }

    /// The L2-normalised embeddings of aligned 112×112 crops, in one run.
    ///
    /// # Errors
    /// [`ModelError::Ort`] if the run fails.
    pub fn embed(&mut self, aligned: &[&RgbImage]) -> Result<Vec<Vec<f32>>, ModelError> {
        if aligned.is_empty() {
            return Ok(Vec::new());
        }
        let side = ALIGNED_SIDE_PX as usize;
        let mut input = Vec::with_capacity(aligned.len() * 3 * side * side);
        for a in aligned {
            debug_assert_eq!(a.dimensions(), (ALIGNED_SIDE_PX, ALIGNED_SIDE_PX));
            input.extend(to_nchw(a, Channels::Bgr, 1.0, [127.0; 3], [128.0; 3]));
        }
        let out = self
            .session
            .run("input", &[aligned.len(), 3, side, side], input)?;
        let mut vectors = out
            .first()
            .map(|o| rows(o, aligned.len()))
            .unwrap_or_default();
        if vectors.len() != aligned.len() {
            return Err(ModelError::Ort {
                model: "fr_feature".into(),
                detail: format!("{} embeddings for {} faces", vectors.len(), aligned.len()),
            });
        }
        for v in &mut vectors {
            l2_normalize(v);
        }
        Ok(vectors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_and_normalisation() {
        let mut v = vec![3.0, 4.0];
        assert!((l2_normalize(&mut v) - 5.0).abs() < 1e-12);
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
        // Huge and tiny components: f32 squares would overflow to inf or underflow to 0.
        for x in [3e38f32, 1e-45] {
            let mut big = vec![x; 512];
            l2_normalize(&mut big);
            let n: f32 = big.iter().map(|y| y * y).sum();
            assert!((n - 1.0).abs() < 1e-5, "{x}: squared norm {n}");
        }
        assert!((cosine(&[1.0, 0.0], &[0.0, 2.0])).abs() < 1e-6);
        assert!((cosine(&[1.0, 1.0], &[2.0, 2.0]) - 1.0).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
    }
}
