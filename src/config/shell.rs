//! Reader for the bash-quoting subset that ifcfg files are written in.
//!
//! ifcfg files are sourced by bash, but a hook must never run what is in them. This follows
//! the contract of NetworkManager's ifcfg-rh reader: assignments with bash quoting, no
//! expansion at all. Anything whose meaning would depend on running bash is an error rather
//! than a guess, so that teqlctl never acts on a value that differs from what network-scripts
//! sees.

use std::collections::HashMap;
use std::fmt;

use super::{MAX_ASSIGNMENTS, MAX_LINE_CHARS};

/// The assignments of one file, in file order.
///
/// Lookups go through an index (key to its last assignment) and `keys` through the list of
/// first assignments, so reading a file of n assignments costs O(n), not O(n^2): a file of
/// 200,000 keys took 22 s with a linear scan per lookup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShellVars {
    assignments: Vec<Assignment>,
    /// Key to the index in `assignments` of its last assignment.
    last: HashMap<String, usize>,
    /// Indexes of each key's first assignment, in file order.
    first: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Assignment {
    key: String,
    value: String,
    line: usize,
}

impl ShellVars {
    /// Last assignment of KEY wins, as in bash.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.last(key).map(|a| a.value.as_str())
    }

    /// 1-based line of the last assignment of KEY (what the tests check the reader keeps).
    #[cfg(test)]
    pub(crate) fn line_of(&self, key: &str) -> Option<usize> {
        self.last(key).map(|a| a.line)
    }

    /// Every assigned key once, in the order of its first assignment.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.first.iter().map(|&i| self.assignments[i].key.as_str())
    }

    fn last(&self, key: &str) -> Option<&Assignment> {
        self.last.get(key).map(|&i| &self.assignments[i])
    }

    fn push(&mut self, a: Assignment) {
        let i = self.assignments.len();
        if self.last.insert(a.key.clone(), i).is_none() {
            self.first.push(i);
        }
        self.assignments.push(a);
    }
}

/// Where and why a file left the supported subset. Line and column are 1-based; the column
/// counts characters, as editors show them. `key` is the variable whose value is broken, when
/// the error is inside a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellError {
    pub line: usize,
    pub col: usize,
    pub key: Option<String>,
    pub msg: String,
}

impl fmt::Display for ShellError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.line, self.col)?;
        if let Some(k) = &self.key {
            write!(f, "{}: ", super::shown(k))?;
        }
        f.write_str(&self.msg)
    }
}

impl std::error::Error for ShellError {}

/// Parses a whole ifcfg-style file. The first error stops the parse: after a syntax error
/// bash's own reading of the rest is not something worth imitating.
pub fn parse(text: &str) -> Result<ShellVars, ShellError> {
    parse_with_limit(text, MAX_ASSIGNMENTS)
}

/// `parse` with a limit on the number of assignments (the tests measure the reader's cost
/// without it).
pub(crate) fn parse_with_limit(text: &str, max_assignments: usize) -> Result<ShellVars, ShellError> {
    let mut vars = ShellVars::default();
    // Split on '\n' only: `str::lines` would silently drop a '\r', which bash keeps.
    for (idx, line) in text.split('\n').enumerate() {
        let line_no = idx + 1;
        let at = |col, key: Option<&str>, msg| ShellError { line: line_no, col, key: key.map(str::to_string), msg };
        // Counted in characters before collecting them, so a 1 MiB line costs no more than
        // this check.
        if line.chars().nth(MAX_LINE_CHARS).is_some() {
            return Err(at(
                MAX_LINE_CHARS + 1,
                None,
                format!(
                    "line longer than {MAX_LINE_CHARS} characters, the most teqlctl reads; no ifcfg value is that long"
                ),
            ));
        }
        let chars: Vec<char> = line.chars().collect();
        match parse_line(&chars) {
            Ok(None) => {}
            Ok(Some((key, value))) => {
                if vars.assignments.len() >= max_assignments {
                    return Err(at(
                        1,
                        None,
                        format!("more than {max_assignments} assignments, the most teqlctl reads from one file; is this the right file?"),
                    ));
                }
                vars.push(Assignment { key, value, line: line_no });
            }
            Err(LineError { col, key, msg }) => return Err(at(col, key.as_deref(), msg)),
        }
    }
    Ok(vars)
}

