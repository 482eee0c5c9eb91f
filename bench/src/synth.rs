#![allow(dead_code)]
//! Synthetic identities for the store and people benchmarks: a deterministic generator of unit
//! embeddings, and faces of one person at a cosine of about 0.8 to its centre (0.6–0.7 between
//! two faces of one person, like real faces; unrelated people near 0).

use facelens_core::models::embedder::{EMBEDDING_DIM, l2_normalize};

/// A small deterministic generator (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let u = (x >> 40) as f32 / (1u64 << 24) as f32;
        u - 0.5
    }
    pub fn unit(&mut self) -> Vec<f32> {
        let mut v: Vec<f32> = (0..EMBEDDING_DIM).map(|_| self.next()).collect();
        l2_normalize(&mut v);
        v
    }
    /// A face of the person with centre `c`: cosine to the centre about 0.8.
    pub fn face_of(&mut self, c: &[f32]) -> Vec<f32> {
        let noise = self.unit();
        let mut v: Vec<f32> = c.iter().zip(&noise).map(|(a, b)| a + 0.75 * b).collect();
        l2_normalize(&mut v);
        v
    }
}

/// Synthetic identities shaped like real face embeddings: identity centres and their faces drawn
/// from an anisotropic distribution (variance `exp(-i / 49)` along the i-th of 512 axes, about
/// 98 effective dimensions), turned by a fixed random rotation (random signs, then a
/// Walsh–Hadamard transform) so that no coordinate axis is special. Given real embeddings
/// ([`FaceSpace::anchored`]), 30 % of each draw's energy is a random combination of them, so the
/// synthetic people live in the same directions as real faces (a real query is then among its
/// kind, as in a real gallery, not off in directions no synthetic face uses). Measured on the
/// labelled photos: faces of different people meet at cosine 0.01 ± 0.10 and two faces of one
/// person at 0.74 ± 0.09; the store bench prints what this generator gives.
pub struct FaceSpace {
    rng: Rng,
    signs: Vec<f32>,
    sd: Vec<f32>,
    anchors: Vec<Vec<f32>>,
}

/// Share of a draw's energy along the real embeddings, when anchored.
const ANCHOR_SHARE: f32 = 0.3;

impl FaceSpace {
    #[must_use]
    pub fn new(seed: u64) -> Self {
        let mut rng = Rng(seed);
        let signs = (0..EMBEDDING_DIM)
            .map(|_| if rng.next() < 0.0 { -1.0 } else { 1.0 })
            .collect();
        let sd = (0..EMBEDDING_DIM)
            .map(|i| (-(i as f32) / 98.0).exp())
            .collect();
        Self {
            rng,
            signs,
            sd,
            anchors: Vec::new(),
        }
    }

    /// As [`FaceSpace::new`], with part of every draw along the real embeddings `real`.
    #[must_use]
    pub fn anchored(seed: u64, real: &[Vec<f32>]) -> Self {
        let mut s = Self::new(seed);
        s.anchors = real.to_vec();
        s
    }

    fn normal(&mut self) -> f32 {
        let u = (self.rng.next() + 0.5).max(1e-7);
        let v = self.rng.next() + 0.5;
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }

    /// One draw of the anisotropic distribution, rotated, unit length (part of it along the
    /// anchors, when there are any).
    fn draw(&mut self) -> Vec<f32> {
        let mut v: Vec<f32> = (0..EMBEDDING_DIM)
            .map(|i| self.normal() * self.sd[i] * self.signs[i])
            .collect();
        hadamard(&mut v);
        l2_normalize(&mut v);
        if self.anchors.is_empty() {
            return v;
        }
        let mut a = vec![0.0f32; EMBEDDING_DIM];
        for j in 0..self.anchors.len() {
            let z = self.normal();
            for (x, r) in a.iter_mut().zip(&self.anchors[j]) {
                *x += z * r;
            }
        }
        l2_normalize(&mut a);
        let (wa, wb) = (ANCHOR_SHARE.sqrt(), (1.0 - ANCHOR_SHARE).sqrt());
        let mut out: Vec<f32> = a.iter().zip(&v).map(|(x, y)| wa * x + wb * y).collect();
        l2_normalize(&mut out);
        out
    }

    /// A new identity's centre.
    pub fn identity(&mut self) -> Vec<f32> {
        self.draw()
    }

    /// A new face of the identity with centre `c`.
    pub fn face_of(&mut self, c: &[f32]) -> Vec<f32> {
        let n = self.draw();
        let s = 0.45 + 0.3 * (self.rng.next() + 0.5);
        let mut v: Vec<f32> = c.iter().zip(&n).map(|(a, b)| a + s * b).collect();
        l2_normalize(&mut v);
        v
    }

    /// A uniformly random unit vector (the isotropic worst case for graph search).
    pub fn random(&mut self) -> Vec<f32> {
        let mut v: Vec<f32> = (0..EMBEDDING_DIM).map(|_| self.normal()).collect();
        l2_normalize(&mut v);
        v
    }
}

/// In-place Walsh–Hadamard transform (length a power of two); orthogonal up to scale.
fn hadamard(v: &mut [f32]) {
    let mut h = 1;
    while h < v.len() {
        for i in (0..v.len()).step_by(h * 2) {
            for j in i..i + h {
                let (a, b) = (v[j], v[j + h]);
                v[j] = a + b;
                v[j + h] = a - b;
            }
        }
        h *= 2;
    }
}
