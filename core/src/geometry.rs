//! Pure geometry: candidate boxes, IoU, non-maximum suppression and the 5-point similarity
//! transform used for alignment. No I/O, no models.

/// A candidate box with a score, in some pixel space (the caller names it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoredBox {
    /// Left.
    pub x1: f32,
    /// Top.
    pub y1: f32,
    /// Right.
    pub x2: f32,
    /// Bottom.
    pub y2: f32,
    /// Confidence.
    pub score: f32,
}

/// How overlap is measured in [`nms`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlap {
    /// Intersection over union.
    Union,
    /// Intersection over the smaller area (merges a small box inside a big one).
    Min,
}

/// Overlap of two boxes using MTCNN's inclusive-pixel convention (a box from 0 to 9 is 10 wide).
#[must_use]
pub fn overlap(a: &ScoredBox, b: &ScoredBox, kind: Overlap) -> f32 {
    let area = |r: &ScoredBox| (r.x2 - r.x1 + 1.0) * (r.y2 - r.y1 + 1.0);
    let w = (a.x2.min(b.x2) - a.x1.max(b.x1) + 1.0).max(0.0);
    let h = (a.y2.min(b.y2) - a.y1.max(b.y1) + 1.0).max(0.0);
    let inter = w * h;
    let denom = match kind {
        Overlap::Union => area(a) + area(b) - inter,
        Overlap::Min => area(a).min(area(b)),
    };
    if denom <= 0.0 { 0.0 } else { inter / denom }
}

/// Greedy non-maximum suppression. Returns the indices kept, highest score first.
/// A box is dropped when its overlap with an already kept box is above `threshold`.
#[must_use]
pub fn nms(boxes: &[ScoredBox], threshold: f32, kind: Overlap) -> Vec<usize> {
    let mut order: Vec<usize> = (0..boxes.len()).collect();
    // Stable sort, descending score: equal scores keep input order.
    order.sort_by(|&a, &b| boxes[b].score.total_cmp(&boxes[a].score));
    let mut suppressed = vec![false; boxes.len()];
    let mut keep = Vec::new();
    for (pos, &i) in order.iter().enumerate() {
        if suppressed[i] {
            continue;
        }
        keep.push(i);
        for &j in &order[pos + 1..] {
            if !suppressed[j] && overlap(&boxes[i], &boxes[j], kind) > threshold {
                suppressed[j] = true;
            }
        }
    }
    keep
}

/// A 2-D similarity transform `p' = s·R·p + t`, stored as the 2×3 matrix `[[a, -b, tx], [b, a, ty]]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    /// s·cos θ.
    pub a: f32,
    /// s·sin θ.
    pub b: f32,
    /// Translation x.
    pub tx: f32,
    /// Translation y.
    pub ty: f32,
}

impl Similarity {
    /// Applies the transform to a point.
    #[must_use]
    pub fn apply(&self, (x, y): (f32, f32)) -> (f32, f32) {
        (
            self.a * x - self.b * y + self.tx,
            self.b * x + self.a * y + self.ty,
        )
    }

    /// The inverse transform, or `None` if the scale is zero.
    #[must_use]
    pub fn inverse(&self) -> Option<Self> {
        let det = self.a * self.a + self.b * self.b;
        if det <= f32::EPSILON {
            return None;
        }
        let (ia, ib) = (self.a / det, -self.b / det);
        Some(Self {
            a: ia,
            b: ib,
            tx: -(ia * self.tx - ib * self.ty),
            ty: -(ib * self.tx + ia * self.ty),
        })
    }

    /// Uniform scale factor.
    #[must_use]
    pub fn scale(&self) -> f32 {
        (self.a * self.a + self.b * self.b).sqrt()
    }

