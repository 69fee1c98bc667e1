//! Writing configuration trees for the config tests, and reading their problems back.

use std::fs;
use std::path::Path;

use teqlctl::config::Config;

/// /etc/sysconfig/network-scripts/ifcfg-NAME under `root`.
pub fn ifcfg(root: &Path, name: &str, text: &str) {
    let dir = root.join("etc/sysconfig/network-scripts");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(format!("ifcfg-{name}")), text).unwrap();
}

/// /etc/network/interfaces under `root`.
pub fn interfaces(root: &Path, text: &str) {
    fs::create_dir_all(root.join("etc/network")).unwrap();
    fs::write(root.join("etc/network/interfaces"), text).unwrap();
}

pub fn problems(c: &Config) -> Vec<String> {
    c.problems.iter().map(ToString::to_string).collect()
}

/// `c` has exactly one problem, in a file whose path contains `file_part`, saying every word.
pub fn assert_one_problem(c: &Config, file_part: &str, words: &[&str]) {
    let p = problems(c);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].contains(file_part), "{p:?}");
    for w in words {
        assert!(p[0].contains(w), "{w:?} not in {p:?}");
    }
}
