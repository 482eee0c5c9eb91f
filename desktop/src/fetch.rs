//! Downloading an image that was dropped or pasted as an http(s) URL: bounded in size and time.

use std::io::Read as _;
use std::time::Duration;

/// Largest download accepted.
pub const MAX_DOWNLOAD_BYTES: u64 = 50 * 1024 * 1024;
/// Whole-request timeout.
pub const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(20);

/// Whether `text` looks like an image URL we should download.
#[must_use]
pub fn is_http_url(text: &str) -> bool {
    let t = text.trim();
    (t.starts_with("http://") || t.starts_with("https://")) && !t.contains(char::is_whitespace)
}

/// Downloads `url` with a timeout and a size limit.
///
/// # Errors
/// A message in words: network failure, HTTP status, too large, not an image.
pub fn download(url: &str) -> Result<Vec<u8>, String> {
    let client = reqwest::blocking::Client::builder()
        .timeout(DOWNLOAD_TIMEOUT)
        .user_agent(concat!("facelens/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot start a download: {e}"))?;
    let resp = client
        .get(url.trim())
        .send()
        .map_err(|e| format!("download failed (offline?): {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("the server answered {} for {url}", resp.status()));
    }
    if let Some(len) = resp.content_length()
        && len > MAX_DOWNLOAD_BYTES
    {
        return Err(format!(
            "the image is {:.0} MB; the limit is {} MB",
            len as f64 / 1e6,
            MAX_DOWNLOAD_BYTES / 1_000_000
        ));
    }
    let mut bytes = Vec::new();
    resp.take(MAX_DOWNLOAD_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("download interrupted: {e}"))?;
    if bytes.len() as u64 > MAX_DOWNLOAD_BYTES {
        return Err(format!(
            "the image is over the {} MB limit",
            MAX_DOWNLOAD_BYTES / 1_000_000
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::is_http_url;

    #[test]
    fn recognises_urls() {
        assert!(is_http_url("https://example.org/a.jpg"));
        assert!(is_http_url("  http://x/y.png\n"));
        assert!(!is_http_url("file:///tmp/a.jpg"));
        assert!(!is_http_url("hello world"));
        assert!(!is_http_url("https://a b"));
    }
}
