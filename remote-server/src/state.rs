//! Shared server state: configuration, metrics, the stages (once loaded), the gallery, and the cap
//! on work in flight.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use facelens_core::CoreError;
use facelens_core::gallery::{Gallery, resolve_gallery_location};
use facelens_core::image_io::DecodeLimits;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Config;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::stages::Stages;

/// Cheap to clone; every handler gets one.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Inner>);

/// What [`AppState`] holds.
#[derive(Debug)]
pub struct Inner {
    /// Validated configuration.
    pub config: Config,
    /// Metric families.
    pub metrics: Metrics,
    stages: OnceLock<Stages>,
    gallery: OnceLock<Option<Arc<Gallery>>>,
    inflight: Arc<Semaphore>,
    /// The memory budget of the requests in flight.
    pub budget: crate::budget::Budget,
}

/// Holds one unit of the in-flight cap; released (and the gauge lowered) on drop.
#[derive(Debug)]
pub struct Admission {
    _permit: OwnedSemaphorePermit,
    gauge: prometheus::IntGauge,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// State for `config`, nothing loaded yet.
    #[must_use]
    pub fn new(config: Config) -> Self {
        let inflight = Arc::new(Semaphore::new(config.max_inflight));
        let metrics = Metrics::new();
        let budget = crate::budget::Budget::new(
            config.max_inflight_mib,
            metrics.inflight_bytes.clone(),
            metrics.rejected.with_label_values(&["memory"]),
        );
        Self(Arc::new(Inner {
            config,
            metrics,
            budget,
            stages: OnceLock::new(),
            gallery: OnceLock::new(),
            inflight,
        }))
    }

    /// Loads models and gallery (blocking; run it off the async runtime).
    ///
    /// # Errors
    /// Provisioning, model or gallery errors.
    pub fn load(&self) -> Result<(), CoreError> {
        let stages = Stages::load(&self.config, &self.metrics)?;
        let gallery = if self.config.role.holds_gallery() {
            let location = resolve_gallery_location(self.config.gallery.as_deref())?;
            Some(Arc::new(Gallery::open_location(&location)?))
        } else {
            None
        };
        let _ = self.stages.set(stages);
        let _ = self.gallery.set(gallery);
        Ok(())
    }

    /// Whether models and gallery are loaded.
    #[must_use]
    pub fn ready(&self) -> bool {
        self.stages.get().is_some_and(Stages::healthy) && self.gallery.get().is_some()
    }

    /// The stages, once loaded.
    ///
    /// # Errors
    /// [`ApiError::NotReady`] while loading.
    pub fn stages(&self) -> Result<&Stages, ApiError> {
        self.stages.get().ok_or(ApiError::NotReady)
    }

    /// The gallery, once loaded.
    ///
    /// # Errors
    /// [`ApiError::NotReady`] while loading, [`ApiError::NotServed`] for roles without one.
    pub fn gallery(&self) -> Result<Arc<Gallery>, ApiError> {
        match self.gallery.get() {
            None => Err(ApiError::NotReady),
            Some(None) => Err(ApiError::NotServed {
                role: self.config.role.name(),
                what: "the gallery",
            }),
            Some(Some(g)) => Ok(g.clone()),
        }
    }

    /// Takes a unit of the in-flight cap.
    ///
    /// # Errors
    /// [`ApiError::Overloaded`] when the cap is reached.
    pub fn admit(&self) -> Result<Admission, ApiError> {
        match self.inflight.clone().try_acquire_owned() {
            Ok(permit) => {
                self.metrics.inflight.inc();
                Ok(Admission {
                    _permit: permit,
                    gauge: self.metrics.inflight.clone(),
                })
            }
            Err(_) => {
                self.metrics.rejected.with_label_values(&["inflight"]).inc();
                Err(ApiError::Overloaded("requests in flight"))
            }
        }
    }

    /// Decoder limits for uploads.
    #[must_use]
    pub fn limits(&self) -> DecodeLimits {
        DecodeLimits {
            max_pixels: self.config.max_pixels,
        }
    }

    /// Runs `fut` under the request deadline.
    ///
    /// # Errors
    /// [`ApiError::Timeout`], or `fut`'s own error.
    pub async fn deadline<T>(
        &self,
        fut: impl std::future::Future<Output = Result<T, ApiError>>,
    ) -> Result<T, ApiError> {
        let ms = self.config.timeout_ms;
        tokio::time::timeout(Duration::from_millis(ms), fut)
            .await
            .unwrap_or(Err(ApiError::Timeout(ms)))
    }
}

/// Runs blocking work (gallery I/O, image codecs) on tokio's blocking pool.
///
/// # Errors
/// `f`'s error, or [`ApiError::Internal`] if it panicked.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("blocking task: {e}")))?
}