/// An error inside one line: 1-based column, the key when the value is what is broken, and
/// the message.
struct LineError {
    col: usize,
    key: Option<String>,
    msg: String,
}

fn line_error(col: usize, msg: impl Into<String>) -> LineError {
    LineError { col, key: None, msg: msg.into() }
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn skip_blanks(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() && is_blank(chars[i]) {
        i += 1;
    }
    i
}

fn not_assignment(start: usize) -> LineError {
    line_error(start + 1, "not a KEY=value assignment")
}

/// Ok(None) for blank and comment lines.
fn parse_line(chars: &[char]) -> Result<Option<(String, String)>, LineError> {
    let start = skip_blanks(chars, 0);
    if start == chars.len() || chars[start] == '#' {
        return Ok(None);
    }
    let mut i = start;
    if chars[i..].starts_with(&['e', 'x', 'p', 'o', 'r', 't']) && chars.get(i + 6).copied().is_some_and(is_blank) {
        i = skip_blanks(chars, i + 6);
    }
    let key_start = i;
    if !chars.get(i).is_some_and(|c| c.is_ascii_alphabetic() || *c == '_') {
        return Err(not_assignment(start));
    }
    while chars.get(i).is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_') {
        i += 1;
    }
    if chars.get(i) != Some(&'=') {
        // Covers `KEY = v`, `KEY+=v`, `KEY[0]=v`, `source f`, `if ...`: all bash, none of
        // them plain assignments.
        return Err(not_assignment(start));
    }
    let key: String = chars[key_start..i].iter().collect();
    // The value parser does not know the key; the error names it so that the admin finds the
    // line by the variable they wrote, not only by a column.
    match parse_value(chars, i + 1) {
        Ok(value) => Ok(Some((key, value))),
        Err(e) => Err(LineError { key: Some(key), ..e }),
    }
}

const LITERALLY: &str = "put the value in single quotes if the characters are meant literally";

/// The error for an unquoted or double-quoted `$`, backquote or `~` at `chars[i]`, saying
/// which bash expansion it would start: each is something teqlctl never does, and naming it
/// tells the admin why the value cannot be taken as written.
fn expansion_error(chars: &[char], i: usize) -> LineError {
    let next = chars.get(i + 1).copied();
    let msg = match chars[i] {
        '`' => format!("`...` is command substitution, which teqlctl never runs; {LITERALLY}"),
        '~' => format!("~ is tilde expansion, which teqlctl never does; {LITERALLY}"),
        _ => match next {
            Some('(') if chars.get(i + 2) == Some(&'(') => {
                format!("$((...)) is arithmetic expansion, which teqlctl never evaluates; {LITERALLY}")
            }
            Some('(') => format!("$(...) is command substitution, which teqlctl never runs; {LITERALLY}"),
            Some('{') => format!("${{...}} is parameter expansion, which teqlctl never does; {LITERALLY}"),
            Some('[') => format!("$[...] is arithmetic expansion, which teqlctl never evaluates; {LITERALLY}"),
            Some('\'') => format!("$'...' is ANSI-C quoting, which teqlctl does not read; {LITERALLY}"),
            Some('"') => format!("$\"...\" is locale translation, which teqlctl does not do; {LITERALLY}"),
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                // Only identifier characters, so nothing to escape; cut for long names.
                let name: String =
                    chars[i + 1..].iter().take_while(|c| c.is_ascii_alphanumeric() || **c == '_').take(32).collect();
                format!("${name} is parameter expansion, which teqlctl never does; {LITERALLY}")
            }
            Some(c) if c.is_ascii_digit() || "@*#?$!-".contains(c) => {
                format!("${c} is parameter expansion, which teqlctl never does; {LITERALLY}")
            }
            _ => format!("a lone $ is not read the same way by every shell; {LITERALLY}"),
        },
    };
    line_error(i + 1, msg)
}

fn continuation_error(col: usize) -> LineError {
    line_error(
        col,
        "a backslash at the end of a line (line continuation) is not supported; \
         put the whole value on one line",
    )
}

