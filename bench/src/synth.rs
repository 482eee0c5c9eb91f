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
        #[allow(clippy::cast_precision_loss)]
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
