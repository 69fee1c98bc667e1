//! The VM suite's budget (issue 27, point 5): the summed `# vm-cost:` seconds of every
//! tests/vm scenario (t-*.sh and k-*.sh) may not exceed tests/vm/budget, so that CI stays under
//! 30 minutes. tests/vm/check-budget checks it and tests/vm/run runs that check before it builds
//! or boots anything; here both run on the host, on the real tree and on temporary copies that
//! break the budget, so neither check can quietly stop failing.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn vm_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vm")
}

/// The scenario files, t-*.sh and k-*.sh, of a directory.
fn scenarios(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name.starts_with("t-") || name.starts_with("k-")) && name.ends_with(".sh")
        })
        .collect();
    files.sort();
    files
}

/// A scenario's `# vm-cost: SECONDS`, read here independently of the script.
fn cost(file: &Path) -> Option<u64> {
    fs::read_to_string(file).unwrap().lines().find_map(|l| {
        let rest = l.strip_prefix('#')?.trim_start().strip_prefix("vm-cost:")?.trim_start();
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    })
}

/// The budget file's number (its one line that is neither a comment nor blank).
fn budget(dir: &Path) -> u64 {
    let text = fs::read_to_string(dir.join("budget")).unwrap();
    let numbers: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    assert_eq!(numbers.len(), 1, "tests/vm/budget: one number, found {numbers:?}");
    numbers[0].parse().unwrap()
}

fn run(cmd: &mut Command) -> (Output, String, String) {
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

fn check_budget(dir: &Path) -> (Output, String, String) {
    run(Command::new(vm_dir().join("check-budget")).arg(dir))
}

/// A copy of tests/vm's scenarios and budget in a temporary directory.
fn copy_of_scenarios(to: &Path) {
    fs::create_dir_all(to).unwrap();
    for f in scenarios(&vm_dir()) {
        fs::copy(&f, to.join(f.file_name().unwrap())).unwrap();
    }
    fs::copy(vm_dir().join("budget"), to.join("budget")).unwrap();
}

fn summed_cost(dir: &Path) -> u64 {
    scenarios(dir).iter().map(|f| cost(f).unwrap_or_else(|| panic!("{} has no vm-cost line", f.display()))).sum()
}

#[test]
fn every_scenario_has_a_cost_and_the_sum_is_within_the_budget() {
    let dir = vm_dir();
    let files = scenarios(&dir);
    assert!(files.iter().any(|f| f.file_name().unwrap().to_string_lossy().starts_with("k-")), "k-*.sh count too");
    let sum = summed_cost(&dir);
    let budget = budget(&dir);
    let (out, stdout, stderr) = check_budget(&dir);
    assert!(out.status.success(), "tests/vm/check-budget failed: {stderr}");
    assert_eq!(
        stdout.trim(),
        format!("vm-budget: the {} scenarios cost {sum} s of the budget's {budget} s", files.len()),
        "the script sums what this test sums"
    );
    assert!(sum <= budget);
}

#[test]
fn a_sum_over_the_budget_fails_and_one_at_it_passes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("vm");
    copy_of_scenarios(&dir);
    let room = budget(&dir) - summed_cost(&dir);
    // An old-kernel scenario counts as much as a suite one, whether or not a run selects it.
    let extra = dir.join("k-99-extra.sh");
    fs::write(&extra, format!("#!/bin/bash\n# vm-cost: {room}\n")).unwrap();
    let (out, _, stderr) = check_budget(&dir);
    assert!(out.status.success(), "exactly at the budget passes: {stderr}");

    fs::write(&extra, format!("#!/bin/bash\n# vm-cost: {}\n", room + 1)).unwrap();
    let (out, stdout, stderr) = check_budget(&dir);
    assert!(!out.status.success(), "one second over the budget must fail: {stdout}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("over the budget") && stderr.contains("by 1 s"), "{stderr}");
}

#[test]
fn a_scenario_without_a_cost_fails_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("vm");
    copy_of_scenarios(&dir);
    fs::write(dir.join("t-99-uncosted.sh"), "#!/bin/bash\n# vm-timeout: 60\n").unwrap();
    let (out, _, stderr) = check_budget(&dir);
    assert!(!out.status.success());
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("t-99-uncosted.sh has no '# vm-cost: SECONDS' line"), "{stderr}");
}

/// tests/vm/run itself, in a copy of the tree over its budget, even when asked for one cheap
/// scenario: it fails at once with one line and the total CI reads, before building anything.
#[test]
fn tests_vm_run_fails_over_budget_before_building_or_booting() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tests/vm");
    copy_of_scenarios(&dir);
    for f in ["run", "check-budget", "boot.sh"] {
        fs::copy(vm_dir().join(f), dir.join(f)).unwrap();
    }
    let room = budget(&dir) - summed_cost(&dir);
    fs::write(dir.join("t-99-extra.sh"), format!("#!/bin/bash\n# vm-cost: {}\n", room + 60)).unwrap();
    let (out, stdout, stderr) = run(Command::new(dir.join("run")).arg("t-00-lab").env_remove("VM_KERNEL"));
    assert!(!out.status.success());
    assert_eq!(stdout.lines().last(), Some("vm: 0 passed, 1 failed"), "stdout: {stdout}\nstderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    let n = scenarios(&dir).len();
    assert!(
        stderr.starts_with(&format!("vm: the {n} scenarios cost")) && stderr.contains("over the budget"),
        "{stderr}"
    );
    assert!(!stdout.contains("building"), "nothing built: {stdout}");
    assert!(!tmp.path().join("target").exists(), "nothing made in the tree's target/");
}
