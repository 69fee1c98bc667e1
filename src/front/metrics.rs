//! `teqlctl check --metrics-file PATH`: each round's picture of every bundle and line, in the
//! Prometheus text exposition format for node_exporter's textfile collector (teqlctl(8),
//! METRICS). `render` is pure (a plain struct to the text), so the format is tested on the
//! host; `from_status` builds the struct from what status and check already know; `write`
//! replaces the file atomically.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::run::health::Health;
use crate::run::status::Status;

/// Everything one round exposes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    /// Unix time of the round.
    pub timestamp: u64,
    pub bundles: Vec<BundleMetrics>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct BundleMetrics {
    pub name: String,
    /// Lines the configuration gives the bundle.
    pub configured: u32,
    /// Lines in the bundle now (TEQL: attached; multipath: in its nexthop group or route).
    pub live: u32,
    pub lines: Vec<LineMetrics>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct LineMetrics {
    pub name: String,
    /// The device exists, is administratively up and has its carrier.
    pub up: bool,
    /// In its bundle now.
    pub attached: bool,
    pub tx_bytes: u64,
    pub rx_bytes: u64,
    /// What `teqlctl check` knows of it; None for a line it does not check (missing, down,
    /// or taken out by the admin).
    pub health: Option<LineHealthMetrics>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct LineHealthMetrics {
    /// The verdict after hysteresis.
    pub healthy: bool,
    /// The fastest answer of the last round; None when no target answered (or none is set).
    pub rtt_seconds: Option<f64>,
    /// Of the probe targets sent in the last round, the fraction that did not answer; None
    /// when the round sent none (no target configured, no carrier, nothing to send from).
    pub loss_ratio: Option<f64>,
    /// Failed probes in a row.
    pub failed_probes: u32,
    /// Times check took it out / put it back, since the line was first checked (since boot).
    pub taken_out: u64,
    pub put_back: u64,
}

/// Builds the metrics from a status of the round (taken with the round's health) and, per
/// line, the probe targets the round sent and how many did not answer.
pub(crate) fn from_status(st: &Status, health: &Health, probes: &BTreeMap<String, (u32, u32)>, now: u64) -> Metrics {
    let bundles = st
        .masters
        .iter()
        .map(|m| BundleMetrics {
            name: m.name.clone(),
            configured: m.lines.iter().filter(|l| l.configured).count() as u32,
            live: m.lines.iter().filter(|l| l.exists && l.attached).count() as u32,
            lines: m
                .lines
                .iter()
                .map(|l| LineMetrics {
                    name: l.name.clone(),
                    up: l.exists && l.up && l.carrier,
                    attached: l.exists && l.attached,
                    tx_bytes: l.tx_bytes,
                    rx_bytes: l.rx_bytes,
                    health: health.lines.get(l.name.as_str()).filter(|h| h.master == m.name).map(|h| {
                        LineHealthMetrics {
                            healthy: h.healthy,
                            rtt_seconds: h.rtt_ms.map(|ms| ms / 1000.0),
                            loss_ratio: probes
                                .get(&l.name)
                                .filter(|p| p.0 > 0)
                                .map(|&(sent, lost)| f64::from(lost) / f64::from(sent)),
                            failed_probes: h.fails,
                            taken_out: h.taken_out,
                            put_back: h.put_back,
                        }
                    }),
                })
                .collect(),
        })
        .collect();
    Metrics { timestamp: now, bundles }
}

/// A label value as the text format wants it: backslash, double quote and newline escaped.
pub(crate) fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A sample value: integers as such, floats in Rust's shortest round-trip form, NaN as "NaN".
fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

fn flag(b: bool) -> u64 {
    u64::from(b)
}

/// A metric family's HELP and TYPE lines (its samples follow).
fn head(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP teqlctl_{name} {help}");
    let _ = writeln!(out, "# TYPE teqlctl_{name} {kind}");
}

/// The text of the file: every family once, with HELP and TYPE, then one sample per bundle
/// (labels `bundle`) or per line (labels `bundle` and `line`).
pub fn render(m: &Metrics) -> String {
    let mut out = String::new();
    let bundle_label = |b: &BundleMetrics| format!("bundle=\"{}\"", escape_label(&b.name));
    let line_label = |b: &BundleMetrics, l: &LineMetrics| {
        format!("bundle=\"{}\",line=\"{}\"", escape_label(&b.name), escape_label(&l.name))
    };

    head(&mut out, "check_timestamp_seconds", "gauge", "Unix time of the teqlctl check round that wrote this file.");
    let _ = writeln!(out, "teqlctl_check_timestamp_seconds {}", m.timestamp);

    type BundleValue = fn(&BundleMetrics) -> u64;
    let per_bundle: [(&str, &str, BundleValue); 2] = [
        ("bundle_lines_configured", "Lines the configuration gives the bundle.", |b| u64::from(b.configured)),
        (
            "bundle_lines_live",
            "Lines in the bundle now (TEQL: attached to the master; multipath: in its nexthop group).",
            |b| u64::from(b.live),
        ),
    ];
    for (name, help, value) in per_bundle {
        head(&mut out, name, "gauge", help);
        for b in &m.bundles {
            let _ = writeln!(out, "teqlctl_{name}{{{}}} {}", bundle_label(b), value(b));
        }
    }

    type LineValue = fn(&LineMetrics) -> Option<String>;
    let per_line: [(&str, &str, &str, LineValue); 10] = [
        ("line_up", "gauge", "1 if the line's device exists, is up and has its carrier.", |l| {
            Some(flag(l.up).to_string())
        }),
        ("line_attached", "gauge", "1 if the line is in its bundle now.", |l| Some(flag(l.attached).to_string())),
        (
            "line_healthy",
            "gauge",
            "1 if teqlctl check judges the line healthy (after its hysteresis); absent for lines it does not check.",
            |l| l.health.as_ref().map(|h| flag(h.healthy).to_string()),
        ),
        (
            "line_probe_rtt_seconds",
            "gauge",
            "Round-trip time of the fastest probe answer of the last round; NaN when no target answered.",
            |l| l.health.as_ref().map(|h| float(h.rtt_seconds.unwrap_or(f64::NAN))),
        ),
        (
            "line_probe_loss_ratio",
            "gauge",
            "Fraction of the probe targets sent in the last round that did not answer; absent when none was sent.",
            |l| l.health.as_ref().and_then(|h| h.loss_ratio).map(float),
        ),
        ("line_failed_probes", "gauge", "Failed probes in a row (a lost carrier fails them all at once).", |l| {
            l.health.as_ref().map(|h| h.failed_probes.to_string())
        }),
        (
            "line_taken_out_total",
            "counter",
            "Times teqlctl check took the line out of its bundle since it was first checked (since boot).",
            |l| l.health.as_ref().map(|h| h.taken_out.to_string()),
        ),
        (
            "line_put_back_total",
            "counter",
            "Times teqlctl check put the line back into its bundle since it was first checked (since boot).",
            |l| l.health.as_ref().map(|h| h.put_back.to_string()),
        ),
        (
            "line_transmit_bytes_total",
            "counter",
            "Bytes the line's device sent since it was created (IFLA_STATS64).",
            |l| Some(l.tx_bytes.to_string()),
        ),
        (
            "line_receive_bytes_total",
            "counter",
            "Bytes the line's device received since it was created (IFLA_STATS64).",
            |l| Some(l.rx_bytes.to_string()),
        ),
    ];
    for (name, kind, help, value) in per_line {
        head(&mut out, name, kind, help);
        for b in &m.bundles {
            for l in &b.lines {
                if let Some(v) = value(l) {
                    let _ = writeln!(out, "teqlctl_{name}{{{}}} {v}", line_label(b, l));
                }
            }
        }
    }
    out
}

/// Replaces `path` with the metrics atomically and durably (a temporary file in the same
/// directory, fsynced, renamed over it, the directory fsynced): the collector reads either
/// the whole last file or the whole new one. Temporaries (`.NAME.PID`) do not end in .prom,
/// so the collector never reads one.
pub fn write(path: &Path, m: &Metrics) -> crate::error::Result<()> {
    crate::statefile::write_atomic_synced(path, render(m).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label("x\ny"), "x\\ny");
        assert_eq!(float(f64::NAN), "NaN");
        assert_eq!(float(0.0013), "0.0013");
    }
}
