//! Debian ifupdown configuration: /etc/network/interfaces and the files it sources.
//!
//! Members are ordinary `iface LINE inet METHOD` stanzas with our own option `teql-master`;
//! masters are `iface teqlN inet static` stanzas with the usual address/gateway options. The
//! file is read the way ifupdown 0.8 reads it (config.c), because the hooks see exactly what
//! ifupdown exports: a difference between this reader and ifupdown would make `teqlctl up`
//! and `ifup` disagree about the same line.
//!
//! Options are matched by the name ifupdown gives their environment variable (IF_TEQL_MASTER
//! for both `teql-master` and `teql_master`), since that is all a hook ever sees.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use super::keys::{self, Format, Key, Problems, Spelling, KEYS};
use super::{
    finish, master_index, parse_decimal, parse_ipv4, parse_mtu, parse_netmask, parse_prefix_len, quoted,
    read_config_file, shown, Config, ConfigError, IfName, Ipv4Prefix, LinePath, Master, Member, ReadProblem, RpFilter,
    Values, EXPECT_IPV4, EXPECT_METRIC, EXPECT_MTU, MAX_FILE_BYTES, MAX_INHERIT_DEPTH, MAX_LINE_CHARS, MAX_OPTIONS,
    MAX_SOURCED_FILES, MAX_STANZAS,
};
use super::{
    parse_outer_addr, parse_tunnel_key, TunnelConf, TunnelKind, TunnelOrigin, EXPECT_OUTER_ADDR, EXPECT_TUNNEL_KEY,
};

/// ifupdown itself has no limit; a `source` of a wrong directory (say `/usr/*`) must not make
/// every hook at boot read thousands of files. Counted with the main file.
const MAX_FILES: usize = MAX_SOURCED_FILES;

/// The address families ifupdown 0.8 knows on Linux; any other word is a parse error to it.
const FAMILIES: [&str; 5] = ["inet", "inet6", "ipx", "can", "link"];

/// How messages spell teqlctl's options, and ifupdown's booleans.
pub(crate) const FORMAT: Format = Format {
    spelling: Spelling::Interfaces,
    assign: " ",
    keys: "options",
    places: "stanzas",
    bundle_place: "stanza of the teqlN bundle",
    multipath: "`teql-mode multipath`",
    device_keys: &["address", "netmask", "gateway", "mtu"],
    line_gateway: "each line keeps its own address, and its gateway goes in teql-gateway",
    bundle_file: |name| format!("a stanza `iface {name} inet manual` with `teql-mode multipath`"),
    yes_no: parse_yes_no,
};

/// The values of teqlctl's options from a map of exported names (TEQL_MASTER, ...) to values:
/// a stanza's, or the environment ifupdown gives a hook.
pub(crate) fn option_values<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Values<'a> {
    Values::from_lookup(get)
}

/// The options a master stanza is read for; a second stanza setting any of them would be
/// ignored by teqlctl but applied by ifupdown.
const MASTER_OPTIONS: [&str; 5] = ["address", "netmask", "gateway", "mtu", "metric"];

/// The options a tunnel line is read for (`teqlctl peer-config`): ifupdown's `inet tunnel`
/// method's, and ifupdown2's names for them (which it also takes under ifupdown's).
const TUNNEL_OPTIONS: [&str; 6] = ["mode", "local", "endpoint", "tunnel-mode", "tunnel-local", "tunnel-endpoint"];

/// ROOT/etc/network/interfaces
pub(crate) fn interfaces_file(root: &Path) -> PathBuf {
    root.join("etc/network/interfaces")
}

/// Reads ROOT/etc/network/interfaces (and what it sources). A missing file yields an empty
/// Config. Never fails: every error lands in `Config.problems`.
pub fn load(root: &Path) -> Config {
    let mut reader = Reader::new(root);
    reader.read_main(&interfaces_file(root));
    build(reader)
}

/// The Member a hook is started for, from the option values ifupdown exported for its stanza
/// (IF_TEQL_MASTER, IF_TEQL_RP_FILTER, ...: see `option_values`). `stanza` is `iface LOGICAL
/// ADDRFAM METHOD`, the form `load` uses in its messages, so that the hook and the file reader
/// report the same error.
///
/// Empty values count as absent: ifupdown never exports an empty option (it rejects the file),
/// so an empty variable can only come from a hand-made environment. The member's `onboot` is
/// true: the hook only runs because the line is being brought up.
pub(crate) fn member_from_options(
    device: &str,
    values: Values,
    source: &Path,
    stanza: &str,
) -> Result<Member, ConfigError> {
    let mut ctx = Ctx { path: source, device, stanza, options: &[], bundle: false, problems: Vec::new() };
    let member = check_member(&mut ctx, &values, true);
    let mut problems = ctx.problems.into_iter();
    match (member, problems.next()) {
        (_, Some(e)) => Err(e),
        (Some(m), None) => Ok(m),
        (None, None) => Err(ConfigError::Inconsistent {
            path: source.to_path_buf(),
            msg: format!("{stanza}: no teql-master option: {device} is not a line of a teql master"),
            device: Some(device.to_string()),
        }),
    }
}

/// A line of a file, for messages.
#[derive(Debug, Clone)]
struct Place {
    path: PathBuf,
    line: usize,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.path.display(), self.line)
    }
}

struct Opt {
    /// As written: ifupdown keeps `teql-master` and `teql_master` apart (both exported).
    name: String,
    /// Repeats of the same name are joined with newlines, as ifupdown does.
    value: String,
    line: usize,
}

struct Stanza {
    name: String,
    family: String,
    method: String,
    at: Place,
    /// Its own options only, and only the ones teqlctl reads (teql options, MASTER_OPTIONS,
    /// TUNNEL_OPTIONS and pre-up commands that run ip). An `inherits` parent is referred to, not copied: copying every
    /// ancestor's options into every stanza made a 146 KB file of inherits chains take
    /// 1.2 GB. `resolved` joins them when the stanza is read.
    options: Vec<Opt>,
    /// Option name to its index in `options`, for the options whose repeats are joined.
    index: HashMap<String, usize>,
    /// The stanza it inherits from, always an earlier one (so there are no cycles).
    parent: Option<usize>,
    /// How many `inherits` steps lead up from it (0 without a parent).
    depth: usize,
    /// Option lines of its ancestors, which count against MAX_OPTIONS with its own.
    inherited_lines: usize,
    /// Its own option lines, repeats included.
    own_lines: usize,
    /// Already reported for MAX_OPTIONS or an overlong value: its further options are dropped.
    over_limit: bool,
    /// Set by `resolved` on the first option whose value, joined with its inherited values,
    /// would be longer than MAX_LINE_CHARS; the rest of it is dropped and this is reported.
    overlong: Option<String>,
}

impl Stanza {
    /// The text a hook can rebuild from LOGICAL, ADDRFAM and METHOD.
    fn text(&self) -> String {
        stanza_text(&self.name, &self.family, &self.method)
    }

    /// An option whose repeats are joined (any but the commands).
    fn get(&self, name: &str) -> Option<&Opt> {
        self.index.get(name).map(|&j| &self.options[j])
    }
}

fn stanza_text(name: &str, family: &str, method: &str) -> String {
    format!("iface {} {} {}", shown(name), shown(family), shown(method))
}

/// The commands, which ifupdown runs once per line instead of joining repeats.
fn is_command(name: &str) -> bool {
    matches!(name, "up" | "down" | "pre-up" | "post-up" | "pre-down" | "post-down")
}

/// Stanza `i` with its ancestors' options in front of its own, as ifupdown copies them on
/// `inherits`: a name the stanza repeats gets both values joined with a newline. Bounded by
/// MAX_OPTIONS lines and MAX_INHERIT_DEPTH, and made for one stanza at a time.
fn resolved(stanzas: &[Stanza], i: usize) -> Stanza {
    let mut chain = vec![i];
    let mut at = i;
    while let Some(p) = stanzas[at].parent {
        chain.push(p);
        at = p;
    }
    let own = &stanzas[i];
    let mut out = Stanza {
        name: own.name.clone(),
        family: own.family.clone(),
        method: own.method.clone(),
        at: own.at.clone(),
        options: Vec::new(),
        index: HashMap::new(),
        parent: None,
        depth: 0,
        inherited_lines: 0,
        own_lines: 0,
        over_limit: own.over_limit,
        overlong: None,
    };
    for &s in chain.iter().rev() {
        for o in &stanzas[s].options {
            match out.index.get(&o.name) {
                Some(&j) if !is_command(&o.name) => {
                    let v = &mut out.options[j].value;
                    // Every stanza of a wide tree would otherwise carry (and a bad value
                    // would put into its error) a copy of a long inherited value.
                    if v.len() + 1 + o.value.len() > MAX_LINE_CHARS {
                        out.overlong.get_or_insert_with(|| o.name.clone());
                        continue;
                    }
                    v.push('\n');
                    v.push_str(&o.value);
                }
                _ => {
                    out.index.insert(o.name.clone(), out.options.len());
                    out.options.push(Opt { name: o.name.clone(), value: o.value.clone(), line: o.line });
                }
            }
        }
    }
    out
}

/// What the option lines that follow belong to.
enum State {
    None,
    Iface(usize),
    /// A `mapping` body (`script`, `map`), which says nothing teqlctl needs.
    Mapping,
    /// After an iface line that did not parse: its options have no stanza to belong to, and
    /// reporting each as misplaced would bury the one real mistake.
    Broken,
}

struct Reader<'a> {
    root: &'a Path,
    stanzas: Vec<Stanza>,
    /// Listed in `auto`, `allow-auto` or `allow-hotplug`: brought up at boot.
    onboot: BTreeSet<String>,
    /// Names of iface lines that did not parse.
    broken: BTreeSet<String>,
    /// Every file read, by canonical path, with the source line that read it.
    seen: HashMap<PathBuf, Option<Place>>,
    /// Source lines already reported for reading a file again: a repeated source-directory
    /// line would otherwise give one error per file in it.
    repeats_reported: BTreeSet<(PathBuf, usize)>,
    limit_reported: bool,
    stanza_limit_reported: bool,
    /// Stanza indexes by name, in file order, for `inherits`.
    by_name: HashMap<String, Vec<usize>>,
    problems: Vec<ConfigError>,
}

