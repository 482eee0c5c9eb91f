//! The three pipeline stages as this process sees them: run here on a [`Lane`] (the role includes
//! the stage) or called on another role over the same `/v1` API ([`Upstream`]).

use std::time::{Duration, Instant};

use facelens_core::CoreError;
use facelens_core::api::Attributes;
use facelens_core::image_io::{self, DecodeLimits};
use facelens_core::models::mtcnn::MtcnnConfig;
use facelens_core::provision::{ModelStore, resolve_models_dir};
use facelens_core::runtime::SessionOptions;
use facelens_core::stages::{AttributeStage, FaceInput, IdentityStage, Preprocessed, Preprocessor};
use facelens_core::wire::{
    AttributesRequest, AttributesResponse, EmbedRequest, EmbedResponse, ErrorBody, FaceCrop,
    PreprocessResponse, png_base64,
};
use image::RgbImage;
use serde::de::DeserializeOwned;

use crate::config::Config;
use crate::engine::{Lane, LaneConfig};
use crate::error::ApiError;
use crate::metrics::Metrics;

/// Another role's base URL and the token to present.
#[derive(Debug, Clone)]
pub struct Upstream {
    service: &'static str,
    base: String,
    token: Option<String>,
    client: reqwest::Client,
}

impl Upstream {
    fn new(service: &'static str, base: &str, config: &Config) -> Result<Self, CoreError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .build()
            .map_err(|e| CoreError::InvalidRequest(format!("HTTP client: {e}")))?;
        Ok(Self {
            service,
            base: base.trim_end_matches('/').to_owned(),
            token: config.upstream_token.clone(),
            client,
        })
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        content_type: &'static str,
        body: Vec<u8>,
    ) -> Result<T, ApiError> {
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let unreachable = |e: reqwest::Error| ApiError::Unreachable {
            service: self.service,
            detail: e.to_string(),
        };
        let resp = req.send().await.map_err(unreachable)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(unreachable)?;
        if !status.is_success() {
            let body: ErrorBody = serde_json::from_slice(&bytes).unwrap_or(ErrorBody {
                code: "unknown".into(),
                message: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
            });
            return Err(ApiError::Upstream {
                service: self.service,
                status: status.as_u16(),
                code: body.code,
                body_message: body.message,
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| ApiError::Unreachable {
            service: self.service,
            detail: format!("unexpected response: {e}"),
        })
    }

    async fn post_json<Q: serde::Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &Q,
    ) -> Result<T, ApiError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ApiError::Internal(e.to_string()))?;
        self.post(path, "application/json", bytes).await
    }
}

/// Stage 1 result with the decode time.
pub type PreOutput = (Preprocessed, f64);

/// Decoding, detection, alignment.
#[derive(Debug, Clone)]
pub enum PreStage {
    /// Here.
    Local(Lane<Vec<u8>, PreOutput>),
    /// On the preprocess role.
    Remote(Upstream),
}

/// Identity embeddings.
#[derive(Debug, Clone)]
pub enum EmbedStage {
    /// Here.
    Local(Lane<RgbImage, Vec<f32>>),
    /// On the embed role.
    Remote(Upstream),
}

/// Age, gender, race, emotion.
#[derive(Debug, Clone)]
pub enum AttrStage {
    /// Here.
    Local(Lane<FaceInput, Attributes>),
    /// On the analyze role.
    Remote(Upstream),
}

fn encode_err(e: CoreError) -> ApiError {
    ApiError::Internal(format!("encoding for an upstream role: {e}"))
}

impl PreStage {
    /// Decodes and preprocesses one encoded image.
    ///
    /// # Errors
    /// Bad images, overload, upstream errors.
    pub async fn run(&self, bytes: Vec<u8>, limits: DecodeLimits) -> Result<PreOutput, ApiError> {
        match self {
            Self::Local(lane) => lane
                .submit(vec![bytes])
                .await?
                .pop()
                .ok_or_else(|| ApiError::Internal("preprocess returned nothing".into())),
            Self::Remote(up) => {
                let r: PreprocessResponse = up
                    .post("/v1/preprocess", "application/octet-stream", bytes)
                    .await?;
                Ok((r.decode(limits)?, r.decode_ms))
            }
        }
    }
}

impl EmbedStage {
    /// Embeddings of aligned crops.
    ///
    /// # Errors
    /// Bad crops, overload, upstream errors.
    pub async fn run(&self, aligned: Vec<RgbImage>) -> Result<Vec<Vec<f32>>, ApiError> {
        match self {
            Self::Local(lane) => lane.submit(aligned).await,
            Self::Remote(up) => {
                let req = EmbedRequest {
                    aligned_png: aligned
                        .iter()
                        .map(png_base64)
                        .collect::<Result<_, _>>()
                        .map_err(encode_err)?,
                };
                let r: EmbedResponse = up.post_json("/v1/embed", &req).await?;
                Ok(r.embeddings)
            }
        }
    }
}

