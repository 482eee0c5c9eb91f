//! Bad input: each case is a typed error with a clear message, never a panic.

use std::io::Write as _;

use facelens_core::{CoreError, ImageError};

use crate::fixtures::{faces_dir, pipeline};

fn analyse_bytes(bytes: &[u8]) -> Result<facelens_core::api::Analysis, CoreError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("input.bin");
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(bytes))
        .expect("write");
    pipeline().analyze_file(&path, None)
}

fn expect_image_error(bytes: &[u8], what: &str, matches: impl Fn(&ImageError) -> bool) {
    match analyse_bytes(bytes) {
        Err(CoreError::Image(e)) => {
            eprintln!("{what}: {e}");
            assert!(matches(&e), "{what}: unexpected {e:?}");
        }
        other => panic!("{what}: expected an image error, got {other:?}"),
    }
}

/// A BMP header announcing `w`×`h` pixels with no pixel data.
fn bmp_header(w: i32, h: i32) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(b"BM");
    v.extend_from_slice(&(54u32).to_le_bytes()); // file size (a lie)
    v.extend_from_slice(&[0; 4]);
    v.extend_from_slice(&54u32.to_le_bytes()); // pixel data offset
    v.extend_from_slice(&40u32.to_le_bytes()); // DIB header size
    v.extend_from_slice(&w.to_le_bytes());
    v.extend_from_slice(&h.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes()); // planes
    v.extend_from_slice(&24u16.to_le_bytes()); // bits per pixel
    v.extend_from_slice(&[0; 24]);
    v
}

#[test]
fn empty_random_and_text_files() {
    expect_image_error(&[], "empty file", |e| matches!(e, ImageError::Empty));
    let random: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    expect_image_error(&random, "random bytes", |e| {
        matches!(e, ImageError::UnsupportedFormat)
    });
    expect_image_error(b"name,person\nimg1.jpg,person01\n", "non-image file", |e| {
        matches!(e, ImageError::UnsupportedFormat)
    });
}

#[test]
fn tiny_and_huge_images() {
    let mut png = std::io::Cursor::new(Vec::new());
    image::RgbImage::new(1, 1)
        .write_to(&mut png, image::ImageFormat::Png)
        .expect("encode");
    expect_image_error(png.get_ref(), "1x1 image", |e| {
        matches!(e, ImageError::TooSmall { .. })
    });
    expect_image_error(&bmp_header(30_000, 30_000), "30000x30000 header", |e| {
        matches!(
            e,
            ImageError::TooLarge {
                width: 30_000,
                height: 30_000,
                ..
            }
        )
    });
}

#[test]
fn truncated_jpeg() {
    let dir = faces_dir();
    let bytes = std::fs::read(dir.join("img5.jpg")).expect("read");
    expect_image_error(&bytes[..bytes.len() / 3], "truncated JPEG", |e| {
        matches!(e, ImageError::Corrupt { .. })
    });
}

#[test]
fn unreadable_path() {
    let err = pipeline()
        .analyze_file(std::path::Path::new("/nonexistent/dir/photo.jpg"), None)
        .expect_err("missing file");
    eprintln!("unreadable path: {err}");
    assert!(
        matches!(err, CoreError::Image(ImageError::Read { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("/nonexistent/dir/photo.jpg"));
}
