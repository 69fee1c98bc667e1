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

/// teql0..teql63: the masters teqlctl configures (sch_teql's max_equalizers is set to the
/// highest one named plus one, and a box with more is not a small office).
pub const MAX_MASTERS: u32 = 64;

/// Whether the kernel takes `name` as an interface name: 1 to 15 bytes, not `.` or `..`, no
/// `/`, `:`, NUL or whitespace (dev_valid_name, plus `:` which would be an alias).
pub fn is_valid_iface(name: &str) -> bool {
    !name.is_empty()
        && name.len() < 16
        && name != "."
        && name != ".."
        && !name.chars().any(|c| c == '/' || c == ':' || c == '\0' || c.is_whitespace())
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

/// A checked interface name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
/// has no device of its own, but is named like one in messages and files).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
        for ok in ["eth0", "enp3s0f1", "a", "wan-backup.100", "teql0", "x23456789012345"] {
            assert_eq!(IfName::new(ok).as_deref(), Some(ok), "{ok}");
        }
        for bad in ["", ".", "..", "eth0:1", "a/b", "eth 0", "x234567890123456", "a\0b", "tab\t"] {
            assert_eq!(IfName::new(bad), None, "{bad:?}");
        }
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
