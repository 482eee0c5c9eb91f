//! The entry points of the fuzz targets (`fuzz/`, `bash fuzz/run.sh SECONDS`), kept here so that
//! the ordinary tests replay the committed corpus and every past crash through exactly the same
//! code (`core/tests/integration/fuzz_replay.rs`). Each takes arbitrary bytes and must return
//! without panicking, whatever they hold; errors are the expected outcome for most inputs.

use crate::image_io::{self, DecodeLimits};
use crate::manifest::Manifest;

/// Limits the targets decode under: the server's defaults.
fn limits() -> DecodeLimits {
    DecodeLimits::default()
}

/// Image decoding as every front end does it: the header probe, then the full decode.
pub fn image(data: &[u8]) {
    let _ = image_io::dimensions(data);
    let _ = image_io::jpeg_is_complete(data);
    let _ = image_io::decode(data, limits());
}

/// The TFJS reader and converter: the bytes up to the first NUL are `model.json`, the rest one
/// weight shard.
pub fn tfjs(data: &[u8]) {
    let (json, shard) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let _ = crate::tfjs::convert(json, &[shard]);
}

/// The model manifest's parser and lookups.
pub fn manifest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(m) = toml::from_str::<Manifest>(text) {
        for e in &m.models {
            let _ = m.model(&e.id);
            let _ = m.package(&e.package);
        }
    }
}

/// Runs `entry` on every committed input of fuzz target `target` under the corpus folder `root`
/// (`root/seeds/T` and `root/crashes/T`; a missing folder holds nothing), and returns how many
/// there were: the replay every crate's tests do for its own targets.
///
/// # Errors
/// An input that cannot be read.
pub fn replay(root: &std::path::Path, target: &str, entry: fn(&[u8])) -> std::io::Result<usize> {
    let mut n = 0;
    for dir in ["seeds", "crashes"] {
        let Ok(files) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for f in files.flatten() {
            entry(&std::fs::read(f.path())?);
            n += 1;
        }
    }
    Ok(n)
}
