//! Pure image preprocessing: resizing, padded crops, the 5-point alignment warp and packing
//! pixels into model tensors. Every function here is deterministic and model-free.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;

use crate::geometry::Similarity;

/// The ArcFace 112×112 template: eye L, eye R, nose, mouth L, mouth R (image-left first).
pub const ARCFACE_TEMPLATE_112: [(f32, f32); 5] = [
    (38.2946, 51.6963),
    (73.5318, 51.5014),
    (56.0252, 71.7366),
    (41.5493, 92.3655),
    (70.7299, 92.2041),
];

/// Side of the aligned face crop in pixels.
pub const ALIGNED_SIDE_PX: u32 = 112;

/// How [`resize`] samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// Area averaging when shrinking (like OpenCV's INTER_AREA), bilinear when enlarging.
    Area,
    /// Plain bilinear interpolation without antialiasing (like OpenCV's INTER_LINEAR).
    Bilinear,
}

/// Resizes `src` to `width`×`height`. Zero-sized targets give an empty image.
#[must_use]
pub fn resize(src: &RgbImage, width: u32, height: u32, filter: Filter) -> RgbImage {
    if (width, height) == src.dimensions() {
        return src.clone();
    }
    let (sw, sh) = src.dimensions();
    let whole = RegionPx {
        left: 0.0,
        top: 0.0,
        width: f64::from(sw),
        height: f64::from(sh),
    };
    resize_region(src, whole, width, height, filter)
}

/// A rectangle inside an image with sub-pixel edges, in that image's pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegionPx {
    /// Left edge.
    pub left: f64,
    /// Top edge.
    pub top: f64,
    /// Width.
    pub width: f64,
    /// Height.
    pub height: f64,
}

/// Resizes the part `region` of `src` (which must lie inside it) to `width`×`height`, without
/// copying it out first. Zero-sized targets or regions give an empty (black) image.
#[must_use]
pub fn resize_region(
    src: &RgbImage,
    region: RegionPx,
    width: u32,
    height: u32,
    filter: Filter,
) -> RgbImage {
    let mut dst = RgbImage::new(width, height);
    if width == 0 || height == 0 || region.width <= 0.0 || region.height <= 0.0 {
        return dst;
    }
    let region = snap_to_image(region, src.width(), src.height());
    let shrinking = f64::from(width) <= region.width && f64::from(height) <= region.height;
    let alg = match filter {
        Filter::Area if shrinking => ResizeAlg::Convolution(FilterType::Box),
        Filter::Area => ResizeAlg::Convolution(FilterType::Bilinear),
        Filter::Bilinear => ResizeAlg::Interpolation(FilterType::Bilinear),
    };
    let opts = ResizeOptions::new().resize_alg(alg).crop(
        region.left,
        region.top,
        region.width,
        region.height,
    );
    let (sw, sh) = src.dimensions();
    let result = ImageRef::new(sw, sh, src.as_raw(), PixelType::U8x3)
        .map_err(|e| e.to_string())
        .and_then(|src_view| {
            let mut dst_view = Image::from_slice_u8(width, height, &mut dst, PixelType::U8x3)
                .map_err(|e| e.to_string())?;
            Resizer::new()
                .resize(&src_view, &mut dst_view, &opts)
                .map_err(|e| e.to_string())
        });
    // Both buffers are RGB8 of exactly the sizes given; only a region reaching outside `src` (a
    // caller's bug) can fail. Log it; the image stays black.
    if let Err(e) = result {
        tracing::error!("resize {sw}x{sh} {region:?} -> {width}x{height} failed: {e}");
    }
    dst
}

/// How far past an image's edge a region may end and still count as ending on it (float noise
/// of a caller's arithmetic, never a real overrun).
const EDGE_TOLERANCE_PX: f64 = 1e-6;

/// Pulls edges within [`EDGE_TOLERANCE_PX`] outside a `width`×`height` image onto it.
fn snap_to_image(mut region: RegionPx, width: u32, height: u32) -> RegionPx {
    let snap = |start: &mut f64, len: &mut f64, limit: f64| {
        if *start < 0.0 && *start > -EDGE_TOLERANCE_PX {
            *len += *start;
            *start = 0.0;
        }
        let past = *start + *len - limit;
        if past > 0.0 && past < EDGE_TOLERANCE_PX {
            *len = limit - *start;
        }
    };
    snap(&mut region.left, &mut region.width, f64::from(width));
    snap(&mut region.top, &mut region.height, f64::from(height));
    region
}

