//! Test harness: a real `facelens-server` on a loopback port, in its own runtime thread.

#![allow(dead_code)]

use std::time::Duration;

use facelens_server::Config;

/// A running server and its gallery folder.
pub struct Running {
    server: facelens_server::background::BackgroundServer,
    /// Base URL.
    pub url: String,
    _gallery: Option<tempfile::TempDir>,
}

/// A loopback config with a fresh gallery folder and the shared models folder.
pub fn config() -> (Config, tempfile::TempDir) {
    let gallery = tempfile::tempdir().expect("tempdir");
    let config = Config {
        listen: "127.0.0.1:0".into(),
        gallery: Some(gallery.path().to_string_lossy().into_owned()),
        ..Config::default()
    };
    (config, gallery)
}

pub const TOKEN: &str = "test-token-0123456789";

/// Starts `config` and waits until `/readyz` says ready (or the server fails).
pub fn start(config: Config, gallery: Option<tempfile::TempDir>) -> Result<Running, String> {
    let server =
        facelens_server::background::BackgroundServer::start(config, Duration::from_secs(300))?;
    Ok(Running {
        url: server.url.clone(),
        server,
        _gallery: gallery,
    })
}

impl Running {
    /// Stops the server now.
    pub fn stop(&mut self) {
        self.server.stop();
    }
}

pub use facelens_testkit::{faces_dir, identities};

/// A blocking client.
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client")
}

/// A BMP header claiming `w`×`h` pixels (a decompression bomb; no pixel data follows).
pub fn bmp_header(w: i32, h: i32) -> Vec<u8> {
    let mut v = b"BM".to_vec();
    v.extend(0u32.to_le_bytes());
    v.extend(0u32.to_le_bytes());
    v.extend(54u32.to_le_bytes());
    v.extend(40u32.to_le_bytes());
    v.extend(w.to_le_bytes());
    v.extend(h.to_le_bytes());
    v.extend(1u16.to_le_bytes());
    v.extend(24u16.to_le_bytes());
    v.extend([0u8; 24]);
    v
}
