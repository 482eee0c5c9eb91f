//! Every error a request can end in, and the one exhaustive mapping to HTTP.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use facelens_api::wire::ErrorBody;
use facelens_core::{CoreError, GalleryError, ImageError, ModelError, ProvisionError};

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A pipeline or gallery error.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// Missing or wrong bearer token.
    #[error("missing or invalid bearer token")]
    Unauthorized,
    /// Too much work in flight or queued; retry later.
    #[error("the server is at capacity ({0}); retry shortly")]
    Overloaded(&'static str),
    /// The request took longer than the configured deadline.
    #[error("the request took longer than {0} ms")]
    Timeout(u64),
    /// Models or gallery still loading.
    #[error("the server is still loading its models and gallery")]
    NotReady,
    /// This role does not serve the route.
    #[error("the `{role}` role does not serve {what}")]
    NotServed {
        /// The server's role.
        role: &'static str,
        /// What was asked.
        what: &'static str,
    },
    /// The request body did not arrive within the time allowed.
    #[error("the request body did not arrive within {0} ms")]
    BodyTimeout(u64),
    /// A malformed request (the message says what).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The body or a count exceeds a limit.
    #[error("too large: {0}")]
    TooLarge(String),
    /// Another role answered with an error.
    #[error("{service} answered {status}: {body_message}")]
    Upstream {
        /// Which role.
        service: &'static str,
        /// Its status.
        status: u16,
        /// Its error code.
        code: String,
        /// Its message.
        body_message: String,
    },
    /// Another role could not be reached.
    #[error("{service} unreachable: {detail}")]
    Unreachable {
        /// Which role.
        service: &'static str,
        /// Why.
        detail: String,
    },
    /// A bug or a dead worker.
    #[error("internal error: {0}")]
    Internal(String),
}

fn core_status(e: &CoreError) -> (StatusCode, &'static str) {
    match e {
        CoreError::Image(i) => match i {
            ImageError::TooLarge { .. }
            | ImageError::FileTooLarge { .. }
            | ImageError::OverDecoderLimits { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "image_too_large")
            }
            ImageError::UnsupportedFormat => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_format")
            }
            ImageError::Empty => (StatusCode::BAD_REQUEST, "empty_image"),
            ImageError::TooSmall { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "image_too_small"),
            ImageError::Corrupt { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "corrupt_image"),
            ImageError::Read { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "read_failed"),
        },
        CoreError::Model(m) => match m {
            ModelError::Missing { .. }
            | ModelError::Checksum { .. }
            | ModelError::UnexpectedContract { .. }
            | ModelError::Runtime { .. }
            | ModelError::NotInManifest(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "model_unavailable")
            }
            ModelError::Ort { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "inference_failed"),
        },
        CoreError::Provision(p) => match p {
            ProvisionError::ToolMissing { .. }
            | ProvisionError::FetchFailed { .. }
            | ProvisionError::Checksum { .. }
            | ProvisionError::NotInArchive { .. }
            | ProvisionError::Convert(_)
            | ProvisionError::Quantize { .. }
            | ProvisionError::SourceModel { .. }
            | ProvisionError::Io { .. }
            | ProvisionError::Archive { .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "model_unavailable")
            }
        },
        CoreError::Gallery(g) => match g {
            GalleryError::NoSuchEntry(_) => (StatusCode::NOT_FOUND, "no_such_entry"),
            GalleryError::NoSuchGroup(_) => (StatusCode::NOT_FOUND, "no_such_group"),
            GalleryError::NoSuchFace(_) => (StatusCode::NOT_FOUND, "no_such_face"),
            GalleryError::PeopleConflict(_) => (StatusCode::CONFLICT, "people_conflict"),
            GalleryError::Dimension { .. }
            | GalleryError::InvalidName(_)
            | GalleryError::InvalidEmbedding(_)
            | GalleryError::InvalidField { .. }
            | GalleryError::BadExport { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid_gallery_request")
            }
            GalleryError::Io { .. }
            | GalleryError::Corrupt { .. }
            | GalleryError::Index(_)
            | GalleryError::Database { .. }
            | GalleryError::BadLocation(_)
            | GalleryError::RefusedTarget { .. } => {
                (StatusCode::INTERNAL_SERVER_ERROR, "gallery_error")
            }
        },
        CoreError::InvalidRequest(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        CoreError::Stage(_) => (StatusCode::BAD_GATEWAY, "stage_contract"),
    }
}

