//! Anonymising a photo: every chosen face covered, irreversibly, by its box grown to take in hair
//! and ears. Pure pixel functions; the CLI (`facelens anonymise`) decides which faces and writes
//! the result freshly encoded, so no EXIF, GPS or XMP of the original survives.
//!
//! "Irreversible" means no de-blur filter brings the face back: the region is first reduced to a
//! few blocks of one colour each (the detail is gone, not hidden), and only then smoothed (the
//! `blur` style) or filled with one colour (the `box` style).

use image::RgbImage;

use crate::api::BoxPx;

/// How a face is covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Reduced to coarse blocks, then smoothed: a soft blur that keeps no detail.
    Blur,
    /// Reduced to coarse blocks.
    Pixelate,
    /// One solid colour.
    Box,
}

/// Blocks across the covered region's longer side: the face itself spans about four, far too
/// few for any face to be recognised or detected.
pub const BLOCKS_ACROSS: u32 = 6;

/// A region of the image in pixels: left, top, width, height.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RectPx {
    /// Left column.
    pub x: u32,
    /// Top row.
    pub y: u32,
    /// Width.
    pub w: u32,
    /// Height.
    pub h: u32,
}

/// The region that covers a detected face and its head: the box grown by half its width on the
/// sides, 60 % of its height above (hair) and 20 % below (chin), clipped to the image.
#[must_use]
pub fn cover_rect(bbox: &BoxPx, width_px: u32, height_px: u32) -> Option<RectPx> {
    let (bw, bh) = (bbox.x2 - bbox.x1, bbox.y2 - bbox.y1);
    if !(bw.is_finite() && bh.is_finite()) || bw <= 0.0 || bh <= 0.0 {
        return None;
    }
    let clamp_x = |v: f32| v.clamp(0.0, width_px as f32);
    let clamp_y = |v: f32| v.clamp(0.0, height_px as f32);
    let x1 = clamp_x(bbox.x1 - 0.5 * bw).floor();
    let x2 = clamp_x(bbox.x2 + 0.5 * bw).ceil();
    let y1 = clamp_y(bbox.y1 - 0.6 * bh).floor();
    let y2 = clamp_y(bbox.y2 + 0.2 * bh).ceil();
    let (w, h) = ((x2 - x1) as u32, (y2 - y1) as u32);
    (w > 0 && h > 0).then_some(RectPx {
        x: x1 as u32,
        y: y1 as u32,
        w,
        h,
    })
}

/// Covers `rect` of `img` in `style`.
pub fn cover(img: &mut RgbImage, rect: RectPx, style: Style) {
    let rect = clip(rect, img.width(), img.height());
    if rect.w == 0 || rect.h == 0 {
        return;
    }
    match style {
        Style::Box => fill(img, rect, [24, 24, 24]),
        Style::Pixelate => pixelate(img, rect),
        Style::Blur => {
            pixelate(img, rect);
            let radius = (rect.w.max(rect.h) / BLOCKS_ACROSS / 2).max(1);
            for _ in 0..3 {
                box_blur(img, rect, radius);
            }
        }
    }
}

fn clip(r: RectPx, w: u32, h: u32) -> RectPx {
    let x = r.x.min(w);
    let y = r.y.min(h);
    RectPx {
        x,
        y,
        w: r.w.min(w - x),
        h: r.h.min(h - y),
    }
}

fn fill(img: &mut RgbImage, r: RectPx, colour: [u8; 3]) {
    for y in r.y..r.y + r.h {
        for x in r.x..r.x + r.w {
            img.put_pixel(x, y, image::Rgb(colour));
        }
    }
}

/// Each block of the region becomes its mean colour.
fn pixelate(img: &mut RgbImage, r: RectPx) {
    let block = r.w.max(r.h).div_ceil(BLOCKS_ACROSS).max(1);
    let mut by = r.y;
    while by < r.y + r.h {
        let bh = block.min(r.y + r.h - by);
        let mut bx = r.x;
        while bx < r.x + r.w {
            let bw = block.min(r.x + r.w - bx);
            let mut sum = [0u64; 3];
            for y in by..by + bh {
                for x in bx..bx + bw {
                    let p = img.get_pixel(x, y).0;
                    for c in 0..3 {
                        sum[c] += u64::from(p[c]);
                    }
                }
            }
            let n = u64::from(bw) * u64::from(bh);
            let mean = sum.map(|s| (s / n) as u8);
            fill(
                img,
                RectPx {
                    x: bx,
                    y: by,
                    w: bw,
                    h: bh,
                },
                mean,
            );
            bx += bw;
        }
        by += bh;
    }
}

