//! Connected mode: decode, detect and align on this computer, send only the face crops to a
//! `facelens-server` (`POST /v1/faces`) for embedding, attributes and matching, and use the
//! server's gallery. The request and response types are the server's own (`facelens_core::wire`).

use std::time::{Duration, Instant};

use facelens_core::api::Timings;
use facelens_core::gallery::Entry;
use facelens_core::image_io::{self, DecodeLimits};
use facelens_core::models::mtcnn::MtcnnConfig;
use facelens_core::pipeline::{AnalyzedImage, assemble};
use facelens_core::provision::ModelStore;
use facelens_core::runtime::SessionOptions;
use facelens_core::stages::Preprocessor;
use facelens_core::wire::{
    EnrolRequest, ErrorBody, FaceCrop, FacesRequest, FacesResponse, GalleryList, RenameRequest,
    VersionInfo, png_base64,
};
use image::RgbImage;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backend::{AnalysisBackend, BackendError};

/// Where the server is and how to authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddress {
    /// Base URL, e.g. `http://127.0.0.1:8750`.
    pub url: String,
    /// Bearer token ("" = none).
    pub token: String,
}

/// A blocking client for the `/v1` API (used on the worker thread only).
#[derive(Debug, Clone)]
pub struct ApiClient {
    address: ServerAddress,
    http: reqwest::blocking::Client,
}

impl ApiClient {
    /// A client for `address`.
    ///
    /// # Errors
    /// [`BackendError::Unreachable`] for a URL that is not http(s) or a client that cannot start.
    pub fn new(address: ServerAddress) -> Result<Self, BackendError> {
        let url = address.url.trim().trim_end_matches('/').to_owned();
        let bad = |detail: String| BackendError::Unreachable {
            url: url.clone(),
            detail,
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(bad(
                "the server URL must start with http:// or https://".into()
            ));
        }
        let http = reqwest::blocking::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            address: ServerAddress {
                url: url.clone(),
                token: address.token.trim().to_owned(),
            },
            http,
        })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::blocking::RequestBuilder {
        let r = self
            .http
            .request(method, format!("{}{path}", self.address.url));
        if self.address.token.is_empty() {
            r
        } else {
            r.bearer_auth(&self.address.token)
        }
    }

    fn send(&self, req: reqwest::blocking::RequestBuilder) -> Result<Vec<u8>, BackendError> {
        let unreachable = |e: reqwest::Error| BackendError::Unreachable {
            url: self.address.url.clone(),
            detail: e.to_string(),
        };
        let resp = req.send().map_err(unreachable)?;
        let status = resp.status();
        let bytes = resp.bytes().map_err(unreachable)?.to_vec();
        if status.is_success() {
            return Ok(bytes);
        }
        let body: ErrorBody = serde_json::from_slice(&bytes).unwrap_or_else(|_| ErrorBody {
            code: "unknown".into(),
            message: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
        });
        Err(BackendError::Server {
            status: status.as_u16(),
            code: body.code,
            message: body.message,
        })
    }

    fn parse<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, BackendError> {
        serde_json::from_slice(bytes).map_err(|e| BackendError::Unreachable {
            url: self.address.url.clone(),
            detail: format!("not a facelens-server answer: {e}"),
        })
    }

    fn call<Q: Serialize, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Q>,
    ) -> Result<T, BackendError> {
        let mut req = self.request(method, path);
        if let Some(b) = body {
            let json = serde_json::to_vec(b).map_err(|e| BackendError::Unreachable {
                url: self.address.url.clone(),
                detail: e.to_string(),
            })?;
            req = req.header("content-type", "application/json").body(json);
        }
        let bytes = self.send(req)?;
        self.parse(&bytes)
    }

    /// `GET /v1/version` (checks the token too) — the settings' "Test connection".
    ///
    /// # Errors
    /// Unreachable server, wrong token, not a facelens server.
    pub fn version(&self) -> Result<VersionInfo, BackendError> {
        self.call::<(), _>(reqwest::Method::GET, "/v1/version", None)
    }
}

/// The connected-mode backend.
#[derive(Debug)]
pub struct RemoteBackend {
    client: ApiClient,
    preprocessor: Preprocessor,
    detector: MtcnnConfig,
    limits: DecodeLimits,
    top_k: usize,
}

