//! Interface and bundle names, checked once where they come in (issue 16, point 11).
//!
//! A line's interface name and its bundle's name come from configuration files, the command
//! line and hook arguments. Each is checked once, where it enters, into one of these types, and
//! code that holds one needs no check of its own: the readers, `ops`, the planner, `peer` and
//! the DHCP hook used to repeat the same tests on plain strings. Both types read as `&str`
//! (Deref, Borrow), so maps keyed by String are looked up with them directly.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

/// teql0..teql63: the masters teqlctl configures (sch_teql's max_equalizers is set to the
/// highest one named plus one, and a box with more is not a small office).
pub const MAX_MASTERS: u32 = 64;

/// What an interface name may be, as messages say it.
pub const IFACE_RULE: &str =
    "an interface name of 1 to 15 characters, each an ASCII letter, a digit, '.', '_' or '-', \
     the first not '.' or '-'";

/// Why a name is refused (`name_fault`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameFault {
    Empty,
    /// Its length in bytes.
    TooLong(usize),
    /// A leading `.` or `-`.
    Leading(char),
    /// The first character refused.
    Char(char),
}

impl fmt::Display for NameFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameFault::Empty => f.write_str("it is empty"),
            NameFault::TooLong(n) => write!(f, "it is {n} bytes long, and the kernel takes at most 15"),
            NameFault::Leading('-') => f.write_str("a leading '-' reads as an option to ifup, ifdown and ifquery"),
            NameFault::Leading(_) => f.write_str(
                "a leading '.' hides the files named after the interface, and \".\" and \"..\" are directories",
            ),
            NameFault::Char(c) => {
                let shown = match c {
                    '\'' => "\"'\"".to_string(),
                    c => format!("'{}'", crate::text::escape_for_message(&c.to_string(), 1)),
                };
                let why = match c {
                    '/' | ':' | '\0' => "the kernel refuses it",
                    c if c.is_whitespace() => "the kernel refuses whitespace",
                    '"' | '\\' => "an nftables string cannot hold it",
                    '*' => "nftables reads it as a wildcard that matches other interfaces",
                    c if c.is_control() => "a control character would reach terminals and logs",
                    c if !c.is_ascii() => "only ASCII is taken: other characters can look like ASCII ones",
                    _ => "it is special to nftables, the shell or teqlctl's own lists",
                };
                write!(f, "{shown} is refused: {why}")
            }
        }
    }
}

/// Why `name` is not an interface name teqlctl takes; None when it is one.
///
/// The kernel takes 1 to 15 bytes other than `/`, `:`, NUL and whitespace, not `.` or `..`
/// (dev_valid_name; `:` would be an alias). teqlctl takes fewer: ASCII letters, digits, `.`,
/// `_` and `-`, the first not `.` or `-`. Every name the kernel, udev and systemd's predictable
/// names, NetworkManager, ifupdown, network-scripts and the usual tunnel, VPN and container
/// tools create is of this kind. The names go into nftables rules (`oifname "NAME"`: a `"` or
/// `\` cannot be written there and a `*` is a wildcard, so `eth*` would match the LAN too),
/// onto ifup's, ifdown's and ifquery's command lines (a leading `-` is an option), into file
/// names (a leading `.` hides the file; `.` and `..` are directories), into teqlctl's own
/// comma-separated lists, and onto terminals and logs (ESC, DEL, bidi and
/// look-alike characters). A short list of what is taken leaves no character of some other
/// syntax to be found later.
pub(crate) fn name_fault(name: &str) -> Option<NameFault> {
    if name.is_empty() {
        return Some(NameFault::Empty);
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        return Some(NameFault::Char(c));
    }
    if name.len() > 15 {
        return Some(NameFault::TooLong(name.len()));
    }
    if let Some(c) = name.chars().next().filter(|c| matches!(c, '.' | '-')) {
        return Some(NameFault::Leading(c));
    }
    None
}

/// What a message about a refused `name` says after "expected": what is taken, why this name
/// is not, and what to do.
pub(crate) fn why_refused(name: &str) -> String {
    format!("{}; give the interface such a name (a systemd .link file's Name=) and use it here", refusal(name))
}

/// What is taken, and why `name` is not.
pub fn refusal(name: &str) -> String {
    match name_fault(name) {
        Some(f) => format!("{IFACE_RULE} ({f})"),
        None => IFACE_RULE.to_string(),
    }
}

/// Whether teqlctl takes `name` as an interface name (`name_fault` says why not).
pub(crate) fn is_valid_iface(name: &str) -> bool {
    name_fault(name).is_none()
}

