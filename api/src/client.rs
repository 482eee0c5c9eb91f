//! The one typed `/v1` client. An endpoint is a [`Call`] (method, path, body and how to read the
//! answer); [`BlockingClient`] and [`AsyncClient`] send calls over the same rules: the bearer
//! token, non-2xx answers read as the server's [`ErrorBody`], answers that do not parse reported
//! as "not a facelens-server answer".

use std::marker::PhantomData;
use std::time::Duration;

use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::wire::{
    AttributesRequest, AttributesResponse, EmbedRequest, EmbedResponse, EnrolRequest, ErrorBody,
    FacesRequest, FacesResponse, GalleryList, PreprocessResponse, RenameRequest, VersionInfo,
};
use facelens_core::gallery::Entry;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The server did not answer, or not as a facelens server.
    #[error("cannot reach the server at {url}: {detail}")]
    Unreachable {
        /// Base URL.
        url: String,
        /// Why.
        detail: String,
    },
    /// The server answered with an error.
    #[error("the server answered {status}: {message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// Stable error code.
        code: String,
        /// What went wrong.
        message: String,
    },
}

/// Where a server is and the token to present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    url: String,
    token: Option<String>,
}

impl Endpoint {
    /// A server at `url` (`http://` or `https://`; a trailing `/` is dropped); `token` empty for
    /// none.
    ///
    /// # Errors
    /// [`ClientError::Unreachable`] for a URL that is not http(s).
    pub fn new(url: &str, token: &str) -> Result<Self, ClientError> {
        let url = url.trim().trim_end_matches('/').to_owned();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ClientError::Unreachable {
                url,
                detail: "the server URL must start with http:// or https://".into(),
            });
        }
        let token = Some(token.trim().to_owned()).filter(|t| !t.is_empty());
        Ok(Self { url, token })
    }

    /// The base URL.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    fn unreachable(&self, detail: impl ToString) -> ClientError {
        ClientError::Unreachable {
            url: self.url.clone(),
            detail: detail.to_string(),
        }
    }

    /// Reads an answer: the parsed body on success, the server's error otherwise.
    fn finish<T>(&self, call: &Call<T>, status: u16, bytes: &[u8]) -> Result<T, ClientError> {
        if (200..300).contains(&status) {
            return (call.parse)(bytes)
                .map_err(|e| self.unreachable(format!("not a facelens-server answer: {e}")));
        }
        let body: ErrorBody = serde_json::from_slice(bytes).unwrap_or_else(|_| ErrorBody {
            code: "unknown".into(),
            message: String::from_utf8_lossy(bytes).chars().take(200).collect(),
        });
        Err(ClientError::Server {
            status,
            code: body.code,
            message: body.message,
        })
    }
}

