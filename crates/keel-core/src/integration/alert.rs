//! Clause 8.6.1 — incidents from monitoring: how an alert maps to an incident's priority and what
//! each notification does to the incident it opened.
//!
//! An alert is identified by its fingerprint. While its incident is open, repeats of the same
//! fingerprint update that incident rather than open another (Alertmanager re-sends firing alerts
//! every `repeat_interval`); once the incident is resolved or closed a new firing opens a new one.

use std::collections::BTreeMap;

/// Whether the monitoring system says the condition holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Firing,
    Resolved,
}

impl Status {
    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "firing" => Some(Status::Firing),
            "resolved" => Some(Status::Resolved),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Firing => "firing",
            Status::Resolved => "resolved",
        }
    }
}

/// Impact and urgency (1 high … 3 low) for an alert's labels. `keel_impact` / `keel_urgency`
/// labels win; otherwise the conventional `severity` label decides; unknown severities are low.
pub fn priority(labels: &BTreeMap<String, String>) -> (i64, i64) {
    let (impact, urgency) = match labels
        .get("severity")
        .map(|s| s.to_ascii_lowercase())
        .as_deref()
    {
        Some("critical" | "page" | "emergency" | "disaster" | "p1") => (1, 1),
        Some("major" | "high" | "error" | "p2") => (2, 1),
        Some("warning" | "warn" | "average" | "p3") => (2, 2),
        _ => (3, 3),
    };
    let level = |key: &str, default: i64| {
        labels
            .get(key)
            .and_then(|v| v.trim().parse::<i64>().ok())
            .filter(|n| (1..=3).contains(n))
            .unwrap_or(default)
    };
    (level("keel_impact", impact), level("keel_urgency", urgency))
}

/// The incident's title: the alert's summary when it has one, else its name and where it fired.
pub fn title(labels: &BTreeMap<String, String>, annotations: &BTreeMap<String, String>) -> String {
    let name = labels.get("alertname").map_or("Alert", String::as_str);
    let place = labels
        .get("instance")
        .or_else(|| labels.get("job"))
        .map(|p| format!(" on {p}"))
        .unwrap_or_default();
    let summary = annotations
        .get("summary")
        .map(|s| format!(": {s}"))
        .unwrap_or_default();
    let t: String = format!("{name}{place}{summary}")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    let t = t.trim();
    // Titles are bounded by the kernel; keep room for nothing else.
    t.chars().take(200).collect()
}

/// The names to look for a configuration item under, most specific first: an explicit
/// `keel_ci`, then the usual target labels (`instance` without its port, `host`, `node`).
pub fn ci_candidates(labels: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = vec![];
    for key in [
        "keel_ci", "instance", "host", "hostname", "node", "nodename",
    ] {
        if let Some(v) = labels.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            out.push(v.to_string());
            if key == "instance"
                && let Some((host, port)) = v.rsplit_once(':')
                && port.chars().all(|c| c.is_ascii_digit())
                && !host.is_empty()
            {
                out.push(host.trim_matches(['[', ']']).to_string());
            }
        }
    }
    out.dedup();
    out
}

/// The service names to look for: `keel_service`, then `service`.
pub fn service_candidates(labels: &BTreeMap<String, String>) -> Vec<String> {
    ["keel_service", "service"]
        .iter()
        .filter_map(|k| labels.get(*k))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect()
}

/// What Keel knows about the latest incident of a fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    /// Whether that incident is still open (not resolved, closed or cancelled).
    pub open: bool,
    /// The alert status last recorded for it.
    pub last: Status,
}

/// What a notification does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Open a new incident.
    Open,
    /// The incident is open and was already firing: remember we saw it, nothing for people.
    Touch,
    /// The incident is open and had recovered: it fires again; say so on the incident.
    Refire,
    /// The alert recovered: note it on the incident, and resolve it when asked to.
    Recover { resolve: bool },
    /// Nothing to do: a recovery for an alert we never saw open, or for a closed incident.
    Ignore,
}

/// Decide what a notification does, given what Keel knows about its fingerprint and whether
/// recoveries resolve incidents.
pub fn step(status: Status, known: Option<&Known>, auto_resolve: bool) -> Step {
    match (status, known) {
        (Status::Firing, None) => Step::Open,
        (Status::Firing, Some(k)) if !k.open => Step::Open,
        (Status::Firing, Some(k)) if k.last == Status::Firing => Step::Touch,
        (Status::Firing, Some(_)) => Step::Refire,
        (Status::Resolved, Some(k)) if k.open && k.last == Status::Firing => Step::Recover {
            resolve: auto_resolve,
        },
        (Status::Resolved, _) => Step::Ignore,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn severity_maps_to_priority_and_labels_override() {
        assert_eq!(priority(&labels(&[("severity", "critical")])), (1, 1));
        assert_eq!(priority(&labels(&[("severity", "Warning")])), (2, 2));
        assert_eq!(priority(&labels(&[])), (3, 3));
        assert_eq!(
            priority(&labels(&[("severity", "critical"), ("keel_impact", "3")])),
            (3, 1)
        );
        assert_eq!(priority(&labels(&[("keel_urgency", "9")])), (3, 3));
    }

    #[test]
    fn candidates_strip_the_port_of_an_instance() {
        let l = labels(&[("instance", "db1.example:9100"), ("keel_ci", "DB-1")]);
        assert_eq!(
            ci_candidates(&l),
            vec!["DB-1", "db1.example:9100", "db1.example"]
        );
        let l = labels(&[("instance", "[::1]:9100")]);
        assert_eq!(ci_candidates(&l), vec!["[::1]:9100", "::1"]);
    }

    #[test]
    fn title_uses_summary_and_drops_control_characters() {
        let t = title(
            &labels(&[("alertname", "DiskFull"), ("instance", "fs1\n")]),
            &labels(&[("summary", "/var at 97%")]),
        );
        assert_eq!(t, "DiskFull on fs1: /var at 97%");
    }

    #[test]
    fn repeats_update_and_recoveries_resolve_only_when_asked() {
        let firing = Known {
            open: true,
            last: Status::Firing,
        };
        let recovered = Known {
            open: true,
            last: Status::Resolved,
        };
        let closed = Known {
            open: false,
            last: Status::Resolved,
        };
        assert_eq!(step(Status::Firing, None, false), Step::Open);
        assert_eq!(step(Status::Firing, Some(&firing), false), Step::Touch);
        assert_eq!(step(Status::Firing, Some(&recovered), false), Step::Refire);
        assert_eq!(step(Status::Firing, Some(&closed), false), Step::Open);
        assert_eq!(
            step(Status::Resolved, Some(&firing), true),
            Step::Recover { resolve: true }
        );
        assert_eq!(step(Status::Resolved, Some(&recovered), true), Step::Ignore);
        assert_eq!(step(Status::Resolved, None, true), Step::Ignore);
    }
}
