//! `facelens anonymise`: copies of photos with faces covered, written freshly encoded (no EXIF,
//! GPS or XMP of the original), the originals untouched, nothing overwritten.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use facelens_core::anonymise::{Style, cover, cover_rect};
use facelens_core::api::Analysis;

use crate::cli::{Cli, CoverStyle, load, open_gallery};

/// Which faces stay visible.
#[derive(Debug, Clone)]
pub(crate) enum Keep {
    /// Cover every face.
    None,
    /// Faces recognised (gallery, same person) as one of these names.
    Named(Vec<String>),
    /// Every face recognised as someone in the gallery: only strangers are covered.
    Known,
}

impl Keep {
    fn keeps(&self, face: &facelens_core::api::Face) -> bool {
        let best = face.matches.first().filter(|m| m.same_person);
        match (self, best) {
            (Self::None, _) | (_, None) => false,
            (Self::Known, Some(_)) => true,
            (Self::Named(names), Some(m)) => names.iter().any(|n| n.trim() == m.name),
        }
    }
}

fn style(s: CoverStyle) -> Style {
    match s {
        CoverStyle::Blur => Style::Blur,
        CoverStyle::Pixelate => Style::Pixelate,
        CoverStyle::Box => Style::Box,
    }
}

/// How a copy is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    /// JPEG (for a JPEG original).
    Jpeg,
    /// PNG (for every other format: lossless).
    Png,
}

/// Where the copy of `input` goes: `out/NAME`, as JPEG for a JPEG, else as PNG (`.png`).
fn output_path(input: &Path, out: &Path) -> anyhow::Result<(PathBuf, Encoding)> {
    let name = input
        .file_name()
        .with_context(|| format!("{} has no file name", input.display()))?;
    let is_jpeg = input
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg"));
    Ok(if is_jpeg {
        (out.join(name), Encoding::Jpeg)
    } else {
        (
            out.join(Path::new(name).with_extension("png")),
            Encoding::Png,
        )
    })
}

/// Writes `img` to `path` through a temporary file in the same folder, never over a file that
/// exists.
fn write_new(img: &image::RgbImage, path: &Path, encoding: Encoding) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".facelens-anonymise-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file_mut());
        match encoding {
            Encoding::Jpeg => {
                let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut w, 92);
                img.write_with_encoder(enc)?;
            }
            Encoding::Png => img.write_to(&mut w, image::ImageFormat::Png)?,
        }
        std::io::Write::flush(&mut w)?;
    }
    tmp.persist_noclobber(path).map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::anyhow!(
                "{} exists; anonymise never writes over a file",
                path.display()
            )
        } else {
            anyhow::anyhow!("cannot write {}: {}", path.display(), e.error)
        }
    })?;
    Ok(())
}

/// One line per photo: what was covered and where the copy went.
fn describe(a: &Analysis, covered: usize, kept: usize, to: &Path) -> String {
    format!(
        "{} face(s): {covered} covered, {kept} kept -> {}",
        a.faces.len(),
        to.display()
    )
}

/// `facelens anonymise IMAGES --out DIR [--style S] [--keep NAME…|--unknown-only]`.
pub(crate) fn run(
    cli: &Cli,
    images: &[PathBuf],
    out: &Path,
    cover_style: CoverStyle,
    keep: &Keep,
) -> anyhow::Result<ExitCode> {
    if !out.is_dir() {
        bail!("{} is not a folder (create it first)", out.display());
    }
    let mut pipeline = load(cli)?;
    let gallery = match keep {
        Keep::None => None,
        Keep::Named(_) | Keep::Known => Some(open_gallery(cli)?),
    };
    let mut failed = false;
    for input in images {
        let done = (|| -> anyhow::Result<String> {
            let (to, encoding) = output_path(input, out)?;
            // The original itself, written to its own folder, exists too.
            if to.exists() {
                bail!(
                    "{} exists; anonymise never writes over a file",
                    to.display()
                );
            }
            let r = pipeline.analyze_file_full(input, gallery.as_ref())?;
            let mut img = r
                .image
                .context("the pipeline did not keep the decoded photo")?;
            let (w, h) = img.dimensions();
            let mut covered = 0;
            for face in &r.analysis.faces {
                if keep.keeps(face) {
                    continue;
                }
                if let Some(rect) = cover_rect(&face.detection.bbox, w, h) {
                    cover(&mut img, rect, style(cover_style));
                    covered += 1;
                }
            }
            write_new(&img, &to, encoding)?;
            Ok(describe(
                &r.analysis,
                covered,
                r.analysis.faces.len() - covered,
                &to,
            ))
        })();
        match done {
            Ok(line) => outln!("{}: {line}", input.display()),
            Err(e) => {
                failed = true;
                eprintln!("error: {}: {e:#}", input.display());
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