/// Pads `img` by `pad` pixels on every side with its mirror image (OpenCV's BORDER_REFLECT:
/// `fedcba|abcdefgh|hgfedcb`). `pad` is capped so the mirror never runs past the far edge.
#[must_use]
pub fn pad_reflect(img: &RgbImage, pad: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let pad = pad.min(w).min(h);
    let reflect = |i: i64, n: i64| -> u32 {
        let j = if i < 0 {
            -i - 1
        } else if i >= n {
            2 * n - i - 1
        } else {
            i
        };
        j.clamp(0, n - 1) as u32
    };
    let p = i64::from(pad);
    let (w_us, pad_us) = (w as usize, pad as usize);
    let out_w = w_us + 2 * pad_us;
    // Row by row: the reflected columns of each row once, then whole rows copied.
    let cols: Vec<usize> = (0..out_w)
        .map(|x| reflect(x as i64 - p, i64::from(w)) as usize)
        .collect();
    let mut out = RgbImage::new(w + 2 * pad, h + 2 * pad);
    let raw = img.as_raw();
    for (y, row) in out.chunks_exact_mut(out_w * 3).enumerate() {
        let sy = reflect(y as i64 - p, i64::from(h)) as usize;
        let src = &raw[sy * w_us * 3..(sy + 1) * w_us * 3];
        row[pad_us * 3..(pad_us + w_us) * 3].copy_from_slice(src);
        for x in (0..pad_us).chain(pad_us + w_us..out_w) {
            let sx = cols[x] * 3;
            row[x * 3..x * 3 + 3].copy_from_slice(&src[sx..sx + 3]);
        }
    }
    out
}

/// Pads `img` by `pad` pixels on every side with black.
#[must_use]
pub fn pad_black(img: &RgbImage, pad: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let mut out = RgbImage::new(w + 2 * pad, h + 2 * pad);
    image::imageops::replace(&mut out, img, i64::from(pad), i64::from(pad));
    out
}

/// Crops `rect` (zero-padded outside the image) and resizes it to `side`×`side`.
#[must_use]
pub fn crop_resize(img: &RgbImage, rect: RectPx, side: u32, filter: Filter) -> RgbImage {
    resize(&crop_zero_padded(img, rect), side, side, filter)
}

/// An integer rectangle in image pixels, possibly reaching outside the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RectPx {
    /// Left column (may be negative).
    pub x: i64,
    /// Top row (may be negative).
    pub y: i64,
    /// Width (> 0 for a usable crop).
    pub w: i64,
    /// Height (> 0 for a usable crop).
    pub h: i64,
}

/// Copies `rect` out of `img`; pixels outside the image are black (zero padding).
#[must_use]
pub fn crop_zero_padded(img: &RgbImage, rect: RectPx) -> RgbImage {
    let (w, h) = (rect.w.max(0), rect.h.max(0));
    let mut out = RgbImage::new(w as u32, h as u32);
    let (iw, ih) = (i64::from(img.width()), i64::from(img.height()));
    let x0 = rect.x.max(0);
    let x1 = (rect.x + w).min(iw);
    let y0 = rect.y.max(0);
    let y1 = (rect.y + h).min(ih);
    if x0 >= x1 || y0 >= y1 {
        return out;
    }
    let (iw_u, w_u) = (iw as usize, w as usize);
    let src = img.as_raw();
    let dst: &mut [u8] = &mut out;
    for y in y0..y1 {
        let s = ((y as usize) * iw_u + x0 as usize) * 3;
        let d = (((y - rect.y) as usize) * w_u + (x0 - rect.x) as usize) * 3;
        let n = ((x1 - x0) as usize) * 3;
        dst[d..d + n].copy_from_slice(&src[s..s + n]);
    }
    out
}

/// The square of side `side_px` centred on the centre of a box, rounded to whole pixels.
#[must_use]
pub fn centred_square(cx: f32, cy: f32, side_px: f32) -> RectPx {
    let side = side_px.round().max(1.0) as i64;
    RectPx {
        x: (cx - side_px / 2.0).round() as i64,
        y: (cy - side_px / 2.0).round() as i64,
        w: side,
        h: side,
    }
}

/// Clips a rectangle to the image; `None` when nothing is left.
#[must_use]
pub fn clip_to_image(rect: RectPx, width: u32, height: u32) -> Option<RectPx> {
    let x0 = rect.x.max(0);
    let y0 = rect.y.max(0);
    let x1 = (rect.x + rect.w).min(i64::from(width));
    let y1 = (rect.y + rect.h).min(i64::from(height));
    (x1 > x0 && y1 > y0).then_some(RectPx {
        x: x0,
        y: y0,
        w: x1 - x0,
        h: y1 - y0,
    })
}

