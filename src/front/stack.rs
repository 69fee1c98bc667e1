//! Which network stack drives a line, and whether its hooks can run at all (issue 15, point 3).
//!
//! A line's configuration says which tool brings it up: an ifcfg file is network-scripts', or
//! NetworkManager's when NetworkManager runs and the file does not say NM_CONTROLLED=no (then
//! `ifup` hands it to nmcli and /sbin/ifup-local never runs); a stanza of
//! /etc/network/interfaces is ifupdown's or ifupdown2's; a keyfile profile is NetworkManager's.
//! A line whose hooks are missing, or whose tool is missing, is never bonded at boot; `status`
//! says so instead of showing a line that merely looks down.

use std::path::{Path, PathBuf};

use crate::config::{keyfile, shell, Member};
use crate::front::install::{self, System};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stack {
    NetworkScripts,
    Ifupdown,
    Ifupdown2,
    NetworkManager,
}

impl Stack {
    pub fn name(self) -> &'static str {
        match self {
            Stack::NetworkScripts => "network-scripts",
            Stack::Ifupdown => "ifupdown",
            Stack::Ifupdown2 => "ifupdown2",
            Stack::NetworkManager => "NetworkManager",
        }
    }
}

/// What is installed and running below a root, read once per `status`.
#[derive(Debug, Clone, Default)]
pub struct Boxed {
    root: PathBuf,
    /// A NetworkManager process runs (only meaningful for the root /).
    pub nm_running: bool,
}

impl Boxed {
    pub fn read(root: &Path) -> Boxed {
        Boxed { root: root.to_path_buf(), nm_running: root == Path::new("/") && nm_running() }
    }

    fn has(&self, rel: &str) -> bool {
        self.root.join(rel).exists()
    }

    /// The stack of a configured line, and why its hooks can never run, if they cannot: one
    /// cause of the box's, worded for any number of lines, which `group` names them before.
    pub fn of(&self, line: &Member) -> (Stack, Option<String>) {
        let src = &line.source;
        let under = |dir: &str| src.starts_with(self.root.join(dir));
        if keyfile::is_profile(&self.root, src) {
            let warn = (!self.nm_hooks()).then(|| {
                "configured in NetworkManager, but the dispatcher link teqlctl needs is not installed: run \
                 `teqlctl hooks install --networkmanager`"
                    .to_string()
            });
            return (Stack::NetworkManager, warn);
        }
        if under("etc/sysconfig/network-scripts") {
            if self.nm_running && !nm_controlled_no(src) {
                let warn = (!self.nm_hooks()).then(|| {
                    "configured in ifcfg files that NetworkManager takes while it runs (NM_CONTROLLED is not \
                     no), so network-scripts' hooks never run for them: run `teqlctl hooks install \
                     --networkmanager`, or set NM_CONTROLLED=no"
                        .to_string()
                });
                return (Stack::NetworkManager, warn);
            }
            let warn = if !self.has("etc/sysconfig/network-scripts/ifup-eth") {
                Some(
                    "configured in network-scripts' ifcfg files, but network-scripts is not installed (no \
                     ifup-eth): nothing runs their hooks; install network-scripts, or configure the lines in \
                     NetworkManager (teqlctl(8), HOOKS (NetworkManager))"
                        .to_string(),
                )
            } else if !install::installed(&self.root, System::NetworkScripts) {
                Some(
                    "network-scripts' hooks are not installed: run `teqlctl hooks install --network-scripts`"
                        .to_string(),
                )
            } else {
                None
            };
            return (Stack::NetworkScripts, warn);
        }
        let stack = if self.has("usr/share/ifupdown2") { Stack::Ifupdown2 } else { Stack::Ifupdown };
        let warn = (!install::installed(&self.root, System::Ifupdown))
            .then(|| "the ifupdown hook is not installed: run `teqlctl hooks install --ifupdown`".to_string());
        (stack, warn)
    }

    /// The dispatcher links, as `hooks install` makes them in /etc or the packages in /usr/lib.
    fn nm_hooks(&self) -> bool {
        install::installed(&self.root, System::NetworkManager) || install::nm_vendor_links(&self.root)
    }
}

