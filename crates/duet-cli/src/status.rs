//! The binary's metrics: the Prometheus recorder behind the admin
//! listener's `/metrics`, and the live `/status` dashboard fed from the
//! same counters.
//!
//! The dashboard keeps no bookkeeping of its own: once a second a sampler
//! renders the recorder's Prometheus text (exactly what a scrape of
//! `/metrics` returns), and turns the differences from the previous sample
//! into rates by protocol and latency percentiles (estimated from the
//! duration histogram's buckets, as Prometheus' `histogram_quantile`
//! does). Each sample goes to every open `/status/events` stream as one
//! `stats` Server-Sent Event.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use duet::observability::{
    CONNECTIONS_OPEN, CONNECTIONS_TOTAL, DURATION_BUCKETS, REQUESTS_TOTAL, REQUEST_DURATION_SECONDS,
};
use duet::{Event, KeepAlive, Sse, StatusCode};
use futures_util::Stream;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde_json::{json, Value};
use tokio::sync::watch;

/// The installed recorder and the latest dashboard sample.
#[derive(Clone)]
pub struct Metrics {
    handle: PrometheusHandle,
    samples: watch::Receiver<Option<Arc<str>>>,
}

impl Metrics {
    /// Installs the Prometheus recorder as the process's global recorder
    /// (before any server starts: duet registers its metrics on first use)
    /// and starts the once-a-second sampler on the current runtime.
    pub fn install() -> Result<Metrics, String> {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full(REQUEST_DURATION_SECONDS.to_string()),
                DURATION_BUCKETS,
            )
            .map_err(|e| e.to_string())?
            .build_recorder();
        let handle = recorder.handle();
        metrics::set_global_recorder(recorder).map_err(|e| e.to_string())?;
        let (tx, samples) = watch::channel(None);
        tokio::spawn(sample(handle.clone(), tx));
        Ok(Metrics { handle, samples })
    }

    /// The Prometheus text of every metric, for `/metrics`.
    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// `GET /status/events`: one `stats` event per second (the latest
    /// sample first, when there is one).
    pub fn events(&self) -> Sse<impl Stream<Item = Event>> {
        let rx = self.samples.clone();
        let events = futures_util::stream::unfold((rx, true), |(mut rx, first)| async move {
            if !first && rx.changed().await.is_err() {
                return None;
            }
            loop {
                let now = rx.borrow_and_update().clone();
                if let Some(data) = now {
                    let ev = Event::default().event("stats").data(&*data);
                    return Some((ev, (rx, false)));
                }
                if rx.changed().await.is_err() {
                    return None;
                }
            }
        });
        Sse::new(events).keep_alive(KeepAlive::new())
    }
}

/// `GET /status/events` when metrics are off.
pub fn events_off() -> (StatusCode, &'static str) {
    (
        StatusCode::NOT_FOUND,
        "metrics are off (--no-metrics): no status events\n",
    )
}

/// The sampler: every second, a sample from the recorder's text.
async fn sample(handle: PrometheusHandle, tx: watch::Sender<Option<Arc<str>>>) {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last: Option<(Instant, Snapshot)> = None;
    loop {
        ticker.tick().await;
        // Histogram samples are drained into their buckets here too.
        handle.run_upkeep();
        let now = Instant::now();
        let snap = Snapshot::parse(&handle.render());
        if let Some((then, prev)) = &last {
            let secs = now.duration_since(*then).as_secs_f64().max(1e-3);
            let stats = snap.stats_since(prev, secs);
            if tx.send(Some(Arc::from(stats.to_string()))).is_err() {
                // Never: the sender's receiver is kept in `Metrics`.
                return;
            }
        }
        last = Some((now, snap));
    }
}

/// The numbers the dashboard needs, from one render.
#[derive(Default, Debug, PartialEq)]
struct Snapshot {
    /// `duet_requests_total` summed by protocol.
    requests: BTreeMap<String, f64>,
    /// `duet_connections_total` by protocol.
    connections: BTreeMap<String, f64>,
    /// `duet_connections_open` by protocol.
    open: BTreeMap<String, f64>,
    /// Cumulative duration bucket counts by upper bound, every protocol
    /// summed, in bound order (`+Inf` last).
    buckets: Vec<(f64, f64)>,
}

impl Snapshot {
    /// Reads the Prometheus text format (the lines this needs).
    fn parse(text: &str) -> Snapshot {
        let mut s = Snapshot::default();
        let bucket_name = format!("{REQUEST_DURATION_SECONDS}_bucket");
        let mut buckets: BTreeMap<u64, (f64, f64)> = BTreeMap::new();
        for line in text.lines() {
            if line.starts_with('#') {
                continue;
            }
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            let (name, labels) = match series.split_once('{') {
                Some((n, l)) => (n, l.trim_end_matches('}')),
                None => (series, ""),
            };
            let protocol = || label(labels, "protocol").unwrap_or("?").to_string();
            if name == REQUESTS_TOTAL {
                *s.requests.entry(protocol()).or_default() += value;
            } else if name == CONNECTIONS_TOTAL {
                *s.connections.entry(protocol()).or_default() += value;
            } else if name == CONNECTIONS_OPEN {
                *s.open.entry(protocol()).or_default() += value;
            } else if name == bucket_name {
                let le = match label(labels, "le") {
                    Some("+Inf") => f64::INFINITY,
                    Some(le) => le.parse().unwrap_or(f64::INFINITY),
                    None => continue,
                };
                let e = buckets.entry(le.to_bits()).or_insert((le, 0.0));
                e.1 += value;
            }
        }
        // Positive floats order as their bits do.
        s.buckets = buckets.into_values().collect();
        s
    }