impl<'a> Reader<'a> {
    fn new(root: &'a Path) -> Reader<'a> {
        Reader {
            root,
            stanzas: Vec::new(),
            onboot: BTreeSet::new(),
            broken: BTreeSet::new(),
            seen: HashMap::new(),
            repeats_reported: BTreeSet::new(),
            limit_reported: false,
            stanza_limit_reported: false,
            by_name: HashMap::new(),
            problems: Vec::new(),
        }
    }

    fn read_main(&mut self, path: &Path) {
        self.read_file(path, None, "");
    }

    /// `from` is the source line that names `path`, `keyword` its first word.
    fn read_file(&mut self, path: &Path, from: Option<Place>, keyword: &str) {
        let key = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if let Some(from) = &from {
            if let Some(first) = self.seen.get(&key) {
                if !self.repeats_reported.insert((from.path.clone(), from.line)) {
                    return;
                }
                let first = match first {
                    Some(p) => format!("already read through {p}"),
                    None => "the main interfaces file".to_string(),
                };
                self.problems.push(ConfigError::Inconsistent {
                    path: from.path.clone(),
                    msg: format!(
                        "line {}: {keyword} reads {} again ({first}): a file sourced twice \
                         repeats its stanzas or loops; remove one of the source lines",
                        from.line,
                        path.display()
                    ),
                    device: None,
                });
                return;
            }
            if self.seen.len() >= MAX_FILES {
                if !self.limit_reported {
                    self.limit_reported = true;
                    self.problems.push(ConfigError::Inconsistent {
                        path: from.path.clone(),
                        msg: format!(
                            "line {}: {} makes teqlctl read more than {MAX_FILES} files; \
                             it reads no further ones: does it name the right directory?",
                            from.line,
                            shown(keyword)
                        ),
                        device: None,
                    });
                }
                return;
            }
        }
        // Never a plain fs::read: a FIFO would block every hook at boot, a device could be
        // read without end.
        let text = match read_config_file(path, MAX_FILE_BYTES) {
            // Lossy: a Latin-1 comment must not make the file unreadable; a mangled character
            // in a value still fails validation of that value.
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            // The main file may be absent (a box without ifupdown).
            Err(ReadProblem::NotFound) if from.is_none() => return,
            Err(e) => {
                self.problems.push(ConfigError::Io { path: path.to_path_buf(), reason: e.to_string(), device: None });
                return;
            }
        };
        self.seen.insert(key, from);
        self.parse(path, &text);
    }

    fn parse(&mut self, path: &Path, text: &str) {
        // Per file, as in ifupdown: a sourced file never continues the stanza that sourced it.
        let mut state = State::None;
        for line in logical_lines(text) {
            let place = Place { path: path.to_path_buf(), line: line.number };
            if line.text.chars().nth(MAX_LINE_CHARS).is_some() {
                let device = match state {
                    State::Iface(i) => self.stanzas.get(i).map(|s| s.name.clone()),
                    _ => None,
                };
                self.syntax(
                    &place,
                    line.col,
                    None,
                    format!(
                        "line longer than {MAX_LINE_CHARS} characters (continuation lines \
                         joined), the most teqlctl reads; no option value is that long"
                    ),
                    device.as_deref(),
                );
                // What follows would land in the wrong stanza or none.
                state = State::Broken;
                continue;
            }
            let (first, rest) = split_word(&line.text);
            if first.is_empty() {
                continue;
            }
            state = match first {
                "mapping" => State::Mapping,
                "source" => {
                    self.source(rest, &place, first, false);
                    State::None
                }
                // ifupdown matches this keyword by prefix (`source-dir` works too).
                w if w.starts_with("source-dir") => {
                    self.source(rest, &place, first, true);
                    State::None
                }
                "iface" => self.iface(rest, place, line.col),
                "auto" => {
                    self.onboot.extend(words(rest).map(str::to_string));
                    State::None
                }
                w if w.len() > "allow-".len() && w.starts_with("allow-") => {
                    // allow-auto is documented as a synonym of auto.
                    if matches!(&w["allow-".len()..], "auto" | "hotplug") {
                        self.onboot.extend(words(rest).map(str::to_string));
                    }
                    State::None
                }
                "no-auto-down" | "no-scripts" => State::None,
                _ => {
                    match state {
                        State::Iface(i) => self.option(i, first, rest, place, line.col),
                        State::Mapping | State::Broken => {}
                        State::None => self.problems.push(ConfigError::Syntax {
                            path: place.path,
                            line: place.line,
                            col: line.col,
                            key: Some(first.to_string()),
                            msg: "option outside an iface stanza (misplaced option: \
                                  ifupdown rejects the file); put it below its iface line"
                                .to_string(),
                            device: None,
                        }),
                    }
                    state
                }
            };
        }
    }

    /// `key`: the option the error is about, when there is one.
    fn syntax(&mut self, place: &Place, col: usize, key: Option<&str>, msg: String, device: Option<&str>) {
        self.problems.push(ConfigError::Syntax {
            path: place.path.clone(),
            line: place.line,
            col,
            key: key.map(str::to_string),
            msg,
            device: device.map(str::to_string),
        });
    }

    fn iface(&mut self, rest: &str, at: Place, col: usize) -> State {
        let w: Vec<&str> = words(rest).collect();
        let Some(&name) = w.first() else {
            self.syntax(
                &at,
                col,
                None,
                "iface needs an interface name, an address family and a method \
                 (such as iface eth2 inet static)"
                    .into(),
                None,
            );
            return State::Broken;
        };
        let broken = |r: &mut Self, msg: String| {
            r.syntax(&at, col, None, format!("iface {}: {msg}", shown(name)), Some(name));
            r.broken.insert(name.to_string());
            State::Broken
        };
        if self.stanzas.len() >= MAX_STANZAS {
            self.broken.insert(name.to_string());
            if std::mem::replace(&mut self.stanza_limit_reported, true) {
                return State::Broken;
            }
            return broken(
                self,
                format!(
                    "more than {MAX_STANZAS} iface stanzas, the most teqlctl reads; \
                     it reads no further ones"
                ),
            );
        }
        // Where the parent's name is, if the line says `inherits`.
        let (family, method, parent_at) = match (w.get(1), w.get(2)) {
            (None, _) => return broken(self, "no address family and method (such as iface eth2 inet static)".into()),
            (Some(&"inherits"), _) => (None, None, 2),
            (Some(f), _) if !FAMILIES.contains(f) => {
                return broken(
                    self,
                    format!("unknown address family {}: expected one of {}", quoted(f), FAMILIES.join(", ")),
                )
            }
            (Some(f), None) => {
                return broken(self, format!("no method after {} (such as static, dhcp or manual)", shown(f)))
            }
            (Some(f), Some(&"inherits")) => (Some(*f), None, 3),
            (Some(f), Some(m)) if w.get(3) == Some(&"inherits") => (Some(*f), Some(*m), 4),
            // ifupdown only warns about further words, and ignores them.
            (Some(f), Some(m)) => (Some(*f), Some(*m), 0),
        };
        let mut stanza = Stanza {
            name: name.to_string(),
            family: family.unwrap_or_default().to_string(),
            method: method.unwrap_or_default().to_string(),
            at: at.clone(),
            options: Vec::new(),
            index: HashMap::new(),
            parent: None,
            depth: 0,
            inherited_lines: 0,
            own_lines: 0,
            over_limit: false,
            overlong: None,
        };
        if parent_at > 0 {
            let Some(&parent) = w.get(parent_at) else {
                return broken(self, "inherits needs the name of the stanza to copy".into());
            };
            // ifupdown takes the first stanza of that name (and family, if one is given). It
            // is always an earlier stanza, so inheritance can never loop.
            let found = self
                .by_name
                .get(parent)
                .and_then(|list| list.iter().copied().find(|&j| family.is_none_or(|f| f == self.stanzas[j].family)));
            let Some(pi) = found else {
                if self.broken.contains(parent) {
                    return broken(
                        self,
                        format!("inherits {}, whose iface line is refused above: fix that one first", shown(parent)),
                    );
                }
                return broken(
                    self,
                    format!(
                        "inherits {}, but no {} {}stanza is defined above",
                        shown(parent),
                        shown(parent),
                        family.map(|f| format!("{f} ")).unwrap_or_default()
                    ),
                );
            };
            let p = &self.stanzas[pi];
            if p.depth + 1 > MAX_INHERIT_DEPTH {
                return broken(
                    self,
                    format!(
                        "inherits {}, which is already {MAX_INHERIT_DEPTH} inherits deep, the \
                         most teqlctl follows: inherit from a stanza higher up the chain",
                        shown(parent)
                    ),
                );
            }
            if stanza.family.is_empty() {
                stanza.family = p.family.clone();
            }
            if stanza.method.is_empty() {
                stanza.method = p.method.clone();
            }
            stanza.depth = p.depth + 1;
            stanza.inherited_lines = p.inherited_lines + p.own_lines;
            stanza.parent = Some(pi);
        }
        self.by_name.entry(stanza.name.clone()).or_default().push(self.stanzas.len());
        self.stanzas.push(stanza);
        State::Iface(self.stanzas.len() - 1)
    }

    fn option(&mut self, i: usize, name: &str, value: &str, at: Place, col: usize) {
        let Some(stanza) = self.stanzas.get_mut(i) else {
            return;
        };
        if value.is_empty() {
            let device = stanza.name.clone();
            self.syntax(
                &at,
                col,
                Some(name),
                "option has no value (ifupdown rejects the file)".to_string(),
                Some(&device),
            );
            return;
        }
        if stanza.over_limit {
            return;
        }
        stanza.own_lines += 1;
        if stanza.inherited_lines + stanza.own_lines > MAX_OPTIONS {
            stanza.over_limit = true;
            let device = stanza.name.clone();
            self.syntax(
                &at,
                col,
                Some(name),
                format!(
                    "iface {} has more than {MAX_OPTIONS} option lines (inherited ones \
                     included), the most teqlctl reads",
                    shown(&device)
                ),
                Some(&device),
            );
            return;
        }
        // Only options teqlctl reads are kept: the others (up commands, bridge ports...) are
        // counted against MAX_OPTIONS but would only cost memory and time, once per stanza
        // that inherits them.
        if !(is_teql_option(name)
            || MASTER_OPTIONS.contains(&name)
            || TUNNEL_OPTIONS.contains(&name)
            || (name == "pre-up" && is_ip_command(value)))
        {
            return;
        }
        // Commands may be given many times; any other repeated option is one value with
        // several lines, which is what the hook then sees.
        if !is_command(name) {
            if let Some(&j) = stanza.index.get(name) {
                if stanza.options[j].value.len() + 1 + value.len() > MAX_LINE_CHARS {
                    stanza.over_limit = true;
                    let device = stanza.name.clone();
                    self.syntax(
                        &at,
                        col,
                        Some(name),
                        format!(
                            "repeated until its value (the lines joined) is longer than \
                             {MAX_LINE_CHARS} characters, the most teqlctl reads; teqlctl \
                             reads no further options of iface {}",
                            shown(&device)
                        ),
                        Some(&device),
                    );
                    return;
                }
                let o = &mut stanza.options[j];
                o.value.push('\n');
                o.value.push_str(value);
                return;
            }
            stanza.index.insert(name.to_string(), stanza.options.len());
        }
        stanza.options.push(Opt { name: name.to_string(), value: value.to_string(), line: at.line });
    }

    fn source(&mut self, rest: &str, at: &Place, keyword: &str, directory: bool) {
        let base = at.path.parent().map(Path::to_path_buf).unwrap_or_default();
        // ifupdown runs the argument through wordexp: several words are several patterns.
        let patterns: Vec<String> = words(rest).map(str::to_string).collect();
        for pattern in patterns {
            for found in glob(&pattern, &base, self.root) {
                if directory {
                    let Ok(entries) = fs::read_dir(&found) else {
                        continue;
                    };
                    let mut names: Vec<OsString> =
                        entries.filter_map(Result::ok).map(|e| e.file_name()).filter(is_directory_file_name).collect();
                    names.sort();
                    for n in names {
                        self.source_file(&found.join(n), at, keyword);
                    }
                } else {
                    self.source_file(&found, at, keyword);
                }
            }
        }
    }

    /// Every path a source line names is read or reported: a dangling symlink, a FIFO or a
    /// device may have been meant to hold a line of a bundle, and nothing says it did not.
    /// Directories that a pattern matches say nothing to ifupdown either, and are skipped
    /// (stat() on a FIFO does not block; the read itself checks the type again).
    fn source_file(&mut self, path: &Path, at: &Place, keyword: &str) {
        if fs::metadata(path).is_ok_and(|m| m.is_dir()) {
            return;
        }
        self.read_file(path, Some(at.clone()), keyword);
    }
}

/// `source-directory` reads only names that run-parts would also accept.
fn is_directory_file_name(name: &OsString) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

struct Line {
    /// 1-based number of the first physical line.
    number: usize,
    /// 1-based column of the first word.
    col: usize,
    text: String,
}

/// C's isspace in the C locale, which is what ifupdown splits on.
fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

fn words(s: &str) -> impl Iterator<Item = &str> {
    s.split(is_c_space).filter(|w| !w.is_empty())
}

/// The first word and the rest with its leading blanks removed.
fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start_matches(is_c_space);
    match s.find(is_c_space) {
        Some(i) => (&s[..i], s[i..].trim_start_matches(is_c_space)),
        None => (s, ""),
    }
}

/// ifupdown's get_line: comment lines are only recognised at the start of a logical line (a
/// continued line starting with `#` is text), and only a backslash that is the very last
/// character continues a line (not one followed by blanks or a CR).
fn logical_lines(text: &str) -> Vec<Line> {
    let physical: Vec<&str> = text.split('\n').collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < physical.len() {
        let number = i + 1;
        let raw = physical[i];
        i += 1;
        let trimmed = raw.trim_start_matches(is_c_space);
        if trimmed.starts_with('#') {
            continue;
        }
        let col = raw[..raw.len() - trimmed.len()].chars().count() + 1;
        let mut buf = trimmed.to_string();
        while buf.ends_with('\\') {
            buf.pop();
            let Some(next) = physical.get(i) else {
                break;
            };
            buf.push_str(next);
            i += 1;
        }
        let len = buf.trim_end_matches(is_c_space).len();
        buf.truncate(len);
        out.push(Line { number, col, text: buf });
    }
    out
}