/// One warning per cause, naming its lines (`eth2, eth3: network-scripts' hooks are not
/// installed: ...`), in the order the causes were first seen: four lines of one office without
/// their stack are one fact about the box, not four warnings (issue 28, point 3).
pub fn group<'a>(causes: impl IntoIterator<Item = (&'a str, String)>) -> Vec<String> {
    let mut grouped: Vec<(String, Vec<&str>)> = Vec::new();
    for (line, cause) in causes {
        match grouped.iter_mut().find(|(c, _)| *c == cause) {
            Some((_, lines)) if lines.contains(&line) => {}
            Some((_, lines)) => lines.push(line),
            None => grouped.push((cause, vec![line])),
        }
    }
    grouped.into_iter().map(|(cause, lines)| format!("{}: {cause}", lines.join(", "))).collect()
}

/// NM_CONTROLLED=no in an ifcfg file (network-scripts' booleans).
fn nm_controlled_no(path: &Path) -> bool {
    let Ok(bytes) = crate::config::read_config_file(path, crate::config::MAX_FILE_BYTES) else { return false };
    let Ok(vars) = shell::parse(&String::from_utf8_lossy(&bytes)) else { return false };
    vars.get("NM_CONTROLLED").and_then(crate::config::ifcfg::parse_bool) == Some(false)
}

/// A process named NetworkManager runs.
fn nm_running() -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else { return false };
    dir.flatten().any(|e| {
        e.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
            && std::fs::read(e.path().join("comm")).is_ok_and(|c| c.trim_ascii_end() == b"NetworkManager")
    })
}

