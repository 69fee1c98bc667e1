//! The metrics file of `teqlctl check --metrics-file` (teqlctl(8), METRICS): rendered from a
//! realistic picture and read back with a real parser of the Prometheus text exposition format
//! (the openmetrics-parser crate's, a pest grammar of the format), and written atomically.

use std::fs;

use openmetrics_parser::prometheus::parse_prometheus;
use openmetrics_parser::{MetricsExposition, PrometheusType, PrometheusValue};
use teqlctl::front::metrics::{render, write, BundleMetrics, LineHealthMetrics, LineMetrics, Metrics};

type Exposition = MetricsExposition<PrometheusType, PrometheusValue>;

fn line(name: &str, up: bool, attached: bool, health: Option<LineHealthMetrics>) -> LineMetrics {
    LineMetrics { name: name.into(), up, attached, tx_bytes: 6_365_888, rx_bytes: 140_136, health }
}

fn healthy(rtt: Option<f64>, loss: Option<f64>) -> Option<LineHealthMetrics> {
    Some(LineHealthMetrics {
        healthy: true,
        rtt_seconds: rtt,
        loss_ratio: loss,
        failed_probes: 0,
        taken_out: 2,
        put_back: 2,
    })
}

/// Two bundles: a TEQL one with a healthy line, a dead line (no answer: NaN RTT) and a line
/// check does not check; a multipath one whose names need every escape of the format.
fn office() -> Metrics {
    let dead = LineHealthMetrics {
        healthy: false,
        rtt_seconds: None,
        loss_ratio: Some(1.0),
        failed_probes: 3,
        taken_out: 1,
        put_back: 0,
    };
    let mut eth2 = line("eth2", true, true, healthy(Some(0.0013), Some(0.5)));
    eth2.tx_bytes = u64::MAX;
    Metrics {
        timestamp: 1_795_000_012,
        bundles: vec![
            BundleMetrics {
                name: "teql0".into(),
                configured: 3,
                live: 1,
                lines: vec![eth2, line("eth3", true, false, Some(dead)), line("eth4", false, false, None)],
            },
            BundleMetrics {
                name: r#"w"a\n{x}"#.into(),
                configured: 2,
                live: 2,
                lines: vec![
                    line("ppp0", true, true, healthy(None, None)),
                    line("lte,1=\"x\"\nnext", true, true, healthy(Some(0.25), Some(0.0))),
                ],
            },
        ],
    }
}

fn parse(text: &str) -> Exposition {
    parse_prometheus(text).unwrap_or_else(|e| panic!("not the text format: {e:?}\n{text}"))
}

/// The value of `family` for labels `labels` (name, value), None when there is no such sample.
fn value(e: &Exposition, family: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let f = e.families.get(family).unwrap_or_else(|| panic!("no family {family}"));
    f.iter_samples()
        .find(|s| {
            let set = s.get_labelset().unwrap();
            set.iter().count() == labels.len() && labels.iter().all(|(k, v)| set.get_label_value(k) == Some(*v))
        })
        .map(|s| match &s.value {
            PrometheusValue::Gauge(n) | PrometheusValue::Unknown(n) => n.as_f64(),
            PrometheusValue::Counter(c) => c.value.as_f64(),
            other => panic!("{family}: unexpected {other:?}"),
        })
}

