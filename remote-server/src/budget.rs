//! The server's memory budget. Every request reserves, before it holds them, the bytes it will
//! keep in memory: its body, the pixels it will decode, and its response until the client has
//! read it. The total is capped (`max_inflight_mib`); a request that does not fit now is answered
//! 503 with `Retry-After`, one that could never fit 413. So no mix of requests, slow readers
//! included, makes the server hold more than the budget on top of its models.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use http_body::Frame;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

/// Bytes a decoded image holds per pixel while it is worked on: the RGB image (3), the decoder's
/// buffers and, for a whole photo, the detector's scaled copies. Measured as the rise of the
/// server's peak RSS (dev build): 5.8 for a 12.6 MP photo through `/v1/analyze`, 6.8 for 4096²
/// patches through `/v1/faces`; 8 leaves a margin.
pub const DECODED_BYTES_PER_PIXEL: u64 = 8;

/// The shared budget, counted in KiB.
#[derive(Debug, Clone)]
pub struct Budget {
    sem: Arc<Semaphore>,
    total_kib: u32,
    gauge: prometheus::IntGauge,
    rejected: prometheus::IntCounter,
}

/// Bytes held against the budget; given back on drop.
#[derive(Debug)]
pub struct Reservation {
    _permit: OwnedSemaphorePermit,
    kib: u32,
    gauge: prometheus::IntGauge,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.gauge.sub(i64::from(self.kib) * 1024);
    }
}

impl Budget {
    /// A budget of `total_mib` MiB; `gauge` shows the bytes reserved, `rejected` counts the
    /// requests that did not fit.
    #[must_use]
    pub fn new(
        total_mib: usize,
        gauge: prometheus::IntGauge,
        rejected: prometheus::IntCounter,
    ) -> Self {
        let total_kib = u32::try_from(total_mib.saturating_mul(1024))
            .unwrap_or(u32::MAX)
            .min(u32::try_from(Semaphore::MAX_PERMITS).unwrap_or(u32::MAX));
        Self {
            sem: Arc::new(Semaphore::new(total_kib as usize)),
            total_kib,
            gauge,
            rejected,
        }
    }

    /// Reserves `bytes` for `what` (named in the error).
    ///
    /// # Errors
    /// [`ApiError::TooLarge`] when `bytes` is more than the whole budget, [`ApiError::Overloaded`]
    /// when it is not free now.
    pub fn reserve(&self, bytes: u64, what: &str) -> Result<Reservation, ApiError> {
        let kib = bytes.div_ceil(1024).max(1);
        if kib > u64::from(self.total_kib) {
            self.rejected.inc();
            return Err(ApiError::TooLarge(format!(
                "{what} would hold {} MiB in memory; this server's budget for work in flight is \
                 {} MiB",
                bytes.div_ceil(1 << 20),
                self.total_kib / 1024
            )));
        }
        let kib = u32::try_from(kib).unwrap_or(self.total_kib);
        let permit = self.sem.clone().try_acquire_many_owned(kib).map_err(|_| {
            self.rejected.inc();
            ApiError::Overloaded("memory in flight")
        })?;
        self.gauge.add(i64::from(kib) * 1024);
        Ok(Reservation {
            _permit: permit,
            kib,
            gauge: self.gauge.clone(),
        })
    }

    /// Bytes reserved now.
    #[must_use]
    pub fn reserved_bytes(&self) -> u64 {
        u64::from(self.total_kib).saturating_sub(self.sem.available_permits() as u64) * 1024
    }
}

/// A response body that keeps its reservations until it has been sent or dropped (a client that
/// stops reading is cut off by the write timeout, which drops it).
pub struct HeldBody {
    inner: Body,
    _held: Vec<Reservation>,
}

impl HeldBody {
    /// `inner`, holding `held` for as long as it lives.
    pub fn wrap(inner: Body, held: Vec<Reservation>) -> Body {
        Body::new(Self { inner, _held: held })
    }
}

impl http_body::Body for HeldBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_are_capped_and_given_back() {
        let gauge = prometheus::IntGauge::new("t", "t").expect("gauge");
        let rejected = prometheus::IntCounter::new("r", "r").expect("counter");
        let b = Budget::new(1, gauge.clone(), rejected.clone());
        let a = b.reserve(700 * 1024, "a").expect("fits");
        assert!(matches!(
            b.reserve(400 * 1024, "b"),
            Err(ApiError::Overloaded(_))
        ));
        assert!(matches!(
            b.reserve(2 << 20, "c"),
            Err(ApiError::TooLarge(_))
        ));
        assert_eq!(gauge.get(), 700 * 1024);
        assert_eq!(rejected.get(), 2);
        drop(a);
        assert_eq!(gauge.get(), 0);
        assert_eq!(b.reserved_bytes(), 0);
        let _again = b.reserve(1 << 20, "d").expect("all of it, once free");
    }
}
