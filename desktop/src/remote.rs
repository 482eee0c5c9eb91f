//! Connected mode: decode, detect and align on this computer, send only the face crops to a
//! `facelens-server` (`POST /v1/faces`) for embedding, attributes and matching, and use the
//! server's gallery. The request and response types are the server's own (`facelens_api::wire`).

use std::time::{Duration, Instant};

use facelens_api::client::{BlockingClient, Call, Endpoint};
use facelens_api::wire::{
    EnrolRequest, EntrySummary, FaceCrop, FacesRequest, RenameRequest, png_base64,
    thumbnail_from_base64,
};
use facelens_core::pipeline::{
    AnalyzedImage, FaceResults, FaceStage, ImageInput, Pipeline, PipelineConfig,
};
use facelens_core::stages::{FaceInput, Preprocessor};
use image::RgbImage;

use crate::backend::{AnalysisBackend, BackendError};

/// Where the server is and how to authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddress {
    /// Base URL, e.g. `http://127.0.0.1:8750`.
    pub url: String,
    /// Bearer token ("" = none).
    pub token: String,
}

/// The typed `/v1` client for `address` (each call 60 s at most).
///
/// # Errors
/// A URL that is not http(s), a client that cannot start.
pub fn client_for(address: &ServerAddress) -> Result<BlockingClient, BackendError> {
    let endpoint = Endpoint::new(&address.url, &address.token)?;
    Ok(BlockingClient::new(endpoint, Duration::from_secs(60))?)
}

/// The gallery of the server a [`RemoteFaces`] talks to: passing it asks the server to match.
#[derive(Debug, Clone, Copy)]
pub struct ServersGallery;

/// The per-face half of the pipeline on a `facelens-server`: one `POST /v1/faces` with the
/// crops, answered with embeddings, attributes and (asked for) matches from its gallery.
#[derive(Debug)]
pub struct RemoteFaces {
    client: BlockingClient,
}

impl FaceStage<ServersGallery> for RemoteFaces {
    type Error = BackendError;

    async fn run(
        &mut self,
        faces: &[FaceInput],
        gallery: Option<&ServersGallery>,
        top_k: usize,
    ) -> Result<FaceResults, BackendError> {
        if faces.is_empty() {
            return Ok(FaceResults::default());
        }
        let req = FacesRequest {
            faces: faces
                .iter()
                .map(FaceCrop::encode)
                .collect::<Result<_, _>>()?,
            top_k,
            search: gallery.is_some(),
        };
        let sent = Instant::now();
        let resp = self.client.call(Call::faces(&req))?;
        if resp.faces.len() != faces.len() {
            return Err(facelens_core::CoreError::Stage(format!(
                "the server: sent {} faces, got {} results",
                faces.len(),
                resp.faces.len()
            ))
            .into());
        }
        let mut r = FaceResults {
            embed_ms: resp.timings.embed_ms,
            analyze_ms: resp.timings.analyze_ms,
            search_ms: resp.timings.search_ms,
            network_ms: (ms(sent) - resp.timings.total_ms).max(0.0),
            ..FaceResults::default()
        };
        for f in resp.faces {
            r.embeddings.push(f.embedding);
            r.attributes.push(f.attributes);
            r.matches.push(f.matches);
        }
        Ok(r)
    }
}

/// The connected-mode backend: the pipeline with detection here and the per-face half on the
/// server.
#[derive(Debug)]
pub struct RemoteBackend {
    pipeline: Pipeline<Preprocessor, RemoteFaces>,
}

impl RemoteBackend {
    /// Loads the detector of `config`'s models folder (the three small MTCNN nets) and targets
    /// `address`; the rest of `config` (detector and decoder settings, matches per face) applies
    /// as in local mode.
    ///
    /// # Errors
    /// Model loading errors, a malformed URL.
    pub fn new(config: &PipelineConfig, address: ServerAddress) -> Result<Self, BackendError> {
        let mut preprocessor = Preprocessor::load(&config.store(), config.session)
            .map_err(facelens_core::CoreError::from)?;
        preprocessor.warm_up(&config.detector)?;
        let faces = RemoteFaces {
            client: client_for(&address)?,
        };
        Ok(Self {
            pipeline: Pipeline::new(preprocessor, faces, config.clone()),
        })
    }

    /// The API client.
    #[must_use]
    pub fn client(&self) -> &BlockingClient {
        &self.pipeline.faces().client
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

impl AnalysisBackend for RemoteBackend {
    fn analyze(&mut self, bytes: &[u8]) -> Result<AnalyzedImage, BackendError> {
        self.pipeline
            .analyze_blocking(ImageInput::Encoded(bytes.into()), Some(&ServersGallery))
    }

    fn set_threshold(&mut self, threshold: f32) {
        self.pipeline.config.detector.thresholds[2] = threshold.clamp(0.5, 0.999);
    }

    fn enrol(
        &mut self,
        name: &str,
        source: &str,
        embedding: &[f32],
        crop: &RgbImage,
    ) -> Result<u64, BackendError> {
        let req = EnrolRequest {
            name: name.to_owned(),
            source: source.to_owned(),
            embedding: embedding.to_vec(),
            thumbnail_png: png_base64(crop)?,
        };
        Ok(self.client().call(Call::enrol(&req))?.id)
    }

    fn rename(&mut self, id: u64, name: &str) -> Result<(), BackendError> {
        let req = RenameRequest {
            name: name.to_owned(),
        };
        self.client().call(Call::rename(id, &req))?;
        Ok(())
    }

    fn delete(&mut self, id: u64) -> Result<(), BackendError> {
        Ok(self.client().call(Call::delete(id))?)
    }

    /// Page by page, thumbnails in the same answers, no embeddings.
    fn entries(&self) -> Result<Vec<(EntrySummary, Option<RgbImage>)>, BackendError> {
        let mut out = Vec::new();
        let mut after_id = 0;
        loop {
            let page = self
                .client()
                .call(Call::gallery_page(after_id, GALLERY_PAGE))?;
            for mut e in page.entries {
                let thumb = e
                    .thumbnail_png
                    .take()
                    .and_then(|b64| thumbnail_from_base64(&b64).ok());
                out.push((e, thumb));
            }
            match page.next_after_id {
                Some(next) if next > after_id => after_id = next,
                Some(_) | None => return Ok(out),
            }
        }
    }
}

/// Entries per gallery page in connected mode.
const GALLERY_PAGE: usize = 500;
