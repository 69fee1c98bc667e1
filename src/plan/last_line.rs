//! Never the last line: the rule every mode shares (issue 27, point 2), written once here and
//! applied by `check`'s round (which lines to take out), the TEQL planner (a dead line taken out
//! under the lock) and the multipath planner (who is in the group).
//!
//! A line that looks dead leaves its bundle, unless no line that could carry the bundle would
//! be left: a bundle without a line takes the box's default route (and a TEQL bundle's address
//! with its routes) with it, while a line that only looks dead (its probe targets down, not the
//! line) may still carry traffic.

/// How many dead lines stay when every line looks dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keep {
    /// The one ranked first (`check` keeps the least dead line attached and says which).
    One,
    /// All of them (the multipath planner: the dead lines' records say no line is better).
    All,
}

/// Of a bundle's lines that could carry it (`lines`), those that stay: the ones not `dead`;
/// when there is none, dead ones as `keep` says, ranked by `rank` (smallest first: the least
/// dead). The flag says the rule kept dead lines (the caller tells the admin).
pub(crate) fn staying<T, K: Ord>(
    lines: Vec<T>,
    dead: impl Fn(&T) -> bool,
    keep: Keep,
    rank: impl Fn(&T) -> K,
) -> (Vec<T>, bool) {
    let (dead_lines, live): (Vec<T>, Vec<T>) = lines.into_iter().partition(|l| dead(l));
    if !live.is_empty() || dead_lines.is_empty() {
        return (live, false);
    }
    let mut kept = dead_lines;
    kept.sort_by_key(|l| rank(l));
    if keep == Keep::One {
        kept.truncate(1);
    }
    (kept, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_lines_leave_while_a_live_one_stays() {
        let (stay, kept) = staying(vec![("eth1", true), ("eth2", false), ("eth3", true)], |l| l.1, Keep::One, |l| l.0);
        assert_eq!((stay, kept), (vec![("eth2", false)], false));
    }

    #[test]
    fn the_least_dead_stays_when_every_line_is_dead() {
        // Ranked by failed probes: eth3 failed least.
        let lines = vec![("eth1", 5), ("eth2", 4), ("eth3", 2)];
        assert_eq!(staying(lines.clone(), |_| true, Keep::One, |l| l.1), (vec![("eth3", 2)], true));
        assert_eq!(staying(lines, |_| true, Keep::All, |l| l.1), (vec![("eth3", 2), ("eth2", 4), ("eth1", 5)], true));
    }

    #[test]
    fn no_line_at_all_keeps_nothing() {
        let none: Vec<&str> = Vec::new();
        assert_eq!(staying(none, |_| true, Keep::One, |l| *l), (Vec::<&str>::new(), false));
    }
}
