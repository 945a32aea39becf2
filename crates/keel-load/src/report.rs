//! The figures as a table for people and as JSON for scripts.

use crate::{Op, OpStats};
use serde_json::{Value, json};
use std::fmt::Write;

pub struct Report<'a> {
    pub url: &'a str,
    pub scenario: &'a str,
    pub clients: u64,
    pub warmup_s: u64,
    pub duration_s: u64,
    /// From the end of the warm-up until the last client stopped.
    pub elapsed_s: f64,
    pub connections: u64,
    /// The machine's 1-minute load average just before the load started, where known
    /// (Linux): above the core count, something else was competing for the CPU.
    pub loadavg: Option<f64>,
    pub cores: usize,
    /// Operations that saw at least one request.
    pub ops: Vec<(Op, &'a OpStats)>,
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

/// The 1-minute load average from /proc/loadavg (None elsewhere).
pub fn loadavg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

impl Report<'_> {
    fn total(&self) -> OpStats {
        let mut t = OpStats::default();
        for (_, s) in &self.ops {
            t.ok.merge(&s.ok);
            for (k, v) in &s.errors {
                *t.errors.entry(k.clone()).or_default() += v;
            }
        }
        t
    }

    fn rate(&self, n: u64) -> f64 {
        if self.elapsed_s > 0.0 {
            n as f64 / self.elapsed_s
        } else {
            0.0
        }
    }

    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\nscenario {} | {} clients | {:.2} s measured after {} s warm-up | {} connections | {}",
            self.scenario, self.clients, self.elapsed_s, self.warmup_s, self.connections, self.url
        );
        if let Some(l) = self.loadavg {
            let busy = if l > self.cores as f64 {
                " (busy machine: figures may be low)"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "load average before the run {l:.2} on {} cores{busy}",
                self.cores
            );
        }
        let _ = writeln!(
            out,
            "{:<8} {:>9} {:>7} {:>10} {:>8} {:>8} {:>8} {:>8}",
            "op", "count", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms"
        );
        let total = self.total();
        let mut rows: Vec<(&str, &OpStats)> =
            self.ops.iter().map(|(op, s)| (op.name(), *s)).collect();
        if self.ops.len() > 1 {
            rows.push(("total", &total));
        }
        for (name, s) in &rows {
            let h = &s.ok;
            let _ = writeln!(
                out,
                "{:<8} {:>9} {:>7} {:>10.1} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
                name,
                h.len(),
                s.error_count(),
                self.rate(h.len()),
                ms(h.percentile(50.0)),
                ms(h.percentile(95.0)),
                ms(h.percentile(99.0)),
                ms(h.max())
            );
        }
        if total.error_count() > 0 {
            let _ = writeln!(out, "errors (not counted above):");
            for (op, s) in &self.ops {
                for (what, n) in &s.errors {
                    let _ = writeln!(out, "  {:<8} {what}: {n}", op.name());
                }
            }
        }
        out
    }

    fn op_json(&self, s: &OpStats) -> Value {
        let h = &s.ok;
        json!({
            "count": h.len(),
            "errors": s.error_count(),
            "error_kinds": s.errors,
            "throughput_rps": self.rate(h.len()),
            "mean_ms": h.mean() / 1000.0,
            "p50_ms": ms(h.percentile(50.0)),
            "p95_ms": ms(h.percentile(95.0)),
            "p99_ms": ms(h.percentile(99.0)),
            "max_ms": ms(h.max()),
        })
    }

    pub fn json(&self) -> Value {
        let mut ops = serde_json::Map::new();
        for (op, s) in &self.ops {
            ops.insert(op.name().to_string(), self.op_json(s));
        }
        json!({
            "url": self.url,
            "scenario": self.scenario,
            "clients": self.clients,
            "warmup_s": self.warmup_s,
            "duration_s": self.duration_s,
            "elapsed_s": self.elapsed_s,
            "connections": self.connections,
            "loadavg_1m_before": self.loadavg,
            "cores": self.cores,
            "operations": ops,
            "total": self.op_json(&self.total()),
        })
    }
}
