//! The detector's image pyramid, planned cheaply. Pure functions, no model.
//!
//! MTCNN's first net (P-Net) slides a 12×12 window over the photo shrunk by a series of scales;
//! a face of side `12 / scale` pixels fits the window at `scale`, with a stride of 2 level pixels.
//!
//! The working image is mirror-padded so faces cut by the frame are still found, but a face whose
//! centre lies inside the photo sticks out by at most half its side. So a level needs only
//! [`LEVEL_PAD_WINDOWS`] windows of padding, not the whole pad: the large levels (small faces)
//! are nearly unpadded, which removes most of the padding's cost. Each level is an exact crop of
//! the fully padded level (same resampling grid, same P-Net cells), so it finds nothing the
//! fully padded pyramid would not.

use image::RgbImage;

use crate::preprocess::{Filter, RegionPx, resize_region};

/// P-Net's window side, pixels.
pub const WINDOW_PX: f32 = 12.0;

/// Mirror padding of a level, in windows (P-Net's 12-px window at the level's scale): half a
/// window for a face centred on the frame's edge, plus a quarter for the net's stride and the
/// box regression.
pub const LEVEL_PAD_WINDOWS: f32 = 0.75;

/// Pyramid scales for an image whose shorter side is `min_side`.
#[must_use]
pub fn pyramid_scales(min_side: f32, min_face_px: f32, factor: f32) -> Vec<f32> {
    let m = WINDOW_PX / min_face_px;
    let mut scales = Vec::new();
    let mut min_layer = min_side * m;
    let mut scale = m;
    while min_layer >= WINDOW_PX {
        scales.push(scale);
        scale *= factor;
        min_layer *= factor;
    }
    scales
}

/// One pyramid level: a crop of the level the fully padded working image would give, so its
/// pixels and P-Net's outputs are exactly those of that full level (a subset of its cells).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PyramidLevel {
    /// Working-image pixels → level pixels (nominal; MTCNN's box formula uses it).
    pub scale: f32,
    /// The part of the padded working image this level shows, in padded-image pixels.
    pub region: RegionPx,
    /// P-Net output cells of the full level left out on the left and top (the crop is an even
    /// number of level pixels, P-Net's stride, so the cells line up).
    pub cell_offset: (usize, usize),
    /// Level width, pixels.
    pub width: u32,
    /// Level height, pixels.
    pub height: u32,
}

impl PyramidLevel {
    /// Pixels P-Net reads at this level.
    #[must_use]
    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// The level's pixels, area-averaged from the padded working image.
    #[must_use]
    pub fn build(&self, padded: &RgbImage) -> RgbImage {
        resize_region(padded, self.region, self.width, self.height, Filter::Area)
    }
}

/// The levels for a `base_w`×`base_h` working image mirror-padded by `pad_max` on every side.
/// Scales follow [`pyramid_scales`] over the fully padded image; a level whose own (less padded)
/// crop is too small for one window is left out. `per_level: false` gives every level the whole
/// pad.
#[must_use]
pub fn plan_levels(
    base_w: u32,
    base_h: u32,
    pad_max: u32,
    min_face_px: f32,
    factor: f32,
    per_level: bool,
) -> Vec<PyramidLevel> {
    let (pw, ph) = (base_w + 2 * pad_max, base_h + 2 * pad_max);
    let min_face = min_face_px.min(pw.min(ph) as f32).max(WINDOW_PX);
    pyramid_scales(pw.min(ph) as f32, min_face, factor)
        .into_iter()
        .filter_map(|scale| {
            // The full level, as MTCNN sizes it, and its true resampling ratios.
            let (fw, fh) = ((pw as f32 * scale).ceil(), (ph as f32 * scale).ceil());
            let (rx, ry) = (f64::from(fw) / f64::from(pw), f64::from(fh) / f64::from(ph));
            let pad = if per_level {
                ((LEVEL_PAD_WINDOWS * WINDOW_PX / scale).ceil() as u32).min(pad_max)
            } else {
                pad_max
            };
            // Padding left out, in level pixels, rounded down to P-Net's stride.
            let skip = f64::from(pad_max - pad);
            let even = |v: f64| 2 * (v / 2.0).floor() as u32;
            let (x0, y0) = (even(skip * rx), even(skip * ry));
            let (width, height) = (fw as u32 - 2 * x0, fh as u32 - 2 * y0);
            let (left, top) = (f64::from(x0) / rx, f64::from(y0) / ry);
            (width.min(height) as f32 >= WINDOW_PX).then_some(PyramidLevel {
                scale,
                // The crop is centred, so its size is the padded image's less both margins:
                // a full level (no margin) is then exactly the whole padded image, not
                // `fw / (fw / pw)`, which can land past its last row by float noise.
                region: RegionPx {
                    left,
                    top,
                    width: f64::from(pw) - 2.0 * left,
                    height: f64::from(ph) - 2.0 * top,
                },
                cell_offset: (x0 as usize / 2, y0 as usize / 2),
                width,
                height,
            })
        })
        .collect()
}

