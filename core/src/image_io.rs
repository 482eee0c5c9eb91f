//! Decoding: bytes or a path to an upright RGB image, with EXIF orientation applied, a pixel limit
//! checked against the header before any pixel is decoded, and typed errors for every bad input.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};

use crate::error::ImageError;

/// Default cap on width × height (150 MP), checked before decoding.
pub const DEFAULT_MAX_PIXELS: u64 = 150_000_000;

/// The smallest image side in which a face can be detected (MTCNN's 12-pixel cell).
pub const MIN_SIDE_PX: u32 = 12;

/// Limits applied while decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Maximum width × height.
    pub max_pixels: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_pixels: DEFAULT_MAX_PIXELS,
        }
    }
}

/// Reads and decodes an image file.
///
/// # Errors
/// [`ImageError::Read`] when the file cannot be read, otherwise as [`decode`].
pub fn decode_file(path: &Path, limits: DecodeLimits) -> Result<RgbImage, ImageError> {
    let bytes = std::fs::read(path).map_err(|cause| ImageError::Read {
        path: path.to_path_buf(),
        cause,
    })?;
    decode(&bytes, limits)
}

/// Decodes JPEG, PNG, WebP, BMP, GIF (first frame) or TIFF bytes into an upright RGB image.
///
/// # Errors
/// Empty input, an unknown format, a header over the pixel limit, an image too small to hold a
/// face, and corrupt or truncated data each have their own [`ImageError`] variant.
pub fn decode(bytes: &[u8], limits: DecodeLimits) -> Result<RgbImage, ImageError> {
    let (reader, format) = reader(bytes)?;
    let format_name = format_name(format);
    // The JPEG decoder fills a truncated scan with gray instead of failing; a complete file has
    // an end-of-image marker after its first scan.
    if format == ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        return Err(ImageError::Corrupt {
            format: format_name.to_owned(),
            detail: "file ends early (truncated): no end-of-image marker".to_owned(),
        });
    }
    let corrupt = |e: image::ImageError| map_decode_error(e, format_name);
    let mut decoder = reader.into_decoder().map_err(corrupt)?;
    let (width, height) = decoder.dimensions();
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels {
        return Err(ImageError::TooLarge {
            width,
            height,
            pixels,
            limit: limits.max_pixels,
        });
    }
    if width == 0 || height == 0 {
        return Err(ImageError::Corrupt {
            format: format_name.to_owned(),
            detail: format!("the header declares a size of {width}x{height} pixels"),
        });
    }
    if width.min(height) < MIN_SIDE_PX {
        return Err(ImageError::TooSmall {
            width,
            height,
            min: MIN_SIDE_PX,
        });
    }
    // A broken EXIF block must not lose the picture: fall back to "no rotation".
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(corrupt)?;
    img.apply_orientation(orientation);
    Ok(img.into_rgb8())
}

/// A reader over bytes in memory.
type BytesReader<'a> = ImageReader<Cursor<&'a [u8]>>;

/// A reader for `bytes` with its format recognised from the content.
fn reader(bytes: &[u8]) -> Result<(BytesReader<'_>, ImageFormat), ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::Empty);
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|_| ImageError::UnsupportedFormat)?;
    match reader.format() {
        Some(format) => Ok((reader, format)),
        None => Err(ImageError::UnsupportedFormat),
    }
}

/// Width and height from the image header alone (nothing is decoded): for checking an image
/// against a limit before paying for its pixels.
///
/// # Errors
/// Empty input, an unknown format or an unreadable header.
pub fn dimensions(bytes: &[u8]) -> Result<(u32, u32), ImageError> {
    let (reader, format) = reader(bytes)?;
    reader
        .into_decoder()
        .map(|d| d.dimensions())
        .map_err(|e| map_decode_error(e, format_name(format)))
}