/// Reads the value that starts at `i` (just after `=`) up to the end of the line or a
/// trailing comment.
fn parse_value(chars: &[char], mut i: usize) -> Result<String, LineError> {
    let mut value = String::new();
    // Where bash would try tilde expansion of an unquoted `~`: at the start of the value and
    // after an unquoted `:` (assignments expand `PATH=~/a:~/b`).
    let mut tilde_position = true;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        let tilde_here = tilde_position;
        tilde_position = false;
        match c {
            ' ' | '\t' => {
                let next = skip_blanks(chars, i);
                if next == chars.len() || chars[next] == '#' {
                    return Ok(value);
                }
                return Err(line_error(
                    next + 1,
                    "unquoted whitespace in a value: quote the value (bash would run the \
                     rest of the line as a command)"
                        .to_string(),
                ));
            }
            '\'' => {
                let close = chars[i + 1..]
                    .iter()
                    .position(|&c| c == '\'')
                    .ok_or_else(|| line_error(col, "unterminated single quote"))?;
                value.extend(&chars[i + 1..i + 1 + close]);
                i += close + 2;
            }
            '"' => {
                i = parse_double_quoted(chars, i, &mut value)?;
            }
            '\\' => match chars.get(i + 1) {
                None => return Err(continuation_error(col)),
                Some(&next) => {
                    value.push(next);
                    i += 2;
                }
            },
            '$' | '`' => return Err(expansion_error(chars, i)),
            '~' if tilde_here => return Err(expansion_error(chars, i)),
            ';' | '&' | '|' | '<' | '>' | '(' | ')' => {
                return Err(line_error(
                    col,
                    format!(
                        "unquoted `{c}` is shell syntax, not part of a value; \
                         quote the value in single quotes"
                    ),
                ));
            }
            '\r' => {
                return Err(line_error(
                    col,
                    "carriage return in a line: the file has DOS line endings, and bash \
                     would keep the '\\r' in the value; convert the file with dos2unix"
                        .to_string(),
                ));
            }
            _ => {
                // `#` lands here too: inside a word it is literal, as in bash.
                tilde_position = c == ':';
                value.push(c);
                i += 1;
            }
        }
    }
    Ok(value)
}