/// The column ranges `[x0, x1)` P-Net runs on when a `width`×`height` level is split into strips
/// of at most about `max_px` pixels. P-Net's cell `i` reads columns `2i .. 2i + 12` (stride 2,
/// window 12), so a strip of `n` cells is `2n + 10` columns wide and the next one starts `2n`
/// columns on: every strip starts on an even column and the strips together give exactly the
/// whole level's cells, once each and in order. The last strip runs to the level's edge (it may
/// be up to a window wider than the others, never narrower than one window). `max_px == 0`, or a
/// level within it, gives one strip: the whole level.
#[must_use]
pub fn strip_columns(width: u32, height: u32, max_px: u32) -> Vec<(u32, u32)> {
    let whole = vec![(0, width)];
    if max_px == 0 || u64::from(width) * u64::from(height) <= u64::from(max_px) {
        return whole;
    }
    // Cells per strip: as many as fit the budget, at least one.
    let cells = ((max_px / height.max(1)).saturating_sub(10) / 2).max(1);
    let mut strips = Vec::new();
    let mut x0 = 0u32;
    loop {
        let next = x0 + 2 * cells;
        if width < next + 12 {
            strips.push((x0, width));
            return strips;
        }
        strips.push((x0, next + 10));
        x0 = next;
    }
}