/// Expands a shell wildcard pattern the way wordexp does for `source`: sorted, hidden names
/// only for patterns that start with a dot, and nothing for a pattern that matches nothing.
/// Absolute patterns are taken below `root`.
fn glob(pattern: &str, base: &Path, root: &Path) -> Vec<PathBuf> {
    let (start, rel) = match pattern.strip_prefix('/') {
        Some(rel) => (root.to_path_buf(), rel),
        None => (base.to_path_buf(), pattern),
    };
    let mut found = vec![start];
    for comp in rel.split('/') {
        if comp.is_empty() || comp == "." {
            continue;
        }
        if !comp.contains(['*', '?', '[']) {
            let literal = unescape(comp);
            for p in &mut found {
                p.push(&literal);
            }
            continue;
        }
        let pat: Vec<char> = comp.chars().collect();
        let mut next = Vec::new();
        for dir in &found {
            let Ok(entries) = fs::read_dir(dir) else {
                continue;
            };
            let mut names: Vec<OsString> = entries
                .filter_map(Result::ok)
                .map(|e| e.file_name())
                .filter(|n| {
                    let n: Vec<char> = n.to_string_lossy().chars().collect();
                    (n.first() != Some(&'.') || pat.first() == Some(&'.')) && fnmatch(&pat, &n)
                })
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|n| dir.join(n)));
        }
        found = next;
    }
    found.retain(|p| fs::symlink_metadata(p).is_ok());
    found
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.extend(chars.next());
        } else {
            out.push(c);
        }
    }
    out
}

/// fnmatch(3) without flags, for one path component.
fn fnmatch(p: &[char], s: &[char]) -> bool {
    let (mut pi, mut si) = (0, 0);
    // Where the last `*` was, and how much of `s` it has swallowed so far.
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, si));
                pi += 1;
                continue;
            }
            Some('?') => Some(pi + 1),
            Some('[') => match bracket(p, pi, s[si]) {
                Some((true, next)) => Some(next),
                Some((false, _)) => None,
                None => (s[si] == '[').then_some(pi + 1),
            },
            Some('\\') if pi + 1 < p.len() => (p[pi + 1] == s[si]).then_some(pi + 2),
            Some(&c) => (c == s[si]).then_some(pi + 1),
            None => None,
        };
        match (step, star) {
            (Some(next), _) => {
                pi = next;
                si += 1;
            }
            (None, Some((sp, ss))) => {
                pi = sp + 1;
                si = ss + 1;
                star = Some((sp, ss + 1));
            }
            (None, None) => return false,
        }
    }
    p[pi.min(p.len())..].iter().all(|&c| c == '*')
}

/// Matches `c` against the bracket expression at `p[start]`: Some((matched, index after the
/// closing bracket)), or None when there is no closing bracket (then `[` is literal).
fn bracket(p: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = matches!(p.get(i), Some('!' | '^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let lo = *p.get(i)?;
        if lo == ']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&h| h != ']') {
            let hi = p[i + 2];
            matched |= lo <= c && c <= hi;
            i += 3;
        } else {
            matched |= lo == c;
            i += 1;
        }
    }
}

/// The name ifupdown exports an option under, without `IF_`: upper case, `-` as `_`, other
/// characters dropped.
fn env_name(option: &str) -> String {
    option
        .chars()
        .filter_map(|c| match c {
            '-' => Some('_'),
            c if c.is_ascii_alphanumeric() || c == '_' => Some(c.to_ascii_uppercase()),
            _ => None,
        })
        .collect()
}

fn is_teql_option(option: &str) -> bool {
    env_name(option).starts_with("TEQL")
}

fn build(reader: Reader) -> Config {
    let root = reader.root;
    let mut config = Config { problems: reader.problems, ..Config::default() };
    // Masters with an iface line of their own, valid or not: a broken one must not be replaced
    // by a bare master as if it did not exist.
    let mut master_stanzas: BTreeSet<String> =
        reader.broken.iter().filter(|n| master_index(n).is_some()).cloned().collect();
    let mut first_stanza: BTreeMap<String, Place> = BTreeMap::new();

    for (idx, raw) in reader.stanzas.iter().enumerate() {
        // The hook exits at once for other families, so their teql options do nothing.
        if raw.family != "inet" {
            continue;
        }
        // With its inherited options, made for this stanza alone and dropped after it.
        let resolved = resolved(&reader.stanzas, idx);
        let stanza = &resolved;
        if let Some(name) = &stanza.overlong {
            config.problems.push(ConfigError::Inconsistent {
                path: stanza.at.path.clone(),
                msg: format!(
                    "{} at {}: option {} with the values it inherits is longer than \
                     {MAX_LINE_CHARS} characters, the most teqlctl reads",
                    stanza.text(),
                    stanza.at,
                    shown(name)
                ),
                device: Some(stanza.name.clone()),
            });
            continue;
        }
        let is_master = master_index(&stanza.name).is_some()
            || stanza.options.iter().any(|o| env_name(&o.name) == Key::Mode.def().ifcfg);
        if is_master {
            master_stanzas.insert(stanza.name.clone());
        }
        // Its options were cut short at a limit, which is reported: checking what is left
        // would only add errors about a stanza teqlctl did not read whole.
        if raw.over_limit {
            continue;
        }
        if let Some(first) = first_stanza.get(stanza.name.as_str()) {
            let ours = stanza
                .options
                .iter()
                .any(|o| is_teql_option(&o.name) || (is_master && MASTER_OPTIONS.contains(&o.name.as_str())));
            if ours {
                let what = if is_master {
                    "teqlctl reads only the first stanza of a master: merge them"
                } else {
                    "ifupdown runs the hooks once per stanza, each time with that stanza's \
                     options only: keep the teql options in the first stanza"
                };
                config.problems.push(ConfigError::Inconsistent {
                    path: stanza.at.path.clone(),
                    msg: format!(
                        "{} at {} repeats the inet stanza of {} at {first} and sets teql \
                         options; {what}",
                        stanza.text(),
                        stanza.at,
                        shown(&stanza.name)
                    ),
                    device: Some(stanza.name.clone()),
                });
            }
            continue;
        }
        first_stanza.insert(stanza.name.clone(), stanza.at.clone());

        let text = stanza.text();
        let mut ctx = Ctx {
            path: &stanza.at.path,
            device: &stanza.name,
            stanza: &text,
            options: &stanza.options,
            bundle: is_master,
            problems: Vec::new(),
        };
        let onboot = reader.onboot.contains(&stanza.name);
        if is_master {
            if let Some(m) = build_master(&mut ctx, stanza, onboot) {
                if ctx.problems.is_empty() {
                    config.masters.insert(m.device.clone(), m);
                }
            }
        } else if let Some(mut m) = build_member(&mut ctx, stanza) {
            if ctx.problems.is_empty() {
                m.onboot = onboot;
                config.members.insert(stanza.name.clone(), m);
            }
        }
        config.problems.append(&mut ctx.problems);
    }

    finish(&mut config, root, &FORMAT, &master_stanzas);
    config
}

/// Collects the problems of one stanza.
struct Ctx<'a> {
    path: &'a Path,
    device: &'a str,
    stanza: &'a str,
    /// The stanza's options with their lines, for the line a bad value is on (none in a hook:
    /// ifupdown's environment has no lines).
    options: &'a [Opt],
    /// The stanza is a bundle's (teqlN, or one with teql-mode): line options are misplaced.
    bundle: bool,
    problems: Vec<ConfigError>,
}

impl Problems for Ctx<'_> {
    /// Named with the option's line and its stanza, as ifupdown's own errors are: a file of
    /// several lines' stanzas says nothing by its name alone.
    fn invalid(&mut self, key: &str, value: &str, expected: &str) {
        let exported = env_name(key);
        let line = self.options.iter().find(|o| env_name(&o.name) == exported).map(|o| o.line);
        self.problems.push(ConfigError::InvalidValue {
            path: self.path.to_path_buf(),
            key: key.to_string(),
            value: value.to_string(),
            expected: expected.into(),
            device: Some(self.device.to_string()),
            at: Some(Box::new(super::At { line, stanza: self.stanza.to_string() })),
        });
    }

    /// The message starts with the stanza, which names the line or bundle it is about.
    fn inconsistent(&mut self, msg: String) {
        self.problems.push(ConfigError::Inconsistent {
            path: self.path.to_path_buf(),
            msg: format!("{}: {msg}", self.stanza),
            device: Some(self.device.to_string()),
        });
    }
}

/// The teql options of a stanza by exported name; reports the ones teqlctl does not know and
/// options given under two spellings (the hook would see both, in an unspecified order).
/// Only the first unknown option of a stanza is reported, with a count of the others: a
/// stanza (or its inherits parent) full of them must not make thousands of problems.
fn teql_options<'s>(ctx: &mut Ctx, stanza: &'s Stanza) -> BTreeMap<String, &'s Opt> {
    let mut found: BTreeMap<String, &Opt> = BTreeMap::new();
    let mut unknown: Vec<&Opt> = Vec::new();
    for o in &stanza.options {
        let key = env_name(&o.name);
        if !key.starts_with("TEQL") {
            continue;
        }
        if !KEYS.iter().any(|d| d.ifcfg == key) {
            unknown.push(o);
        } else if let Some(prev) = found.get(&key) {
            ctx.inconsistent(format!(
                "{} (line {}) and {} (line {}) are the same option to the hooks (both are \
                 exported as IF_{key}): keep one",
                shown(&prev.name),
                prev.line,
                shown(&o.name),
                o.line
            ));
        } else {
            found.insert(key, o);
        }
    }
    if let Some(o) = unknown.first() {
        let known: Vec<&str> = KEYS.iter().map(|d| d.interfaces).collect();
        let more = match unknown.len() {
            1 => String::new(),
            n => format!(" and {} more unknown teql options", n - 1),
        };
        ctx.inconsistent(format!(
            "unknown option {} {} (line {}){more}: {}",
            shown(&o.name),
            quoted(&o.value),
            o.line,
            super::unknown_key_hint(&o.name, &known)
        ));
    }
    found
}

fn build_member(ctx: &mut Ctx, stanza: &Stanza) -> Option<Member> {
    let options = teql_options(ctx, stanza);
    let values = option_values(|k| options.get(k).map(|o| o.value.as_str()));
    keys::routing_keys_on_line(ctx, &FORMAT, &values, &stanza.name);
    let mut member = check_member(ctx, &values, false)?;
    // ifupdown's own `gateway` is not the line's gateway as GATEWAY= and NetworkManager's are:
    // ifupdown adds `default via GATEWAY dev LINE` to the main table for it, a default route
    // beside the bundle's that takes its traffic, and the second line's fails ("File
    // exists"), which fails that line's ifup before teqlctl's hook runs. Ignoring it left the
    // line out for want of a gateway, so it is refused, with what to write instead.
    if let (false, Some(gw)) = (member.master.is_teql(), stanza.get("gateway")) {
        ctx.inconsistent(format!(
            "gateway {} (line {}) on a line of multipath bundle {}: ifupdown would add a default route \
             of its own through {} beside the bundle's (and fail on the second line); write it as \
             teql-gateway {}",
            quoted(&gw.value),
            gw.line,
            member.master,
            shown(&stanza.name),
            shown(&gw.value)
        ));
        return None;
    }
    // A TEQL line's own `gateway`, as ifcfg's GATEWAY= is read: ifupdown routes by it, and
    // the plan and status compare the lines' routers (independent ISPs under one TEQL bundle).
    member.path.plain_gateway = stanza.get("gateway").and_then(|g| g.value.parse().ok());
    member.tunnel = read_tunnel(ctx, stanza)?;
    Some(member)
}

