//! Counters for `GET /metrics` (Prometheus text format). Labels carry routes (as
//! templates, `/v1/stops/{number}`), status codes, reasons, gateways and keywords: never a
//! phone number.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::decision::Reason;

/// Upper bounds of the request-duration histogram, in seconds.
const BUCKETS: [f64; 12] =
    [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// The service's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    buckets: [AtomicU64; BUCKETS.len()],
    duration_count: AtomicU64,
    duration_sum_us: AtomicU64,
    decisions: [AtomicU64; Reason::COUNT],
    inbound: Mutex<BTreeMap<(&'static str, String), u64>>,
}

impl Metrics {
    /// Counts one request on `route` (a template) answered with `code` after `took`.
    pub fn request(&self, route: &'static str, code: u16, took: Duration) {
        *self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((route, code))
            .or_default() += 1;
        let secs = took.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|&b| secs <= b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.duration_count.fetch_add(1, Ordering::Relaxed);
        self.duration_sum_us.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// Counts decisions by reason.
    pub fn decisions(&self, by_reason: &[u64; Reason::COUNT]) {
        for (c, &n) in self.decisions.iter().zip(by_reason) {
            if n > 0 {
                c.fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    /// Counts one inbound message from `gateway` read as `keyword` (`STOP`, `START`, …).
    pub fn inbound(&self, gateway: &'static str, keyword: &str) {
        let mut m = self.inbound.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry((gateway, keyword.to_string())).or_default() += 1;
    }

    /// The Prometheus text exposition, with the store's journal sequence and snapshot
    /// generation.
    pub fn render(&self, journal_seq: u64, generation: u64) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str("# HELP sendfilter_requests_total HTTP requests by route and status code.\n");
        out.push_str("# TYPE sendfilter_requests_total counter\n");
        for ((route, code), n) in self.requests.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ =
                writeln!(out, "sendfilter_requests_total{{route=\"{route}\",code=\"{code}\"}} {n}");
        }
        out.push_str("# HELP sendfilter_request_duration_seconds Time to answer a request.\n");
        out.push_str("# TYPE sendfilter_request_duration_seconds histogram\n");
        let mut cumulative = 0;
        for (b, c) in BUCKETS.iter().zip(&self.buckets) {
            cumulative += c.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "sendfilter_request_duration_seconds_bucket{{le=\"{b}\"}} {cumulative}"
            );
        }
        let count = self.duration_count.load(Ordering::Relaxed);
        let _ = writeln!(out, "sendfilter_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.duration_sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "sendfilter_request_duration_seconds_sum {sum}");
        let _ = writeln!(out, "sendfilter_request_duration_seconds_count {count}");
        out.push_str("# HELP sendfilter_decisions_total Check decisions by reason.\n");
        out.push_str("# TYPE sendfilter_decisions_total counter\n");
        for (r, c) in Reason::ALL.iter().zip(&self.decisions) {
            let _ = writeln!(
                out,
                "sendfilter_decisions_total{{reason=\"{}\"}} {}",
                r.as_str(),
                c.load(Ordering::Relaxed)
            );
        }
        out.push_str(
            "# HELP sendfilter_inbound_events_total Inbound messages by gateway and keyword.\n",
        );
        out.push_str("# TYPE sendfilter_inbound_events_total counter\n");
        for ((g, k), n) in self.inbound.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(
                out,
                "sendfilter_inbound_events_total{{gateway=\"{g}\",keyword=\"{k}\"}} {n}"
            );
        }
        out.push_str(
            "# HELP sendfilter_journal_sequence Last journal sequence the service has read.\n",
        );
        out.push_str("# TYPE sendfilter_journal_sequence gauge\n");
        let _ = writeln!(out, "sendfilter_journal_sequence {journal_seq}");
        out.push_str(
            "# HELP sendfilter_snapshot_generation Snapshot generation the service reads.\n",
        );
        out.push_str("# TYPE sendfilter_snapshot_generation gauge\n");
        let _ = writeln!(out, "sendfilter_snapshot_generation {generation}");
        out
    }
}
