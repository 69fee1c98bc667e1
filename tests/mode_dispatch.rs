//! The mode is looked at in one place (issue 27, point 2): outside the configuration readers,
//! the planners and src/run/mode.rs, no code tests a bundle's mode. Callers say what happened to a
//! bundle or a line and `mode::of` hands it to its mode, so a new mode (or a second address
//! family) fails to compile where it must be handled instead of being treated as TEQL by a
//! caller's `is_teql()` somewhere.

use std::path::{Path, PathBuf};

/// What a mode test looks like in this code base: the mode enum, a connection bundle's options,
/// the helpers that asked "is this a multipath bundle", a teqlN name taken for a mode, and the
/// mode's name compared as text.
const MODE_TESTS: &[&str] = &[
    "Mode::",
    ".connection()",
    ".paths()",
    "multipath_bundle(",
    "multipath_of(",
    "is_teql(",
    "master_index(",
    "teql_index(",
    "mode != ",
    "mode == ",
];

/// Where the mode may be looked at: the readers (which decide it), the planners (each is one
/// mode's), the one dispatch, and where the names and sch_teql's numbering are defined.
const ALLOWED: &[&str] = &[
    "src/config/",
    "src/run/mode.rs",
    // The planners: TEQL (plan/teql.rs, and its NAT in bundle_nat.rs), multipath, connection.
    "src/plan/",
    // BundleName::is_teql and teql_index are defined here.
    "src/names.rs",
    // How many teqlN sch_teql must make (max_equalizers) is the module's question.
    "src/kernel/module.rs",
    // Wording only: nft's messages say "its TEQL_NAT" or "a connection bundle" by the bundle's
    // name. It goes when the nft step is an action its mode describes.
    "src/kernel/nft.rs",
];

/// Each line of `text` (non-test code: everything before `#[cfg(test)]`, without `//`
/// comments) that holds a mode test, with its number.
fn mode_tests(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let code = line.split("//").next().unwrap_or("");
        if MODE_TESTS.iter().any(|p| code.contains(p)) {
            found.push((n + 1, line.trim().to_string()));
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_mode_test_outside_config_planners_and_the_dispatch() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.sort();
    assert!(files.len() > 20, "src/ not found under {}", root.display());
    let mut bad = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(root).unwrap().to_string_lossy().to_string();
        if ALLOWED.iter().any(|a| rel.starts_with(a)) {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap();
        for (n, line) in mode_tests(&text) {
            bad.push(format!("{rel}:{n}: {line}"));
        }
    }
    assert!(
        bad.is_empty(),
        "the mode is tested outside config, the planners and src/run/mode.rs; ask the bundle's mode \
         (crate::mode::of / bundle) instead:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_scan_finds_mode_tests_and_skips_comments_and_tests() {
    let text = "fn a(m: &Master) -> bool {\n    // is_teql( in a comment\n    m.mode == Mode::Teql\n}\n\
                fn b(n: &BundleName) -> bool { n.is_teql() }\n#[cfg(test)]\nmod tests { Mode::Teql }\n";
    let found: Vec<usize> = mode_tests(text).into_iter().map(|(n, _)| n).collect();
    assert_eq!(found, [3, 5]);
    assert!(mode_tests("fn c(cfg: &Config) { crate::mode::of(cfg, m).up(ctx, true); }").is_empty());
}
