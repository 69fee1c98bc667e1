//! teqlctl(8) must mention every subcommand, flag and hook name that exists, and
//! teqlctl-config(5) must have an entry for every configuration key. The lists come from the
//! code itself (clap's definition, the hook table, the readers' sources), so adding one
//! without documenting it fails here.

use clap::CommandFactory;

/// A page of man/, with roff's \- unescaped so "teql\-master" reads as written, and the
/// font escapes (\fB, \fI, \fR, \fP) removed so that "\fB\-\-force\fR" is a word.
fn page(name: &str) -> String {
    let mut text =
        std::fs::read_to_string(format!("{}/man/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap().replace("\\-", "-");
    for font in ["\\fB", "\\fI", "\\fR", "\\fP"] {
        text = text.replace(font, "");
    }
    text
}

fn man() -> String {
    page("teqlctl.8")
}

/// `word` stands alone in `text` (not inside a longer name: MASTER in TEQL_MASTER is not it).
fn contains_word(text: &str, word: &str) -> bool {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    text.match_indices(word).any(|(i, _)| {
        !text[..i].chars().next_back().is_some_and(is_name)
            && !text[i + word.len()..].chars().next().is_some_and(is_name)
    })
}

/// `name` has an entry of its own: a roff macro line (.B, .BR, .BI, .RB, .TP ...) whose first
/// argument is the name, or a COMMANDS tag that begins with it (`hooks install ...` for
/// `install`).
fn has_entry(man: &str, name: &str) -> bool {
    man.lines().any(|l| l.starts_with('.') && l.split_whitespace().nth(1).map(|w| w.trim_matches('"')) == Some(name))
        || command_tags(man).iter().any(|t| t.split_whitespace().take(2).any(|w| w == name))
}

fn walk(cmd: &clap::Command, subs: &mut Vec<String>, flags: &mut Vec<String>) {
    for sub in cmd.get_subcommands() {
        subs.push(sub.get_name().to_string());
        for arg in sub.get_arguments() {
            if let Some(l) = arg.get_long() {
                flags.push(format!("--{l}"));
            }
        }
        walk(sub, subs, flags);
    }
}

#[test]
fn every_subcommand_and_flag_is_documented() {
    let cmd = teqlctl::front::cli::Cli::command();
    let mut flags: Vec<String> = cmd.get_arguments().filter_map(|a| a.get_long()).map(|l| format!("--{l}")).collect();
    let mut subs = Vec::new();
    walk(&cmd, &mut subs, &mut flags);
    let man = man();
    let missing: Vec<&String> = subs
        .iter()
        .filter(|s| *s != "help" && !has_entry(&man, s))
        .chain(flags.iter().filter(|f| !f.starts_with("--help") && !contains_word(&man, f)))
        .collect();
    assert!(missing.is_empty(), "teqlctl(8) does not document: {missing:?}");
}

#[test]
fn every_hook_name_is_documented() {
    let man = man();
    for (name, _) in teqlctl::front::hooks::HOOKS {
        assert!(contains_word(&man, name), "teqlctl(8) does not mention the hook {name}");
    }
}

fn literals(file: &str, pattern: impl Fn(&str) -> bool) -> Vec<String> {
    let src = std::fs::read_to_string(format!("{}/src/config/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let code = &src[..src.find("#[cfg(test)]").unwrap_or(src.len())];
    let mut out: Vec<String> = code.split('"').skip(1).step_by(2).filter(|s| pattern(s)).map(str::to_string).collect();
    out.sort();
    out.dedup();
    out
}

/// The quoted literals of the line of `file` that defines `constant`.
fn constant(file: &str, constant: &str) -> Vec<String> {
    let src = std::fs::read_to_string(format!("{}/src/config/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let line = src.lines().find(|l| l.contains(&format!("const {constant}:"))).unwrap_or_default();
    line.split('"').skip(1).step_by(2).map(str::to_string).collect()
}

/// `key` has an entry of its own: a .TP whose tag is a macro line with the key, without quotes
/// and a trailing `=`, as its first argument (`.BI TEQL_MASTER= teqlN`, `.BI address " a.b.c.d/len"`).
fn has_key_entry(man: &str, key: &str) -> bool {
    man.lines().zip(man.lines().skip(1)).any(|(tp, tag)| {
        tp.starts_with(".TP")
            && tag.starts_with('.')
            && tag.split_whitespace().nth(1).map(|w| w.trim_matches('"').trim_end_matches('=')) == Some(key)
    })
}

#[test]
fn every_configuration_key_is_documented() {
    // The keys the ifcfg reader looks up are its upper-case literals and the ifcfg spellings of
    // the key table both readers share (keys.rs); the interfaces reader's own options are the
    // table's teql-* literals and its own, and a master's stanza is read for MASTER_OPTIONS.
    let upper = |s: &str| s.len() > 2 && s.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') && !s.ends_with('_');
    let teql =
        |s: &str| s.starts_with("teql-") && s.len() > 5 && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'-');
    let ifcfg: Vec<String> = [literals("ifcfg.rs", upper), literals("keys.rs", upper)].concat();
    let deb: Vec<String> = [literals("interfaces.rs", teql), literals("keys.rs", teql)].concat();
    let master_options = constant("interfaces.rs", "MASTER_OPTIONS");
    assert!(
        ifcfg.contains(&"TEQL_MASTER".to_string())
            && deb.contains(&"teql-master".to_string())
            && master_options.contains(&"address".to_string()),
        "{ifcfg:?} {deb:?} {master_options:?}"
    );
    let man = page("teqlctl-config.5");
    let missing: Vec<&String> =
        ifcfg.iter().chain(&deb).chain(&master_options).filter(|k| !has_key_entry(&man, k)).collect();
    assert!(missing.is_empty(), "teqlctl-config(5) has no entry for the keys {missing:?}");
}

#[test]
fn the_trusted_modprobe_paths_are_documented() {
    let man = man();
    for p in teqlctl::kernel::module::MODPROBE_PATHS.iter().chain(&teqlctl::kernel::nft::NFT_PATHS) {
        assert!(contains_word(&man, p), "teqlctl(8) does not name {p}");
    }
    assert!(man.contains("PATH=/usr/sbin:/sbin:/usr/bin:/bin") && man.contains("MODPROBE_OPTIONS"));
}

/// The arguments of a roff macro line, with double quotes grouping words (`.RB up " [" x ]`).
fn roff_args(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut any) = (false, false);
    for c in line.chars() {
        match c {
            '"' => (quoted, any) = (!quoted, true),
            ' ' | '\t' if !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            c => (cur.push(c), any = true).1,
        }
    }
    if any {
        out.push(cur);
    }
    out
}

/// A tag line as the reader sees it: macro arguments joined as the macro does (the two-font
/// macros .BR, .IR, ... without spaces), font escapes and `\-` removed.
fn plain_tag(line: &str) -> String {
    let text = match line.strip_prefix('.') {
        Some(rest) => {
            let mut args = roff_args(rest);
            let mac = args.remove(0);
            args.join(if mac.len() == 2 && mac != "SM" { "" } else { " " })
        }
        None => line.to_string(),
    };
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('f') => {
                    chars.next();
                }
                Some('-') => out.push('-'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The tags of the COMMANDS section's entries: the line after each .TP or .TQ.
fn command_tags(man: &str) -> Vec<String> {
    let section: Vec<&str> = man
        .lines()
        .skip_while(|l| !l.starts_with(".SH COMMANDS"))
        .skip(1)
        .take_while(|l| !l.starts_with(".SH"))
        .collect();
    section.windows(2).filter(|w| w[0].starts_with(".TP") || w[0].starts_with(".TQ")).map(|w| plain_tag(w[1])).collect()
}

fn synopsis_checks(path: &str, cmd: &clap::Command, tags: &[String], bad: &mut Vec<String>) {
    if cmd.has_subcommands() {
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            synopsis_checks(format!("{path} {}", sub.get_name()).trim_start(), sub, tags, bad);
        }
        return;
    }
    let Some(tag) = tags.iter().find(|t| t == &path || t.starts_with(&format!("{path} "))) else {
        bad.push(format!("{path}: no entry whose tag line starts with it"));
        return;
    };
    if tag.matches('[').count() != tag.matches(']').count() {
        bad.push(format!("{path}: unbalanced brackets in the tag {tag:?} (is the synopsis cut?)"));
    }
    for arg in cmd.get_arguments().filter(|a| !a.is_global_set()) {
        let word = match arg.get_long() {
            Some(l) => format!("--{l}"),
            None => arg
                .get_value_names()
                .and_then(|v| v.first())
                .map(|v| v.to_string())
                .unwrap_or_else(|| arg.get_id().as_str().to_uppercase()),
        };
        if !contains_word(tag, &word) {
            bad.push(format!("{path}: its tag {tag:?} does not show {word}"));
        }
    }
}

/// Each command's entry begins with its whole synopsis on the tag line: a .TP tag is one
/// input line, so a synopsis written over several macro lines (the `attach` entry was) or a
/// tag that holds only part of the command (`hooks` alone, `install` in the body) renders
/// as a cut tag followed by the rest run into the paragraph, in man and mandoc alike,
/// without a warning from either.
#[test]
fn every_command_entry_has_its_whole_synopsis_as_tag() {
    let tags = command_tags(&page("teqlctl.8"));
    let mut bad = Vec::new();
    synopsis_checks("", &teqlctl::front::cli::Cli::command(), &tags, &mut bad);
    assert!(bad.is_empty(), "teqlctl(8) COMMANDS: {bad:#?}\n(the tags: {tags:#?})");
}

/// `tool` is on PATH; in CI (CI=true) a missing tool fails the test instead of skipping it.
fn have(tool: &str) -> bool {
    let found = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
        assert!(
            !ci,
            "{tool} is not installed, and CI is set: the man pages must be checked here (.ci/setup installs it)"
        );
        eprintln!("skip: {tool} is not installed (.ci/setup installs it)");
    }
    found
}

/// Runs TOOL ARGS... PAGE from the crate's root for each man page in man/ (every one, so a new
/// page is checked too): PAGE with its exit status and its stdout and stderr.
fn on_each_page(tool: &str, args: &[&str]) -> Vec<(String, std::process::Output)> {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut pages: Vec<String> = std::fs::read_dir(std::path::Path::new(root).join("man"))
        .unwrap()
        .map(|e| format!("man/{}", e.unwrap().file_name().to_string_lossy()))
        .filter(|p| p.ends_with(".8") || p.ends_with(".5"))
        .collect();
    pages.sort();
    assert!(pages.len() >= 2, "man/ has teqlctl.8 and teqlctl-config.5: {pages:?}");
    pages
        .into_iter()
        .map(|p| {
            let out = std::process::Command::new(tool).args(args).arg(&p).current_dir(root).output().unwrap();
            (p, out)
        })
        .collect()
}

#[test]
fn man_pages_pass_mandoc_lint_without_warnings() {
    if !have("mandoc") {
        return;
    }
    for (p, out) in on_each_page("mandoc", &["-T", "lint", "-W", "warning"]) {
        let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && text.trim().is_empty(), "mandoc -T lint -W warning {p}:\n{text}");
    }
}

#[test]
fn man_pages_render_in_groff_without_warnings() {
    if !have("groff") {
        return;
    }
    for (p, out) in on_each_page("groff", &["-man", "-Tutf8", "-ww", "-z"]) {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && err.trim().is_empty(), "groff -man -ww {p}:\n{err}");
    }
}

/// distro/crate-licenses.txt (shipped in both packages) names every crate of Cargo.lock with
/// its licence, and no crate that Cargo.lock no longer has: a dependency added or updated
/// without `distro/crate-licenses` fails here.
#[test]
fn crate_licenses_cover_cargo_lock() {
    let read = |p: &str| std::fs::read_to_string(format!("{}/{p}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let mut lock = std::collections::BTreeSet::new();
    for package in read("Cargo.lock").split("[[package]]").skip(1) {
        let field = |k: &str| {
            package.lines().find_map(|l| l.strip_prefix(&format!("{k} = \""))?.strip_suffix('"').map(str::to_string))
        };
        let (name, version) = (field("name").unwrap(), field("version").unwrap());
        if name != "teqlctl" {
            lock.insert(format!("{name} {version}"));
        }
    }
    let mut listed = std::collections::BTreeSet::new();
    for line in read("distro/crate-licenses.txt").lines().filter(|l| !l.starts_with('#')) {
        let words: Vec<&str> = line.split_whitespace().collect();
        assert!(words.len() >= 3, "distro/crate-licenses.txt: no licence in {line:?}");
        listed.insert(format!("{} {}", words[0], words[1]));
    }
    let missing: Vec<_> = lock.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&lock).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "distro/crate-licenses.txt is out of date (run distro/crate-licenses): \
         missing {missing:?}, not in Cargo.lock {stale:?}"
    );
}

/// CHANGELOG.md has an Unreleased section on top and a dated section for Cargo.toml's version.
#[test]
fn changelog_has_a_released_section_for_the_version() {
    let log = std::fs::read_to_string(format!("{}/CHANGELOG.md", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let heads: Vec<&str> = log.lines().filter(|l| l.starts_with("## ")).collect();
    assert_eq!(heads.first(), Some(&"## Unreleased"), "{heads:?}");
    let version = env!("CARGO_PKG_VERSION");
    let dated = heads.iter().any(|h| {
        h.strip_prefix(&format!("## {version} - ")).is_some_and(|d| {
            d.len() == 10
                && d.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() })
        })
    });
    assert!(dated, "CHANGELOG.md has no \"## {version} - YYYY-MM-DD\" section: {heads:?}");
}

/// A page as prose: every macro line of text (.B, .BR, .I ...) joined as roff sets it, other
/// requests and comments dropped, lines joined by spaces, so that `.BR teqlctl (8),` followed
/// by `HOOKS (NetworkManager))` reads "teqlctl(8), HOOKS (NetworkManager))".
fn prose(raw: &str) -> String {
    const TEXT_MACROS: [&str; 9] = ["B", "I", "BR", "RB", "IR", "RI", "BI", "IB", "SM"];
    raw.lines()
        .filter_map(|l| match l.strip_prefix('.') {
            None => Some(plain_tag(l)),
            Some(rest) => {
                let mac = rest.split_whitespace().next().unwrap_or_default();
                TEXT_MACROS.contains(&mac).then(|| plain_tag(l))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The .SH and .SS headings of a man page, as printed.
fn headings(raw: &str) -> Vec<String> {
    raw.lines()
        .filter_map(|l| l.strip_prefix(".SH ").or_else(|| l.strip_prefix(".SS ")))
        .map(|h| plain_tag(h).trim_matches('"').to_string())
        .collect()
}

/// Upper-case words (section names: LINE HEALTH, HOOKS) at the start of `s`, with the
/// parenthesis that may follow them (`HOOKS (DHCP clients)`); None when `s` starts otherwise.
fn section_after(s: &str) -> Option<String> {
    let is_word = |w: &str| w.len() >= 2 && w.chars().all(|c| c.is_ascii_uppercase() || c == '-');
    let mut words = Vec::new();
    let mut rest = s;
    loop {
        let end = rest.find(|c: char| !(c.is_ascii_uppercase() || c == '-')).unwrap_or(rest.len());
        if !is_word(&rest[..end]) {
            break;
        }
        words.push(&rest[..end]);
        rest = &rest[end..];
        match rest.strip_prefix(' ') {
            Some(r) if r.starts_with(|c: char| c.is_ascii_uppercase()) => rest = r,
            _ => break,
        }
    }
    if words.is_empty() {
        return None;
    }
    let mut name = words.join(" ");
    if let Some(paren) = rest.strip_prefix(" (") {
        if let Some(close) = paren.find(')') {
            name = format!("{name} ({})", &paren[..close]);
        }
    }
    Some(name)
}

/// The same, ending at the end of `s` (`... see LINE HEALTH` before ` in teqlctl(8)`).
fn section_before(s: &str) -> Option<String> {
    let (body, paren) = match s.strip_suffix(')').and_then(|b| b.rfind(" (").map(|i| (i, b))) {
        Some((i, b)) => (&b[..i], Some(&b[i + 2..])),
        None => (s, None),
    };
    // "(TUNNELS AS LINES in": the parenthesis opens before the name.
    let words: Vec<&str> = body
        .rsplit(' ')
        .map(|w| w.trim_start_matches('('))
        .take_while(|w| w.len() >= 2 && w.chars().all(|c| c.is_ascii_uppercase() || c == '-'))
        .collect();
    if words.is_empty() {
        return None;
    }
    let name = words.into_iter().rev().collect::<Vec<_>>().join(" ");
    Some(match paren {
        Some(p) => format!("{name} ({p})"),
        None => name,
    })
}

/// Every section named beside a page's name in `text`: "teqlctl(8), LINE HEALTH" and "LINE
/// HEALTH in teqlctl(8)", with the page they name.
fn section_references(text: &str) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for (page, name) in [("teqlctl-config.5", "teqlctl-config(5)"), ("teqlctl.8", "teqlctl(8)")] {
        for (i, _) in text.match_indices(name) {
            // teqlctl(8) inside teqlctl-config(5) is never a match: the name is "(8)".
            if page == "teqlctl.8" && text[..i].ends_with("teqlctl-config") {
                continue;
            }
            if let Some(s) = text[i + name.len()..].strip_prefix(", ").and_then(section_after) {
                out.push((page, s));
            }
            if let Some(s) = text[..i].strip_suffix(" in ").and_then(section_before) {
                out.push((page, s));
            }
        }
    }
    out
}

/// Whether `section` names a heading of `headings`: the heading itself, the start of one that
/// goes on after a colon (ON NETWORKMANAGER: the office example), or a family of headings
/// (HOOKS for "HOOKS (Debian ifupdown and ifupdown2)").
fn names_heading(headings: &[String], section: &str) -> bool {
    headings
        .iter()
        .any(|h| h == section || h.starts_with(&format!("{section}:")) || h.starts_with(&format!("{section} (")))
}

/// Every file whose text refers readers to a section of a page: both pages, the READMEs, and
/// the sources' messages (a Rust string continued with `\` reads as one line).
fn referring_texts() -> Vec<(String, String)> {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut out = Vec::new();
    for p in ["teqlctl.8", "teqlctl-config.5"] {
        out.push((format!("man/{p}"), prose(&std::fs::read_to_string(format!("{root}/man/{p}")).unwrap())));
    }
    for p in ["README.md", "tests/README.md", "distro/README.md"] {
        if let Ok(t) = std::fs::read_to_string(format!("{root}/{p}")) {
            out.push((p.to_string(), t.split_whitespace().collect::<Vec<_>>().join(" ")));
        }
    }
    let mut dirs = vec![std::path::PathBuf::from(format!("{root}/src"))];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let src = std::fs::read_to_string(&p).unwrap();
                let joined: String = src.split("\\\n").map(str::trim_start).collect::<Vec<_>>().join("");
                out.push((p.display().to_string(), joined.split_whitespace().collect::<Vec<_>>().join(" ")));
            }
        }
    }
    out
}

#[test]
fn every_section_referred_to_exists() {
    let pages: Vec<(&str, Vec<String>)> = ["teqlctl.8", "teqlctl-config.5"]
        .into_iter()
        .map(|p| (p, headings(&std::fs::read_to_string(format!("{}/man/{p}", env!("CARGO_MANIFEST_DIR"))).unwrap())))
        .collect();
    let mut seen = 0;
    let mut bad = Vec::new();
    for (file, text) in referring_texts() {
        for (page, section) in section_references(&text) {
            seen += 1;
            let heads = &pages.iter().find(|(p, _)| *p == page).unwrap().1;
            if !names_heading(heads, &section) {
                bad.push(format!("{file}: {page}, {section}"));
            }
        }
    }
    // The scan finds the references there are (a broken scan would pass with none).
    assert!(seen > 20, "only {seen} section references found");
    assert!(bad.is_empty(), "references to sections that do not exist:\n{}", bad.join("\n"));
}

#[test]
fn the_reference_scan_reads_every_form() {
    let text = prose(
        ".BR teqlctl (8),\nHOOKS (DHCP clients)); and see LINE HEALTH in\n.BR teqlctl (8).\n\
         (see\n.B TUNNELS AS LINES\nin\n.BR teqlctl\\-config (5)),\nsee teqlctl(8), CHECK. (METRICS in teqlctl(8))",
    );
    let refs = section_references(&text);
    let want = [
        ("teqlctl-config.5", "TUNNELS AS LINES"),
        ("teqlctl.8", "HOOKS (DHCP clients)"),
        ("teqlctl.8", "LINE HEALTH"),
        ("teqlctl.8", "CHECK"),
        ("teqlctl.8", "METRICS"),
    ];
    for (p, s) in want {
        assert!(refs.iter().any(|(rp, rs)| *rp == p && rs == s), "{p} {s} not in {refs:?} of {text:?}");
    }
    let heads = vec!["LINE HEALTH".to_string(), "HOOKS (DHCP clients)".to_string()];
    assert!(names_heading(&heads, "HOOKS") && !names_heading(&heads, "CHECK"));
}

/// The key table's rows: `def(Key::X, "IFCFG", "interfaces", "keyfile", Scope::S)`.
fn key_table() -> Vec<(Vec<String>, String)> {
    let src = std::fs::read_to_string(format!("{}/src/config/keys.rs", env!("CARGO_MANIFEST_DIR"))).unwrap();
    src.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("def(Key::"))
        .map(|l| {
            let names = l.split('"').skip(1).step_by(2).map(str::to_string).collect();
            let scope = l.rsplit("Scope::").next().unwrap_or_default().trim_end_matches(['(', ')', ',']).to_string();
            (names, scope)
        })
        .collect()
}

#[test]
fn every_spelling_of_every_key_is_in_teqlctl_config() {
    let man = page("teqlctl-config.5");
    let table = key_table();
    assert!(table.len() >= 20 && table.iter().all(|(n, _)| n.len() == 3), "{table:?}");
    let mut missing = Vec::new();
    for (names, scope) in &table {
        let (ifcfg, interfaces, keyfile) = (&names[0], &names[1], &names[2]);
        for k in [ifcfg, interfaces] {
            if !has_key_entry(&man, k) {
                missing.push(k.clone());
            }
        }
        // A line's keys are user data of its profile; a bundle's go in its file, without the
        // prefix (`mode=`), and TEQL_DEFROUTE is that file's default-route.
        let nm = match scope.as_str() {
            "Line" | "Probe" | "Path" => keyfile.clone(),
            _ if ifcfg == "TEQL_DEFROUTE" => "default-route=".to_string(),
            _ => format!("{}=", keyfile.trim_start_matches("teqlctl.")),
        };
        if !contains_word(&man, &nm) && !contains_word(&man, nm.trim_end_matches('=')) {
            missing.push(nm);
        }
    }
    assert!(missing.is_empty(), "teqlctl-config(5) does not document the spellings {missing:?}");
}

/// `hooks --help` and `hook --help` name every system whose hooks teqlctl has, not only
/// network-scripts (issue 28, point 2).
#[test]
fn hook_help_names_every_caller() {
    let mut cmd = teqlctl::front::cli::Cli::command();
    for sub in ["hooks", "hook"] {
        let help = cmd.find_subcommand_mut(sub).unwrap().render_long_help().to_string();
        for caller in ["network-scripts", "ifupdown", "NetworkManager", "dhclient"] {
            assert!(help.contains(caller), "`teqlctl {sub} --help` does not name {caller}:\n{help}");
        }
    }
}

/// The section "Where each behaviour is tested" of tests/README.md: up to the next `## `.
fn test_index(readme: &str) -> Option<&str> {
    let start = readme.find("\n## Where each behaviour is tested\n")? + 1;
    let rest = &readme[start..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 4);
    Some(&rest[..end])
}

/// A scenario's name as the index may write it (`t-10-netscripts`), or None.
fn scenario_name(word: &str) -> Option<&str> {
    let name = word.strip_suffix(".sh").unwrap_or(word);
    let b = name.as_bytes();
    (b.len() > 5
        && (b[0] == b't' || b[0] == b'k')
        && b[1] == b'-'
        && b[2].is_ascii_digit()
        && b[3].is_ascii_digit()
        && b[4] == b'-')
        .then_some(name)
}

/// The files of `dir` (relative to `root`) whose names start with `prefix` and end with `ext`.
fn files_of(root: &std::path::Path, dir: &str, prefix: &str, ext: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root.join(dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix) && n.ends_with(ext))
        .map(|n| format!("{dir}/{n}"))
        .collect();
    names.sort();
    names
}