impl ApiError {
    /// Status and stable code.
    #[must_use]
    pub fn status(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Core(e) => core_status(e),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Overloaded(_) => (StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
            Self::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
            Self::NotReady => (StatusCode::SERVICE_UNAVAILABLE, "not_ready"),
            Self::NotServed { .. } => (StatusCode::NOT_FOUND, "not_served_by_role"),
            Self::BodyTimeout(_) => (StatusCode::REQUEST_TIMEOUT, "body_timeout"),
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            Self::Upstream { status, .. } => match *status {
                503 => (StatusCode::SERVICE_UNAVAILABLE, "upstream_overloaded"),
                400..=499 => (
                    StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST),
                    "upstream_rejected",
                ),
                _ => (StatusCode::BAD_GATEWAY, "upstream_failed"),
            },
            Self::Unreachable { .. } => (StatusCode::BAD_GATEWAY, "upstream_unreachable"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status();
        let code = if let Self::Upstream { code, .. } = &self
            && status.is_client_error()
        {
            code.clone()
        } else {
            code.to_owned()
        };
        if matches!(self, Self::Overloaded(_) | Self::NotReady) {
            // Counted in facelens_rejected_total; under overload one line per interval, not per
            // request.
            rejections::note(&self);
        } else if status.is_server_error() {
            tracing::warn!("{status}: {self}");
        }
        let body = ErrorBody {
            code,
            message: self.to_string(),
        };
        let mut resp = (status, axum::Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"facelens\""),
            );
        }
        resp
    }
}

/// At most one log line per [`rejections::INTERVAL`] for requests turned away under load.
mod rejections {
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    /// How often a summary line may be written.
    pub const INTERVAL: Duration = Duration::from_secs(10);

    /// Rejections since the last line, and when that line was written.
    #[derive(Debug, Default)]
    pub struct Window {
        since: Option<Instant>,
        count: u64,
    }

    impl Window {
        /// Counts one rejection at `now`; returns how many the line to write now should report
        /// (this one included), or `None` while the last line is younger than [`INTERVAL`].
        pub fn note(&mut self, now: Instant) -> Option<u64> {
            self.count += 1;
            match self.since {
                Some(t) if now.duration_since(t) < INTERVAL => None,
                _ => {
                    self.since = Some(now);
                    Some(std::mem::take(&mut self.count))
                }
            }
        }
    }

    static WINDOW: Mutex<Window> = Mutex::new(Window {
        since: None,
        count: 0,
    });

    pub fn note(e: &super::ApiError) {
        let Ok(mut w) = WINDOW.lock() else { return };
        if let Some(n) = w.note(Instant::now()) {
            tracing::warn!(
                "{n} request(s) turned away with 503 since the last such line (at most one per {} s; latest: {e})",
                INTERVAL.as_secs()
            );
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_burst_of_rejections_gives_one_line_per_interval_with_its_count() {
            let mut w = Window::default();
            let t0 = Instant::now();
            let step = Duration::from_millis(1);
            // 20 s of overload at one rejection a millisecond: 20 000 rejections.
            let lines: Vec<u64> = (0..20_000u32)
                .filter_map(|i| w.note(t0 + step * i))
                .collect();
            // A line at the start, one 10 s later; the rest are counted, not written.
            assert_eq!(lines, vec![1, 10_000]);
            // The next rejection after the interval reports everything since.
            assert_eq!(w.note(t0 + Duration::from_secs(21)), Some(10_000));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        let big = ApiError::Core(CoreError::Image(ImageError::TooLarge {
            width: 1,
            height: 1,
            pixels: 1,
            limit: 0,
        }));
        assert_eq!(big.status().0, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            ApiError::Overloaded("queue").status().0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        let r = ApiError::Overloaded("queue").into_response();
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        assert_eq!(
            ApiError::Core(CoreError::Gallery(GalleryError::NoSuchEntry(3)))
                .status()
                .0,
            StatusCode::NOT_FOUND
        );
    }
}