/// Warps `img` with the inverse of `aligned_from_image` into a `side`×`side` crop: bilinear
/// sampling with a constant black border, like OpenCV's `warpAffine`.
#[must_use]
pub fn warp_similarity(img: &RgbImage, aligned_from_image: &Similarity, side: u32) -> RgbImage {
    let mut out = RgbImage::new(side, side);
    let Some(image_from_aligned) = aligned_from_image.inverse() else {
        return out;
    };
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    let src = img.as_raw();
    let px = |x: i64, y: i64, c: usize| -> f32 {
        if x < 0 || y < 0 || x >= w || y >= h {
            0.0
        } else {
            f32::from(src[((y * w + x) as usize) * 3 + c])
        }
    };
    for v in 0..side {
        for u in 0..side {
            let (sx, sy) = image_from_aligned.apply((u as f32, v as f32));
            let (fx, fy) = (sx.floor(), sy.floor());
            let (ax, ay) = (sx - fx, sy - fy);
            let (x0, y0) = (fx as i64, fy as i64);
            let mut rgb = [0u8; 3];
            for (c, out_c) in rgb.iter_mut().enumerate() {
                let top = px(x0, y0, c) * (1.0 - ax) + px(x0 + 1, y0, c) * ax;
                let bot = px(x0, y0 + 1, c) * (1.0 - ax) + px(x0 + 1, y0 + 1, c) * ax;
                {
                    *out_c = (top * (1.0 - ay) + bot * ay).round().clamp(0.0, 255.0) as u8;
                }
            }
            out.put_pixel(u, v, image::Rgb(rgb));
        }
    }
    out
}

/// Aligns a face to the ArcFace template from its five landmarks (image-left eye first).
/// Returns the 112×112 crop and the transform from image pixels to crop pixels.
#[must_use]
pub fn align_face(
    img: &RgbImage,
    landmarks_in_image: &[(f32, f32); 5],
) -> Option<(RgbImage, Similarity)> {
    let aligned_from_image = Similarity::estimate(landmarks_in_image, &ARCFACE_TEMPLATE_112)?;
    Some((
        warp_similarity(img, &aligned_from_image, ALIGNED_SIDE_PX),
        aligned_from_image,
    ))
}

/// Channel order of a model's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channels {
    /// Red, green, blue.
    Rgb,
    /// Blue, green, red.
    Bgr,
}

/// Packs an RGB image into a planar NCHW f32 buffer (batch 1), applying `(x·scale − mean[c]) / std[c]`
/// per output channel index `c`.
#[must_use]
pub fn to_nchw(
    img: &RgbImage,
    order: Channels,
    scale: f32,
    mean: [f32; 3],
    std: [f32; 3],
) -> Vec<f32> {
    let plane = (img.width() * img.height()) as usize;
    let mut out = vec![0.0f32; plane * 3];
    let src_channel = |c: usize| match order {
        Channels::Rgb => c,
        Channels::Bgr => 2 - c,
    };
    for c in 0..3 {
        let sc = src_channel(c);
        let (m, s) = (mean[c], std[c]);
        for (i, p) in img.pixels().enumerate() {
            out[c * plane + i] = (f32::from(p.0[sc]) * scale - m) / s;
        }
    }
    out
}