/// The GRE or IPIP tunnel a line's stanza makes: ifupdown's `inet tunnel` method (mode, local,
/// endpoint), ifupdown2's tunnel-mode, tunnel-local and tunnel-endpoint (on any method; it
/// also takes the short names), or else a simple `pre-up ip tunnel add NAME ...` or `pre-up ip
/// link add NAME type ...` command. Some(None) for any other stanza or kind of tunnel; None
/// when a value is bad (recorded).
fn read_tunnel(ctx: &mut Ctx, stanza: &Stanza) -> Option<Option<TunnelConf>> {
    let long = ["tunnel-mode", "tunnel-local", "tunnel-endpoint"].iter().any(|o| stanza.get(o).is_some());
    if long || stanza.method == "tunnel" {
        return read_tunnel_options(ctx, stanza, long);
    }
    let mut commands = stanza.options.iter().filter(|o| o.name == "pre-up");
    let Some((cmd, found)) = commands.find_map(|o| Some((o, parse_tunnel_command(&stanza.name, &o.value)?))) else {
        return Some(None);
    };
    match found {
        Ok(t) => Some(t),
        Err(why) => {
            ctx.invalid(
                "pre-up",
                &cmd.value,
                &format!(
                    "`ip tunnel add {} mode gre|ipip local ADDRESS remote ADDRESS [key KEY]` (line {}): {why}",
                    shown(&stanza.name),
                    cmd.line
                ),
            );
            None
        }
    }
}

/// The tunnel options of an `inet tunnel` stanza (`long`: ifupdown2's tunnel-* names are used).
fn read_tunnel_options(ctx: &mut Ctx, stanza: &Stanza, long: bool) -> Option<Option<TunnelConf>> {
    let mut bad = false;
    // ifupdown2 takes either name; both set differently is a mistake whichever one it uses.
    let mut value = |short: &str, name: &'static str| -> Option<(&'static str, String)> {
        let (s, l) = (stanza.get(short), stanza.get(name));
        if let (Some(s), Some(l)) = (s, l) {
            if s.value != l.value {
                ctx.inconsistent(format!(
                    "{short} {} (line {}) and {name} {} (line {}) are the same option to ifupdown2: keep one",
                    quoted(&s.value),
                    s.line,
                    quoted(&l.value),
                    l.line
                ));
                bad = true;
            }
        }
        let key = if l.is_some() { name } else { short_name(name) };
        l.or(s).map(|o| (key, o.value.clone()))
    };
    let mode = value("mode", "tunnel-mode");
    let local = value("local", "tunnel-local");
    let endpoint = value("endpoint", "tunnel-endpoint");
    if bad {
        return None;
    }
    let Some((mode_key, mode)) = mode else { return Some(None) };
    let kind = match TunnelKind::from_ip_mode(&mode) {
        Some(k) => k,
        None => {
            if let Some(k) = TunnelKind::from_ip_mode(&mode.to_ascii_lowercase()) {
                ctx.invalid(
                    mode_key,
                    &mode,
                    &format!("{} in lower case: ip tunnel add reads no other spelling", k.ip_mode()),
                );
                return None;
            }
            return Some(None);
        }
    };
    let local = local.map(|(k, v)| ctx.field(k, Some(&v), parse_outer_addr, EXPECT_OUTER_ADDR));
    let remote = endpoint.map(|(k, v)| ctx.field(k, Some(&v), parse_outer_addr, EXPECT_OUTER_ADDR));
    let (local, remote) = (local.transpose().ok()?, remote.transpose().ok()?);
    Some(Some(TunnelConf {
        kind,
        local: local.flatten().flatten(),
        remote: remote.flatten().flatten(),
        ikey: None,
        okey: None,
        origin: if long { TunnelOrigin::TunnelOptions } else { TunnelOrigin::TunnelMethod },
    }))
}