impl AttrStage {
    /// Attributes of faces.
    ///
    /// # Errors
    /// Bad crops, overload, upstream errors.
    pub async fn run(&self, faces: Vec<FaceInput>) -> Result<Vec<Attributes>, ApiError> {
        match self {
            Self::Local(lane) => lane.submit(faces).await,
            Self::Remote(up) => {
                let req = AttributesRequest {
                    faces: faces
                        .iter()
                        .map(FaceCrop::encode)
                        .collect::<Result<_, _>>()
                        .map_err(encode_err)?,
                };
                let r: AttributesResponse = up.post_json("/v1/attributes", &req).await?;
                Ok(r.attributes)
            }
        }
    }
}

/// The stages this process can reach (`None`: neither here nor configured upstream).
#[derive(Debug, Clone, Default)]
pub struct Stages {
    /// Stage 1.
    pub preprocess: Option<PreStage>,
    /// Stage 2.
    pub embed: Option<EmbedStage>,
    /// Stage 3.
    pub attributes: Option<AttrStage>,
}

impl Stages {
    /// Whether every local stage thread is still serving (remote stages answer for themselves).
    #[must_use]
    pub fn healthy(&self) -> bool {
        let pre = match &self.preprocess {
            Some(PreStage::Local(l)) => l.is_alive(),
            Some(PreStage::Remote(_)) | None => true,
        };
        let embed = match &self.embed {
            Some(EmbedStage::Local(l)) => l.is_alive(),
            Some(EmbedStage::Remote(_)) | None => true,
        };
        let attr = match &self.attributes {
            Some(AttrStage::Local(l)) => l.is_alive(),
            Some(AttrStage::Remote(_)) | None => true,
        };
        pre && embed && attr
    }
}

/// Session options from the config: no silent CPU fallback for a GPU provider.
#[must_use]
pub fn session_options(config: &Config) -> SessionOptions {
    let mut o = SessionOptions {
        target: config.provider,
        fail_if_unavailable: true,
        ..SessionOptions::default()
    };
    if config.threads > 0 {
        o.intra_threads = config.threads;
    }
    o
}

impl Stages {
    /// Provisions (if needed) and loads the models this role runs; connects the others upstream.
    ///
    /// # Errors
    /// Provisioning or model loading errors (a failing GPU provider included), thread start-up.
    pub fn load(config: &Config, metrics: &Metrics) -> Result<Self, CoreError> {
        let role = config.role;
        let lane = LaneConfig {
            queue_depth: config.queue_depth,
            batch_max: config.batch_max,
            batch_wait: Duration::from_millis(config.batch_wait_ms),
        };
        let thread_err = |e: std::io::Error| CoreError::InvalidRequest(format!("thread: {e}"));
        let needs_models = role.runs_preprocess() || role.runs_embed() || role.runs_analyze();
        let store = ModelStore::new(resolve_models_dir(config.models_dir.as_deref()));
        if needs_models {
            store.ensure(&mut |e| tracing::info!("models: {e:?}"))?;
        }
        let opts = session_options(config);
        let limits = DecodeLimits {
            max_pixels: config.max_pixels,
        };
        let preprocess = if role.runs_preprocess() {
            let mut p = Preprocessor::load(&store, opts)?;
            let detector = MtcnnConfig::default();
            // Before /readyz says ready: the first request is as fast as the rest.
            p.warm_up(&detector)?;
            let one_at_a_time = LaneConfig {
                batch_max: 1,
                ..lane
            };
            Some(PreStage::Local(
                Lane::spawn("preprocess", one_at_a_time, metrics.clone(), move |items| {
                    items
                        .iter()
                        .map(|bytes: &&Vec<u8>| {
                            let t0 = Instant::now();
                            let img = image_io::decode(bytes.as_slice(), limits)?;
                            let decode_ms = t0.elapsed().as_secs_f64() * 1000.0;
                            Ok((p.run(&img, &detector)?, decode_ms))
                        })
                        .collect()
                })
                .map_err(thread_err)?,
            ))
        } else {
            upstream("preprocess", config.preprocess_url.as_deref(), config)?.map(PreStage::Remote)
        };
        let embed = if role.runs_embed() {
            let mut s = IdentityStage::load(&store, opts)?;
            s.warm_up()?;
            Some(EmbedStage::Local(
                Lane::spawn("embed", lane, metrics.clone(), move |items| s.embed(items))
                    .map_err(thread_err)?,
            ))
        } else {
            upstream("embed", config.embed_url.as_deref(), config)?.map(EmbedStage::Remote)
        };
        let attributes = if role.runs_analyze() {
            let mut s = AttributeStage::load(&store, opts)?;
            s.warm_up()?;
            Some(AttrStage::Local(
                Lane::spawn("analyze", lane, metrics.clone(), move |items| {
                    s.analyze(items)
                })
                .map_err(thread_err)?,
            ))
        } else {
            upstream("analyze", config.analyze_url.as_deref(), config)?.map(AttrStage::Remote)
        };
        Ok(Self {
            preprocess,
            embed,
            attributes,
        })
    }
}

fn upstream(
    service: &'static str,
    url: Option<&str>,
    config: &Config,
) -> Result<Option<Upstream>, CoreError> {
    url.map(|u| Upstream::new(service, u, config)).transpose()
}