    /// The dashboard's sample: rates over the `secs` since `prev`, the
    /// open connections now, totals, and the latency percentiles of the
    /// requests that ended in between.
    fn stats_since(&self, prev: &Snapshot, secs: f64) -> Value {
        let rate = |now: &BTreeMap<String, f64>, then: &BTreeMap<String, f64>| {
            now.iter()
                .map(|(k, v)| {
                    let d = (v - then.get(k).copied().unwrap_or(0.0)).max(0.0);
                    (k.clone(), json!(round(d / secs)))
                })
                .collect::<serde_json::Map<_, _>>()
        };
        let window: Vec<(f64, f64)> = self
            .buckets
            .iter()
            .map(|&(le, n)| {
                let before = prev
                    .buckets
                    .iter()
                    .find(|(l, _)| *l == le)
                    .map_or(0.0, |b| b.1);
                (le, (n - before).max(0.0))
            })
            .collect();
        let ms = |q| quantile(&window, q).map(|s| round(s * 1000.0));
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        json!({
            "t": t,
            "rps": rate(&self.requests, &prev.requests),
            "cps": rate(&self.connections, &prev.connections),
            "open": self.open,
            "total": self.requests,
            "latency_ms": {"p50": ms(0.5), "p90": ms(0.9), "p99": ms(0.99)},
        })
    }
}

/// The value of `key` in a label list `a="x",b="y"` (duet's label values
/// hold no quotes).
fn label<'a>(labels: &'a str, key: &str) -> Option<&'a str> {
    labels.split(',').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.trim_matches('"'))
    })
}

/// The `q` quantile of cumulative bucket counts, interpolating linearly
/// inside the bucket it falls in (`None` without observations). One in
/// the `+Inf` bucket is reported as the largest finite bound.
fn quantile(cumulative: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = cumulative.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut lower = (0.0, 0.0);
    for &(le, n) in cumulative {
        if n >= rank {
            if le.is_infinite() {
                return Some(lower.0);
            }
            let in_bucket = n - lower.1;
            let frac = if in_bucket > 0.0 {
                (rank - lower.1) / in_bucket
            } else {
                1.0
            };
            return Some(lower.0 + (le - lower.0) * frac);
        }
        lower = (le, n);
    }
    Some(lower.0)
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# TYPE duet_requests_total counter
duet_requests_total{protocol="h2c",method="GET",status="2xx"} 30
duet_requests_total{protocol="h2c",method="GET",status="4xx"} 10
duet_requests_total{protocol="http/1.1",method="POST",status="2xx"} 5
duet_connections_open{protocol="h2c"} 2
duet_connections_total{protocol="h2c"} 4
duet_request_duration_seconds_bucket{protocol="h2c",le="0.001"} 20
duet_request_duration_seconds_bucket{protocol="h2c",le="0.01"} 40
duet_request_duration_seconds_bucket{protocol="h2c",le="+Inf"} 40
duet_request_duration_seconds_bucket{protocol="http/1.1",le="0.001"} 0
duet_request_duration_seconds_bucket{protocol="http/1.1",le="0.01"} 5
duet_request_duration_seconds_bucket{protocol="http/1.1",le="+Inf"} 5
duet_request_duration_seconds_sum{protocol="h2c"} 0.1
"#;

    #[test]
    fn reads_the_prometheus_text() {
        let s = Snapshot::parse(TEXT);
        assert_eq!(s.requests["h2c"], 40.0);
        assert_eq!(s.requests["http/1.1"], 5.0);
        assert_eq!(s.open["h2c"], 2.0);
        assert_eq!(s.connections["h2c"], 4.0);
        assert_eq!(
            s.buckets,
            vec![(0.001, 20.0), (0.01, 45.0), (f64::INFINITY, 45.0)]
        );
    }

    #[test]
    fn rates_and_percentiles_over_the_interval() {
        let now = Snapshot::parse(TEXT);
        let stats = now.stats_since(&Snapshot::default(), 2.0);
        assert_eq!(stats["rps"]["h2c"], 20.0);
        assert_eq!(stats["rps"]["http/1.1"], 2.5);
        assert_eq!(stats["total"]["h2c"], 40.0);
        // 20 of 45 under 1 ms: the median is in the 1–10 ms bucket.
        let p50 = stats["latency_ms"]["p50"].as_f64().expect("p50");
        assert!(p50 > 1.0 && p50 < 10.0, "{stats}");
        // Nothing new since: no percentiles.
        let idle = now.stats_since(&Snapshot::parse(TEXT), 1.0);
        assert!(idle["latency_ms"]["p50"].is_null(), "{idle}");
        assert_eq!(idle["rps"]["h2c"], 0.0);
    }

    #[test]
    fn quantiles_interpolate_within_buckets() {
        let b = [(1.0, 50.0), (2.0, 100.0), (f64::INFINITY, 100.0)];
        assert_eq!(quantile(&b, 0.5), Some(1.0));
        assert_eq!(quantile(&b, 0.75), Some(1.5));
        assert_eq!(quantile(&[(1.0, 0.0), (f64::INFINITY, 0.0)], 0.5), None);
        assert_eq!(
            quantile(&[(1.0, 0.0), (f64::INFINITY, 4.0)], 0.5),
            Some(1.0)
        );
    }
}
