//! A server on a thread of its own (own runtime), for tests, tools and embedding: starts on a
//! free loopback port and returns once `/readyz` says ready. Stops when dropped.

use std::time::{Duration, Instant};

use crate::config::Config;

/// A running server.
#[derive(Debug)]
pub struct BackgroundServer {
    /// `http://127.0.0.1:PORT` (or `https://` with TLS).
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), String>>>,
}

impl BackgroundServer {
    /// Starts `config` on a free port of 127.0.0.1 (its `listen` is ignored) and waits up to
    /// `ready_within` for `/readyz`.
    ///
    /// # Errors
    /// An invalid config, a server that stops (e.g. models fail to load), or a timeout.
    pub fn start(config: Config, ready_within: Duration) -> Result<Self, String> {
        config.validate().map_err(|e| e.to_string())?;
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        std_listener
            .set_nonblocking(true)
            .map_err(|e| e.to_string())?;
        let addr = std_listener.local_addr().map_err(|e| e.to_string())?;
        let scheme = if config.tls_cert.is_some() {
            "https"
        } else {
            "http"
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("facelens-server".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?;
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(std_listener)
                        .map_err(|e| e.to_string())?;
                    crate::serve(config, listener, async {
                        let _ = stopped.await;
                    })
                    .await
                    .map_err(|e| e.to_string())
                })
            })
            .map_err(|e| e.to_string())?;
        let mut server = Self {
            url: format!("{scheme}://{addr}"),
            stop: Some(stop),
            thread: Some(thread),
        };
        server.wait_ready(ready_within)?;
        Ok(server)
    }

    fn wait_ready(&mut self, within: Duration) -> Result<(), String> {
        let client = reqwest::blocking::Client::builder()
            .tls_danger_accept_invalid_certs(true)
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| e.to_string())?;
        let t0 = Instant::now();
        while t0.elapsed() < within {
            if self
                .thread
                .as_ref()
                .is_some_and(std::thread::JoinHandle::is_finished)
            {
                let r = self.thread.take().map(std::thread::JoinHandle::join);
                return Err(match r {
                    Some(Ok(Err(e))) => e,
                    other => format!("server stopped: {other:?}"),
                });
            }
            if let Ok(r) = client.get(format!("{}/readyz", self.url)).send()
                && r.status().is_success()
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!("server not ready after {within:?}"))
    }

    /// Stops the server and waits for it.
    pub fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        self.stop();
    }
}