impl RemoteBackend {
    /// Loads the detector from `store` (the three small MTCNN nets) and targets `address`.
    ///
    /// # Errors
    /// Model loading errors, a malformed URL.
    pub fn new(
        store: &ModelStore,
        opts: SessionOptions,
        detector: MtcnnConfig,
        address: ServerAddress,
    ) -> Result<Self, BackendError> {
        let mut preprocessor =
            Preprocessor::load(store, opts).map_err(facelens_core::CoreError::from)?;
        preprocessor.warm_up(&detector)?;
        Ok(Self {
            client: ApiClient::new(address)?,
            preprocessor,
            detector,
            limits: DecodeLimits::default(),
            top_k: 5,
        })
    }

    /// The API client.
    #[must_use]
    pub fn client(&self) -> &ApiClient {
        &self.client
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

impl AnalysisBackend for RemoteBackend {
    fn analyze(&mut self, bytes: &[u8]) -> Result<AnalyzedImage, BackendError> {
        let t0 = Instant::now();
        let img = image_io::decode(bytes, self.limits).map_err(facelens_core::CoreError::from)?;
        let decode_ms = ms(t0);
        let pre = self.preprocessor.run(&img, &self.detector)?;
        let mut timings = Timings {
            decode_ms,
            detect_ms: pre.detect_ms,
            align_ms: pre.align_ms,
            ..Timings::default()
        };
        let (embeddings, attributes, matches) = if pre.faces.is_empty() {
            (Vec::new(), Vec::new(), Vec::new())
        } else {
            let req = FacesRequest {
                faces: pre
                    .faces
                    .iter()
                    .map(FaceCrop::encode)
                    .collect::<Result<_, _>>()?,
                top_k: self.top_k,
                search: true,
            };
            let sent = Instant::now();
            let resp: FacesResponse =
                self.client
                    .call(reqwest::Method::POST, "/v1/faces", Some(&req))?;
            timings.network_ms = (ms(sent) - resp.timings.total_ms).max(0.0);
            timings.embed_ms = resp.timings.embed_ms;
            timings.analyze_ms = resp.timings.analyze_ms;
            timings.search_ms = resp.timings.search_ms;
            if resp.faces.len() != pre.faces.len() {
                return Err(BackendError::Server {
                    status: 200,
                    code: "wrong_count".into(),
                    message: format!(
                        "sent {} faces, got {} results",
                        pre.faces.len(),
                        resp.faces.len()
                    ),
                });
            }
            let mut e = Vec::new();
            let mut a = Vec::new();
            let mut m = Vec::new();
            for f in resp.faces {
                e.push(f.embedding);
                a.push(f.attributes);
                m.push(f.matches);
            }
            (e, a, m)
        };
        timings.total_ms = ms(t0);
        let analysis = assemble(&pre, embeddings, attributes, matches, timings);
        Ok(AnalyzedImage {
            analysis,
            aligned: pre.faces.into_iter().map(|f| f.aligned).collect(),
            image: Some(img),
        })
    }

    fn set_threshold(&mut self, threshold: f32) {
        self.detector.thresholds[2] = threshold.clamp(0.5, 0.999);
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
        let e: Entry = self
            .client
            .call(reqwest::Method::POST, "/v1/gallery", Some(&req))?;
        Ok(e.id)
    }

    fn rename(&mut self, id: u64, name: &str) -> Result<(), BackendError> {
        let req = RenameRequest {
            name: name.to_owned(),
        };
        let _: Entry = self.client.call(
            reqwest::Method::PATCH,
            &format!("/v1/gallery/{id}"),
            Some(&req),
        )?;
        Ok(())
    }

    fn delete(&mut self, id: u64) -> Result<(), BackendError> {
        let req = self
            .client
            .request(reqwest::Method::DELETE, &format!("/v1/gallery/{id}"));
        self.client.send(req).map(|_| ())
    }

    fn entries(&self) -> Result<Vec<(Entry, Option<RgbImage>)>, BackendError> {
        let list: GalleryList =
            self.client
                .call::<(), _>(reqwest::Method::GET, "/v1/gallery", None)?;
        Ok(list
            .entries
            .into_iter()
            .map(|e| {
                let req = self.client.request(
                    reqwest::Method::GET,
                    &format!("/v1/gallery/{}/thumbnail", e.id),
                );
                let thumb = self
                    .client
                    .send(req)
                    .ok()
                    .and_then(|b| image::load_from_memory(&b).ok())
                    .map(image::DynamicImage::into_rgb8);
                (e, thumb)
            })
            .collect())
    }
}