/// Whether a JPEG has an end-of-image marker (FF D9) after its first start-of-scan (FF DA).
/// Markers cannot occur inside entropy-coded data (0xFF is stuffed), so this detects truncation.
#[must_use]
pub fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let Some(sos) = bytes.windows(2).position(|w| w == [0xFF, 0xDA]) else {
        return false;
    };
    bytes[sos..].windows(2).any(|w| w == [0xFF, 0xD9])
}

// `ImageFormat` is `#[non_exhaustive]`; formats facelens does not enable never reach here.
#[allow(clippy::wildcard_enum_match_arm)]
fn format_name(f: ImageFormat) -> &'static str {
    match f {
        ImageFormat::Jpeg => "JPEG",
        ImageFormat::Png => "PNG",
        ImageFormat::WebP => "WebP",
        ImageFormat::Bmp => "BMP",
        ImageFormat::Gif => "GIF",
        ImageFormat::Tiff => "TIFF",
        _ => "image",
    }
}

fn map_decode_error(e: image::ImageError, format: &str) -> ImageError {
    match e {
        image::ImageError::Unsupported(_) => ImageError::UnsupportedFormat,
        image::ImageError::Limits(l) => ImageError::Corrupt {
            format: format.to_owned(),
            detail: format!("decoder limit exceeded: {l}"),
        },
        image::ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            ImageError::Corrupt {
                format: format.to_owned(),
                detail: "file ends early (truncated)".to_owned(),
            }
        }
        other @ (image::ImageError::Decoding(_)
        | image::ImageError::Encoding(_)
        | image::ImageError::Parameter(_)
        | image::ImageError::IoError(_)) => ImageError::Corrupt {
            format: format.to_owned(),
            detail: other.to_string(),
        },
    }
}

/// File extensions read as photos when scanning a folder (lower case).
pub const IMAGE_EXTENSIONS: [&str; 8] = ["jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff"];

/// Image files under `dir`, recursively, sorted. Symbolic links are not followed, so a link back
/// up the tree cannot loop; unreadable folders are passed over.
#[must_use]
pub fn image_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out: Vec<std::path::PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(walkdir::DirEntry::into_path)
        .filter(|p| {
            p.extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| IMAGE_EXTENSIONS.contains(&x.to_ascii_lowercase().as_str()))
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_bytes(img: &RgbImage) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).expect("encode");
        out.into_inner()
    }

    #[test]
    fn decodes_png_roundtrip() {
        let img = RgbImage::from_pixel(20, 16, image::Rgb([1, 2, 3]));
        let back = decode(&png_bytes(&img), DecodeLimits::default()).expect("decodes");
        assert_eq!(back, img);
    }

    #[test]
    fn rejects_bad_inputs_with_typed_errors() {
        let l = DecodeLimits::default();
        assert!(matches!(decode(&[], l), Err(ImageError::Empty)));
        assert!(matches!(
            decode(b"hello, this is text", l),
            Err(ImageError::UnsupportedFormat)
        ));
        let tiny = png_bytes(&RgbImage::new(1, 1));
        assert!(matches!(decode(&tiny, l), Err(ImageError::TooSmall { .. })));
        let full = png_bytes(&RgbImage::from_pixel(64, 64, image::Rgb([9, 9, 9])));
        let cut = &full[..full.len() / 2];
        assert!(
            matches!(decode(cut, l), Err(ImageError::Corrupt { .. })),
            "{:?}",
            decode(cut, l)
        );
        let mut jpg = Cursor::new(Vec::new());
        RgbImage::from_pixel(64, 64, image::Rgb([9, 90, 200]))
            .write_to(&mut jpg, ImageFormat::Jpeg)
            .expect("jpeg");
        let jpg = jpg.into_inner();
        assert!(jpeg_is_complete(&jpg));
        assert!(decode(&jpg, l).is_ok());
        assert!(matches!(
            decode(&jpg[..jpg.len() - 10], l),
            Err(ImageError::Corrupt { .. })
        ));
        let small_limit = DecodeLimits { max_pixels: 100 };
        assert!(matches!(
            decode(&full, small_limit),
            Err(ImageError::TooLarge { pixels: 4096, .. })
        ));
    }
}
