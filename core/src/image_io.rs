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

/// Largest image file read (bytes): 256 MiB, checked from the file's metadata before a byte is
/// read. A 150 MP photo (the pixel limit) is far smaller as JPEG, PNG, WebP or compressed TIFF.
pub const MAX_IMAGE_FILE_BYTES: u64 = 256 << 20;

/// Reads an image file's bytes, refusing one over [`MAX_IMAGE_FILE_BYTES`] from its metadata
/// first (a huge or sparse file costs nothing).
///
/// # Errors
/// [`ImageError::Read`] when the file cannot be read, [`ImageError::FileTooLarge`].
pub fn read_image_file(path: &Path) -> Result<Vec<u8>, ImageError> {
    use std::io::Read;
    let read_err = |cause| ImageError::Read {
        path: path.to_path_buf(),
        cause,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let bytes = file.metadata().map_err(read_err)?.len();
    if bytes > MAX_IMAGE_FILE_BYTES {
        return Err(ImageError::FileTooLarge {
            path: path.to_path_buf(),
            bytes,
            limit: MAX_IMAGE_FILE_BYTES,
        });
    }
    // Never more than the limit, even if the file grows while it is read.
    let mut out = Vec::with_capacity(usize::try_from(bytes).unwrap_or(0));
    file.take(MAX_IMAGE_FILE_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(read_err)?;
    if out.len() as u64 > MAX_IMAGE_FILE_BYTES {
        return Err(ImageError::FileTooLarge {
            path: path.to_path_buf(),
            bytes: out.len() as u64,
            limit: MAX_IMAGE_FILE_BYTES,
        });
    }
    Ok(out)
}

/// Reads and decodes an image file.
///
/// # Errors
/// As [`read_image_file`], otherwise as [`decode`].
pub fn decode_file(path: &Path, limits: DecodeLimits) -> Result<RgbImage, ImageError> {
    decode(&read_image_file(path)?, limits)
}

/// Decodes JPEG, PNG, WebP, BMP, GIF (first frame) or TIFF bytes into an upright RGB image.
///
/// # Errors
/// Empty input, an unknown format, a header over the pixel limit, an image too small to hold a
/// face, and corrupt or truncated data each have their own [`ImageError`] variant.
pub fn decode(bytes: &[u8], limits: DecodeLimits) -> Result<RgbImage, ImageError> {
    decode_with_min_side(bytes, limits, MIN_SIDE_PX)
}

/// As [`decode`], for a picture that is not searched for faces (a stored thumbnail): any side of
/// at least one pixel is accepted.
///
/// # Errors
/// As [`decode`].
pub fn decode_picture(bytes: &[u8], limits: DecodeLimits) -> Result<RgbImage, ImageError> {
    decode_with_min_side(bytes, limits, 1)
}

fn decode_with_min_side(
    bytes: &[u8],
    limits: DecodeLimits,
    min_side_px: u32,
) -> Result<RgbImage, ImageError> {
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
    if width.min(height) < min_side_px {
        return Err(ImageError::TooSmall {
            width,
            height,
            min: min_side_px,
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
        image::ImageError::Limits(l) => ImageError::OverDecoderLimits {
            format: format.to_owned(),
            detail: l.to_string(),
        },
        // Some decoders refuse a header's size as a format error ("Image too large (… > soft
        // limit …)"): that is a size the decoder will not allocate, not a damaged file.
        image::ImageError::Decoding(d)
            if d.to_string().to_ascii_lowercase().contains("too large") =>
        {
            ImageError::OverDecoderLimits {
                format: format.to_owned(),
                detail: d.to_string(),
            }
        }
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

/// An entry of a folder that a listing passed over, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedEntry {
    /// The entry.
    pub path: std::path::PathBuf,
    /// Why it was not listed.
    pub reason: String,
}

/// The image files under a folder, and every entry passed over on the way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageListing {
    /// Image files (by extension), sorted.
    pub files: Vec<std::path::PathBuf>,
    /// Entries not listed: links not followed, folders or files that could not be read.
    pub skipped: Vec<SkippedEntry>,
}

fn has_image_extension(p: &Path) -> bool {
    p.extension()
        .and_then(|x| x.to_str())
        .is_some_and(|x| IMAGE_EXTENSIONS.contains(&x.to_ascii_lowercase().as_str()))
}

/// Lists the image files under `dir`, recursively, and reports every entry passed over.
///
/// Symbolic links: a link to an image file inside `dir` is listed (the photo is keyed by its
/// real path, so it counts once); a link to a file outside `dir`, a link to a folder (which
/// could loop) and a broken link are reported, not followed. A folder or entry that cannot be
/// read (permissions, a path too long for the OS) is reported with its error.
#[must_use]
pub fn list_image_files(dir: &Path) -> ImageListing {
    let mut out = ImageListing::default();
    let root = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    for entry in walkdir::WalkDir::new(dir) {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                out.skipped.push(SkippedEntry {
                    path: e
                        .path()
                        .map_or_else(|| dir.to_path_buf(), Path::to_path_buf),
                    reason: e
                        .io_error()
                        .map_or_else(|| e.to_string(), std::string::ToString::to_string),
                });
                continue;
            }
        };
        let path = entry.path();
        if entry.file_type().is_file() {
            if has_image_extension(path) {
                out.files.push(entry.into_path());
            }
            continue;
        }
        if !entry.path_is_symlink() {
            continue;
        }
        let skip = |reason: &str| SkippedEntry {
            path: path.to_path_buf(),
            reason: reason.to_owned(),
        };
        match std::fs::canonicalize(path) {
            Err(e) => out
                .skipped
                .push(skip(&format!("broken symbolic link ({e})"))),
            Ok(target) if target.is_dir() => out.skipped.push(skip(
                "symbolic link to a folder: not followed (folders are scanned where they are)",
            )),
            Ok(target) if !target.starts_with(&root) => {
                if has_image_extension(path) || has_image_extension(&target) {
                    out.skipped.push(skip(&format!(
                        "symbolic link to {} outside the scanned folder: not followed",
                        target.display()
                    )));
                }
            }
            Ok(target) => {
                if target.is_file() && has_image_extension(&target) {
                    out.files.push(entry.into_path());
                }
            }
        }
    }
    out.files.sort();
    out
}

/// Image files under `dir`, recursively, sorted ([`list_image_files`] without the report).
#[must_use]
pub fn image_files(dir: &Path) -> Vec<std::path::PathBuf> {
    list_image_files(dir).files
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