/// Which stack drives each configured line, and a warning for each whose hooks can never
/// run on the box `boxed` describes.
pub(crate) fn add_to_status(status: &mut crate::run::status::Status, cfg: &crate::config::Config, boxed: &Boxed) {
    let mut causes = Vec::new();
    for m in &mut status.masters {
        for l in &mut m.lines {
            let Some(member) = cfg.members.get(&l.name).filter(|c| c.master == m.name) else { continue };
            let (stack, warning) = boxed.of(member);
            l.stack = Some(stack.name());
            if let Some(w) = warning {
                causes.push((member.device.as_str(), w));
            }
        }
    }
    for w in group(causes) {
        if !status.warnings.contains(&w) {
            status.warnings.push(w);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, Config};
    use std::fs;
    use std::os::unix::fs::symlink;
    use tempfile::TempDir;

    fn put(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    fn link(root: &Path, rel: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        symlink("/usr/sbin/teqlctl", p).unwrap();
    }

    fn stack_of(root: &Path, nm_running: bool, line: &str) -> (Stack, Option<String>) {
        let cfg: Config = config::load(root);
        assert!(cfg.problems.is_empty(), "{:?}", cfg.problems);
        Boxed { root: root.to_path_buf(), nm_running }.of(&cfg.members[line])
    }

    const NM_LINKS: [&str; 3] =
        ["dispatcher.d/90-teqlctl", "dispatcher.d/pre-up.d/90-teqlctl", "dispatcher.d/pre-down.d/90-teqlctl"];

    #[test]
    fn a_keyfile_line_is_networkmanagers_and_needs_the_dispatcher_link() {
        for links in ["", "etc/NetworkManager", "usr/lib/NetworkManager"] {
            let root = TempDir::new().unwrap();
            let r = root.path();
            put(
                r,
                "etc/NetworkManager/system-connections/dsl2.nmconnection",
                "[connection]\ninterface-name=eth2\n[user]\nteqlctl.master=teql0\n",
            );
            if !links.is_empty() {
                for l in NM_LINKS {
                    link(r, &format!("{links}/{l}"));
                }
            }
            let (stack, warning) = stack_of(r, false, "eth2");
            assert_eq!(stack, Stack::NetworkManager);
            assert_eq!(warning.is_some(), links.is_empty(), "links in {links:?}: {warning:?}");
            if let Some(w) = warning {
                assert!(w.contains("teqlctl hooks install --networkmanager"), "{w}");
            }
        }
    }

    #[test]
    fn an_ifcfg_line_is_networkmanagers_while_it_runs_unless_nm_controlled_is_no() {
        let root = TempDir::new().unwrap();
        let r = root.path();
        put(r, "etc/sysconfig/network-scripts/ifcfg-eth2", "DEVICE=eth2\nTEQL_MASTER=teql0\n");
        put(r, "etc/sysconfig/network-scripts/ifcfg-eth3", "DEVICE=eth3\nTEQL_MASTER=teql0\nNM_CONTROLLED=no\n");
        put(r, "etc/sysconfig/network-scripts/ifup-eth", "#!/bin/sh\n");
        let (stack, warning) = stack_of(r, true, "eth2");
        assert_eq!(stack, Stack::NetworkManager);
        assert!(warning.unwrap().contains("network-scripts' hooks never run for them"));
        let (stack, warning) = stack_of(r, true, "eth3");
        assert_eq!(stack, Stack::NetworkScripts);
        assert!(warning.unwrap().contains("network-scripts' hooks are not installed"));
        // Without NetworkManager running, the file is network-scripts' again.
        assert_eq!(stack_of(r, false, "eth2").0, Stack::NetworkScripts);
        for l in install::hook_paths(System::NetworkScripts) {
            link(r, l.strip_prefix("/").unwrap().to_str().unwrap());
        }
        assert_eq!(stack_of(r, true, "eth3"), (Stack::NetworkScripts, None));
        // With NetworkManager running, its dispatcher link is what eth2 needs.
        for l in NM_LINKS {
            link(r, &format!("etc/NetworkManager/{l}"));
        }
        assert_eq!(stack_of(r, true, "eth2"), (Stack::NetworkManager, None));
    }

    #[test]
    fn an_ifcfg_line_without_network_scripts_is_never_bonded() {
        let root = TempDir::new().unwrap();
        let r = root.path();
        put(r, "etc/sysconfig/network-scripts/ifcfg-eth2", "DEVICE=eth2\nTEQL_MASTER=teql0\n");
        let (stack, warning) = stack_of(r, false, "eth2");
        assert_eq!(stack, Stack::NetworkScripts);
        assert!(warning.unwrap().contains("network-scripts is not installed (no ifup-eth)"));
    }

    /// The demo's office without network-scripts: one warning that names the four lines, not
    /// four warnings (issue 28, point 3).
    #[test]
    fn lines_of_one_cause_are_one_warning() {
        let root = TempDir::new().unwrap();
        let r = root.path();
        for n in 2..=5 {
            put(
                r,
                &format!("etc/sysconfig/network-scripts/ifcfg-eth{n}"),
                &format!("DEVICE=eth{n}\nTEQL_MASTER=teql0\n"),
            );
        }
        put(r, "etc/network/interfaces", "iface eth6 inet manual\n    teql-master teql1\n");
        let cfg: Config = config::load(r);
        let boxed = Boxed { root: r.to_path_buf(), nm_running: false };
        let causes =
            ["eth2", "eth6", "eth3", "eth4", "eth5", "eth2"].map(|l| (l, boxed.of(&cfg.members[l]).1.unwrap()));
        let warnings = group(causes);
        assert_eq!(warnings.len(), 2, "{warnings:#?}");
        assert!(warnings[0].starts_with("eth2, eth3, eth4, eth5: configured in network-scripts' ifcfg files, but"));
        assert!(warnings[1].starts_with("eth6: the ifupdown hook is not installed"), "{warnings:#?}");
    }

    #[test]
    fn a_stanza_is_ifupdowns_or_ifupdown2s() {
        let root = TempDir::new().unwrap();
        let r = root.path();
        put(r, "etc/network/interfaces", "iface eth2 inet manual\n    teql-master teql0\n");
        let (stack, warning) = stack_of(r, false, "eth2");
        assert_eq!(stack, Stack::Ifupdown);
        assert!(warning.unwrap().contains("teqlctl hooks install --ifupdown"));
        for d in ["if-pre-up.d", "if-up.d", "if-down.d", "if-post-down.d"] {
            link(r, &format!("etc/network/{d}/teqlctl"));
        }
        fs::create_dir_all(r.join("usr/share/ifupdown2")).unwrap();
        assert_eq!(stack_of(r, false, "eth2"), (Stack::Ifupdown2, None));
    }
}