/// Shares the levels among `workers` threads so each reads about as many pixels: largest level
/// first, each to the worker with the fewest pixels so far (ties: the lower worker). Returns each
/// worker's level indices in ascending order; every level appears exactly once. Deterministic.
#[must_use]
pub fn assign_levels(levels: &[PyramidLevel], workers: usize) -> Vec<Vec<usize>> {
    let workers = workers.max(1);
    let mut order: Vec<usize> = (0..levels.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(levels[i].pixels()), i));
    let mut load = vec![0u64; workers];
    let mut out = vec![Vec::new(); workers];
    for i in order {
        let w = (0..workers).min_by_key(|&w| (load[w], w)).unwrap_or(0);
        load[w] += levels[i].pixels();
        out[w].push(i);
    }
    for v in &mut out {
        v.sort_unstable();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_shared_evenly_and_each_once() {
        let levels = plan_levels(2000, 1333, 300, 20.0, 0.709, true);
        let parts = assign_levels(&levels, 2);
        let mut all: Vec<usize> = parts.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..levels.len()).collect::<Vec<_>>());
        let load = |p: &Vec<usize>| p.iter().map(|&i| levels[i].pixels()).sum::<u64>();
        let (a, b) = (load(&parts[0]), load(&parts[1]));
        let total = a + b;
        // The largest level alone is about half the pyramid; the rest fills the other worker.
        assert!(a.abs_diff(b) * 10 < total, "{a} vs {b}");
        assert!(parts.iter().all(|p| p.windows(2).all(|w| w[0] < w[1])));
        // One worker gets everything in order; more workers than levels leave some idle.
        assert_eq!(
            assign_levels(&levels, 1),
            vec![(0..levels.len()).collect::<Vec<_>>()]
        );
        let many = assign_levels(&levels[..2], 4);
        assert_eq!(many.iter().filter(|p| p.is_empty()).count(), 2);
        assert!(assign_levels(&[], 2).iter().all(Vec::is_empty));
    }

    /// P-Net's output cells over columns `x0..x1` (valid 3×3 conv, 2×2 pool with stride 2,
    /// two more valid 3×3 convs), as absolute cell indices.
    fn cells(x0: u32, x1: u32) -> std::ops::Range<u32> {
        let w = x1 - x0;
        let n = if w < 12 { 0 } else { (w - 12) / 2 + 1 };
        x0 / 2..x0 / 2 + n
    }

    #[test]
    fn strips_give_every_cell_of_the_level_once() {
        for (w, h, budget) in [
            (1200, 900, 1 << 19),
            (1201, 900, 1 << 19),
            (2000, 1500, 100_000),
            (13, 2000, 1000),
            (40, 40, 1),
            (500, 12, 200),
            (700, 300, 0),
        ] {
            let strips = strip_columns(w, h, budget);
            let all: Vec<u32> = strips.iter().flat_map(|&(a, b)| cells(a, b)).collect();
            assert_eq!(all, cells(0, w).collect::<Vec<_>>(), "{w}×{h} in {budget}");
            for (i, &(x0, x1)) in strips.iter().enumerate() {
                assert_eq!(x0 % 2, 0);
                assert!(x1 - x0 >= 12 && x1 <= w, "{strips:?}");
                if i + 1 < strips.len() {
                    // Within budget unless one cell alone is over it.
                    assert!((x1 - x0) * h <= budget.max(12 * h), "{strips:?}");
                }
            }
        }
        assert_eq!(strip_columns(1200, 900, 0), vec![(0, 1200)]);
        assert_eq!(strip_columns(600, 400, 240_000), vec![(0, 600)]);
        assert_eq!(strip_columns(1200, 900, 1 << 19).len(), 3);
    }

    #[test]
    fn scales_match_the_reference_formula() {
        let s = pyramid_scales(100.0, 20.0, 0.709);
        assert!((s[0] - 0.6).abs() < 1e-6);
        assert!((s[1] - 0.6 * 0.709).abs() < 1e-6);
        assert!(s.iter().all(|&x| 100.0 * x >= 12.0));
        assert!(pyramid_scales(10.0, 20.0, 0.709).is_empty());
    }

    #[test]
    fn large_levels_get_little_padding_small_levels_all_of_it() {
        let levels = plan_levels(2000, 1500, 300, 20.0, 0.709, true);
        let full = plan_levels(2000, 1500, 300, 20.0, 0.709, false);
        assert_eq!(full.len(), levels.len());
        // 20-px faces: about 0.75 × 20 px = 15 px of padding kept, not 300.
        let first = levels[0];
        assert!((first.scale - 0.6).abs() < 1e-6);
        let kept = 300.0 - first.region.left;
        assert!((15.0..=18.0).contains(&kept), "{kept}");
        let last = levels[levels.len() - 1];
        assert_eq!(last.cell_offset, (0, 0), "a small level sees the whole pad");
        for (l, f) in levels.iter().zip(&full) {
            // The full level covers the whole padded image from its corner.
            assert_eq!((f.region.left, f.cell_offset), (0.0, (0, 0)));
            assert!((f.region.width - 2600.0).abs() < 1e-9);
            // Each crop is the full level minus whole P-Net cells on every side.
            assert_eq!(l.width + 4 * l.cell_offset.0 as u32, f.width);
            assert_eq!(l.height + 4 * l.cell_offset.1 as u32, f.height);
            assert!(l.region.left >= 0.0 && l.region.left + l.region.width <= 2600.0);
            assert!(l.width.min(l.height) >= 12);
        }
        // Much less for P-Net to read than padding every level fully.
        let total: u64 = levels.iter().map(PyramidLevel::pixels).sum();
        let full_total: u64 = full.iter().map(PyramidLevel::pixels).sum();
        assert!(total * 10 < full_total * 7, "{total} vs {full_total}");
    }

    #[test]
    fn every_level_lies_inside_the_padded_image_and_is_built() {
        // The first case pads to 2600x1934, the padded size of the 12 MP test photo (img49),
        // whose full levels once ended at row 1934.0000000000002 of 1934: the resize refused
        // them and they stayed black, so no face filling the frame could be found there.
        for (w, h, pad) in [
            (2300, 1634, 150),
            (2000, 1333, 300),
            (641, 479, 37),
            (1999, 3001, 211),
        ] {
            let (pw, ph) = (w + 2 * pad, h + 2 * pad);
            let white = RgbImage::from_pixel(pw, ph, image::Rgb([255, 255, 255]));
            for per_level in [true, false] {
                for l in plan_levels(w, h, pad, 20.0, 0.709, per_level) {
                    let r = l.region;
                    assert!(r.left >= 0.0 && r.top >= 0.0, "{w}x{h}: {r:?}");
                    assert!(r.left + r.width <= f64::from(pw), "{w}x{h}: {r:?}");
                    assert!(r.top + r.height <= f64::from(ph), "{w}x{h}: {r:?}");
                    if l.pixels() < 20_000 {
                        let built = l.build(&white);
                        assert!(built.pixels().all(|p| p.0 == [255; 3]), "{w}x{h}: {r:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn tiny_images_still_get_a_level() {
        let levels = plan_levels(14, 14, 2, 20.0, 0.709, true);
        assert_eq!(levels.len(), 1);
        assert!((12..=13).contains(&levels[0].width));
    }

    #[test]
    fn a_cropped_level_has_the_full_levels_pixels() {
        let padded = RgbImage::from_fn(640, 480, |x, y| {
            image::Rgb([
                (x * 7 % 256) as u8,
                (y * 13 % 256) as u8,
                ((x ^ y) % 256) as u8,
            ])
        });
        let cropped = plan_levels(440, 280, 100, 20.0, 0.709, true);
        let full = plan_levels(440, 280, 100, 20.0, 0.709, false);
        let (l, f) = (cropped[0], full[0]);
        assert!(l.cell_offset.0 > 0);
        let (a, b) = (l.build(&padded), f.build(&padded));
        let (ox, oy) = (2 * l.cell_offset.0 as u32, 2 * l.cell_offset.1 as u32);
        let mut worst = 0;
        for (x, y, p) in a.enumerate_pixels() {
            let q = b.get_pixel(x + ox, y + oy);
            worst =
                p.0.iter()
                    .zip(q.0)
                    .map(|(u, v)| u.abs_diff(v))
                    .max()
                    .unwrap_or(0)
                    .max(worst);
        }
        assert!(worst <= 1, "largest difference {worst}");
    }
}
