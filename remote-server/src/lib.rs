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
pub mod budget;
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
    /// (The cause is in the message and not also a `source`: a printed chain would say it twice.)
    #[error("cannot load: {0}")]
    Load(facelens_core::CoreError),
    /// Socket or TLS set-up failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl From<facelens_core::CoreError> for ServeError {
    fn from(e: facelens_core::CoreError) -> Self {
        Self::Load(e)
    }
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
    let write_timeout = Duration::from_millis(config.write_timeout_ms);
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
                let mut server = axum_server::from_tcp(listener)
                    .acceptor(FirstByte(header_timeout, write_timeout));
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
                    .acceptor(FirstByte(header_timeout, write_timeout));
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
        .header_read_timeout(timeout)
        // Room above the router's own limits (`http::request_limits`), so that a request over
        // them gets a JSON answer that says which limit; hyper's own refusals have no body.
        .max_headers(http::MAX_HEADERS * 4);
}

/// Accepts a connection only once its first byte has arrived within the timeout (peeked, not
/// consumed); a client that connects and never speaks is dropped. Runs in the connection's own
/// task, so a silent client delays nobody else. Under TLS it runs before the handshake. The
/// connection it gives gets the write timeout (the second duration): [`WriteTimeout`].
#[derive(Clone, Copy, Debug)]
struct FirstByte(Duration, Duration);

impl<S: Send + 'static> axum_server::accept::Accept<tokio::net::TcpStream, S> for FirstByte {
    type Stream = WriteTimeout<tokio::net::TcpStream>;
    type Service = S;
    type Future =
        std::pin::Pin<Box<dyn Future<Output = std::io::Result<(Self::Stream, S)>> + Send>>;

    fn accept(&self, stream: tokio::net::TcpStream, service: S) -> Self::Future {
        let (wait, write_timeout) = (self.0, self.1);
        Box::pin(async move {
            let mut first = [0u8; 1];
            match tokio::time::timeout(wait, stream.peek(&mut first)).await {
                Ok(Ok(n)) if n > 0 => Ok((WriteTimeout::new(stream, write_timeout), service)),
                Ok(Ok(_)) => Err(std::io::ErrorKind::UnexpectedEof.into()),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
            }
        })
    }
}

/// A connection whose writes fail with `TimedOut` once the peer has read nothing for the
/// timeout: hyper then closes it and drops the response, giving back what it held. Without it a
/// client that never reads keeps its response in memory for as long as it keeps the socket.
#[derive(Debug)]
pub struct WriteTimeout<T> {
    inner: T,
    timeout: Duration,
    /// Armed when a write could not proceed; cleared by any progress.
    stalled: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl<T> WriteTimeout<T> {
    /// `inner`, whose writes fail once the peer has read nothing for `timeout`.
    pub fn new(inner: T, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            stalled: None,
        }
    }

    /// Maps a write's poll: progress disarms the timer, a stall arms it, and a stall past the
    /// timeout becomes an error.
    fn watch<R>(
        &mut self,
        cx: &mut std::task::Context<'_>,
        polled: std::task::Poll<std::io::Result<R>>,
    ) -> std::task::Poll<std::io::Result<R>> {
        use std::task::Poll;
        match polled {
            Poll::Pending => {
                let timeout = self.timeout;
                let timer = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                if timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the client read nothing within the write timeout",
                    )));
                }
                Poll::Pending
            }
            ready @ Poll::Ready(_) => {
                self.stalled = None;
                ready
            }
        }
    }
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for WriteTimeout<T> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for WriteTimeout<T> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, polled)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(cx, polled)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::WriteTimeout;
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;

    /// A peer with a small receive window that never reads: once the kernel's buffers are full
    /// the writes stall, and the timeout turns the stall into an error (so hyper drops the
    /// response). A peer that reads keeps the connection going.
    #[tokio::test]
    async fn a_peer_that_reads_nothing_is_cut_off() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        client.set_recv_buffer_size(4096).expect("rcvbuf");
        client.connect(&addr.into()).expect("connect");
        let (server_side, _) = listener.accept().await.expect("accept");
        let mut w = WriteTimeout::new(server_side, Duration::from_millis(300));
        // Far more than the kernel buffers of both sockets hold.
        let data = vec![7u8; 64 << 20];
        let e = w
            .write_all(&data)
            .await
            .expect_err("the write stalls and times out");
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        drop(client);
    }
}
