//! What a kernel test does when it cannot run here (not root, no unshare, a missing tool):
//! under CI it fails, since a skipped kernel test counts as a failed one; elsewhere it says why
//! on stderr and is skipped. One reading of CI for every such test (it was read three ways).

/// Whether CI asks for every kernel test to run: CI set, and not empty, "false" or "0".
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// `test` cannot run here because of `why`: panics under CI, else says so and returns false.
pub fn cannot_run(test: &str, why: &str) -> bool {
    assert!(!ci(), "{test} cannot run here and CI is set (a skipped kernel test is a failure): {why}");
    eprintln!("skipped {test}: {why}");
    false
}