/// `name` for a terminal: printable ASCII as it is, `\` doubled, any other byte as `\xNN`. For
/// names that did not come through `IfName` (the kernel's, in a link dump: it takes any byte
/// but `/`, `:`, NUL and whitespace); a checked name is shown unchanged.
pub fn shown(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        match b {
            b'\\' => out.push_str("\\\\"),
            0x21..=0x7e => out.push(char::from(b)),
            b => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// `name` as an nftables string, in double quotes. A checked name (`IfName`, `BundleName`) is
/// written as it is. Anything else is a bug upstream, but must still not change the ruleset's
/// meaning: nftables has no escape for `"` inside a string, and a `*` at the end (or `\*`) is a
/// wildcard, so every character `name_fault` refuses is written as `\xNN`, which nftables takes
/// literally: the string matches no interface, and the transaction still parses.
pub(crate) fn nft_string(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
            out.push(c);
        } else {
            let mut buf = [0; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        }
    }
    out.push('"');
    out
}

/// Whether `name` is one only sch_teql's devices have (teqlN, N below the cap).
pub(crate) fn is_teql_name(name: &str) -> bool {
    teql_index(name).is_some()
}

/// N of `teqlN`, as the kernel names sch_teql's devices (no leading zero); None for any other
/// name.
pub fn teql_index(name: &str) -> Option<u32> {
    let digits = name.strip_prefix("teql")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // "teql01" is not a name the kernel creates.
    if digits.len() > 1 && digits.starts_with('0') {
        return None;
    }
    digits.parse().ok()
}

/// A checked interface name. In files (health.json) it is the plain string; reading one back
/// checks it again, so a name teqlctl does not take never comes in that way either.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct IfName(String);

impl IfName {
    pub fn new(name: &str) -> Option<IfName> {
        is_valid_iface(name).then(|| IfName(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A checked bundle name: a TEQL master teql0..teql63 (a sch_teql device), or a multipath or
/// connection bundle's name, an interface name that does not start with `teql` (such a bundle
/// has no device of its own, but is named like one in messages and files). In files, the plain
/// string, checked again when read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct BundleName {
    name: IfName,
    /// N of a teqlN.
    teql: Option<u32>,
}

impl BundleName {
    pub fn new(name: &str) -> Option<BundleName> {
        let checked = IfName::new(name)?;
        match teql_index(name) {
            Some(i) if i < MAX_MASTERS => Some(BundleName { name: checked, teql: Some(i) }),
            Some(_) => None,
            None if name.starts_with("teql") => None,
            None => Some(BundleName { name: checked, teql: None }),
        }
    }

    /// teql0, the default master.
    pub fn teql0() -> BundleName {
        BundleName { name: IfName("teql0".to_string()), teql: Some(0) }
    }

    /// Only a TEQL master teql0..teql63.
    pub fn teql(name: &str) -> Option<BundleName> {
        BundleName::new(name).filter(BundleName::is_teql)
    }

    /// N of a teqlN; None for a multipath or connection bundle.
    pub fn teql_index(&self) -> Option<u32> {
        self.teql
    }

    pub fn is_teql(&self) -> bool {
        self.teql.is_some()
    }

    pub fn as_str(&self) -> &str {
        self.name.as_str()
    }

    pub fn iface(&self) -> &IfName {
        &self.name
    }
}

macro_rules! str_like {
    ($t:ty) => {
        impl Deref for $t {
            type Target = str;
            fn deref(&self) -> &str {
                self.as_str()
            }
        }

        impl Borrow<str> for $t {
            fn borrow(&self) -> &str {
                self.as_str()
            }
        }

        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<str> for $t {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl PartialEq<String> for $t {
            fn eq(&self, other: &String) -> bool {
                self.as_str() == other
            }
        }

        impl From<$t> for String {
            fn from(n: $t) -> String {
                n.as_str().to_string()
            }
        }
    };
}

str_like!(IfName);
str_like!(BundleName);

/// A name read back from a file that is not one teqlctl takes (serde's `try_from`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAName(String);

impl fmt::Display for NotAName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not a name teqlctl takes", shown(&self.0))
    }
}

impl TryFrom<String> for IfName {
    type Error = NotAName;
    fn try_from(s: String) -> Result<IfName, NotAName> {
        IfName::new(&s).ok_or(NotAName(s))
    }
}

impl TryFrom<String> for BundleName {
    type Error = NotAName;
    fn try_from(s: String) -> Result<BundleName, NotAName> {
        BundleName::new(&s).ok_or(NotAName(s))
    }
}

// Unit tests write names as literals: a bad one is a bug in the test, so it panics.
#[cfg(test)]
impl From<&str> for IfName {
    fn from(s: &str) -> IfName {
        IfName::new(s).unwrap_or_else(|| panic!("{s:?} is not an interface name"))
    }
}

#[cfg(test)]
impl From<&str> for BundleName {
    fn from(s: &str) -> BundleName {
        BundleName::new(s).unwrap_or_else(|| panic!("{s:?} is not a bundle name"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names() {
        for ok in ["eth0", "enp3s0f1", "a", "wan-backup.100", "teql0", "x23456789012345", "A_b-", "eth0.", "0"] {
            assert_eq!(IfName::new(ok).as_deref(), Some(ok), "{ok}");
            assert_eq!(nft_string(ok), format!("\"{ok}\""));
            assert_eq!(shown(ok), ok);
        }
        for bad in ["", ".", "..", "eth0:1", "a/b", "eth 0", "x234567890123456", "a\0b", "tab\t", ".eth0", "-eth0"] {
            assert_eq!(IfName::new(bad), None, "{bad:?}");
        }
        assert_eq!(name_fault(""), Some(NameFault::Empty));
        assert_eq!(name_fault("x234567890123456"), Some(NameFault::TooLong(16)));
        assert_eq!(name_fault(".."), Some(NameFault::Leading('.')));
        assert_eq!(name_fault("-x"), Some(NameFault::Leading('-')));
    }

    /// The characters the kernel takes in a name but teqlctl does not (issue 26, point 5): each
    /// is refused, and the refusal names it, escaped.
    #[test]
    fn characters_the_kernel_takes_but_teqlctl_does_not() {
        let cases: &[(char, &str)] = &[
            ('"', "an nftables string cannot hold it"),
            ('\\', "an nftables string cannot hold it"),
            ('*', "wildcard"),
            (';', "special to nftables"),
            ('{', "special to nftables"),
            ('}', "special to nftables"),
            ('#', "special to nftables"),
            ('$', "special to nftables"),
            ('\'', "special to nftables"),
            ('`', "special to nftables"),
            (',', "teqlctl's own lists"),
            ('@', "special to nftables"),
            ('!', "special to nftables"),
            ('?', "special to nftables"),
            ('+', "special to nftables"),
            ('=', "special to nftables"),
            ('\u{1b}', "control character"),
            ('\u{7f}', "control character"),
            ('\u{9b}', "control character"),
            ('\u{7}', "control character"),
            ('é', "only ASCII"),
            ('\u{202e}', "only ASCII"),
            ('\u{430}', "only ASCII"),
        ];
        for (c, why) in cases {
            let name = format!("eth{c}0");
            assert_eq!(name_fault(&name), Some(NameFault::Char(*c)), "{name:?}");
            assert!(!is_valid_iface(&name) && IfName::new(&name).is_none() && BundleName::new(&name).is_none());
            let msg = why_refused(&name);
            assert!(msg.contains(why), "{name:?}: {msg}");
            assert!(msg.contains(IFACE_RULE) && msg.contains("give the interface such a name"), "{msg}");
            assert!(!msg.chars().any(|c| c.is_control() || c == '\u{202e}'), "{msg:?}");
        }
        assert!(why_refused("eth\u{1b}[2J").contains("'\\e' is refused"), "{}", why_refused("eth\u{1b}[2J"));
        assert!(why_refused("it's").contains("\"'\" is refused"), "{}", why_refused("it's"));
    }

    #[test]
    fn nft_strings_never_hold_syntax_or_wildcards() {
        assert_eq!(nft_string("eth*"), "\"eth\\x2a\"");
        assert_eq!(nft_string("x\"y"), "\"x\\x22y\"");
        assert_eq!(nft_string("a\\"), "\"a\\x5c\"");
        assert_eq!(nft_string("e\u{1b}"), "\"e\\x1b\"");
        assert_eq!(nft_string("é"), "\"\\xc3\\xa9\"");
        for name in ["eth*", "x\"y", "a\\", "a;b{c}#", "\u{1b}[31m", "a\nb"] {
            let s = nft_string(name);
            let inner = &s[1..s.len() - 1];
            assert!(
                !inner.contains(['"', '*', ';', '{', '}', '#', '\n']) && !inner.chars().any(|c| c.is_control()),
                "{s}"
            );
        }
    }

    #[test]
    fn names_shown_on_a_terminal() {
        assert_eq!(shown("eth0"), "eth0");
        assert_eq!(shown("e\u{1b}[2J"), "e\\x1b[2J");
        assert_eq!(shown("a\\b"), "a\\\\b");
        assert_eq!(shown("é\u{7f}"), "\\xc3\\xa9\\x7f");
        assert_eq!(shown("a\nb c"), "a\\x0ab\\x20c");
    }

    #[test]
    fn bundle_names() {
        let b = BundleName::new("teql0").unwrap();
        assert_eq!((b.teql_index(), b.is_teql(), b.as_str()), (Some(0), true, "teql0"));
        assert_eq!(BundleName::new("teql63").unwrap().teql_index(), Some(63));
        let w = BundleName::new("wan").unwrap();
        assert_eq!((w.teql_index(), w.is_teql()), (None, false));
        assert_eq!(BundleName::teql("wan"), None);
        assert_eq!(BundleName::teql("teql5").map(|b| b.teql_index()), Some(Some(5)));
        // Past the cap, a teql name the kernel never makes, a name that is no interface's.
        for bad in ["teql64", "teql01", "teqlx", "teql", "a/b", ""] {
            assert_eq!(BundleName::new(bad), None, "{bad:?}");
        }
        // Read as strings: map lookups and comparisons.
        let mut m = std::collections::BTreeMap::new();
        m.insert("wan".to_string(), 1);
        assert_eq!(m.get(w.as_str()), Some(&1));
        assert!(w == "wan" && format!("{w}") == "wan");
        let s: String = w.into();
        assert_eq!(s, "wan");
    }
}
