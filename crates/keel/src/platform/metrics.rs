//! Prometheus text-format metrics, kept in atomics (no registry crate needed for a handful).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Default, Debug)]
pub struct Metrics {
    /// Requests by status class (index 1..=5 → 1xx..5xx).
    by_class: [AtomicU64; 6],
    duration_us_sum: AtomicU64,
    /// Work items created, by kind, in the order first seen.
    created: Mutex<Vec<(&'static str, u64)>>,
    pub jobs_done: AtomicU64,
    pub jobs_failed: AtomicU64,
}

impl Metrics {
    pub fn observe(&self, status: u16, micros: u64) {
        let class = usize::from(status / 100).min(5);
        self.by_class[class].fetch_add(1, Relaxed);
        self.duration_us_sum.fetch_add(micros, Relaxed);
    }

    pub fn created(&self, kind: &'static str) {
        let mut c = self.created.lock().unwrap_or_else(|p| p.into_inner());
        match c.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => c.push((kind, 1)),
        }
    }

    pub fn render(&self, db_up: bool, uptime_s: f64) -> String {
        let mut out = String::new();
        out.push_str("# HELP keel_http_requests_total HTTP requests served, by status class.\n# TYPE keel_http_requests_total counter\n");
        for c in 1..=5 {
            out.push_str(&format!(
                "keel_http_requests_total{{class=\"{c}xx\"}} {}\n",
                self.by_class[c].load(Relaxed)
            ));
        }
        let total: u64 = (1..=5).map(|c| self.by_class[c].load(Relaxed)).sum();
        out.push_str("# HELP keel_http_request_duration_seconds Time spent serving requests.\n# TYPE keel_http_request_duration_seconds summary\n");
        out.push_str(&format!(
            "keel_http_request_duration_seconds_sum {}\n",
            self.duration_us_sum.load(Relaxed) as f64 / 1e6
        ));
        out.push_str(&format!(
            "keel_http_request_duration_seconds_count {total}\n"
        ));
        out.push_str("# HELP keel_work_items_created_total Work items created by this process.\n# TYPE keel_work_items_created_total counter\n");
        let created = self.created.lock().map(|c| c.clone()).unwrap_or_default();
        for (k, n) in created {
            out.push_str(&format!(
                "keel_work_items_created_total{{kind=\"{k}\"}} {n}\n"
            ));
        }
        out.push_str("# HELP keel_jobs_total Background jobs run by this process.\n# TYPE keel_jobs_total counter\n");
        out.push_str(&format!(
            "keel_jobs_total{{outcome=\"done\"}} {}\n",
            self.jobs_done.load(Relaxed)
        ));
        out.push_str(&format!(
            "keel_jobs_total{{outcome=\"failed\"}} {}\n",
            self.jobs_failed.load(Relaxed)
        ));
        out.push_str("# HELP keel_database_up Whether the database answered.\n# TYPE keel_database_up gauge\n");
        out.push_str(&format!("keel_database_up {}\n", u8::from(db_up)));
        out.push_str(
            "# HELP keel_uptime_seconds Seconds since start.\n# TYPE keel_uptime_seconds gauge\n",
        );
        out.push_str(&format!("keel_uptime_seconds {uptime_s:.3}\n"));
        out
    }
}
