//! # facelens_server
//!
//! `facelens-server`: the facelens pipeline over HTTP (tokio + axum). The connected desktop sends
//! aligned face crops to `/v1/faces`; clients without a pipeline send whole images to
//! `/v1/analyze`. One binary runs as `all` (default) or as one role — `gateway`, `preprocess`,
//! `embed`, `analyze` — so stages scale separately on Kubernetes, talking over the same API.
//!
//! Inference runs on one named OS thread per stage behind a bounded queue with dynamic batching
//! ([`engine`]); async handlers only wait on it. Work beyond `max_inflight` requests or a full
//! queue is answered 503 with `Retry-After`. Errors map to HTTP in one match ([`error`]).

pub mod background;
pub mod cli;
pub mod config;
pub mod engine;
pub mod error;
pub mod handlers;
pub mod http;
pub mod loadtest;
pub mod metrics;
pub mod openapi;
pub mod people;
pub mod stages;
pub mod state;

use std::future::Future;
use std::time::Duration;

pub use config::{Config, Role};
pub use state::AppState;

/// Why the server stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Models or gallery failed to load (a GPU provider that cannot start included).
    #[error("cannot load: {0}")]
    Load(#[from] facelens_core::CoreError),
    /// Socket or TLS set-up failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Serves `config` on `listener` until `shutdown` resolves. Listens at once (`/livez` answers,
/// `/readyz` says 503) while a background thread loads models and gallery; if loading fails the
/// server stops with [`ServeError::Load`] rather than run half-configured.
///
/// # Errors
/// [`ServeError`].
pub async fn serve(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let tls = config.tls_cert.clone().zip(config.tls_key.clone());
    let header_timeout_ms = config.header_timeout_ms;
    let state = AppState::new(config);
    let app = http::router(state.clone());
    let (fail_tx, fail_rx) = tokio::sync::oneshot::channel();
    let loader = state.clone();
    std::thread::Builder::new()
        .name("facelens-load".into())
        .spawn(move || match loader.load() {
            Ok(()) => tracing::info!("models and gallery loaded; ready"),
            Err(e) => {
                let _ = fail_tx.send(e);
            }
        })?;
    let load_failed = async move {
        match fail_rx.await {
            Ok(e) => e,
            Err(_) => std::future::pending().await,
        }
    };
    let header_timeout = Duration::from_millis(header_timeout_ms);
    let server = async move {
        let handle = axum_server::Handle::new();
        let h = handle.clone();
        tokio::spawn(async move {
            shutdown.await;
            h.graceful_shutdown(Some(Duration::from_secs(10)));
        });
        let listener = listener.into_std()?;
        match tls {
            None => {
                let mut server =
                    axum_server::from_tcp(listener).acceptor(FirstByte(header_timeout));
                limit_headers(server.http_builder(), header_timeout);
                server
                    .handle(handle)
                    .serve(app.into_make_service())
                    .await
                    .map_err(ServeError::Io)
            }
            Some((cert, key)) => {
                let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key).await?;
                let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(tls)
                    .acceptor(FirstByte(header_timeout));
                let mut server = axum_server::from_tcp(listener).acceptor(acceptor);
                limit_headers(server.http_builder(), header_timeout);
                server
                    .handle(handle)
                    .serve(app.into_make_service())
                    .await
                    .map_err(ServeError::Io)
            }
        }
    };
    tokio::select! {
        r = server => r,
        e = load_failed => Err(ServeError::Load(e)),
    }
}

/// A client that has begun a request must send all its headers within `timeout`, and a
/// kept-alive connection must start its next request within it; otherwise the connection is
/// closed. Without a timer hyper applies no such limit. hyper starts that timer at the first byte;
/// [`FirstByte`] covers a connection that never sends one.
fn limit_headers(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    timeout: Duration,
) {
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(timeout);
}

/// Accepts a connection only once its first byte has arrived within the timeout (peeked, not
/// consumed); a client that connects and never speaks is dropped. Runs in the connection's own
/// task, so a silent client delays nobody else. Under TLS it runs before the handshake.
#[derive(Clone, Copy, Debug)]
struct FirstByte(Duration);

impl<S: Send + 'static> axum_server::accept::Accept<tokio::net::TcpStream, S> for FirstByte {
    type Stream = tokio::net::TcpStream;
    type Service = S;
    type Future =
        std::pin::Pin<Box<dyn Future<Output = std::io::Result<(tokio::net::TcpStream, S)>> + Send>>;

    fn accept(&self, stream: tokio::net::TcpStream, service: S) -> Self::Future {
        let wait = self.0;
        Box::pin(async move {
            let mut first = [0u8; 1];
            match tokio::time::timeout(wait, stream.peek(&mut first)).await {
                Ok(Ok(n)) if n > 0 => Ok((stream, service)),
                Ok(Ok(_)) => Err(std::io::ErrorKind::UnexpectedEof.into()),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
            }
        })
    }
}
