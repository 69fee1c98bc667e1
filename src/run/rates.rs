//! Line rates for `status` (issue 28, point 9): bytes per second beside each line's counters.
//!
//! The kernel keeps byte counters, not rates, and teqlctl runs no daemon to sample them. Every
//! `check` round (each second from its timer) and every `status` record the counters they read,
//! with the time, in the state directory (`counters.json`); `status` shows the rate of each
//! line since the newest sample at least `MIN_SPAN_MS` old (a shorter span means little) and
//! at most `MAX_SPAN_MS` (an older one says nothing of now). The file keeps two samples: the
//! newest, and the newest that was that old when it was written, so that a run right after
//! another still has a sample to measure from. Without `check` running, a second `status`
//! shows the rates since the first (as `watch teqlctl status` would).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::kernel::state::State;

/// The shortest span a rate is computed over, in milliseconds.
pub(crate) const MIN_SPAN_MS: u64 = 1000;
/// The longest: an older sample tells nothing of the traffic now.
pub(crate) const MAX_SPAN_MS: u64 = 300_000;

/// One line's counters when sampled. The interface index tells a line deleted and made anew
/// (its counters start again) from the same device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Counters {
    pub ifindex: u32,
    pub tx_bytes: u64,
    pub rx_bytes: u64,
}

/// The counters of every line, and when they were read (milliseconds since boot: CLOCK_BOOTTIME
/// goes on through a suspend and never goes back, as the wall clock may).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Sample {
    pub at_ms: u64,
    pub lines: BTreeMap<String, Counters>,
}

/// A line's rates over the span since the sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rate {
    pub tx_bytes_per_s: u64,
    pub rx_bytes_per_s: u64,
    pub span_ms: u64,
}

/// The samples' file (check clears the temporaries a killed run left of it).
pub(crate) fn file(dir: &Path) -> PathBuf {
    dir.join("counters.json")
}

/// Milliseconds since boot, suspend included.
pub(crate) fn now_ms() -> u64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime fills the timespec it is given; CLOCK_BOOTTIME exists on every
    // kernel teqlctl runs on (2.6.39 and later).
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut t) };
    if rc != 0 {
        return 0;
    }
    u64::try_from(t.tv_sec).unwrap_or(0) * 1000 + u64::try_from(t.tv_nsec).unwrap_or(0) / 1_000_000
}

/// The counters of the links named `lines` that exist in `state`, read at `at_ms`.
pub(crate) fn sample<'a>(state: &State, lines: impl IntoIterator<Item = &'a str>, at_ms: u64) -> Sample {
    let lines = lines
        .into_iter()
        .filter_map(|n| state.link(n))
        .map(|l| (l.name.clone(), Counters { ifindex: l.index, tx_bytes: l.tx_bytes, rx_bytes: l.rx_bytes }))
        .collect();
    Sample { at_ms, lines }
}

/// The samples kept, oldest first (none when the file is missing or damaged: rates are a
/// convenience, and the next record replaces it).
fn load_all(dir: &Path) -> Vec<Sample> {
    let Some(body) = crate::statefile::read(&file(dir)).ok().flatten() else { return Vec::new() };
    serde_json::from_slice(&body).unwrap_or_default()
}

/// The sample to measure rates from at `now_ms`: the newest kept that is old enough and not too
/// old (see `usable`).
pub(crate) fn load(dir: &Path, now_ms: u64) -> Option<Sample> {
    load_all(dir).into_iter().rev().find(|s| usable(s, now_ms))
}

/// Records `now` for later runs, with the sample a run right after it would measure from
/// (atomically: a reader never sees half a file).
pub(crate) fn record(dir: &Path, now: &Sample) -> crate::error::Result<()> {
    let mut kept: Vec<Sample> = load_all(dir).into_iter().rev().find(|s| usable(s, now.at_ms)).into_iter().collect();
    kept.push(now.clone());
    let body = serde_json::to_vec(&kept).map_err(|e| {
        crate::error::Error::Io(format!("cannot encode {}", file(dir).display()), std::io::Error::other(e))
    })?;
    crate::statefile::write_atomic(&file(dir), &body)
}

/// Whether `prev` is a sample rates can be computed against at `now_ms`.
pub(crate) fn usable(prev: &Sample, now_ms: u64) -> bool {
    now_ms.checked_sub(prev.at_ms).is_some_and(|span| (MIN_SPAN_MS..=MAX_SPAN_MS).contains(&span))
}