/// What is wrong with the behaviour -> test index of the README in `root`: a file it names
/// that is not there, and a VM scenario, a tests/*.rs or a tests/netns/*.sh it never names.
fn test_index_problems(root: &std::path::Path) -> Vec<String> {
    let readme = std::fs::read_to_string(root.join("tests/README.md")).unwrap();
    let Some(index) = test_index(&readme) else {
        return vec!["tests/README.md has no section \"## Where each behaviour is tested\"".into()];
    };
    let mut problems = Vec::new();
    let mut named = std::collections::BTreeSet::new();
    let is_path_char = |c: char| c.is_ascii_alphanumeric() || "_./-*".contains(c);
    for word in index.split(|c: char| !is_path_char(c)).map(|w| w.trim_end_matches(['.', ','])) {
        if word.contains('*') {
            continue; // a glob, as in tests/vm/t-*.sh
        }
        let path = if let Some(name) = scenario_name(word).filter(|_| !word.contains('/')) {
            format!("tests/vm/{name}.sh")
        } else if ["src/", "tests/", "distro/"].iter().any(|p| word.starts_with(p)) {
            word.to_string()
        } else {
            continue;
        };
        if !root.join(&path).exists() && !named.contains(&path) {
            problems.push(format!("tests/README.md's index names {word}, but there is no {path}"));
        }
        named.insert(path);
    }
    let mut wanted = files_of(root, "tests/vm", "t-", ".sh");
    wanted.extend(files_of(root, "tests/vm", "k-", ".sh"));
    wanted.extend(files_of(root, "tests", "", ".rs"));
    wanted.extend(files_of(root, "tests/netns", "", ".sh"));
    for file in wanted {
        if !named.contains(&file) {
            problems
                .push(format!("{file} is in no row of tests/README.md's \"Where each behaviour is tested\": add it"));
        }
    }
    problems
}