/// ifupdown's name of one of ifupdown2's tunnel options.
fn short_name(long: &'static str) -> &'static str {
    long.strip_prefix("tunnel-").unwrap_or(long)
}

/// A command that runs ip (`ip ...`, `/sbin/ip ...`): the pre-up lines worth keeping.
fn is_ip_command(value: &str) -> bool {
    words(value).next().is_some_and(|w| w == "ip" || w.ends_with("/ip"))
}

/// `ip [-4] tunnel add [name] NAME mode M ...` or `ip [-4] link add [name|dev] NAME type M
/// ...` that makes `device`: None when the command is anything else (another device, another
/// verb, a word this reader does not know, shell syntax); Some(Ok(None)) for a tunnel that is
/// not GRE or IPIP; Some(Err(why)) when a value is bad.
fn parse_tunnel_command(device: &str, command: &str) -> Option<Result<Option<TunnelConf>, String>> {
    // The shell runs it: quotes, redirections, variables and a second command are beyond
    // "simple", and their characters would otherwise end up in a value.
    if !is_ip_command(command) || command.contains(|c: char| ";|&<>`$()'\"\\{}*?[]~#".contains(c)) {
        return None;
    }
    let w: Vec<&str> = words(command).collect();
    let mut i = 1;
    if w.get(i) == Some(&"-4") {
        i += 1;
    }
    let link = match (w.get(i), w.get(i + 1)) {
        (Some(&("tunnel" | "tun")), Some(&"add")) => false,
        (Some(&"link"), Some(&"add")) => true,
        _ => return None,
    };
    i += 2;
    if matches!(w.get(i), Some(&"name")) || (link && w.get(i) == Some(&"dev")) {
        i += 1;
    }
    if w.get(i) != Some(&device) {
        return None;
    }
    i += 1;
    let kind_word = if link { "type" } else { "mode" };
    let (mut kind, mut local, mut remote, mut ikey, mut okey) = (None, None, None, None, None);
    while let Some(&word) = w.get(i) {
        if matches!(word, "pmtudisc" | "nopmtudisc") {
            i += 1;
            continue;
        }
        let value = *w.get(i + 1)?;
        i += 2;
        match word {
            k if k == kind_word => kind = Some(value),
            "local" | "remote" => {
                let a = parse_outer_addr(value)
                    .ok_or_else(|| format!("{word} {}: expected {EXPECT_OUTER_ADDR}", quoted(value)));
                match a {
                    Ok(a) if word == "local" => local = a,
                    Ok(a) => remote = a,
                    Err(e) => return Some(Err(e)),
                }
            }
            "key" | "ikey" | "okey" => {
                let Some(k) = parse_tunnel_key(value) else {
                    return Some(Err(format!("{word} {}: expected {EXPECT_TUNNEL_KEY}", quoted(value))));
                };
                if word != "okey" {
                    ikey = Some(k);
                }
                if word != "ikey" {
                    okey = Some(k);
                }
            }
            // Not mirrored: the far end chooses its own.
            "ttl" | "hoplimit" | "tos" | "dsfield" | "dev" => {}
            _ => return None,
        }
    }
    let Some(kind) = kind.and_then(TunnelKind::from_ip_mode) else { return Some(Ok(None)) };
    if kind == TunnelKind::Ipip && (ikey.is_some() || okey.is_some()) {
        return Some(Err("a key on an ipip tunnel: only GRE tunnels have keys (ip refuses it)".to_string()));
    }
    Some(Ok(Some(TunnelConf { kind, local, remote, ikey, okey, origin: TunnelOrigin::Command })))
}

/// The checks shared by the file reader and the hook, so that both report the same errors.
/// `onboot` is only a default; the file reader sets it from the auto lines.
fn check_member(ctx: &mut Ctx, values: &Values, onboot: bool) -> Option<Member> {
    let device = ctx.device;
    if master_index(device).is_some() || ctx.bundle {
        keys::line_keys_on_bundle(ctx, &FORMAT, values, device);
        return None;
    }
    let (master, rp_filter) = keys::read_line_tie(ctx, &FORMAT, values);
    let Some(master) = master.ok()? else {
        keys::line_keys_without_master(ctx, &FORMAT, values, &rp_filter);
        return None;
    };
    let probe = keys::line_probe(ctx, &FORMAT, values)?;
    let rp_written = rp_filter.ok()?;
    let rp_filter = rp_written.unwrap_or(RpFilter::Loose);
    let path = LinePath { rp_filter: rp_written, ..keys::line_path(ctx, &FORMAT, values)? };
    let Some(name) = IfName::new(device) else {
        ctx.inconsistent(format!(
            "{} cannot be a line of {master}: teqlctl takes {}",
            quoted(device),
            crate::names::why_refused(device)
        ));
        return None;
    };
    Some(Member {
        device: name,
        master,
        rp_filter,
        onboot,
        probe,
        path,
        tunnel: None,
        source: ctx.path.to_path_buf(),
        spelling: Spelling::Interfaces,
    })
}

fn build_master(ctx: &mut Ctx, stanza: &Stanza, onboot: bool) -> Option<Master> {
    let bundle = keys::bundle_name(ctx, &stanza.name);
    let options = teql_options(ctx, stanza);
    let values = option_values(|k| options.get(k).map(|o| o.value.as_str()));
    check_member(ctx, &values, false);
    let (mode, routing) = keys::read_bundle(ctx, &FORMAT, &values, &stanza.name)?;
    let value = |name: &str| stanza.get(name).map(|o| o.value.as_str());
    if mode.paths().is_some() {
        // The bundle is no device: ifupdown's own options for one would configure nothing.
        if keys::device_keys_on_multipath(ctx, &FORMAT, &stanza.name, |k| value(k).is_some()) {
            return None;
        }
        let metric = ctx.field("metric", value("metric"), parse_decimal, EXPECT_METRIC);
        let metric = metric.ok()?.unwrap_or(0);
        return Some(Master::multipath(bundle?, mode, onboot, metric, stanza.at.path.clone()));
    }
    let mtu = ctx.field("mtu", value("mtu"), parse_mtu, EXPECT_MTU);
    let metric = ctx.field("metric", value("metric"), parse_decimal, EXPECT_METRIC);
    let gateway = ctx.field("gateway", value("gateway"), parse_ipv4, EXPECT_IPV4);
    let address = ctx.field(
        "address",
        value("address"),
        parse_address,
        "an IPv4 address with its prefix length, such as 203.0.113.2/28",
    );
    let netmask = ctx.field(
        "netmask",
        value("netmask"),
        parse_mask,
        "a contiguous dotted netmask such as 255.255.255.240, or a prefix length from 0 to 32",
    );
    let address = match (address, netmask) {
        (Ok(Some((addr, Some(len)))), Ok(Some(mask))) if len != mask => {
            // ifupdown would silently let netmask win; one of the two is a mistake.
            ctx.inconsistent(format!("address {addr}/{len} and netmask /{mask} disagree: keep only one of them"));
            None
        }
        (Ok(Some((addr, Some(prefix_len)))), Ok(_)) | (Ok(Some((addr, None))), Ok(Some(prefix_len))) => {
            Some(Ipv4Prefix { addr, prefix_len })
        }
        (Ok(Some((addr, None))), Ok(None)) => {
            // ifupdown would guess a classful netmask, which is rarely the line's subnet.
            ctx.inconsistent(format!(
                "address {addr} has no prefix length: write it as address {addr}/LENGTH (for \
                 example {addr}/28) or add a netmask option"
            ));
            None
        }
        _ => None,
    };
    Some(Master {
        device: bundle?,
        address,
        // ifupdown's static method installs `default via GATEWAY onlink` whenever it is given.
        default_route: matches!(gateway, Ok(Some(_))),
        gateway: gateway.ok()?,
        mtu: mtu.ok()?,
        metric: metric.ok()?.unwrap_or(0),
        onboot,
        mode,
        routing,
        source: Some(stanza.at.path.clone()),
    })
}

/// ifupdown's own options take yes/no (and true/false, on/off, 1/0 in the wild).
fn parse_yes_no(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" | "1" => Some(true),
        "no" | "false" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// A prefix length or a contiguous dotted netmask, both of which ifupdown accepts in
/// `netmask` and after the slash of `address`.
fn parse_mask(v: &str) -> Option<u8> {
    if v.contains('.') {
        return parse_netmask(v);
    }
    parse_prefix_len(v)
}

fn parse_address(v: &str) -> Option<(Ipv4Addr, Option<u8>)> {
    match v.split_once('/') {
        Some((addr, mask)) => Some((parse_ipv4(addr)?, Some(parse_mask(mask)?))),
        None => Some((parse_ipv4(v)?, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tempfile::TempDir;

    struct Root {
        dir: TempDir,
    }

    impl Root {
        fn new() -> Root {
            let dir = tempfile::tempdir().unwrap();
            fs::create_dir_all(dir.path().join("etc/network")).unwrap();
            Root { dir }
        }

        fn path(&self) -> &Path {
            self.dir.path()
        }

        fn interfaces(&self, text: &str) -> &Root {
            fs::write(interfaces_file(self.path()), text).unwrap();
            self
        }

        /// A file below ROOT/etc/network.
        fn write(&self, name: &str, text: &str) -> &Root {
            let path = self.file(name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
            self
        }

        fn file(&self, name: &str) -> PathBuf {
            self.path().join("etc/network").join(name)
        }

        fn main(&self) -> PathBuf {
            interfaces_file(self.path())
        }

        fn load(&self) -> Config {
            load(self.path())
        }
    }

    fn line_stanza(n: u32) -> String {
        format!("auto eth{n}\niface eth{n} inet static\n    address 198.18.{n}.1/30\n    teql-master teql0\n")
    }

    const TEQL0: &str = "auto teql0\niface teql0 inet static\n    address 203.0.113.2/28\n    \
                         gateway 203.0.113.1\n";

    /// The example from the issue, with the master's stanza last.
    fn issue_text() -> String {
        let mut text: String = (2..=5).map(line_stanza).collect();
        text.push_str(TEQL0);
        text
    }

    fn issue_example() -> Root {
        let root = Root::new();
        root.interfaces(&issue_text());
        root
    }

    fn only_problem(c: &Config) -> &ConfigError {
        assert_eq!(c.problems.len(), 1, "{:#?}", c.problems);
        &c.problems[0]
    }

    /// What a hook reads: the exported options (TEQL_MASTER, ...) ifupdown gives it.
    fn hook_values<'a>(options: &[(&str, &'a str)]) -> Values<'a> {
        option_values(|k| options.iter().find(|(n, _)| *n == k).map(|(_, v)| *v))
    }

    fn no_problems(c: &Config) {
        assert!(c.problems.is_empty(), "{:#?}", c.problems);
    }

    fn teql0(c: &Config) -> &Master {
        c.masters.get("teql0").unwrap_or_else(|| panic!("no teql0: {c:#?}"))
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn prefix(s: &str, len: u8) -> Option<Ipv4Prefix> {
        Some(Ipv4Prefix { addr: ip(s), prefix_len: len })
    }

    fn assert_invalid(e: &ConfigError, path: &Path, device: &str, key: &str, value: &str, expected: &str) {
        match e {
            ConfigError::InvalidValue { path: p, key: k, value: v, expected: x, device: d, .. } => {
                assert_eq!(p, path, "{e:?}");
                assert_eq!(k, key, "{e:?}");
                assert_eq!(v, value, "{e:?}");
                assert!(x.contains(expected), "{e:?}");
                assert_eq!(d.as_deref(), Some(device), "{e:?}");
            }
            _ => panic!("not InvalidValue: {e:?}"),
        }
    }

    fn assert_inconsistent(e: &ConfigError, path: &Path, device: Option<&str>, words: &[&str]) {
        match e {
            ConfigError::Inconsistent { path: p, msg, device: d } => {
                assert_eq!(p, path, "{e:?}");
                assert_eq!(d.as_deref(), device, "{e:?}");
                for w in words {
                    assert!(msg.contains(w), "{w:?} not in {msg:?}");
                }
            }
            _ => panic!("not Inconsistent: {e:?}"),
        }
    }

    fn assert_syntax(e: &ConfigError, path: &Path, line: usize, device: Option<&str>, words: &[&str]) {
        match e {
            ConfigError::Syntax { path: p, line: l, msg, device: d, .. } => {
                assert_eq!((p.as_path(), *l), (path, line), "{e:?}");
                assert_eq!(d.as_deref(), device, "{e:?}");
                // The option's name is in the key part of the line, not in msg.
                let text = e.to_string();
                for w in words {
                    assert!(text.contains(w), "{w:?} not in {text:?} ({msg:?})");
                }
            }
            _ => panic!("not Syntax: {e:?}"),
        }
    }

    #[test]
    fn probe_options_of_a_line() {
        let text = issue_text().replace(
            "iface eth3 inet static\n",
            "iface eth3 inet static\n    teql-probe 198.51.100.10,192.0.2.1 203.0.113.9\n    \
             teql-probe-via 198.18.3.2\n    teql-probe-timeout 300\n    teql_probe_down 4\n    \
             teql-probe-up 5\n",
        );
        let root = Root::new();
        root.interfaces(&text);
        let c = root.load();
        no_problems(&c);
        let p = &c.members["eth3"].probe;
        assert_eq!(p.targets, [ip("198.51.100.10"), ip("192.0.2.1"), ip("203.0.113.9")]);
        assert_eq!((p.via, p.timeout_ms, p.down, p.up), (Some(ip("198.18.3.2")), 300, 4, 5));
        assert_eq!(c.members["eth2"].probe, crate::config::Probe::default());
    }

    #[test]
    fn probe_options_in_the_hook() {
        let root = Root::new();
        // The hook reads the same options from the environment and reports the same error.
        let path = root.main();
        let values = hook_values(&[("TEQL_MASTER", "teql0"), ("TEQL_PROBE_UP", "0")]);
        let e = member_from_options("eth2", values, &path, "iface eth2 inet static").unwrap_err();
        assert!(
            e.to_string().ends_with(
                "interfaces: iface eth2 inet static: teql-probe-up \"0\" is not valid: expected a number of rounds \
                 from 1 to 100"
            ),
            "{e}"
        );
    }

    #[test]
    fn issue_example_loads() {
        let root = issue_example();
        let c = root.load();
        no_problems(&c);
        assert_eq!(c.members.keys().collect::<Vec<_>>(), ["eth2", "eth3", "eth4", "eth5"]);
        assert_eq!(
            c.members["eth3"],
            Member {
                device: "eth3".into(),
                master: "teql0".into(),
                rp_filter: RpFilter::Loose,
                onboot: true,
                probe: Default::default(),
                source: root.main(),
                spelling: Spelling::Interfaces,
                path: Default::default(),
                tunnel: None,
            }
        );
        assert_eq!(
            teql0(&c),
            &Master {
                device: "teql0".into(),
                address: prefix("203.0.113.2", 28),
                gateway: Some(ip("203.0.113.1")),
                default_route: true,
                mtu: None,
                metric: 0,
                onboot: true,
                source: Some(root.main()),
                mode: Default::default(),
                routing: Default::default(),
            }
        );
        assert_eq!(c.masters.len(), 1);
        assert!(c.files.is_empty());
        assert_eq!(c.masters_needed(), 1);
    }

    #[test]
    fn master_stanza_first_gives_the_same_config() {
        let last = issue_example().load();
        let root = Root::new();
        let mut text = TEQL0.to_string();
        text.extend((2..=5).map(line_stanza));
        root.interfaces(&text);
        let first = root.load();
        no_problems(&first);
        // Paths differ between the two roots; compare everything else.
        let strip = |c: &Config| {
            let members: Vec<_> =
                c.members.values().map(|m| (m.device.clone(), m.master.clone(), m.rp_filter, m.onboot)).collect();
            let masters: Vec<_> = c.masters.values().map(|m| Master { source: None, ..m.clone() }).collect();
            (members, masters)
        };
        assert_eq!(strip(&first), strip(&last));
    }

    #[test]
    fn address_and_netmask_forms() {
        let root = Root::new();
        for (opts, want) in [
            ("address 203.0.113.2\n netmask 255.255.255.240\n", 28),
            ("address 203.0.113.2\n netmask 28\n", 28),
            ("address 203.0.113.2/255.255.255.248\n", 29),
            ("address 203.0.113.2/28\n netmask 255.255.255.240\n", 28),
            ("netmask 24\n address 203.0.113.2/24\n", 24),
        ] {
            root.interfaces(&format!("iface teql0 inet static\n {opts}"));
            let c = root.load();
            no_problems(&c);
            assert_eq!(teql0(&c).address, prefix("203.0.113.2", want), "{opts}");
            assert_eq!((teql0(&c).gateway, teql0(&c).default_route), (None, false));
            assert!(!teql0(&c).onboot);
        }

        root.interfaces("iface teql0 inet static\n address 203.0.113.2/28\n netmask 24\n");
        let c = root.load();
        assert_inconsistent(only_problem(&c), &root.main(), Some("teql0"), &["disagree"]);
        assert!(c.masters.is_empty());

        root.interfaces("iface teql0 inet static\n address 203.0.113.2\n");
        let c = root.load();
        assert_inconsistent(
            only_problem(&c),
            &root.main(),
            Some("teql0"),
            &["iface teql0 inet static: ", "203.0.113.2/28", "netmask"],
        );

        // No address at all is a master brought up without one.
        root.interfaces("allow-hotplug teql0\niface teql0 inet manual\n mtu 1500\n metric 7\n");
        let c = root.load();
        no_problems(&c);
        let m = teql0(&c);
        assert_eq!((m.address, m.mtu, m.metric, m.onboot), (None, Some(1500), 7, true));
    }

    #[test]
    fn invalid_master_values() {
        let root = Root::new();
        for (opts, key, value, expected) in [
            ("address 203.0.113.256/28", "address", "203.0.113.256/28", "IPv4"),
            ("address 203.0.113.2/33", "address", "203.0.113.2/33", "prefix length"),
            ("address 203.0.113.2\n netmask 255.0.255.0", "netmask", "255.0.255.0", "contiguous"),
            ("gateway gw.example", "gateway", "gw.example", "IPv4"),
            ("mtu 67", "mtu", "67", "68 to 65535"),
            ("mtu 65536", "mtu", "65536", "68 to 65535"),
            ("metric -1", "metric", "-1", "route metric"),
            ("metric 4294967296", "metric", "4294967296", "route metric"),
            // Repeated options reach ifupdown as one value with two lines.
            ("address 203.0.113.2/28\n address 192.0.2.1/24", "address", "203.0.113.2/28\n192.0.2.1/24", "IPv4"),
        ] {
            root.interfaces(&format!("iface eth2 inet manual\n teql-master teql0\niface teql0 inet static\n {opts}\n"));
            let c = root.load();
            assert_invalid(only_problem(&c), &root.main(), "teql0", key, value, expected);
            // A broken master is not replaced by a bare one.
            assert!(c.masters.is_empty(), "{opts}");
            assert_eq!(c.members.len(), 1);
            assert_eq!(c.problems_for("eth2").len(), 1);
        }
        root.interfaces("iface teql0 inet static\n address 203.0.113.2/28\n mtu 68\n metric 4294967295\n");
        let c = root.load();
        no_problems(&c);
        assert_eq!((teql0(&c).mtu, teql0(&c).metric), (Some(68), u32::MAX));
    }

    #[test]
    fn continuation_lines_and_comments() {
        let root = Root::new();
        root.interfaces(
            "# Lines to the exchange\n\
             \x20  # indented comment with teql-master teql9\n\
             auto eth2 \\\n  eth3\n\
             iface eth2 \\\ninet static\n\
             \x20   address 198.18.2.1/30\n\
             \x20   # a comment ending in a backslash does not continue \\\n\
             \x20   teql-master \\\n        teql0\n\
             \n\
             iface eth3 inet manual\r\n\
             \x20   teql-master teql1\r\n",
        );
        let c = root.load();
        no_problems(&c);
        assert_eq!(c.members["eth2"].master, "teql0");
        assert!(c.members["eth2"].onboot && c.members["eth3"].onboot);
        assert_eq!(c.members["eth3"].master, "teql1");
        assert_eq!(c.masters.keys().collect::<Vec<_>>(), ["teql0", "teql1"]);

        // interfaces(5) has no end-of-line comments: the hook sees the whole text.
        root.interfaces("iface eth2 inet manual\n  teql-master teql0 # bundle\n");
        assert_invalid(
            only_problem(&root.load()),
            &root.main(),
            "eth2",
            "teql-master",
            "teql0 # bundle",
            "teql master name",
        );

        // A backslash followed by a blank continues nothing; the error is on the right line.
        root.interfaces("iface eth2 \\ \ninet manual\n");
        let c = root.load();
        assert_syntax(only_problem(&c), &root.main(), 1, Some("eth2"), &["iface eth2"]);
    }

    #[test]
    fn invalid_utf8_is_read_lossily() {
        let root = Root::new();
        let mut bytes = b"# Leitung f\xfcr das B\xfcro\n".to_vec();
        bytes.extend_from_slice(issue_text().as_bytes());
        fs::write(root.main(), bytes).unwrap();
        let c = root.load();
        no_problems(&c);
        assert_eq!(c.members.len(), 4);
    }

    #[test]
    fn source_with_relative_glob() {
        let root = Root::new();
        root.interfaces("source lines/eth*\nsource lines/none-*\nsource teql.d/[!x]*.cfg\n");
        for n in [3, 2] {
            root.write(&format!("lines/eth{n}"), &line_stanza(n));
        }
        root.write("lines/.eth9", "iface eth9 inet manual\n teql-master broken\n");
        root.write("lines/eth4~/x", "not a file the glob reads\n");
        root.write("teql.d/teql0.cfg", TEQL0);
        root.write("teql.d/xteql1.cfg", "iface teql1 inet static\n address nonsense\n");
        let c = root.load();
        no_problems(&c);
        assert_eq!(c.members.keys().collect::<Vec<_>>(), ["eth2", "eth3"]);
        assert_eq!(c.members["eth2"].source, root.file("lines/eth2"));
        assert_eq!(teql0(&c).source, Some(root.file("teql.d/teql0.cfg")));
        assert_eq!(teql0(&c).address, prefix("203.0.113.2", 28));

        // Absolute paths are below the root; a relative one in a sourced file is relative to
        // that file's directory.
        root.interfaces("source /etc/network/lines/eth2\n");
        root.write("lines/eth2", "source ../teql.d/teql0.cfg\niface eth2 inet manual\n teql-master teql0\n");
        let c = root.load();
        no_problems(&c);
        assert_eq!(c.members.keys().collect::<Vec<_>>(), ["eth2"]);
        assert_eq!(teql0(&c).address, prefix("203.0.113.2", 28));
    }

    #[test]
    fn sourced_file_starts_without_a_stanza() {
        let root = Root::new();
        root.interfaces("iface eth2 inet manual\nsource more\n teql-master teql0\n");
        root.write("more", " teql-rp-filter strict\n");
        let c = root.load();
        assert_eq!(c.problems.len(), 2, "{:#?}", c.problems);
        assert_syntax(&c.problems[0], &root.file("more"), 1, None, &["teql-rp-filter", "misplaced"]);
        assert_syntax(&c.problems[1], &root.main(), 3, None, &["teql-master", "misplaced"]);
        assert!(matches!(c.problems[1], ConfigError::Syntax { col: 2, .. }));
        assert!(c.members.is_empty());
    }

    #[test]
    fn source_directory_filters_names() {
        let root = Root::new();
        root.interfaces("source-directory interfaces.d\nsource-directory /etc/network/missing.d\n");
        root.write("interfaces.d/eth2", &line_stanza(2));
        root.write("interfaces.d/line_3-b", &line_stanza(3));
        root.write("interfaces.d/teql0", TEQL0);
        for skipped in ["eth4.cfg", "eth5~", ".eth6", "eth7.dpkg-old"] {
            root.write(&format!("interfaces.d/{skipped}"), "iface x inet static\n teql-master eth0\n");
        }
        fs::create_dir(root.file("interfaces.d/subdir")).unwrap();
        let c = root.load();
        no_problems(&c);
        assert_eq!(c.members.keys().collect::<Vec<_>>(), ["eth2", "eth3"]);
        assert_eq!(c.members["eth3"].source, root.file("interfaces.d/line_3-b"));
        assert_eq!(teql0(&c).source, Some(root.file("interfaces.d/teql0")));
    }

    #[test]
    fn source_loop_is_an_error() {
        let root = Root::new();
        root.interfaces(&format!("source a\n{}", line_stanza(2)));
        root.write("a", &format!("{TEQL0}source b\n"));
        root.write("b", "source a\nsource ../network/interfaces\n");
        let c = root.load();
        assert_eq!(c.problems.len(), 2, "{:#?}", c.problems);
        assert_inconsistent(
            &c.problems[0],
            &root.file("b"),
            None,
            &["line 1: source reads ", "already read through", "interfaces:1"],
        );
        assert_inconsistent(&c.problems[1], &root.file("b"), None, &["line 2", "main interfaces file"]);
        // Everything was still read once.
        assert_eq!(c.members.len(), 1);
        assert_eq!(teql0(&c).address, prefix("203.0.113.2", 28));
    }

    #[test]
    fn at_most_a_hundred_files() {
        let root = Root::new();
        root.interfaces("source-directory many\n");
        for n in 0..120 {
            root.write(&format!("many/f{n:03}"), "auto lo\n");
        }
        let c = root.load();
        let e = only_problem(&c);
        assert_inconsistent(e, &root.main(), None, &["line 1: source-directory", "more than 100 files"]);

        // A repeated directory is one mistake, reported once.
        root.interfaces("source-directory many\nsource-directory many\n");
        let c = root.load();
        assert_eq!(c.problems.len(), 2, "{:#?}", c.problems);
        assert_inconsistent(&c.problems[1], &root.main(), None, &["line 2: source-directory", "f000 again"]);
    }

    #[test]
    fn a_multipath_lines_ifupdown_gateway_is_refused_by_stanza() {
        // ifupdown's `gateway` on a line of a multipath bundle was ignored, and the line left
        // out for want of a gateway ("set TEQL_GATEWAY"): it is refused, saying where and what
        // to write. teql-gateway is the line's gateway; a DHCP line needs none.
        let root = Root::new();
        root.interfaces(
            "iface wan inet manual\n teql-mode multipath\n\n\
             iface eth1 inet static\n address 198.51.100.2/24\n gateway 198.51.100.1\n teql-master wan\n\n\
             iface eth2 inet static\n address 192.0.2.2/24\n teql-master wan\n teql-gateway 192.0.2.1\n\n\
             iface eth3 inet dhcp\n teql-master wan\n\n\
             iface eth4 inet static\n address 198.18.4.1/30\n gateway 198.18.4.2\n teql-master teql0\n",
        );
        let c = root.load();
        let e = only_problem(&c);
        assert_inconsistent(
            e,
            &root.main(),
            Some("eth1"),
            &["iface eth1 inet static: gateway \"198.51.100.1\" (line 6)", "write it as teql-gateway 198.51.100.1"],
        );
        assert!(c.problems_for("eth1").contains(&e));
        let gw = |d: &str| c.members[d].path.gateway();
        assert_eq!((gw("eth2"), gw("eth3")), (Some(ip("192.0.2.1")), None));
        // A TEQL line's gateway is ifupdown's business, as before.
        assert!(c.members.contains_key("eth4"));
        // Told in its own stack's words when it has none.
        let hint = c.members["eth3"].gateway_hint();
        assert!(hint.contains("teql-gateway in its stanza") && !hint.contains("TEQL_GATEWAY"), "{hint}");
    }

    #[test]
    fn bad_rp_filter() {
        let root = Root::new();
        root.interfaces("iface eth2 inet manual\n teql_master teql0\n teql_rp_filter STRICT\n");
        let c = root.load();
        no_problems(&c);
        let m = &c.members["eth2"];
        assert_eq!((m.rp_filter, m.onboot), (RpFilter::Strict, false));
    }

    #[test]
    fn stray_teql_options() {
        let root = Root::new();
        root.interfaces("iface eth2 inet manual\n teql-mastr teql0\n");
        let c = root.load();
        assert_inconsistent(
            only_problem(&c),
            &root.main(),
            Some("eth2"),
            &["iface eth2 inet manual: ", "teql-mastr \"teql0\"", "line 2", "teql-master"],
        );
        assert!(c.members.is_empty());

        root.interfaces("iface eth2 inet manual\n teqlmaster teql0\n teql-master teql0\n");
        let c = root.load();
        assert_inconsistent(only_problem(&c), &root.main(), Some("eth2"), &["teqlmaster"]);
        assert!(c.members.is_empty());

        root.interfaces("iface eth2 inet manual\n teql-master teql0\n teql_master teql1\n");
        assert_inconsistent(
            only_problem(&root.load()),
            &root.main(),
            Some("eth2"),
            &["teql-master (line 2)", "teql_master (line 3)", "IF_TEQL_MASTER"],
        );

        // A repeated option is one value of two lines to ifupdown, and to the hook.
        root.interfaces("iface eth2 inet manual\n teql-master teql0\n teql-master teql0\n");
        assert_invalid(only_problem(&root.load()), &root.main(), "eth2", "teql-master", "teql0\nteql0", "teql master");
    }

    #[test]
    fn invalid_line_names() {
        let root = Root::new();
        root.interfaces("iface eth2:1 inet static\n address 198.18.2.5/30\n teql-master teql0\n");
        let c = root.load();
        assert_inconsistent(only_problem(&c), &root.main(), Some("eth2:1"), &["':' is refused", "cannot be a line"]);
        assert!(c.members.is_empty() && c.masters.is_empty());
    }

    #[test]
    fn inet6_stanzas_are_ignored() {
        let root = issue_example();
        let mut text = issue_text();
        text.push_str(
            "iface eth2 inet6 static\n address 2001:db8::1/64\n teql-master teql5\n teql-mastr x\n\
             iface teql0 inet6 manual\n teql-master eth9\n",
        );
        root.interfaces(&text);
        let c = root.load();
        no_problems(&c);
        assert_eq!(c.members["eth2"].master, "teql0");
        assert_eq!(c.masters.keys().collect::<Vec<_>>(), ["teql0"]);

        // A master with only an inet6 stanza is bare for IPv4.
        root.interfaces(
            "iface eth2 inet manual\n teql-master teql1\niface teql1 inet6 static\n address 2001:db8::1/64\n",
        );
        let c = root.load();
        no_problems(&c);
        assert_eq!(c.masters["teql1"], Master::bare("teql1".into()));
    }

    #[test]
    fn onboot_comes_from_auto_and_allow_hotplug() {
        let root = Root::new();
        root.interfaces(
            "allow-hotplug eth2\nallow-auto eth3\nallow-ovs eth4\nauto teql0 eth9\n\
             iface eth2 inet manual\n teql-master teql0\n\
             iface eth3 inet manual\n teql-master teql0\n\
             iface eth4 inet manual\n teql-master teql0\n\
             iface eth5 inet manual\n teql-master teql1\n\
             iface teql0 inet manual\n",
        );
        let c = root.load();
        no_problems(&c);
        let onboot: Vec<bool> = c.members.values().map(|m| m.onboot).collect();
        assert_eq!(onboot, [true, true, false, false]);
        assert!(teql0(&c).onboot);
        // A bare master is brought up with its lines, like in network-scripts.
        assert_eq!(c.masters["teql1"], Master::bare("teql1".into()));
    }

    #[test]
    fn mapping_stanza_is_skipped() {
        let root = Root::new();
        let mut text = "mapping eth*\n script /usr/local/sbin/map-scheme\n map HOME eth2-home\n \
                        teql-master nonsense\n"
            .to_string();
        text.push_str(&issue_text());
        root.interfaces(&text);
        let c = root.load();
        no_problems(&c);
        assert_eq!(c.members.len(), 4);
    }

    #[test]
    fn duplicate_stanza() {
        let root = Root::new();
        root.interfaces(
            "iface eth2 inet static\n address 198.18.2.1/30\n teql-master teql0\n\
             iface eth2 inet static\n address 198.18.2.5/30\n\
             iface eth2 inet manual\n teql-master teql1\n",
        );
        let c = root.load();
        let first = format!("{}:1", root.main().display());
        let second = format!("{}:6", root.main().display());
        assert_inconsistent(
            only_problem(&c),
            &root.main(),
            Some("eth2"),
            &["iface eth2 inet manual at ", &second, &first],
        );
        assert_eq!(c.members["eth2"].master, "teql0");

        // The repeat may be in another file.
        root.interfaces(&format!("{TEQL0}source more\n"));
        root.write("more", "iface teql0 inet static\n address 192.0.2.1/24\n");
        let c = root.load();
        assert_inconsistent(
            only_problem(&c),
            &root.file("more"),
            Some("teql0"),
            &[&format!("{}:1", root.file("more").display()), &format!("{}:2", root.main().display())],
        );
        assert_eq!(teql0(&c).address, prefix("203.0.113.2", 28));

        // A second stanza without teql options is an ordinary second address.
        root.interfaces(&format!("{}iface eth2 inet static\n address 192.0.2.9/24\n", line_stanza(2)));
        no_problems(&root.load());
    }

    #[test]
    fn malformed_iface_lines() {
        let root = Root::new();
        root.interfaces("iface eth2 inet static\n teql-master teql0\n  iface teql0 inet\n address 203.0.113.2/28\n gateway nonsense\n");
        let c = root.load();
        let e = only_problem(&c);
        assert_syntax(e, &root.main(), 3, Some("teql0"), &["iface teql0", "no method"]);
        assert!(matches!(e, ConfigError::Syntax { col: 3, .. }));
        assert!(e.to_string().starts_with(&format!("{}:3:3: ", root.main().display())), "{e}");
        // Its member is still read, but no bare master stands in for the broken one.
        assert_eq!(c.members.len(), 1);
        assert!(c.masters.is_empty());
        assert_eq!(c.problems_for("eth2").len(), 1);

        for (text, device, words) in [
            ("iface\n", None, &["interface name"][..]),
            ("iface eth2\n", Some("eth2"), &["address family"][..]),
            ("iface eth2 static\n", Some("eth2"), &["unknown address family \"static\""][..]),
            ("iface eth2 inet static inherits\n", Some("eth2"), &["inherits"][..]),
            ("iface eth2 inherits base\n", Some("eth2"), &["no base stanza"][..]),
            ("iface eth2 inet static\n address\n", Some("eth2"), &["address: option has no value"][..]),
            ("auto eth2\n teql-master teql0\n", None, &["misplaced"][..]),
        ] {
            root.interfaces(text);
            let c = root.load();
            let line = text.lines().count();
            assert_syntax(only_problem(&c), &root.main(), line, device, words);
        }

        // Extra words are only a warning to ifupdown.
        root.interfaces("iface eth2 inet manual extra\n teql-master teql0\n");
        no_problems(&root.load());
    }

    #[test]
    fn inherited_options() {
        let root = Root::new();
        root.interfaces(
            "iface line inet manual\n teql-master teql0\n teql-rp-filter keep\n\
             iface eth2 inet static inherits line\n address 198.18.2.1/30\n\
             iface eth3 inherits line\n\
             iface eth4 inet inherits line\n teql-master teql1\n",
        );
        let c = root.load();
        // The template is a stanza too: its name is a valid interface name.
        assert_eq!(c.members.keys().collect::<Vec<_>>(), ["eth2", "eth3", "line"]);
        assert_eq!(c.members["eth3"].rp_filter, RpFilter::Keep);
        assert_invalid(only_problem(&c), &root.main(), "eth4", "teql-master", "teql0\nteql1", "teql master");
    }

    #[test]
    fn unreadable_main_file() {
        let root = Root::new();
        fs::create_dir(root.main()).unwrap();
        let c = root.load();
        let e = only_problem(&c);
        assert!(matches!(e, ConfigError::Io { device: None, .. }), "{e:?}");
        assert!(e.to_string().starts_with(&format!("{}: cannot read: ", root.main().display())));
    }

    #[test]
    fn interfaces_file_is_below_root() {
        assert_eq!(interfaces_file(Path::new("/r")), Path::new("/r/etc/network/interfaces"));
    }

    #[test]
    fn member_from_options_matches_load() {
        let root = Root::new();
        let path = root.main();
        // (`teql-master eth9` is checked against the other stanzas, which the hook does with the
        // loaded configuration: see teql_master_message.)
        for (device, master, rp) in [
            ("eth2", Some("teql64"), None),
            ("eth2", Some("teql99999999"), None),
            ("eth2", Some("teql4294967295"), None),
            ("eth2", Some("teql18446744073709551616"), None),
            ("eth2", Some("teql0"), Some("sometimes")),
            ("eth2", Some("teql01"), Some("off")),
            ("eth2", None, Some("strict")),
            ("teql0", Some("teql1"), None),
            ("teql0", None, Some("loose")),
            ("eth2:1", Some("teql0"), None),
        ] {
            let mut text = format!("iface {device} inet manual\n");
            if let Some(m) = master {
                text.push_str(&format!(" teql-master {m}\n"));
            }
            if let Some(r) = rp {
                text.push_str(&format!(" teql-rp-filter {r}\n"));
            }
            root.interfaces(&text);
            let c = root.load();
            let stanza = format!("iface {device} inet manual");
            let options: Vec<(&str, &str)> = [("TEQL_MASTER", master), ("TEQL_RP_FILTER", rp)]
                .into_iter()
                .filter_map(|(k, v)| Some((k, v?)))
                .collect();
            let hook = member_from_options(device, hook_values(&options), &path, &stanza).unwrap_err();
            // The same error, but for the line number: ifupdown's environment has none.
            let mut read = only_problem(&c).clone();
            if let ConfigError::InvalidValue { at: Some(at), .. } = &mut read {
                assert!(at.line.is_some(), "{text}");
                at.line = None;
            }
            assert_eq!(hook, read, "{text}");
        }

        let values = hook_values(&[("TEQL_MASTER", "teql0"), ("TEQL_RP_FILTER", "Strict")]);
        let m = member_from_options("eth2", values, &path, "iface eth2 inet static").unwrap();
        assert_eq!(
            m,
            Member {
                device: "eth2".into(),
                master: "teql0".into(),
                rp_filter: RpFilter::Strict,
                onboot: true,
                probe: Default::default(),
                source: path.clone(),
                spelling: Spelling::Interfaces,
                path: LinePath { rp_filter: Some(RpFilter::Strict), ..Default::default() },
                tunnel: None,
            }
        );
        let values = hook_values(&[("TEQL_MASTER", "teql0"), ("TEQL_RP_FILTER", "")]);
        let m = member_from_options("eth2", values, &path, "iface eth2 inet static").unwrap();
        assert_eq!(m.rp_filter, RpFilter::Loose);
        let e = member_from_options("eth2", hook_values(&[]), &path, "iface eth2 inet static").unwrap_err();
        assert_inconsistent(&e, &path, Some("eth2"), &["iface eth2 inet static: no teql-master"]);
    }

    /// Issue 11, point 1: unreadable files are problems, whether main or sourced.
    #[test]
    fn unreadable_sourced_files() {
        use std::os::unix::fs::symlink;
        let root = issue_example();
        let mut text = issue_text();
        text.push_str("source-directory interfaces.d\nsource extra\n");
        root.interfaces(&text);
        fs::create_dir_all(root.file("interfaces.d")).unwrap();
        symlink("/nonexistent/eth6", root.file("interfaces.d/eth6")).unwrap();
        symlink("/nonexistent/extra", root.file("extra")).unwrap();
        let c = root.load();
        assert_eq!(c.problems.len(), 2, "{:#?}", c.problems);
        for (e, name) in c.problems.iter().zip(["interfaces.d/eth6", "extra"]) {
            assert_eq!(
                e.to_string(),
                format!(
                    "{}: cannot read: no such file (a symbolic link to a missing file?)",
                    root.file(name).display()
                )
            );
        }
        assert_eq!(c.members.len(), 4);
    }

    /// Issue 11, point 7: a FIFO never blocks the read, wherever it is.
    #[test]
    fn fifos_are_refused() {
        let root = issue_example();
        let mut text = issue_text();
        text.push_str("source-directory interfaces.d\n");
        root.interfaces(&text);
        fs::create_dir_all(root.file("interfaces.d")).unwrap();
        nix::unistd::mkfifo(&root.file("interfaces.d/fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let t = std::time::Instant::now();
        let c = root.load();
        assert!(t.elapsed() < std::time::Duration::from_secs(1));
        assert_eq!(
            only_problem(&c).to_string(),
            format!(
                "{}: cannot read: not a regular file (a FIFO); teqlctl reads only regular files",
                root.file("interfaces.d/fifo").display()
            )
        );
        assert_eq!(c.members.len(), 4);

        let root = Root::new();
        nix::unistd::mkfifo(&root.main(), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let c = root.load();
        assert!(only_problem(&c)
            .to_string()
            .ends_with("not a regular file (a FIFO); teqlctl reads only regular files"));
    }

    #[test]
    fn syntax_errors_name_the_option() {
        let root = Root::new();
        root.interfaces("teql-master teql0\niface eth2 inet manual\n  teql-rp-filter\n");
        let c = root.load();
        assert_eq!(c.problems.len(), 2, "{:#?}", c.problems);
        assert_eq!(
            c.problems[0].to_string(),
            format!(
                "{}:1:1: teql-master: option outside an iface stanza (misplaced option: ifupdown \
                 rejects the file); put it below its iface line",
                root.main().display()
            )
        );
        assert_eq!(
            c.problems[1].to_string(),
            format!("{}:3:3: teql-rp-filter: option has no value (ifupdown rejects the file)", root.main().display())
        );
    }

    /// Issue 11, point 12: inherits chains are resolved per stanza, not copied into every
    /// stanza; the file that took 1.2 GB is read in bounded memory.
    #[test]
    fn long_inherits_chains() {
        // Each stanza inherits from the one before and adds one option: copying made the
        // options grow with the square of the number of stanzas.
        let mut text = String::from("iface s0 inet manual\n teql-probe-down 2\n");
        for i in 1..3000 {
            text.push_str(&format!("iface s{i} inet manual inherits s{}\n up true {i}\n", i - 1));
        }
        assert!(text.len() > 60_000);
        let root = Root::new();
        root.interfaces(&text);
        let t = std::time::Instant::now();
        let c = root.load();
        assert!(t.elapsed() < std::time::Duration::from_secs(5), "{:?}", t.elapsed());
        // Stanza s17 is the first one more than 16 inherits deep; the later ones inherit
        // from a stanza that was refused, so they cannot find their parent.
        let deep = c.problems.iter().find(|p| p.device() == Some("s17")).unwrap();
        assert_syntax(
            deep,
            &root.main(),
            35,
            Some("s17"),
            &["iface s17: inherits s16, which is already 16 inherits deep"],
        );
        let next = c.problems.iter().find(|p| p.device() == Some("s18")).unwrap();
        assert_syntax(
            next,
            &root.main(),
            37,
            Some("s18"),
            &["iface s18: inherits s17, whose iface line is refused above"],
        );
        // One problem per stanza at most: s0..s16 for teql-probe-down without teql-master,
        // the rest for their parents.
        assert_eq!(c.problems.len(), 3000, "{:#?}", &c.problems[..5]);
        assert!(c.problems.iter().all(|p| p.to_string().len() < 400));

        // A wide tree: many stanzas inheriting from one base with many options.
        let mut text = String::from("iface base inet manual\n teql-master teql0\n");
        for i in 0..1000 {
            text.push_str(&format!(" up echo {i}\n"));
        }
        for i in 0..4000 {
            text.push_str(&format!("iface l{i} inet manual inherits base\n"));
        }
        root.interfaces(&text);
        let t = std::time::Instant::now();
        let c = root.load();
        assert!(t.elapsed() < std::time::Duration::from_secs(5), "{:?}", t.elapsed());
        no_problems(&c);
        assert_eq!(c.members.len(), 4001);
        assert_eq!(c.members["l3999"].master, "teql0");
    }

    #[test]
    fn inherited_values_join_along_the_chain() {
        let root = Root::new();
        root.interfaces(
            "iface a inet manual\n teql-master teql0\n\
             iface b inherits a\n teql-rp-filter keep\n\
             iface c inherits b\n teql-master teql1\n",
        );
        let c = root.load();
        assert_eq!(c.members["b"].rp_filter, RpFilter::Keep);
        assert_invalid(only_problem(&c), &root.main(), "c", "teql-master", "teql0\nteql1", "teql master");
    }

    #[test]
    fn limits() {
        let root = Root::new();
        // Too many stanzas: one error, at the first one past the limit.
        let text: String = (0..5000).map(|i| format!("iface x{i} inet manual\n")).collect();
        root.interfaces(&text);
        let c = root.load();
        let e = only_problem(&c).to_string();
        assert!(e.contains(":4097:1: iface x4096: more than 4096 iface stanzas"), "{e}");

        // Too many options in one stanza, counting the inherited ones.
        let mut text = String::from("iface a inet manual\n");
        text.push_str(&" up true\n".repeat(1000));
        text.push_str("iface b inherits a\n");
        text.push_str(&" up true\n".repeat(30));
        root.interfaces(&text);
        let c = root.load();
        assert_syntax(only_problem(&c), &root.main(), 1027, Some("b"), &["iface b has more than 1024 option lines"]);

        // A long line, even one made of continuations.
        let long = format!(
            "iface eth2 inet manual\n teql-master teql0\n description {}\\\n{}\n",
            "d".repeat(3000),
            "e".repeat(3000)
        );
        root.interfaces(&long);
        let c = root.load();
        assert_syntax(only_problem(&c), &root.main(), 3, Some("eth2"), &["line longer than 4096 characters"]);

        // A file over MAX_FILE_BYTES.
        let mut big = issue_text();
        big.push_str(&"# padding padding padding padding padding padding padding\n".repeat(20_000));
        root.interfaces(&big);
        let c = root.load();
        assert!(only_problem(&c).to_string().contains("cannot read: larger than 1048576 bytes"));
        assert!(c.members.is_empty());
    }

    #[test]
    fn long_joined_values() {
        let root = Root::new();
        // Repeats in one stanza.
        let mut text = String::from("iface eth2 inet manual\n teql-master teql0\n");
        text.push_str(&format!(" teql-probe {}\n", "1".repeat(3000)).repeat(3));
        root.interfaces(&text);
        let c = root.load();
        assert_syntax(only_problem(&c), &root.main(), 4, Some("eth2"), &["teql-probe: repeated until its value"]);

        // Inherited: each of 200 children would carry 8 KB.
        let mut text = format!("iface base inet manual\n teql-master teql0\n teql-probe {}\n", "1".repeat(4000));
        for i in 0..200 {
            text.push_str(&format!("iface c{i} inherits base\n teql-probe {}\n", "2".repeat(4000)));
        }
        root.interfaces(&text);
        let c = root.load();
        assert_eq!(c.problems.len(), 201, "{:#?}", &c.problems[..3]);
        assert!(
            c.problems[1].to_string().contains("option teql-probe with the values it inherits is longer than 4096"),
            "{}",
            c.problems[1]
        );
        assert_eq!(c.problems[1].device(), Some("c0"));
    }

    #[test]
    fn unknown_options_are_reported_once_per_stanza() {
        let root = Root::new();
        let mut text = String::from("iface eth2 inet manual\n teql-master teql0\n");
        for i in 0..500 {
            text.push_str(&format!(" teql-x{i} 1\n"));
        }
        root.interfaces(&text);
        let e = only_problem(&root.load()).to_string();
        assert!(e.contains("unknown option teql-x0 \"1\" (line 3) and 499 more unknown teql options"), "{e}");
    }

    /// Issue 11, point 3.
    #[test]
    fn messages_escape_file_text() {
        let root = Root::new();
        root.interfaces("iface eth2\x07\x1b[1A inet manual\n teql-master eth9\n");
        let e = only_problem(&root.load()).to_string();
        assert!(!e.chars().any(char::is_control), "{e}");
    }

    /// The hooks see an option under the name ifupdown exports, which must be the key's ifcfg
    /// name: both readers and the hook look values up by it.
    #[test]
    fn every_option_is_exported_under_its_ifcfg_name() {
        for d in &KEYS {
            assert_eq!(env_name(d.interfaces), d.ifcfg);
        }
    }

    #[test]
    fn glob_patterns() {
        let m = |p: &str, s: &str| {
            let p: Vec<char> = p.chars().collect();
            let s: Vec<char> = s.chars().collect();
            fnmatch(&p, &s)
        };
        assert!(m("*", "eth2"));
        assert!(m("eth?", "eth2") && !m("eth?", "eth22"));
        assert!(m("*.cfg", "a.cfg") && !m("*.cfg", "a.cfgx"));
        assert!(m("a*b*c", "aXbYbZc") && !m("a*b*c", "aXbYbZ"));
        assert!(m("[a-c]x", "bx") && !m("[a-c]x", "dx"));
        assert!(m("[!a-c]x", "dx") && !m("[^a-c]x", "ax"));
        assert!(m("[]]", "]") && m("[a-]", "-"));
        assert!(m("[ab", "[ab") && !m("[ab", "a"));
        assert!(m("\\*", "*") && !m("\\*", "x"));
        assert!(m("", "") && !m("", "x") && m("**", ""));
    }

    const TEQL0_OFFICE: &str =
        "auto teql0\niface teql0 inet static\n    address 198.18.200.2/30\n    gateway 198.18.200.1\n";

    #[test]
    fn tunnel_parameters_of_a_line() {
        use crate::config::{TunnelConf, TunnelKind, TunnelOrigin};
        let root = Root::new();
        root.interfaces(&format!(
            "iface tl1 inet tunnel\n    mode gre\n    local 198.51.100.10\n    endpoint 198.18.0.2\n    \
             address 198.18.201.2\n    netmask 255.255.255.252\n    teql-master teql0\n\
             iface tl2 inet manual\n    pre-up ip tunnel add tl2 mode gre local 192.0.2.10 remote 198.18.0.2 key 2 ttl 64\n    \
             up ip link set tl2 up\n    post-down ip tunnel del tl2\n    teql-master teql0\n\
             iface tl3 inet static\n    address 198.18.202.2/30\n    tunnel-mode ipip\n    tunnel-local 203.0.113.5\n    \
             tunnel-endpoint 198.18.0.2\n    teql-master teql0\n\
             iface tl4 inet manual\n    pre-up /sbin/ip link add name tl4 type gre local 203.0.113.6 remote any ikey 5 okey 0x6\n    \
             teql-master teql0\n\
             iface tl5 inet manual\n    pre-up ip tunnel add tl5 mode gre local 203.0.113.7 remote 198.18.0.2 || true\n    \
             teql-master teql0\n\
             iface tl6 inet tunnel\n    mode sit\n    local 203.0.113.8\n    endpoint 198.18.0.2\n    teql-master teql0\n\
             iface tl7 inet manual\n    pre-up ip tunnel add tl8 mode gre local 203.0.113.9 remote 198.18.0.2\n    \
             teql-master teql0\n\
             iface tl9 inet manual\n    pre-up ip tunnel add tl9 mode gretap local 203.0.113.10 remote 198.18.0.2\n    \
             teql-master teql0\n\
             iface eth1 inet static\n    address 198.51.100.10/29\n    mode bogus\n    local bogus\n\
             {TEQL0_OFFICE}"
        ));
        let c = root.load();
        no_problems(&c);
        let t = |d: &str| c.members[d].tunnel;
        let ip = |s: &str| Some(s.parse::<Ipv4Addr>().unwrap());
        assert_eq!(
            t("tl1"),
            Some(TunnelConf {
                kind: TunnelKind::Gre,
                local: ip("198.51.100.10"),
                remote: ip("198.18.0.2"),
                ikey: None,
                okey: None,
                origin: TunnelOrigin::TunnelMethod,
            })
        );
        assert_eq!(
            t("tl2"),
            Some(TunnelConf {
                kind: TunnelKind::Gre,
                local: ip("192.0.2.10"),
                remote: ip("198.18.0.2"),
                ikey: Some(2),
                okey: Some(2),
                origin: TunnelOrigin::Command,
            })
        );
        let tl3 = t("tl3").unwrap();
        assert_eq!(
            (tl3.kind, tl3.local, tl3.origin),
            (TunnelKind::Ipip, ip("203.0.113.5"), TunnelOrigin::TunnelOptions)
        );
        let tl4 = t("tl4").unwrap();
        assert_eq!((tl4.local, tl4.remote, tl4.ikey, tl4.okey), (ip("203.0.113.6"), None, Some(5), Some(6)));
        // Shell syntax after the command, a kind that is no line, another device's command:
        // nothing this reader can mirror, and no problem either.
        for d in ["tl5", "tl6", "tl7", "tl9"] {
            assert_eq!(t(d), None, "{d}");
        }
        assert!(!c.members.contains_key("eth1"));
    }

    #[test]
    fn tunnel_parameters_bad_values() {
        let root = Root::new();
        let load = |stanza: &str| {
            root.interfaces(&format!("{stanza}    teql-master teql0\n{TEQL0_OFFICE}"));
            root.load()
        };
        let c = load("iface tl1 inet tunnel\n    mode gre\n    local 198.51.100\n    endpoint 198.18.0.2\n");
        assert_invalid(only_problem(&c), &root.main(), "tl1", "local", "198.51.100", "a dotted unicast IPv4 address");
        assert!(!c.members.contains_key("tl1"));

        let c = load("iface tl1 inet tunnel\n    mode GRE\n    local 198.51.100.10\n    endpoint 198.18.0.2\n");
        assert_invalid(only_problem(&c), &root.main(), "tl1", "mode", "GRE", "gre in lower case");

        let c = load("iface tl1 inet static\n    tunnel-mode gre\n    tunnel-endpoint 0.0.0.0\n");
        assert_invalid(only_problem(&c), &root.main(), "tl1", "tunnel-endpoint", "0.0.0.0", "unicast");

        let c = load("iface tl1 inet tunnel\n    mode gre\n    tunnel-mode ipip\n");
        assert_inconsistent(
            only_problem(&c),
            &root.main(),
            Some("tl1"),
            &["mode \"gre\" (line 2) and tunnel-mode \"ipip\" (line 3) are the same option to ifupdown2"],
        );

        let cmd = "ip tunnel add tl1 mode gre local 198.51.100.10 remote 198.18.0.2 key one";
        let c = load(&format!("iface tl1 inet manual\n    pre-up {cmd}\n"));
        assert_invalid(
            only_problem(&c),
            &root.main(),
            "tl1",
            "pre-up",
            cmd,
            "(line 2): key \"one\": expected a GRE key",
        );

        let cmd = "ip link add tl1 type ipip local 198.51.100.10 remote 198.18.0.2 key 1";
        let c = load(&format!("iface tl1 inet manual\n    pre-up {cmd}\n"));
        assert_invalid(only_problem(&c), &root.main(), "tl1", "pre-up", cmd, "only GRE tunnels have keys");
    }

    #[test]
    fn tunnel_commands() {
        let parse = |c: &str| parse_tunnel_command("tl1", c);
        let ok = |c: &str| parse(c).and_then(Result::ok).flatten();
        assert!(ok("ip tunnel add tl1 mode gre local 1.1.1.1 remote 2.2.2.2").is_some());
        assert!(ok("ip -4 tun add name tl1 mode gre/ip nopmtudisc dev eth1 tos inherit").is_some());
        assert!(ok("/usr/sbin/ip link add dev tl1 type gre").is_some());
        for not in [
            "ip tunnel add tl2 mode gre",
            "ip tunnel change tl1 mode gre",
            "ip tunnel add tl1 mode gre csum",
            "ip tunnel add tl1 mode gre local",
            "ip tunnel add tl1 mode gre; ip link set tl1 up",
            "sh -c 'ip tunnel add tl1 mode gre'",
            "ipx tunnel add tl1 mode gre",
            "ip tunnel add tl1 mode gre local 1.1.1.1 remote 2.2.2.2 key 2;",
            "ip tunnel add tl1 mode gre local $LOCAL",
            "ip tunnel add tl1 mode gre 2>/dev/null",
        ] {
            assert!(parse(not).is_none(), "{not}");
        }
        assert_eq!(parse("ip tunnel add tl1 mode sit"), Some(Ok(None)));
    }
}