/// Reads a double-quoted string whose opening quote is at `open`; returns the index after
/// the closing quote.
fn parse_double_quoted(chars: &[char], open: usize, value: &mut String) -> Result<usize, LineError> {
    let mut i = open + 1;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' => return Ok(i + 1),
            '\\' => match chars.get(i + 1) {
                None => return Err(continuation_error(i + 1)),
                Some(&next @ ('"' | '\\' | '$' | '`')) => {
                    value.push(next);
                    i += 2;
                }
                // bash keeps the backslash before any other character.
                Some(_) => {
                    value.push('\\');
                    i += 1;
                }
            },
            '$' | '`' => return Err(expansion_error(chars, i)),
            _ => {
                value.push(c);
                i += 1;
            }
        }
    }
    // A quoted value spanning lines would be legal bash, but no ifcfg key takes a newline,
    // and pointing at the opening quote is what finds the real mistake.
    Err(line_error(open + 1, "unterminated double quote"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> String {
        let vars = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        vars.get("K").unwrap_or_else(|| panic!("{text:?}: no K")).to_string()
    }

    fn err(text: &str) -> ShellError {
        match parse(text) {
            Ok(v) => panic!("{text:?} parsed as {v:?}"),
            Err(e) => e,
        }
    }

    fn at(text: &str, line: usize, col: usize) -> String {
        let e = err(text);
        assert_eq!((e.line, e.col), (line, col), "{text:?}: {e}");
        e.msg
    }

    #[test]
    fn plain_and_quoted_values() {
        assert_eq!(one("K=eth2"), "eth2");
        assert_eq!(one("K=198.18.2.1\n"), "198.18.2.1");
        assert_eq!(one("K=\"a b\""), "a b");
        assert_eq!(one("K='a b'"), "a b");
        assert_eq!(one("K=\"a;b#c\""), "a;b#c");
        assert_eq!(one("K='$x `y` \\n \"q\"'"), "$x `y` \\n \"q\"");
        assert_eq!(one(r#"K="\" \\ \$ \`""#), "\" \\ $ `");
        assert_eq!(one(r#"K="a\nb""#), "a\\nb");
        assert_eq!(one(r#"K=a"b c"'d'"#), "ab cd");
        assert_eq!(one(r#"K="a"'b'"#), "ab");
        assert_eq!(one(r"K=a\ b"), "a b");
        assert_eq!(one(r"K=\$x"), "$x");
        assert_eq!(one("K=a=b"), "a=b");
        assert_eq!(one("K=*?[x]{a,b}!"), "*?[x]{a,b}!");
        assert_eq!(one("K=é"), "é");
    }

    #[test]
    fn empty_values() {
        assert_eq!(one("K="), "");
        assert_eq!(one("K=\"\""), "");
        assert_eq!(one("K=''"), "");
        assert_eq!(one("K= # nothing"), "");
    }

    #[test]
    fn comments_and_blanks() {
        let v = parse("# head\n\n   \n\t# indented\nA=1 # note\nB=2\t#tab\nC=x#y\nD=\"q\"#z\n").unwrap();
        assert_eq!(v.get("A"), Some("1"));
        assert_eq!(v.get("B"), Some("2"));
        assert_eq!(v.get("C"), Some("x#y"));
        assert_eq!(v.get("D"), Some("q#z"));
        assert_eq!(v.line_of("A"), Some(5));
        assert_eq!(v.line_of("D"), Some(8));
        assert_eq!(one("K=198.18.2.1 # note"), "198.18.2.1");
        assert_eq!(one("K=v   "), "v");
    }

    #[test]
    fn leading_whitespace_and_export() {
        assert_eq!(one("   K=1"), "1");
        assert_eq!(one("\tK=1"), "1");
        assert_eq!(one("export K=1"), "1");
        assert_eq!(one("  export \t K=1"), "1");
        // `export=1` is an assignment to a variable named export.
        assert_eq!(parse("export=1").unwrap().get("export"), Some("1"));
    }

    #[test]
    fn last_assignment_wins_and_keys_in_order() {
        let v = parse("B=1\nA=2\nB=3\n").unwrap();
        assert_eq!(v.get("B"), Some("3"));
        assert_eq!(v.line_of("B"), Some(3));
        assert_eq!(v.get("C"), None);
        assert_eq!(v.line_of("C"), None);
        assert_eq!(v.keys().collect::<Vec<_>>(), ["B", "A"]);
    }

    #[test]
    fn keys_are_identifiers() {
        assert_eq!(parse("_a_1=x").unwrap().get("_a_1"), Some("x"));
        assert!(at("1A=x", 1, 1).contains("not a KEY=value assignment"));
        assert!(at("  A-B=x", 1, 3).contains("not a KEY=value assignment"));
    }

    #[test]
    fn not_assignments() {
        for (text, col) in [
            ("source foo", 1),
            ("if true; then", 1),
            (". /etc/foo", 1),
            ("A = b", 1),
            ("A+=b", 1),
            ("A[0]=b", 1),
            ("  export A", 3),
            ("export", 1),
            ("export  =1", 1),
        ] {
            let msg = at(text, 1, col);
            assert_eq!(msg, "not a KEY=value assignment", "{text:?}");
        }
        assert_eq!(at("A=1\n\nls\n", 3, 1), "not a KEY=value assignment");
    }

    #[test]
    fn unquoted_whitespace() {
        let msg = at("K=a b", 1, 5);
        assert!(msg.contains("unquoted whitespace"), "{msg}");
        at("K=\"a\" b", 1, 7);
        at("K= b", 1, 4);
    }

    #[test]
    fn expansion_is_refused() {
        for (text, col) in [
            ("K=$HOME", 3),
            ("K=a${b}", 4),
            ("K=$(reboot)", 3),
            ("K=`reboot`", 3),
            ("K=\"x $y\"", 6),
            ("K=\"`id`\"", 4),
            ("K=~", 3),
            ("K=a:~/b", 5),
        ] {
            let msg = at(text, 1, col);
            assert!(msg.contains("which teqlctl never"), "{text:?}: {msg}");
            assert!(msg.contains("single quotes"), "{text:?}: {msg}");
            assert_eq!(err(text).key.as_deref(), Some("K"), "{text:?}");
        }
        // Literal where bash would not expand.
        assert_eq!(one("K=a~b"), "a~b");
        assert_eq!(one("K='~'"), "~");
    }

    #[test]
    fn expansions_are_named() {
        for (text, words) in [
            ("K=$(reboot)", "$(...) is command substitution"),
            ("K=\"$(reboot)\"", "$(...) is command substitution"),
            ("K=`reboot`", "`...` is command substitution"),
            ("K=$((1+1))", "$((...)) is arithmetic expansion"),
            ("K=${HOME}", "${...} is parameter expansion"),
            ("K=$HOME", "$HOME is parameter expansion"),
            ("K=$1", "$1 is parameter expansion"),
            ("K=~", "~ is tilde expansion"),
        ] {
            let e = err(text);
            assert!(e.msg.starts_with(words), "{text:?}: {e}");
            assert!(e.msg.ends_with("put the value in single quotes if the characters are meant literally"), "{e}");
        }
        // The example of the issue, with the key between the position and the message.
        let e = err("DEVICE=teql0\nONBOOT=yes\nIPADDR=$(hostname -i)\n");
        assert_eq!(
            e.to_string(),
            "3:8: IPADDR: $(...) is command substitution, which teqlctl never runs; put the value \
             in single quotes if the characters are meant literally"
        );
    }

    #[test]
    fn only_value_errors_name_the_key() {
        assert_eq!(err("K=\"abc").key.as_deref(), Some("K"));
        assert_eq!(err("K=a b").key.as_deref(), Some("K"));
        assert_eq!(err("source x").key, None);
        assert_eq!(err("1A=x").key, None);
    }

    #[test]
    fn many_keys_are_read_in_linear_time() {
        // 200,000 distinct keys took 22 s with a scan of all earlier assignments per key.
        // Measured against a quarter of them, in the same run (the best of five each, taken
        // in turns, so that a busy machine slows both alike): linear is 4 times the work,
        // quadratic 16 times.
        let text_of = |n: usize| -> String { (0..n).map(|i| format!("K{i}=v{i}\n")).collect() };
        let time = |text: &str, n: usize| {
            let t = std::time::Instant::now();
            let v = parse_with_limit(text, usize::MAX).unwrap();
            assert_eq!(v.keys().count(), n);
            t.elapsed()
        };
        let (quarter_text, text) = (text_of(50_000), text_of(200_000));
        let (mut quarter, mut whole) = (std::time::Duration::MAX, std::time::Duration::MAX);
        for _ in 0..5 {
            quarter = quarter.min(time(&quarter_text, 50_000));
            whole = whole.min(time(&text, 200_000));
        }
        assert!(
            whole < quarter * 10 + std::time::Duration::from_millis(20),
            "200,000 keys {whole:?} against 50,000 in {quarter:?}: not linear"
        );
        let v = parse_with_limit(&text, usize::MAX).unwrap();
        assert_eq!(v.get("K199999"), Some("v199999"));
        // parse itself stops at the limit with one error.
        let e = err(&text);
        assert_eq!(e.line, MAX_ASSIGNMENTS + 1);
        assert!(e.msg.contains("more than 10000 assignments"), "{e}");
        // Repeats still count once in keys(), and the last one wins.
        let v = parse_with_limit(&"A=1\nB=2\n".repeat(1000), usize::MAX).unwrap();
        assert_eq!(v.keys().collect::<Vec<_>>(), ["A", "B"]);
        assert_eq!(v.line_of("B"), Some(2000));
    }

    #[test]
    fn long_lines_are_refused() {
        let ok = format!("K={}", "x".repeat(MAX_LINE_CHARS - 2));
        assert_eq!(one(&ok).len(), MAX_LINE_CHARS - 2);
        let e = err(&format!("A=1\nK={}", "x".repeat(MAX_LINE_CHARS)));
        assert_eq!((e.line, e.col), (2, MAX_LINE_CHARS + 1));
        assert!(e.msg.contains("longer than 4096 characters"), "{e}");
    }

    #[test]
    fn unterminated_quotes_point_at_the_opening_quote() {
        assert_eq!(at("A=1\nK=\"abc\nB=2\"\n", 2, 3), "unterminated double quote");
        assert_eq!(at("K=ab'c", 1, 5), "unterminated single quote");
        assert_eq!(at("  K=\"a\"\"", 1, 8), "unterminated double quote");
        assert_eq!(at("K=\"a\\\"", 1, 3), "unterminated double quote");
    }

    #[test]
    fn continuation_is_refused() {
        assert!(at("K=\"a\\\nb\"", 1, 5).contains("line continuation"));
        assert!(at("K=a\\\nb", 1, 4).contains("line continuation"));
        assert!(at("K=a\\", 1, 4).contains("line continuation"));
    }

    #[test]
    fn shell_operators_are_refused() {
        for (text, col) in [("K=a;b", 4), ("K=a&", 4), ("K=a|b", 4), ("K=a>b", 4), ("K=(a b)", 3)] {
            let msg = at(text, 1, col);
            assert!(msg.contains("shell syntax"), "{text:?}: {msg}");
        }
    }

    #[test]
    fn carriage_return() {
        assert!(at("A=1\r\n", 1, 4).contains("DOS line endings"));
        // In a comment it changes nothing, so it is no reason to refuse the file.
        assert!(parse("# c\r\n").is_ok());
        assert_eq!(one("K='a\r'"), "a\r");
    }

    #[test]
    fn columns_count_characters() {
        at("K=éé$x", 1, 5);
    }

    #[test]
    fn display() {
        let e = err("\nK=$x");
        assert!(e.to_string().starts_with("2:3: "), "{e}");
    }

    const TRICKY: &str = "# ifcfg\n\
        export DEVICE=eth2 # the line\n\
        NAME=\"Uplink \\\"one\\\" \\\\ \\$ \\` \\n\"\n\
        \tA='single $x `y`'a\"b c\"d\\ e#f\n\
        EMPTY=\n\
        Q=\"\"'' # empty too\n\
        BAD=$(x) \"oops\n\
        R='\r'\n";

    fn check_no_panic(text: &str) {
        let lines = text.split('\n').count();
        match parse(text) {
            Ok(v) => {
                for k in v.keys() {
                    assert!(v.get(k).is_some());
                    let l = v.line_of(k).unwrap_or(0);
                    assert!((1..=lines).contains(&l), "{text:?}");
                }
            }
            Err(e) => {
                assert!((1..=lines).contains(&e.line), "{text:?}: {e}");
                let width = text.split('\n').nth(e.line - 1).map_or(0, |l| l.chars().count());
                assert!(e.col >= 1 && e.col <= width + 1, "{text:?}: {e}");
                assert!(!e.msg.is_empty());
            }
        }
    }

    #[test]
    fn every_prefix_and_suffix_of_a_tricky_file() {
        let bounds: Vec<usize> = TRICKY.char_indices().map(|(i, _)| i).chain([TRICKY.len()]).collect();
        for &b in &bounds {
            check_no_panic(&TRICKY[..b]);
            check_no_panic(&TRICKY[b..]);
        }
    }

    #[test]
    fn pseudo_random_strings() {
        const ALPHABET: &[char] = &[
            'A', 'b', '_', '1', '=', ' ', '\t', '\n', '\r', '#', '"', '\'', '\\', '$', '`', '~', ':', ';', '(', ')',
            '|', '&', '<', '>', 'é', '{', '}', '[', ']',
        ];
        // A fixed xorshift so failures reproduce without a dev-dependency.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = (next() % 24) as usize;
            let mut s = String::new();
            if next() % 2 == 0 {
                s.push_str("K=");
            }
            for _ in 0..len {
                s.push(ALPHABET[(next() % ALPHABET.len() as u64) as usize]);
            }
            check_no_panic(&s);
        }
    }

    #[test]
    fn values_survive_single_quoting() {
        // What the error messages advise must work for any value without a single quote.
        for v in ["$(reboot)", "`id`", "a b", "~", "x;y", "#", "\\", "\"", ""] {
            assert_eq!(one(&format!("K='{v}'")), v);
        }
    }
}