/// One endpoint call, typed by what it answers.
pub struct Call<T> {
    method: Method,
    path: String,
    /// Content type and body; `Err` when the body could not be serialised.
    body: Option<Result<(&'static str, Vec<u8>), String>>,
    parse: fn(&[u8]) -> Result<T, String>,
    _answer: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Call<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("method", &self.method)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn parse_json<T: DeserializeOwned>(b: &[u8]) -> Result<T, String> {
    serde_json::from_slice(b).map_err(|e| e.to_string())
}

fn parse_bytes(b: &[u8]) -> Result<Vec<u8>, String> {
    Ok(b.to_vec())
}

fn parse_nothing(_: &[u8]) -> Result<(), String> {
    Ok(())
}

fn json<Q: Serialize>(q: &Q) -> Option<Result<(&'static str, Vec<u8>), String>> {
    Some(
        serde_json::to_vec(q)
            .map(|b| ("application/json", b))
            .map_err(|e| e.to_string()),
    )
}

impl<T: DeserializeOwned> Call<T> {
    fn json(
        method: Method,
        path: String,
        body: Option<Result<(&'static str, Vec<u8>), String>>,
    ) -> Self {
        Self {
            method,
            path,
            body,
            parse: parse_json::<T>,
            _answer: PhantomData,
        }
    }
}

impl Call<VersionInfo> {
    /// `GET /v1/version` (checks the token too).
    #[must_use]
    pub fn version() -> Self {
        Self::json(Method::GET, "/v1/version".into(), None)
    }
}

impl Call<FacesResponse> {
    /// `POST /v1/faces`: embed, analyse and match faces the client cut.
    #[must_use]
    pub fn faces(req: &FacesRequest) -> Self {
        Self::json(Method::POST, "/v1/faces".into(), json(req))
    }
}

impl Call<PreprocessResponse> {
    /// `POST /v1/preprocess`: detect, align and cut the faces of an encoded image.
    #[must_use]
    pub fn preprocess(image: Vec<u8>) -> Self {
        Self::json(
            Method::POST,
            "/v1/preprocess".into(),
            Some(Ok(("application/octet-stream", image))),
        )
    }
}

impl Call<EmbedResponse> {
    /// `POST /v1/embed`.
    #[must_use]
    pub fn embed(req: &EmbedRequest) -> Self {
        Self::json(Method::POST, "/v1/embed".into(), json(req))
    }
}

impl Call<AttributesResponse> {
    /// `POST /v1/attributes`.
    #[must_use]
    pub fn attributes(req: &AttributesRequest) -> Self {
        Self::json(Method::POST, "/v1/attributes".into(), json(req))
    }
}

impl Call<GalleryList> {
    /// `GET /v1/gallery`: a page of entries, by id, after `after_id`, without embeddings.
    #[must_use]
    pub fn gallery_page(after_id: u64, limit: usize) -> Self {
        Self::json(
            Method::GET,
            format!("/v1/gallery?after_id={after_id}&limit={limit}"),
            None,
        )
    }
}

impl Call<Entry> {
    /// `POST /v1/gallery`: enrol a face.
    #[must_use]
    pub fn enrol(req: &EnrolRequest) -> Self {
        Self::json(Method::POST, "/v1/gallery".into(), json(req))
    }

    /// `PATCH /v1/gallery/{id}`: rename an entry.
    #[must_use]
    pub fn rename(id: u64, req: &RenameRequest) -> Self {
        Self::json(Method::PATCH, format!("/v1/gallery/{id}"), json(req))
    }
}

impl Call<()> {
    /// `DELETE /v1/gallery/{id}`.
    #[must_use]
    pub fn delete(id: u64) -> Self {
        Self {
            method: Method::DELETE,
            path: format!("/v1/gallery/{id}"),
            body: None,
            parse: parse_nothing,
            _answer: PhantomData,
        }
    }
}

impl Call<Vec<u8>> {
    /// `GET /v1/gallery/{id}/thumbnail`: the PNG.
    #[must_use]
    pub fn thumbnail(id: u64) -> Self {
        Self {
            method: Method::GET,
            path: format!("/v1/gallery/{id}/thumbnail"),
            body: None,
            parse: parse_bytes,
            _answer: PhantomData,
        }
    }
}

/// Sends calls from a thread that may block (never an async worker).
#[derive(Debug, Clone)]
pub struct BlockingClient {
    endpoint: Endpoint,
    http: reqwest::blocking::Client,
}

impl BlockingClient {
    /// A client for `endpoint`; each call may take `timeout` at most.
    ///
    /// # Errors
    /// [`ClientError::Unreachable`] when the HTTP client cannot start.
    pub fn new(endpoint: Endpoint, timeout: Duration) -> Result<Self, ClientError> {
        let http = reqwest::blocking::Client::builder()
            .connect_timeout(Duration::from_secs(5).min(timeout))
            .timeout(timeout)
            .build()
            .map_err(|e| endpoint.unreachable(e))?;
        Ok(Self { endpoint, http })
    }

    /// Where it sends.
    #[must_use]
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Sends `call` and reads its answer.
    ///
    /// # Errors
    /// [`ClientError`].
    pub fn call<T>(&self, mut call: Call<T>) -> Result<T, ClientError> {
        let e = &self.endpoint;
        let mut req = self
            .http
            .request(call.method.clone(), format!("{}{}", e.url, call.path));
        if let Some(t) = &e.token {
            req = req.bearer_auth(t);
        }
        if let Some(body) = call.body.take() {
            let (content_type, bytes) = body.map_err(|d| e.unreachable(d))?;
            req = req
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(bytes);
        }
        let resp = req.send().map_err(|x| e.unreachable(x))?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().map_err(|x| e.unreachable(x))?;
        e.finish(&call, status, &bytes)
    }
}

/// Sends calls from async code (the server's gateway calling its other roles).
#[derive(Debug, Clone)]
pub struct AsyncClient {
    endpoint: Endpoint,
    http: reqwest::Client,
}

impl AsyncClient {
    /// A client for `endpoint`; each call may take `timeout` at most.
    ///
    /// # Errors
    /// [`ClientError::Unreachable`] when the HTTP client cannot start.
    pub fn new(endpoint: Endpoint, timeout: Duration) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| endpoint.unreachable(e))?;
        Ok(Self { endpoint, http })
    }

    /// Sends `call` and reads its answer.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn call<T>(&self, mut call: Call<T>) -> Result<T, ClientError> {
        let e = &self.endpoint;
        let mut req = self
            .http
            .request(call.method.clone(), format!("{}{}", e.url, call.path));
        if let Some(t) = &e.token {
            req = req.bearer_auth(t);
        }
        if let Some(body) = call.body.take() {
            let (content_type, bytes) = body.map_err(|d| e.unreachable(d))?;
            req = req
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(bytes);
        }
        let resp = req.send().await.map_err(|x| e.unreachable(x))?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|x| e.unreachable(x))?;
        e.finish(&call, status, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_must_be_http() {
        assert!(Endpoint::new("ftp://x", "").is_err());
        let e = Endpoint::new(" http://127.0.0.1:8750/ ", " t ").expect("valid");
        assert_eq!(e.url(), "http://127.0.0.1:8750");
        assert_eq!(e.token.as_deref(), Some("t"));
        assert_eq!(Endpoint::new("https://h", "  ").expect("valid").token, None);
    }

    #[test]
    fn error_answers_carry_the_servers_code_or_its_text() {
        let e = Endpoint::new("http://h", "").expect("valid");
        let body = br#"{"code":"overloaded","message":"busy"}"#;
        assert_eq!(
            e.finish(&Call::version(), 503, body),
            Err(ClientError::Server {
                status: 503,
                code: "overloaded".into(),
                message: "busy".into()
            })
        );
        let Err(ClientError::Server { code, message, .. }) =
            e.finish(&Call::version(), 502, b"bad gateway")
        else {
            panic!("expected a server error");
        };
        assert_eq!(
            (code.as_str(), message.as_str()),
            ("unknown", "bad gateway")
        );
        assert!(matches!(
            e.finish(&Call::version(), 200, b"<html>"),
            Err(ClientError::Unreachable { .. })
        ));
        assert_eq!(e.finish(&Call::delete(3), 204, b""), Ok(()));
    }
}