/// One horizontal and one vertical box-blur pass of `radius`, inside the region only.
fn box_blur(img: &mut RgbImage, r: RectPx, radius: u32) {
    let mut line: Vec<[u8; 3]> = Vec::with_capacity(r.w.max(r.h) as usize);
    let blur_line = |line: &[[u8; 3]]| -> Vec<[u8; 3]> {
        let n = line.len();
        let rad = radius as usize;
        (0..n)
            .map(|i| {
                let (lo, hi) = (i.saturating_sub(rad), (i + rad).min(n - 1));
                let mut sum = [0u32; 3];
                for p in &line[lo..=hi] {
                    for c in 0..3 {
                        sum[c] += u32::from(p[c]);
                    }
                }
                let k = (hi - lo + 1) as u32;
                sum.map(|s| (s / k) as u8)
            })
            .collect()
    };
    for y in r.y..r.y + r.h {
        line.clear();
        line.extend((r.x..r.x + r.w).map(|x| img.get_pixel(x, y).0));
        for (i, p) in blur_line(&line).into_iter().enumerate() {
            img.put_pixel(r.x + i as u32, y, image::Rgb(p));
        }
    }
    for x in r.x..r.x + r.w {
        line.clear();
        line.extend((r.y..r.y + r.h).map(|y| img.get_pixel(x, y).0));
        for (i, p) in blur_line(&line).into_iter().enumerate() {
            img.put_pixel(x, r.y + i as u32, image::Rgb(p));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(w: u32, h: u32) -> RgbImage {
        let mut s = 7u32;
        RgbImage::from_fn(w, h, |_, _| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            image::Rgb([s as u8, (s >> 8) as u8, (s >> 16) as u8])
        })
    }

    #[test]
    fn the_cover_grows_the_box_and_stays_in_the_image() {
        let b = BoxPx {
            x1: 100.0,
            y1: 100.0,
            x2: 200.0,
            y2: 220.0,
        };
        assert_eq!(
            cover_rect(&b, 1000, 1000),
            Some(RectPx {
                x: 50,
                y: 28,
                w: 200,
                h: 216
            })
        );
        let edge = BoxPx {
            x1: -10.0,
            y1: 5.0,
            x2: 30.0,
            y2: 40.0,
        };
        let r = cover_rect(&edge, 50, 50).expect("inside");
        assert_eq!((r.x, r.y), (0, 0));
        assert!(r.x + r.w <= 50 && r.y + r.h <= 50);
        let empty = BoxPx {
            x1: 5.0,
            y1: 5.0,
            x2: 5.0,
            y2: 9.0,
        };
        assert_eq!(cover_rect(&empty, 50, 50), None);
        let nan = BoxPx {
            x1: f32::NAN,
            ..empty
        };
        assert_eq!(cover_rect(&nan, 50, 50), None);
    }

    #[test]
    fn every_style_removes_the_detail_and_nothing_outside_changes() {
        let original = noise(120, 90);
        let rect = RectPx {
            x: 30,
            y: 20,
            w: 60,
            h: 48,
        };
        for style in [Style::Blur, Style::Pixelate, Style::Box] {
            let mut img = original.clone();
            cover(&mut img, rect, style);
            for (x, y, p) in img.enumerate_pixels() {
                let inside = (30..90).contains(&x) && (20..68).contains(&y);
                if !inside {
                    assert_eq!(p, original.get_pixel(x, y), "{style:?} changed ({x},{y})");
                }
            }
            // Inside, neighbouring pixels no longer carry the noise: few distinct values.
            let mut distinct = std::collections::HashSet::new();
            for y in 20..68 {
                for x in 30..90 {
                    distinct.insert(img.get_pixel(x, y).0);
                }
            }
            let most = match style {
                Style::Box => 1,
                Style::Pixelate => 36,
                Style::Blur => 60 * 48,
            };
            assert!(distinct.len() <= most, "{style:?}: {}", distinct.len());
            if style == Style::Blur {
                // Smooth: neighbours differ little (noise differs by ~85 on average).
                let mut diff = 0u64;
                for y in 20..68 {
                    for x in 30..89 {
                        let (a, b) = (img.get_pixel(x, y).0, img.get_pixel(x + 1, y).0);
                        diff += u64::from(a[0].abs_diff(b[0]));
                    }
                }
                assert!(diff / (48 * 59) < 8, "{}", diff / (48 * 59));
            }
        }
    }

    #[test]
    fn a_region_past_the_edge_is_clipped() {
        let mut img = noise(40, 40);
        cover(
            &mut img,
            RectPx {
                x: 30,
                y: 30,
                w: 100,
                h: 100,
            },
            Style::Blur,
        );
        cover(
            &mut img,
            RectPx {
                x: 50,
                y: 50,
                w: 10,
                h: 10,
            },
            Style::Box,
        );
    }
}
