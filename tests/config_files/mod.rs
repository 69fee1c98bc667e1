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

/// Teql options (`teql-nat`, value) of a case, in neither format's spelling.
pub type Options = &'static [(&'static str, &'static str)];
/// What a case's one problem must say, as templates (`Format::render`).
pub type Words = &'static [&'static str];

/// The two formats, for the tests that run the same cases against both readers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Ifcfg,
    Interfaces,
}

pub const FORMATS: [Format; 2] = [Format::Ifcfg, Format::Interfaces];

impl Format {
    /// A teql option (`teql-prefer-dst`) as this format spells it (TEQL_PREFER_DST).
    pub fn name(self, option: &str) -> String {
        match self {
            Format::Ifcfg => option.to_ascii_uppercase().replace('-', "_"),
            Format::Interfaces => option.to_string(),
        }
    }

    /// Options and their values as the lines of a file or stanza in this format.
    pub fn lines(self, options: &[(&str, &str)]) -> String {
        options
            .iter()
            .map(|(o, v)| match self {
                // Single quotes keep the tests' values (spaces, commas) literal to the shell.
                Format::Ifcfg => format!("{}='{v}'\n", self.name(o)),
                Format::Interfaces => format!("    {o} {v}\n"),
            })
            .collect()
    }

    /// The part of a path that names the file the line or bundle `name` is configured in.
    pub fn file(self, name: &str) -> String {
        match self {
            Format::Ifcfg => format!("ifcfg-{name}"),
            Format::Interfaces => "etc/network/interfaces".to_string(),
        }
    }

    /// `template` in this format's words: <<teql-nat>> is the option's name, <<teql-nat VALUE>>
    /// the option set to VALUE as messages quote it (TEQL_NAT="VALUE", teql-nat "VALUE"),
    /// <<multipath>> what makes a bundle multipath, <<places>> where lines are configured,
    /// <<bundle-place>> where a TEQL bundle's options go, <<bundle-file NAME>> what a multipath
    /// bundle NAME needs. The texts are written out here, not taken from teqlctl, so that a
    /// change of wording fails a test.
    pub fn render(self, template: &str) -> String {
        let ifcfg = self == Format::Ifcfg;
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("<<") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find(">>").unwrap() + start;
            let inner = &rest[start + 2..end];
            out.push_str(&match inner.split_once(' ') {
                _ if inner == "multipath" => {
                    if ifcfg { "TEQL_MODE=multipath" } else { "`teql-mode multipath`" }.to_string()
                }
                _ if inner == "places" => if ifcfg { "files" } else { "stanzas" }.to_string(),
                _ if inner == "bundle-place" => {
                    if ifcfg { "file of the teqlN bundle (ifcfg-teqlN)" } else { "stanza of the teqlN bundle" }
                        .to_string()
                }
                Some(("bundle-file", name)) if ifcfg => {
                    format!("ifcfg-{name} with DEVICETYPE=teql and TEQL_MODE=multipath")
                }
                Some(("bundle-file", name)) => {
                    format!("a stanza `iface {name} inet manual` with `teql-mode multipath`")
                }
                Some((option, value)) if ifcfg => format!("{}=\"{value}\"", self.name(option)),
                Some((option, value)) => format!("{option} \"{value}\""),
                None => self.name(inner),
            });
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }

    /// `c` has exactly one problem, in the file of `name`, saying every word of `templates` in
    /// this format's words (`render`).
    pub fn assert_one_problem(self, c: &Config, name: &str, templates: &[&str]) {
        let words: Vec<String> = templates.iter().map(|t| self.render(t)).collect();
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        assert_one_problem(c, &self.file(name), &words);
    }
}
