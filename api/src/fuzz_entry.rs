//! Entry points of the `wire` fuzz target (`fuzz/fuzz_targets/wire.rs`), shared with the test
//! below that replays its committed seeds and crashes: none may panic.

use facelens_core::image_io::DecodeLimits;

use crate::wire::{EnrolRequest, FacesRequest, PreprocessResponse, thumbnail_from_base64};

/// Limits the target decodes under: the server's defaults.
fn limits() -> DecodeLimits {
    DecodeLimits::default()
}

/// `/v1` request bodies as the handlers validate them: `POST /v1/faces` and `/v1/attributes`
/// crops (headers and budget, then decode, box against patch), `POST /v1/gallery` thumbnails, and
/// the preprocess role's answer as the gateway reads it.
pub fn wire(data: &[u8]) {
    if let Ok(req) = serde_json::from_slice::<FacesRequest>(data) {
        for crop in req.faces {
            if let Ok(headers) = crop.headers() {
                let _ = headers.declared_pixels();
                let _ = headers.decode(limits());
            }
        }
    }
    if let Ok(req) = serde_json::from_slice::<EnrolRequest>(data) {
        let _ = thumbnail_from_base64(&req.thumbnail_png);
    }
    if let Ok(resp) = serde_json::from_slice::<PreprocessResponse>(data) {
        let _ = resp.decode(limits());
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn wire_seeds_and_crashes_replay() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
        let n = facelens_core::fuzz_entry::replay(&root, "wire", super::wire).expect("readable");
        eprintln!("fuzz replay wire: {n} inputs");
        assert!(n > 0, "fuzz/seeds/wire is empty");
    }
}