/// Each line's rate between `prev` and `now`: none for a line new since, made anew (another
/// index) or whose counters went back, nor when the span is out of bounds (see `usable`).
pub(crate) fn rates(prev: &Sample, now: &Sample) -> BTreeMap<String, Rate> {
    if !usable(prev, now.at_ms) {
        return BTreeMap::new();
    }
    let span_ms = now.at_ms - prev.at_ms;
    let per_s = |now: u64, then: u64| now.checked_sub(then).map(|d| d.saturating_mul(1000) / span_ms);
    now.lines
        .iter()
        .filter_map(|(name, c)| {
            let p = prev.lines.get(name).filter(|p| p.ifindex == c.ifindex)?;
            let tx_bytes_per_s = per_s(c.tx_bytes, p.tx_bytes)?;
            let rx_bytes_per_s = per_s(c.rx_bytes, p.rx_bytes)?;
            Some((name.clone(), Rate { tx_bytes_per_s, rx_bytes_per_s, span_ms }))
        })
        .collect()
}

/// A rate as people read it: bits per second with a unit (`1.5 Mbit/s`).
pub(crate) fn shown(bytes_per_s: u64) -> String {
    let bits = bytes_per_s.saturating_mul(8) as f64;
    match bits {
        b if b >= 1e9 => format!("{:.1} Gbit/s", b / 1e9),
        b if b >= 1e6 => format!("{:.1} Mbit/s", b / 1e6),
        b if b >= 1e3 => format!("{:.1} kbit/s", b / 1e3),
        b => format!("{b:.0} bit/s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(at_ms: u64, lines: &[(&str, u32, u64, u64)]) -> Sample {
        Sample {
            at_ms,
            lines: lines
                .iter()
                .map(|&(n, ifindex, tx_bytes, rx_bytes)| (n.to_string(), Counters { ifindex, tx_bytes, rx_bytes }))
                .collect(),
        }
    }

    #[test]
    fn a_rate_is_the_bytes_since_the_sample_over_its_span() {
        let prev = s(10_000, &[("eth1", 2, 1_000, 5_000), ("eth2", 3, 0, 0), ("eth3", 4, 900, 900)]);
        // eth2 made anew (another index), eth3's counters back (reset), eth4 new.
        let now = s(
            12_000,
            &[("eth1", 2, 251_000, 1_005_000), ("eth2", 9, 10, 10), ("eth3", 4, 100, 100), ("eth4", 5, 1, 1)],
        );
        let r = rates(&prev, &now);
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r["eth1"], Rate { tx_bytes_per_s: 125_000, rx_bytes_per_s: 500_000, span_ms: 2000 });
        assert_eq!(
            (shown(r["eth1"].tx_bytes_per_s), shown(r["eth1"].rx_bytes_per_s)),
            ("1.0 Mbit/s".into(), "4.0 Mbit/s".into())
        );
    }

    #[test]
    fn no_rate_over_too_short_or_too_long_a_span_or_a_clock_gone_back() {
        let prev = s(10_000, &[("eth1", 2, 0, 0)]);
        for at in [10_500, 10_000 + MAX_SPAN_MS + 1, 9_000] {
            assert!(rates(&prev, &s(at, &[("eth1", 2, 1000, 1000)])).is_empty(), "{at}");
            assert!(!usable(&prev, at), "{at}");
        }
        assert!(usable(&prev, 10_000 + MIN_SPAN_MS) && usable(&prev, 10_000 + MAX_SPAN_MS));
    }

    #[test]
    fn a_run_right_after_another_measures_from_the_sample_before() {
        let dir = tempfile::TempDir::new().unwrap();
        assert_eq!(load(dir.path(), 50_000), None);
        let a = s(10_000, &[("eth1", 2, 7, 8)]);
        record(dir.path(), &a).unwrap();
        // Too young at first, then the one to measure from.
        assert_eq!(load(dir.path(), 10_500), None);
        assert_eq!(load(dir.path(), 12_000), Some(a.clone()));
        // A run at 12 s records its own; one at 12.3 s still measures from the one at 10 s,
        // one at 13.5 s from the one at 12 s.
        let b = s(12_000, &[("eth1", 2, 9, 9)]);
        record(dir.path(), &b).unwrap();
        assert_eq!(load(dir.path(), 12_300), Some(a.clone()));
        assert_eq!(load(dir.path(), 13_500), Some(b.clone()));
        // Records in quick succession keep the one at 10 s as long as it is the newest usable.
        record(dir.path(), &s(12_300, &[])).unwrap();
        assert_eq!(load(dir.path(), 12_600), Some(a));
        // Too old for anything: nothing.
        assert_eq!(load(dir.path(), 12_300 + MAX_SPAN_MS + 1), None);
        std::fs::write(dir.path().join("counters.json"), "[{\"at_ms\":").unwrap();
        assert_eq!(load(dir.path(), 20_000), None);
    }

    #[test]
    fn rates_read_as_people_read_them() {
        assert_eq!(shown(0), "0 bit/s");
        assert_eq!(shown(100), "800 bit/s");
        assert_eq!(shown(1_500), "12.0 kbit/s");
        assert_eq!(shown(250_000_000), "2.0 Gbit/s");
    }
}