/// The behaviour -> test index cannot rot silently: every file it names exists, and every VM
/// scenario and host test file is in it (issue 27, point 5).
#[test]
fn the_test_index_names_every_test_file_and_only_files_that_exist() {
    let problems = test_index_problems(std::path::Path::new(env!("CARGO_MANIFEST_DIR")));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The check above on a copy of the tree's index and test files: a scenario added without a
/// row, a row naming a file that went away, and one of each kind of test file unnamed.
#[test]
fn the_test_index_check_finds_a_missing_row_and_a_stale_name() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    for dir in ["tests/vm", "tests/netns"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    let mut files = files_of(src, "tests/vm", "", ".sh");
    files.extend(files_of(src, "tests", "", ".rs"));
    files.extend(files_of(src, "tests/netns", "", ".sh"));
    files.push("tests/README.md".into());
    for f in &files {
        std::fs::write(root.join(f), "").unwrap();
    }
    // src/, distro/ and the other paths the index names, as empty files or directories.
    let readme = std::fs::read_to_string(src.join("tests/README.md")).unwrap();
    let index = test_index(&readme).unwrap().to_string();
    for word in index.split(|c: char| !(c.is_ascii_alphanumeric() || "_./-".contains(c))) {
        let word = word.trim_end_matches(['.', ',']);
        if ["src/", "distro/", "tests/"].iter().any(|p| word.starts_with(p)) && !root.join(word).exists() {
            if src.join(word).is_dir() {
                std::fs::create_dir_all(root.join(word)).unwrap();
            } else {
                std::fs::create_dir_all(root.join(word).parent().unwrap()).unwrap();
                std::fs::write(root.join(word), "").unwrap();
            }
        }
    }
    std::fs::write(root.join("tests/README.md"), &readme).unwrap();
    assert_eq!(test_index_problems(root), Vec::<String>::new(), "the copy starts clean");

    std::fs::write(root.join("tests/vm/t-99-new.sh"), "").unwrap();
    std::fs::write(root.join("tests/zz_new.rs"), "").unwrap();
    std::fs::write(root.join("tests/netns/new.sh"), "").unwrap();
    std::fs::remove_file(root.join("tests/vm/t-30-cli.sh")).unwrap();
    let problems = test_index_problems(root);
    for want in [
        "tests/vm/t-99-new.sh is in no row",
        "tests/zz_new.rs is in no row",
        "tests/netns/new.sh is in no row",
        "names t-30-cli, but there is no tests/vm/t-30-cli.sh",
    ] {
        assert!(problems.iter().any(|p| p.contains(want)), "{want:?} not in {problems:#?}");
    }
    assert_eq!(problems.len(), 4, "{problems:#?}");

    std::fs::write(root.join("tests/README.md"), readme.replace("## Where each behaviour is tested", "## Tests"))
        .unwrap();
    assert_eq!(test_index_problems(root).len(), 1);
}