/// Packs an RGB image into an interleaved NHWC f32 buffer (batch 1): `x·scale + offset`.
#[must_use]
pub fn to_nhwc(img: &RgbImage, scale: f32, offset: f32) -> Vec<f32> {
    img.as_raw()
        .iter()
        .map(|&v| f32::from(v) * scale + offset)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 7])
        })
    }

    #[test]
    fn a_region_ending_a_float_ulp_past_the_edge_is_resized() {
        let img = RgbImage::from_pixel(2600, 1934, image::Rgb([200, 100, 50]));
        let region = RegionPx {
            left: 0.0,
            top: 0.0,
            width: 2600.0,
            height: 1934.0_f64.next_up(),
        };
        let out = resize_region(&img, region, 71, 53, Filter::Area);
        assert!(out.pixels().all(|p| p.0 == [200, 100, 50]));
        // A real overrun is still refused (and logged): the result stays black.
        let past = RegionPx {
            height: 1940.0,
            ..region
        };
        let out = resize_region(&img, past, 71, 53, Filter::Area);
        assert!(out.pixels().all(|p| p.0 == [0, 0, 0]));
    }

    #[test]
    fn resize_area_averages_blocks() {
        let img = RgbImage::from_fn(4, 2, |x, _| {
            image::Rgb(if x < 2 { [0, 0, 0] } else { [200, 100, 50] })
        });
        let small = resize(&img, 2, 1, Filter::Area);
        assert_eq!(small.get_pixel(0, 0).0, [0, 0, 0]);
        assert_eq!(small.get_pixel(1, 0).0, [200, 100, 50]);
        assert_eq!(resize(&img, 0, 5, Filter::Bilinear).dimensions(), (0, 5));
    }

    #[test]
    fn crop_pads_outside_with_black() {
        let img = gradient(10, 10);
        let c = crop_zero_padded(
            &img,
            RectPx {
                x: -2,
                y: 8,
                w: 4,
                h: 4,
            },
        );
        assert_eq!(c.dimensions(), (4, 4));
        assert_eq!(c.get_pixel(0, 0).0, [0, 0, 0]); // outside, left
        assert_eq!(c.get_pixel(2, 0).0, [0, 8, 7]); // image (0, 8)
        assert_eq!(c.get_pixel(3, 1).0, [1, 9, 7]); // image (1, 9)
        assert_eq!(c.get_pixel(3, 2).0, [0, 0, 0]); // outside, below
        let none = crop_zero_padded(
            &img,
            RectPx {
                x: 50,
                y: 50,
                w: 3,
                h: 3,
            },
        );
        assert!(none.pixels().all(|p| p.0 == [0, 0, 0]));
    }

    #[test]
    fn reflect_padding_mirrors_edges() {
        let img = RgbImage::from_fn(3, 2, |x, y| image::Rgb([x as u8, y as u8, 0]));
        let p = pad_reflect(&img, 2);
        assert_eq!(p.dimensions(), (7, 6));
        // Row 2 is image row 0; columns: b a | a b c | c b.
        let row: Vec<u8> = (0..7).map(|x| p.get_pixel(x, 2).0[0]).collect();
        assert_eq!(row, vec![1, 0, 0, 1, 2, 2, 1]);
        assert_eq!(p.get_pixel(2, 0).0[1], 1, "above row 0 mirrors row 1");
    }

    #[test]
    fn clip_and_square() {
        let r = centred_square(5.0, 5.0, 4.0);
        assert_eq!(
            r,
            RectPx {
                x: 3,
                y: 3,
                w: 4,
                h: 4
            }
        );
        assert_eq!(
            clip_to_image(
                RectPx {
                    x: -3,
                    y: 2,
                    w: 10,
                    h: 20
                },
                5,
                8
            ),
            Some(RectPx {
                x: 0,
                y: 2,
                w: 5,
                h: 6
            })
        );
        assert_eq!(
            clip_to_image(
                RectPx {
                    x: 9,
                    y: 0,
                    w: 2,
                    h: 2
                },
                5,
                5
            ),
            None
        );
    }

    #[test]
    fn alignment_maps_landmarks_onto_template() {
        // Landmarks = template scaled ×2 and shifted: the crop must be the image shrunk back.
        let lm: [(f32, f32); 5] =
            ARCFACE_TEMPLATE_112.map(|(x, y)| (2.0 * x + 30.0, 2.0 * y + 10.0));
        let img = RgbImage::from_fn(300, 300, |x, y| {
            image::Rgb(if (x / 20 + y / 20) % 2 == 0 {
                [255, 255, 255]
            } else {
                [0, 0, 0]
            })
        });
        let (crop, t) = align_face(&img, &lm).expect("aligned");
        assert_eq!(crop.dimensions(), (112, 112));
        assert!((t.scale() - 0.5).abs() < 1e-4);
        for (&(x, y), &(tx, ty)) in lm.iter().zip(&ARCFACE_TEMPLATE_112) {
            let (u, v) = t.apply((x, y));
            assert!((u - tx).abs() < 1e-3 && (v - ty).abs() < 1e-3);
        }
        // Crop pixel (5, 5) samples image pixel (40, 20).
        let (sx, sy) = t.inverse().expect("inv").apply((5.0, 5.0));
        assert!((sx - 40.0).abs() < 1e-3 && (sy - 20.0).abs() < 1e-3);
    }

    #[test]
    fn warp_outside_is_black() {
        let img = RgbImage::from_pixel(10, 10, image::Rgb([255, 0, 0]));
        let shift = Similarity {
            a: 1.0,
            b: 0.0,
            tx: 100.0,
            ty: 100.0,
        };
        assert!(
            warp_similarity(&img, &shift, 8)
                .pixels()
                .all(|p| p.0 == [0, 0, 0])
        );
        let ident = Similarity {
            a: 1.0,
            b: 0.0,
            tx: 0.0,
            ty: 0.0,
        };
        assert_eq!(
            warp_similarity(&img, &ident, 8).get_pixel(3, 3).0,
            [255, 0, 0]
        );
    }

    #[test]
    fn nchw_packs_bgr_and_normalises() {
        let img = RgbImage::from_pixel(2, 1, image::Rgb([10, 20, 30]));
        let t = to_nchw(&img, Channels::Bgr, 1.0, [127.0; 3], [128.0; 3]);
        assert_eq!(t.len(), 6);
        assert!((t[0] - (30.0 - 127.0) / 128.0).abs() < 1e-6); // B plane first
        assert!((t[4] - (10.0 - 127.0) / 128.0).abs() < 1e-6); // R plane last
        let n = to_nhwc(&img, 1.0 / 255.0, 0.0);
        assert!((n[1] - 20.0 / 255.0).abs() < 1e-6);
    }
}