#[test]
fn the_file_parses_as_the_prometheus_text_format_with_the_values_rendered() {
    let text = render(&office());
    let e = parse(&text);
    let mut names: Vec<&str> = e.families.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "teqlctl_bundle_lines_configured",
            "teqlctl_bundle_lines_live",
            "teqlctl_check_timestamp_seconds",
            "teqlctl_line_attached",
            "teqlctl_line_failed_probes",
            "teqlctl_line_healthy",
            "teqlctl_line_probe_loss_ratio",
            "teqlctl_line_probe_rtt_seconds",
            "teqlctl_line_put_back_total",
            "teqlctl_line_receive_bytes_total",
            "teqlctl_line_taken_out_total",
            "teqlctl_line_transmit_bytes_total",
            "teqlctl_line_up",
        ]
    );
    // Every family has its HELP and TYPE: counters are counters, the rest gauges.
    for (name, f) in &e.families {
        assert!(!f.help.is_empty(), "{name} has no HELP");
        let want = if name.ends_with("_total") { PrometheusType::Counter } else { PrometheusType::Gauge };
        assert_eq!(f.family_type, want, "{name}");
    }
    let t0 = |l| [("bundle", "teql0"), ("line", l)];
    let wan = r#"w"a\n{x}"#;
    let lte = "lte,1=\"x\"\nnext";
    assert_eq!(value(&e, "teqlctl_check_timestamp_seconds", &[]), Some(1_795_000_012.0));
    assert_eq!(value(&e, "teqlctl_bundle_lines_configured", &[("bundle", "teql0")]), Some(3.0));
    assert_eq!(value(&e, "teqlctl_bundle_lines_live", &[("bundle", "teql0")]), Some(1.0));
    assert_eq!(value(&e, "teqlctl_bundle_lines_live", &[("bundle", wan)]), Some(2.0));
    assert_eq!(value(&e, "teqlctl_line_up", &t0("eth2")), Some(1.0));
    assert_eq!(value(&e, "teqlctl_line_up", &t0("eth4")), Some(0.0));
    assert_eq!(value(&e, "teqlctl_line_attached", &t0("eth3")), Some(0.0));
    assert_eq!(value(&e, "teqlctl_line_healthy", &t0("eth3")), Some(0.0));
    assert_eq!(value(&e, "teqlctl_line_probe_rtt_seconds", &t0("eth2")), Some(0.0013));
    assert!(value(&e, "teqlctl_line_probe_rtt_seconds", &t0("eth3")).unwrap().is_nan(), "no answer: NaN");
    assert_eq!(value(&e, "teqlctl_line_probe_loss_ratio", &t0("eth2")), Some(0.5));
    assert_eq!(value(&e, "teqlctl_line_probe_loss_ratio", &t0("eth3")), Some(1.0));
    assert_eq!(value(&e, "teqlctl_line_failed_probes", &t0("eth3")), Some(3.0));
    assert_eq!(value(&e, "teqlctl_line_taken_out_total", &t0("eth3")), Some(1.0));
    assert_eq!(value(&e, "teqlctl_line_put_back_total", &t0("eth2")), Some(2.0));
    assert_eq!(value(&e, "teqlctl_line_transmit_bytes_total", &t0("eth2")), Some(u64::MAX as f64));
    assert_eq!(value(&e, "teqlctl_line_receive_bytes_total", &t0("eth4")), Some(140_136.0));
    // A line check does not check has its device's figures and no health samples.
    for family in ["teqlctl_line_healthy", "teqlctl_line_probe_rtt_seconds", "teqlctl_line_taken_out_total"] {
        assert_eq!(value(&e, family, &t0("eth4")), None, "{family}");
    }
    // No probe sent: no loss sample; RTT NaN.
    assert_eq!(value(&e, "teqlctl_line_probe_loss_ratio", &[("bundle", wan), ("line", "ppp0")]), None);
    assert!(value(&e, "teqlctl_line_probe_rtt_seconds", &[("bundle", wan), ("line", "ppp0")]).unwrap().is_nan());
    // Quotes, backslashes, newlines, commas, '=' and braces in labels come back as they were.
    assert_eq!(value(&e, "teqlctl_line_probe_rtt_seconds", &[("bundle", wan), ("line", lte)]), Some(0.25));
    assert_eq!(value(&e, "teqlctl_line_probe_loss_ratio", &[("bundle", wan), ("line", lte)]), Some(0.0));
}

/// The parser is a real check: what a careless renderer would write is refused.
#[test]
fn the_parser_refuses_what_the_format_forbids() {
    for bad in [
        "teqlctl_line_up{line=\"a\"b\"} 1\n",
        "teqlctl_line_up{line=\"a\nb\"} 1\n",
        "teqlctl_line_up{line=\"a\"} one\n",
        "# TYPE teqlctl_line_up gauge\n# TYPE teqlctl_line_up gauge\nteqlctl_line_up 1\n",
    ] {
        assert!(parse_prometheus(bad).is_err(), "accepted {bad:?}");
    }
}

#[test]
fn no_bundle_is_still_a_valid_file() {
    let text = render(&Metrics { timestamp: 7, bundles: Vec::new() });
    let e = parse(&text);
    assert_eq!(value(&e, "teqlctl_check_timestamp_seconds", &[]), Some(7.0));
    assert!(text.lines().all(|l| l.starts_with("# ") || l.starts_with("teqlctl_check_timestamp_seconds ")), "{text}");
}

#[test]
fn the_file_is_replaced_whole_and_no_temporary_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("teqlctl.prom");
    let first = office();
    write(&path, &first).unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), render(&first));
    let mut second = office();
    second.timestamp += 1;
    second.bundles.pop();
    write(&path, &second).unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), render(&second));
    let names: Vec<String> =
        fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["teqlctl.prom"], "only the file, no temporary");
    // A directory that cannot be written to: an error naming the file, the old file untouched,
    // nothing else left.
    let missing = dir.path().join("no/such/dir/teqlctl.prom");
    let err = write(&missing, &first).unwrap_err().to_string();
    assert!(err.contains("no/such/dir/teqlctl.prom"), "{err}");
    assert_eq!(fs::read_to_string(&path).unwrap(), render(&second));
}

#[test]
fn readers_see_the_old_file_or_the_new_one_never_a_part() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("teqlctl.prom");
    let mut big = office();
    // Big enough that a non-atomic write would be seen half-done.
    for i in 0..2000 {
        big.bundles[0].lines.push(line(&format!("eth{}", i + 10), true, true, healthy(Some(0.001), Some(0.0))));
    }
    let small = office();
    let (a, b) = (render(&big), render(&small));
    write(&path, &small).unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..50 {
                write(&path, if i % 2 == 0 { &big } else { &small }).unwrap();
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            let got = fs::read_to_string(&path).unwrap();
            assert!(got == a || got == b, "a partial file ({} bytes)", got.len());
        }
    });
}
