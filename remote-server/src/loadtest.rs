//! A bounded load test against a server on this machine: N concurrent clients post the same
//! request for a fixed time; prints requests/s and latency percentiles per concurrency level.
//! Refuses any host that is not loopback.

use std::time::{Duration, Instant};

use facelens_api::wire::{FacesRequest, PreprocessResponse};

/// Which route to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Endpoint {
    /// `/v1/faces` with the image's crops (what the connected desktop sends).
    Faces,
    /// `/v1/analyze` with the whole image.
    Analyze,
}

/// One concurrency level's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    /// Concurrent clients.
    pub concurrency: usize,
    /// Successful requests.
    pub ok: usize,
    /// 503 answers (overload).
    pub rejected: usize,
    /// Other failures.
    pub errors: usize,
    /// Successful requests per second.
    pub rps: f64,
    /// Median latency of successes.
    pub p50_ms: f64,
    /// 99th percentile latency of successes.
    pub p99_ms: f64,
}

/// Whether `url` points at this machine.
#[must_use]
pub fn is_loopback(url: &str) -> bool {
    let Ok(u) = reqwest::Url::parse(url) else {
        return false;
    };
    match u.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The `q`-quantile (0..=1) of sorted values.
#[must_use]
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs each level for `seconds` against `base` and returns the table rows.
///
/// # Errors
/// A non-loopback URL, an unreadable server, or a failing set-up request.
pub async fn run(
    base: &str,
    token: Option<&str>,
    endpoint: Endpoint,
    image: Vec<u8>,
    levels: &[usize],
    seconds: f64,
) -> Result<Vec<Level>, String> {
    if !is_loopback(base) {
        return Err(format!("refusing to load a non-loopback server: {base}"));
    }
    let base = base.trim_end_matches('/').to_owned();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| e.to_string())?;
    let auth = |r: reqwest::RequestBuilder| match token {
        Some(t) => r.bearer_auth(t),
        None => r,
    };
    let (path, content_type, body) = match endpoint {
        Endpoint::Analyze => ("/v1/analyze", "application/octet-stream", image),
        Endpoint::Faces => {
            let resp = auth(client.post(format!("{base}/v1/preprocess")))
                .header("content-type", "application/octet-stream")
                .body(image)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !resp.status().is_success() {
                return Err(format!("/v1/preprocess answered {}", resp.status()));
            }
            let pre: PreprocessResponse =
                serde_json::from_slice(&resp.bytes().await.map_err(|e| e.to_string())?)
                    .map_err(|e| e.to_string())?;
            let req = FacesRequest {
                faces: pre.faces,
                top_k: 5,
                search: true,
            };
            (
                "/v1/faces",
                "application/json",
                serde_json::to_vec(&req).map_err(|e| e.to_string())?,
            )
        }
    };
    let mut out = Vec::new();
    for &c in levels {
        let deadline = Instant::now() + Duration::from_secs_f64(seconds);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..c.max(1) {
            let req = auth(client.post(format!("{base}{path}")))
                .header("content-type", content_type)
                .body(body.clone());
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let (mut rejected, mut errors) = (0, 0);
                while Instant::now() < deadline {
                    let Some(r) = req.try_clone() else { break };
                    let t = Instant::now();
                    match r.send().await {
                        Ok(resp) if resp.status().is_success() => {
                            let _ = resp.bytes().await;
                            lat.push(t.elapsed().as_secs_f64() * 1000.0);
                        }
                        Ok(resp) if resp.status().as_u16() == 503 => {
                            rejected += 1;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        Ok(_) | Err(_) => errors += 1,
                    }
                }
                (lat, rejected, errors)
            }));
        }
        let mut lat = Vec::new();
        let (mut rejected, mut errors) = (0, 0);
        for t in tasks {
            let (l, r, e) = t.await.map_err(|e| e.to_string())?;
            lat.extend(l);
            rejected += r;
            errors += e;
        }
        let wall = started.elapsed().as_secs_f64();
        lat.sort_by(f64::total_cmp);
        out.push(Level {
            concurrency: c,
            ok: lat.len(),
            rejected,
            errors,
            rps: lat.len() as f64 / wall,
            p50_ms: quantile(&lat, 0.5),
            p99_ms: quantile(&lat, 0.99),
        });
    }
    Ok(out)
}

/// The rows as a Markdown table.
#[must_use]
pub fn table(levels: &[Level]) -> String {
    let mut s = String::from(
        "| concurrency | ok | 503 | errors | requests/s | p50 ms | p99 ms |\n|---|---|---|---|---|---|---|\n",
    );
    for l in levels {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {:.1} | {:.0} | {:.0} |\n",
            l.concurrency, l.ok, l.rejected, l.errors, l.rps, l.p50_ms, l.p99_ms
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_is_allowed() {
        assert!(is_loopback("http://127.0.0.1:8750"));
        assert!(is_loopback("http://localhost:1/"));
        assert!(is_loopback("https://[::1]:8750"));
        assert!(!is_loopback("http://10.0.0.5:8750"));
        assert!(!is_loopback("http://example.org"));
        assert!(!is_loopback("not a url"));
    }

    #[test]
    fn quantiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert!((quantile(&v, 0.5) - 51.0).abs() < 1.01);
        assert!((quantile(&v, 0.99) - 99.0).abs() < 1.01);
        assert!(quantile(&[], 0.5).is_nan());
    }
}
