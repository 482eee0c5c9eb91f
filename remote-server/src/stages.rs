//! The three pipeline stages as this process sees them: run here on a [`Lane`] (the role includes
//! the stage) or called on another role over the same `/v1` API ([`Upstream`]).

use std::time::{Duration, Instant};

use std::sync::Arc;

use facelens_api::client::{AsyncClient, Call, ClientError, Endpoint};
use facelens_api::wire::{AttributesRequest, EmbedRequest, FaceCrop, aligned_base64, png_base64};
use facelens_core::CoreError;
use facelens_core::api::{Attributes, Match};
use facelens_core::gallery::Gallery;
use facelens_core::image_io::{self, DecodeLimits};
use facelens_core::models::mtcnn::MtcnnConfig;
use facelens_core::pipeline::{Analyse, Detect, Detected, Embed, ImageInput, Search};
use facelens_core::provision::{ModelStore, resolve_models_dir};
use facelens_core::runtime::SessionOptions;
use facelens_core::stages::{
    AttributeStage, EncodedFace, FaceInput, IdentityStage, Preprocessed, Preprocessor,
};
use image::RgbImage;

use crate::config::Config;
use crate::engine::{Lane, LaneConfig};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::state::blocking;

/// Another role, called with the one typed `/v1` client.
#[derive(Debug, Clone)]
pub struct Upstream {
    service: &'static str,
    client: AsyncClient,
}

impl Upstream {
    fn new(service: &'static str, base: &str, config: &Config) -> Result<Self, CoreError> {
        let endpoint = Endpoint::new(base, config.upstream_token.as_deref().unwrap_or(""))
            .map_err(|e| CoreError::InvalidRequest(format!("{service} URL: {e}")))?;
        let client = AsyncClient::new(endpoint, Duration::from_millis(config.timeout_ms))
            .map_err(|e| CoreError::InvalidRequest(format!("HTTP client: {e}")))?;
        Ok(Self { service, client })
    }

    async fn call<T>(&self, call: Call<T>) -> Result<T, ApiError> {
        self.client.call(call).await.map_err(|e| match e {
            ClientError::Unreachable { detail, .. } => ApiError::Unreachable {
                service: self.service,
                detail,
            },
            ClientError::Server {
                status,
                code,
                message,
            } => ApiError::Upstream {
                service: self.service,
                status,
                code,
                body_message: message,
            },
        })
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
                let r = up.call(Call::preprocess(bytes)).await?;
                let decode_ms = r.decode_ms;
                let pre = blocking(move || r.decode(limits).map_err(ApiError::Core)).await?;
                Ok((pre, decode_ms))
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
                let req = blocking(move || {
                    Ok(EmbedRequest {
                        aligned_png: aligned
                            .iter()
                            .map(png_base64)
                            .collect::<Result<_, _>>()
                            .map_err(encode_err)?,
                    })
                })
                .await?;
                let r = up.call(Call::embed(&req)).await?;
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
                let req = blocking(move || {
                    Ok(AttributesRequest {
                        faces: faces
                            .iter()
                            .map(FaceCrop::encode)
                            .collect::<Result<_, _>>()
                            .map_err(encode_err)?,
                    })
                })
                .await?;
                let r = up.call(Call::attributes(&req)).await?;
                Ok(r.attributes)
            }
        }
    }
}

// The orchestrator's stage traits over the enums above: `facelens_core::Pipeline` drives them
// like the in-process stages, awaiting the stage threads or the other roles.

impl Detect for PreStage {
    type Error = ApiError;
    async fn detect(
        &mut self,
        image: ImageInput<'_>,
        _detector: &MtcnnConfig,
        limits: DecodeLimits,
    ) -> Result<Detected, ApiError> {
        let bytes = match image {
            ImageInput::Encoded(b) => b.into_owned(),
            ImageInput::File(_) | ImageInput::Pixels(_) => {
                return Err(ApiError::Internal(
                    "the server's preprocess stage takes encoded images only".into(),
                ));
            }
        };
        let (pre, decode_ms) = self.run(bytes, limits).await?;
        Ok(Detected {
            pre,
            decode_ms,
            image: None,
        })
    }
}

impl Embed for EmbedStage {
    type Error = ApiError;
    async fn embed(&mut self, faces: &[FaceInput]) -> Result<Vec<Vec<f32>>, ApiError> {
        match self {
            Self::Local(_) => {
                self.run(faces.iter().map(|f| f.aligned.clone()).collect())
                    .await
            }
            // Faces that came from the preprocess role go on as the PNGs they arrived as.
            Self::Remote(up) => {
                let crops: Vec<(RgbImage, Option<Arc<EncodedFace>>)> = faces
                    .iter()
                    .map(|f| (f.aligned.clone(), f.arrived_as.clone()))
                    .collect();
                let req = blocking(move || {
                    let aligned_png = crops
                        .iter()
                        .map(|(pixels, arrived)| aligned_base64(pixels, arrived.as_deref()))
                        .collect::<Result<_, _>>()
                        .map_err(encode_err)?;
                    Ok(EmbedRequest { aligned_png })
                })
                .await?;
                Ok(up.call(Call::embed(&req)).await?.embeddings)
            }
        }
    }
}

impl Analyse for AttrStage {
    type Error = ApiError;
    async fn analyse(&mut self, faces: &[FaceInput]) -> Result<Vec<Attributes>, ApiError> {
        self.run(faces.to_vec()).await
    }
}

/// The server's gallery, searched on the blocking pool.
#[derive(Debug, Clone)]
pub struct ServerGallery(pub Arc<Gallery>);

impl Search for ServerGallery {
    type Error = ApiError;
    async fn search(&self, queries: &[Vec<f32>], k: usize) -> Result<Vec<Vec<Match>>, ApiError> {
        let gallery = Arc::clone(&self.0);
        let queries = queries.to_vec();
        blocking(move || {
            queries
                .iter()
                .map(|q| gallery.search(q, k).map_err(|e| ApiError::Core(e.into())))
                .collect()
        })
        .await
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