    /// Least-squares similarity (Umeyama, no reflection) mapping `src[i]` onto `dst[i]`.
    /// Returns `None` for degenerate input (fewer than 2 points, or all source points equal).
    #[must_use]
    pub fn estimate(src: &[(f32, f32)], dst: &[(f32, f32)]) -> Option<Self> {
        let n = src.len();
        if n < 2 || n != dst.len() {
            return None;
        }
        let nf = n as f64;
        let mean = |p: &[(f32, f32)]| {
            let (sx, sy) = p.iter().fold((0.0, 0.0), |(ax, ay), &(x, y)| {
                (ax + f64::from(x), ay + f64::from(y))
            });
            (sx / nf, sy / nf)
        };
        let (msx, msy) = mean(src);
        let (mdx, mdy) = mean(dst);
        // With complex numbers z = x + iy: the optimal s·e^{iθ} = Σ conj(zs)·zd / Σ |zs|².
        let (mut re, mut im, mut var) = (0.0f64, 0.0f64, 0.0f64);
        for (&(sx, sy), &(dx, dy)) in src.iter().zip(dst) {
            let (sx, sy) = (f64::from(sx) - msx, f64::from(sy) - msy);
            let (dx, dy) = (f64::from(dx) - mdx, f64::from(dy) - mdy);
            re += sx * dx + sy * dy;
            im += sx * dy - sy * dx;
            var += sx * sx + sy * sy;
        }
        if var <= 1e-12 {
            return None;
        }
        let (a, b) = (re / var, im / var);
        let tx = mdx - (a * msx - b * msy);
        let ty = mdy - (b * msx + a * msy);
        Some(Self {
            a: a as f32,
            b: b as f32,
            tx: tx as f32,
            ty: ty as f32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sb(x1: f32, y1: f32, x2: f32, y2: f32, score: f32) -> ScoredBox {
        ScoredBox {
            x1,
            y1,
            x2,
            y2,
            score,
        }
    }

    #[test]
    fn overlap_uses_inclusive_pixels() {
        let a = sb(0.0, 0.0, 9.0, 9.0, 1.0);
        assert!((overlap(&a, &a, Overlap::Union) - 1.0).abs() < 1e-6);
        let b = sb(5.0, 0.0, 14.0, 9.0, 1.0);
        // 5 columns shared of 10 each: 50 / (100 + 100 - 50).
        assert!((overlap(&a, &b, Overlap::Union) - 50.0 / 150.0).abs() < 1e-6);
        assert!((overlap(&a, &b, Overlap::Min) - 0.5).abs() < 1e-6);
        let far = sb(100.0, 100.0, 110.0, 110.0, 1.0);
        assert_eq!(overlap(&a, &far, Overlap::Union), 0.0);
    }

    #[test]
    fn nms_keeps_best_of_each_cluster() {
        let boxes = [
            sb(0.0, 0.0, 10.0, 10.0, 0.8),
            sb(1.0, 1.0, 11.0, 11.0, 0.9),
            sb(50.0, 50.0, 60.0, 60.0, 0.7),
            sb(0.0, 0.0, 10.0, 10.0, 0.1),
        ];
        assert_eq!(nms(&boxes, 0.5, Overlap::Union), vec![1, 2]);
        // A high threshold keeps everything that is not identical.
        assert_eq!(nms(&boxes, 0.99, Overlap::Union).len(), 3);
        assert!(nms(&[], 0.5, Overlap::Union).is_empty());
    }

    #[test]
    fn nms_min_merges_nested_boxes() {
        let boxes = [
            sb(0.0, 0.0, 99.0, 99.0, 0.9),
            sb(10.0, 10.0, 29.0, 29.0, 0.95),
        ];
        assert_eq!(nms(&boxes, 0.7, Overlap::Union), vec![1, 0]);
        assert_eq!(nms(&boxes, 0.7, Overlap::Min), vec![1]);
    }

    #[test]
    fn similarity_recovers_known_transform() {
        let truth = Similarity {
            a: 1.5 * 0.3f32.cos(),
            b: 1.5 * 0.3f32.sin(),
            tx: 12.0,
            ty: -7.0,
        };
        let src = [
            (10.0, 20.0),
            (40.0, 22.0),
            (25.0, 40.0),
            (12.0, 60.0),
            (38.0, 61.0),
        ];
        let dst: Vec<_> = src.iter().map(|&p| truth.apply(p)).collect();
        let est = Similarity::estimate(&src, &dst).expect("non-degenerate");
        for (p, q) in src.iter().zip(&dst) {
            let r = est.apply(*p);
            assert!((r.0 - q.0).abs() < 1e-3 && (r.1 - q.1).abs() < 1e-3);
        }
        let inv = est.inverse().expect("invertible");
        let back = inv.apply(est.apply((3.0, 4.0)));
        assert!((back.0 - 3.0).abs() < 1e-4 && (back.1 - 4.0).abs() < 1e-4);
        assert!((est.scale() - 1.5).abs() < 1e-4);
    }

    #[test]
    fn similarity_rejects_degenerate_input() {
        assert!(Similarity::estimate(&[(1.0, 1.0)], &[(2.0, 2.0)]).is_none());
        assert!(
            Similarity::estimate(&[(1.0, 1.0), (1.0, 1.0)], &[(0.0, 0.0), (5.0, 5.0)]).is_none()
        );
    }
}
