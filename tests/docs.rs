//! teqlctl(8) must mention every subcommand, flag and hook name that exists, and
//! teqlctl-config(5) must have an entry for every configuration key. The lists come from the
//! code itself (clap's definition, the hook table, the readers' sources), so adding one
//! without documenting it fails here.

use clap::CommandFactory;

/// A page of man/, with roff's \- unescaped so "teql\-master" reads as written.
fn page(name: &str) -> String {
    std::fs::read_to_string(format!("{}/man/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap().replace("\\-", "-")
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
/// argument is the name, as the COMMANDS section writes them.
fn has_entry(man: &str, name: &str) -> bool {
    man.lines().any(|l| l.starts_with('.') && l.split_whitespace().nth(1).map(|w| w.trim_matches('"')) == Some(name))
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
    let cmd = teqlctl::cli::Cli::command();
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
    for (name, _) in teqlctl::hooks::HOOKS {
        assert!(contains_word(&man, name), "teqlctl(8) does not mention the hook {name}");
    }
}

fn literals(file: &str, pattern: fn(&str) -> bool) -> Vec<String> {
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
    // The keys the ifcfg reader looks up are its upper-case literals; the interfaces reader's
    // own options are its teql-* literals, and a master's stanza is read for MASTER_OPTIONS.
    let ifcfg = literals("ifcfg.rs", |s| {
        s.len() > 2 && s.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') && !s.ends_with('_')
    });
    let deb = literals("interfaces.rs", |s| {
        s.starts_with("teql-") && s.len() > 5 && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
    });
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
    for p in teqlctl::module::MODPROBE_PATHS {
        assert!(contains_word(&man, p), "teqlctl(8) does not name {p}");
    }
    assert!(man.contains("PATH=/usr/sbin:/sbin:/usr/bin:/bin") && man.contains("MODPROBE_OPTIONS"));
}
