//! Prometheus metrics: request counts and latencies per route, time per stage, batch sizes,
//! queue depth, work in flight and rejections.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// The server's metric families.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    /// Requests by route and status.
    pub requests: IntCounterVec,
    /// Request latency by route, seconds.
    pub request_seconds: HistogramVec,
    /// Time inside each stage's model runs, seconds per batch.
    pub stage_seconds: HistogramVec,
    /// Faces per batch, by stage.
    pub batch_size: HistogramVec,
    /// Jobs waiting in front of each stage.
    pub queue_depth: IntGaugeVec,
    /// Requests being served.
    pub inflight: IntGauge,
    /// Requests turned away, by reason.
    pub rejected: IntCounterVec,
    /// Bytes reserved against the memory budget by requests in flight.
    pub inflight_bytes: IntGauge,
}

fn must<T>(r: prometheus::Result<T>) -> T {
    // The names and labels below are constants; registering them can only fail on a duplicate,
    // which is a programming error caught by the unit test.
    r.expect("metric definitions are valid")
}

impl Metrics {
    /// Creates and registers every family.
    #[must_use]
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("facelens".into()), None).unwrap_or_default();
        let latency = vec![
            0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ];
        let requests = must(IntCounterVec::new(
            Opts::new("requests_total", "HTTP requests by route and status"),
            &["route", "status"],
        ));
        let request_seconds = must(HistogramVec::new(
            HistogramOpts::new("request_seconds", "HTTP request latency").buckets(latency.clone()),
            &["route"],
        ));
        let stage_seconds = must(HistogramVec::new(
            HistogramOpts::new("stage_seconds", "Time per batch inside a stage").buckets(latency),
            &["stage"],
        ));
        let batch_size = must(HistogramVec::new(
            HistogramOpts::new("batch_size", "Items per stage batch")
                .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]),
            &["stage"],
        ));
        let queue_depth = must(IntGaugeVec::new(
            Opts::new("queue_depth", "Jobs waiting in front of a stage"),
            &["stage"],
        ));
        let inflight = must(IntGauge::new("inflight", "Requests being served"));
        let inflight_bytes = must(IntGauge::new(
            "inflight_bytes",
            "Bytes reserved by requests in flight (bodies, decoded pixels, unsent responses)",
        ));
        let rejected = must(IntCounterVec::new(
            Opts::new("rejected_total", "Requests turned away with 503"),
            &["reason"],
        ));
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(request_seconds.clone()),
            Box::new(stage_seconds.clone()),
            Box::new(batch_size.clone()),
            Box::new(queue_depth.clone()),
            Box::new(inflight.clone()),
            Box::new(rejected.clone()),
            Box::new(inflight_bytes.clone()),
        ] {
            must(registry.register(c));
        }
        Self {
            registry,
            requests,
            request_seconds,
            stage_seconds,
            batch_size,
            queue_depth,
            inflight,
            rejected,
            inflight_bytes,
        }
    }

    /// The text exposition format.
    #[must_use]
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .is_err()
        {
            return String::new();
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_render() {
        let m = Metrics::new();
        m.requests.with_label_values(&["/v1/faces", "200"]).inc();
        m.batch_size.with_label_values(&["embed"]).observe(3.0);
        let text = m.render();
        assert!(text.contains("facelens_requests_total{route=\"/v1/faces\",status=\"200\"} 1"));
        assert!(text.contains("facelens_batch_size_bucket{stage=\"embed\",le=\"4\"} 1"));
    }
}
