//! No import cycle among teqlctl's modules (issue 27, point 4).
//!
//! Each top-level module of src/ (a file src/X.rs, or a directory src/X/ with everything in it)
//! is one node; a reference from one to another (`use crate::X`, `crate::X::` anywhere in the
//! code, `use crate::{X, Y::..}`, a `super::` that climbs out of the module) is an edge. Test
//! modules (`#[cfg(test)]` items) and comments do not count: a test may use anything, and a
//! comment names what it likes. A cycle means no module in it can be understood, tested or
//! moved without the others; the test prints each one with the lines that make its edges, so
//! whoever adds one sees what to move down.
//!
//! The directories of src/ are its layers (config/, kernel/, plan/, run/, front/, each above the
//! ones before it, with the shared leaves as files of src/): between layers the test above sees
//! each as one node, and `no_import_cycle_within_a_layer` checks the modules inside each.
//!
//! `cargo test --test layout -- --nocapture` also prints the layering depth (the longest chain
//! of modules, a cycle counting as one).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};

/// Cycles that remain, each as its modules' names, sorted. The test fails on any cycle not
/// listed here, and on any listed one that no longer exists as listed, so the list only
/// shrinks.
/// Cycles that may remain, each with why. None: the module graph is acyclic, and any cycle
/// fails the test. (Kept, empty, so that a cycle accepted for a transition is written down.)
const ALLOWED_CYCLES: &[&[&str]] = &[];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    /// `::`
    Path,
    Punct(char),
}

/// A token and the 1-based line it starts on.
type Token = (Tok, usize);

/// Rust source as tokens, without comments, string, char and number literals (none of which
/// can make a module reference), and without lifetimes.
fn lex(src: &str) -> Vec<Token> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    // Skips to the end of a string body starting at `i` (after the opening quote): a quote
    // preceded by an odd run of backslashes does not end it.
    let skip_quoted = |i: &mut usize, line: &mut usize, quote: u8| {
        while *i < b.len() {
            match b[*i] {
                b'\\' => {
                    // A backslash before the line's end continues the string on the next.
                    if b.get(*i + 1) == Some(&b'\n') {
                        *line += 1;
                    }
                    *i += 2
                }
                b'\n' => {
                    *line += 1;
                    *i += 1
                }
                c if c == quote => {
                    *i += 1;
                    return;
                }
                _ => *i += 1,
            }
        }
    };
    while i < b.len() {
        let c = b[i];
        match c {
            b'\n' => {
                line += 1;
                i += 1;
            }
            _ if c.is_ascii_whitespace() => i += 1,
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                // Block comments nest in Rust.
                let mut depth = 0;
                while i < b.len() {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        if b[i] == b'\n' {
                            line += 1;
                        }
                        i += 1;
                    }
                }
            }
            b'"' => {
                i += 1;
                skip_quoted(&mut i, &mut line, b'"');
            }
            b'\'' => {
                // A char literal ('a', '\n', '\u{1F}', '"') or a lifetime/label ('a, 'static).
                if b.get(i + 1) == Some(&b'\\') {
                    i += 1;
                    skip_quoted(&mut i, &mut line, b'\'');
                } else if b.get(i + 2) == Some(&b'\'') {
                    i += 3;
                } else if let Some(len) = std::str::from_utf8(&b[i + 1..])
                    .ok()
                    .and_then(|s| s.chars().next())
                    .map(char::len_utf8)
                    .filter(|&len| b.get(i + 1 + len) == Some(&b'\''))
                {
                    i += len + 2;
                } else {
                    // A lifetime: its name is no module.
                    i += 1;
                    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                        i += 1;
                    }
                }
            }
            _ if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                let word = &src[start..i];
                // Raw strings r"..", r#".."#, br".." and byte strings b"..", b'..'.
                if matches!(word, "r" | "br") && matches!(b.get(i), Some(b'"' | b'#')) {
                    let mut hashes = 0;
                    while b.get(i) == Some(&b'#') {
                        hashes += 1;
                        i += 1;
                    }
                    if b.get(i) == Some(&b'"') {
                        i += 1;
                        loop {
                            if i >= b.len() {
                                break;
                            }
                            if b[i] == b'\n' {
                                line += 1;
                            }
                            if b[i] == b'"' && b[i + 1..].iter().take(hashes).filter(|&&h| h == b'#').count() == hashes
                            {
                                i += 1 + hashes;
                                break;
                            }
                            i += 1;
                        }
                        continue;
                    }
                    // `r#ident`: a raw identifier.
                    let start = i;
                    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                        i += 1;
                    }
                    out.push((Tok::Ident(src[start..i].to_string()), line));
                    continue;
                }
                if word == "b" && matches!(b.get(i), Some(b'"' | b'\'')) {
                    let quote = b[i];
                    i += 1;
                    skip_quoted(&mut i, &mut line, quote);
                    continue;
                }
                out.push((Tok::Ident(word.to_string()), line));
            }
            _ if c.is_ascii_digit() => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
                    // `0..n`: the range's dots are no part of the number.
                    if b[i] == b'.' && b.get(i + 1) == Some(&b'.') {
                        break;
                    }
                    i += 1;
                }
            }
            b':' if b.get(i + 1) == Some(&b':') => {
                out.push((Tok::Path, line));
                i += 2;
            }
            _ if c.is_ascii() => {
                out.push((Tok::Punct(c as char), line));
                i += 1;
            }
            _ => {
                // Non-ASCII outside literals and comments: an identifier character at most.
                i += std::str::from_utf8(&b[i..]).ok().and_then(|s| s.chars().next()).map_or(1, char::len_utf8);
            }
        }
    }
    out
}

fn is_ident(t: Option<&Token>, name: &str) -> bool {
    matches!(t, Some((Tok::Ident(s), _)) if s == name)
}

fn is_punct(t: Option<&Token>, p: char) -> bool {
    matches!(t, Some((Tok::Punct(c), _)) if *c == p)
}

/// The index just past the bracketed group opening at `open` (`(`, `[` or `{`).
fn past_group(toks: &[Token], open: usize) -> usize {
    let mut depth = 0usize;
    let mut i = open;
    while i < toks.len() {
        match toks[i].0 {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    toks.len()
}

/// Whether the tokens at `i` are exactly `#[cfg(test)]`.
fn is_cfg_test(toks: &[Token], i: usize) -> bool {
    is_punct(toks.get(i), '#')
        && is_punct(toks.get(i + 1), '[')
        && is_ident(toks.get(i + 2), "cfg")
        && is_punct(toks.get(i + 3), '(')
        && is_ident(toks.get(i + 4), "test")
        && is_punct(toks.get(i + 5), ')')
        && is_punct(toks.get(i + 6), ']')
}

/// The index just past the item starting at `i` (its attributes included): a `;` or a braced
/// body at the item's own level ends it.
fn past_item(toks: &[Token], mut i: usize) -> usize {
    while i < toks.len() {
        match toks[i].0 {
            Tok::Punct(';') => return i + 1,
            Tok::Punct('{') => return past_group(toks, i),
            Tok::Punct('(' | '[') => i = past_group(toks, i),
            _ => i += 1,
        }
    }
    toks.len()
}

/// A reference out of one file: the module named and the line that names it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ref {
    module: String,
    line: usize,
}

/// The crate-level modules a file refers to. `depth` is how deep the file's module is below
/// the crate root (src/run/ops.rs: 1, src/config/mod.rs: 1, src/config/ifcfg.rs: 2), which says
/// when a `super::` leaves its top-level module. Test items and comments are left out.
fn refs(src: &str, depth: usize) -> Vec<Ref> {
    let toks = lex(src);
    let mut out = Vec::new();
    // The brace depths at which an inline `mod name {` opened: each is one level deeper.
    let mut inline_mods: Vec<usize> = Vec::new();
    let mut braces = 0usize;
    let mut i = 0;
    while i < toks.len() {
        if is_cfg_test(&toks, i) {
            i = past_item(&toks, i);
            continue;
        }
        let line = toks[i].1;
        match &toks[i].0 {
            Tok::Punct('{') => {
                braces += 1;
                i += 1;
            }
            Tok::Punct('}') => {
                braces = braces.saturating_sub(1);
                if inline_mods.last() == Some(&braces) {
                    inline_mods.pop();
                }
                i += 1;
            }
            Tok::Ident(w) if w == "mod" => {
                if matches!(toks.get(i + 1), Some((Tok::Ident(_), _))) && is_punct(toks.get(i + 2), '{') {
                    inline_mods.push(braces);
                    braces += 1;
                    i += 3;
                } else {
                    i += 1;
                }
            }
            // `crate::` (or `$crate::` in a macro): the next name, or each name of a group.
            Tok::Ident(w) if w == "crate" && toks.get(i + 1).map(|t| &t.0) == Some(&Tok::Path) => {
                match toks.get(i + 2) {
                    Some((Tok::Ident(m), l)) => {
                        out.push(Ref { module: m.clone(), line: *l });
                        i += 3;
                    }
                    Some((Tok::Punct('{'), _)) => {
                        let end = past_group(&toks, i + 2);
                        let mut j = i + 3;
                        let mut first = true;
                        let mut nest = 0usize;
                        while j < end - 1 {
                            match &toks[j].0 {
                                Tok::Punct('{' | '(' | '[') => nest += 1,
                                Tok::Punct('}' | ')' | ']') => nest = nest.saturating_sub(1),
                                Tok::Punct(',') if nest == 0 => first = true,
                                Tok::Ident(m) if first && nest == 0 => {
                                    if m != "self" {
                                        out.push(Ref { module: m.clone(), line: toks[j].1 });
                                    }
                                    first = false;
                                }
                                _ => {}
                            }
                            j += 1;
                        }
                        i = end;
                    }
                    _ => i += 2,
                }
            }
            // `super::super::X`: a crate-level module once it climbs above the top-level one.
            Tok::Ident(w) if w == "super" => {
                let mut ups = 0;
                let mut j = i;
                while is_ident(toks.get(j), "super") && toks.get(j + 1).map(|t| &t.0) == Some(&Tok::Path) {
                    ups += 1;
                    j += 2;
                }
                if ups > 0 && ups == depth + inline_mods.len() {
                    if let Some((Tok::Ident(m), _)) = toks.get(j) {
                        out.push(Ref { module: m.clone(), line });
                    }
                }
                i = j.max(i + 1);
            }
            _ => i += 1,
        }
    }
    out
}

/// An edge's evidence: file, line and the line's text.
#[derive(Debug, Clone)]
struct Site {
    file: String,
    line: usize,
    text: String,
}

#[derive(Debug, Default)]
struct Graph {
    /// Each module and its files.
    files: BTreeMap<String, Vec<String>>,
    /// from -> to -> where (every site, in file order).
    edges: BTreeMap<String, BTreeMap<String, Vec<Site>>>,
}

impl Graph {
    /// Builds the graph from (path relative to src/, text) pairs.
    fn build(files: &[(String, String)]) -> Graph {
        let mut g = Graph::default();
        for (path, _) in files {
            if let Some((module, _)) = module_of(path) {
                g.files.entry(module).or_default().push(path.clone());
            }
        }
        for (path, text) in files {
            let Some((module, depth)) = module_of(path) else { continue };
            let lines: Vec<&str> = text.lines().collect();
            g.edges.entry(module.clone()).or_default();
            for r in refs(text, depth) {
                // A name that is no module (an item re-exported at the crate root) is no edge.
                if r.module == module || !g.files.contains_key(&r.module) {
                    continue;
                }
                let sites = g.edges.get_mut(&module).unwrap().entry(r.module).or_default();
                let site = Site {
                    file: format!("src/{path}"),
                    line: r.line,
                    text: lines.get(r.line - 1).map_or("", |l| l.trim()).to_string(),
                };
                // One line naming the module twice is one site.
                if !sites.iter().any(|s| s.file == site.file && s.line == site.line) {
                    sites.push(site);
                }
            }
        }
        g
    }

    fn nodes(&self) -> Vec<String> {
        self.files.keys().cloned().collect()
    }

    fn succ(&self, n: &str) -> Vec<String> {
        self.edges.get(n).map(|m| m.keys().cloned().collect()).unwrap_or_default()
    }

    /// Strongly connected components (Tarjan), each sorted; in reverse topological order.
    fn sccs(&self) -> Vec<Vec<String>> {
        struct St<'a> {
            g: &'a Graph,
            index: BTreeMap<String, usize>,
            low: BTreeMap<String, usize>,
            stack: Vec<String>,
            on: BTreeSet<String>,
            next: usize,
            out: Vec<Vec<String>>,
        }
        fn visit(s: &mut St, v: &str) {
            s.index.insert(v.to_string(), s.next);
            s.low.insert(v.to_string(), s.next);
            s.next += 1;
            s.stack.push(v.to_string());
            s.on.insert(v.to_string());
            for w in s.g.succ(v) {
                if !s.index.contains_key(&w) {
                    visit(s, &w);
                    let lw = s.low[&w];
                    let lv = s.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if s.on.contains(&w) {
                    let iw = s.index[&w];
                    let lv = s.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
            if s.low[v] == s.index[v] {
                let mut comp = Vec::new();
                loop {
                    let w = s.stack.pop().unwrap();
                    s.on.remove(&w);
                    let done = w == v;
                    comp.push(w);
                    if done {
                        break;
                    }
                }
                comp.sort();
                s.out.push(comp);
            }
        }
        let mut s = St {
            g: self,
            index: BTreeMap::new(),
            low: BTreeMap::new(),
            stack: Vec::new(),
            on: BTreeSet::new(),
            next: 0,
            out: Vec::new(),
        };
        for n in self.nodes() {
            if !s.index.contains_key(&n) {
                visit(&mut s, &n);
            }
        }
        s.out
    }

    /// The cycles: components of more than one module.
    fn cycles(&self) -> Vec<Vec<String>> {
        let mut c: Vec<Vec<String>> = self.sccs().into_iter().filter(|c| c.len() > 1).collect();
        c.sort();
        c
    }

    /// A shortest cycle through `start` inside `comp` (breadth first), as its modules.
    fn cycle_through(&self, start: &str, comp: &[String]) -> Vec<String> {
        let mut prev: BTreeMap<String, String> = BTreeMap::new();
        let mut queue = VecDeque::from([start.to_string()]);
        while let Some(v) = queue.pop_front() {
            for w in self.succ(&v) {
                if !comp.contains(&w) {
                    continue;
                }
                if w == start {
                    let mut path = vec![v.clone()];
                    let mut at = v.clone();
                    while at != start {
                        at = prev[&at].clone();
                        path.push(at.clone());
                    }
                    path.reverse();
                    path.push(start.to_string());
                    return path;
                }
                if !prev.contains_key(&w) && w != start {
                    prev.insert(w.clone(), v.clone());
                    queue.push_back(w);
                }
            }
        }
        vec![start.to_string()]
    }

    /// The longest chain of modules, a cycle counting as one module (Kahn's order over the
    /// condensed graph).
    fn depth(&self) -> (usize, Vec<String>) {
        let comps = self.sccs();
        let comp_of: BTreeMap<&str, usize> =
            comps.iter().enumerate().flat_map(|(i, c)| c.iter().map(move |n| (n.as_str(), i))).collect();
        // Tarjan yields components after everything they reach: in order, each one's
        // successors are done already.
        let mut best: Vec<(usize, Option<usize>)> = vec![(1, None); comps.len()];
        for (i, c) in comps.iter().enumerate() {
            for n in c {
                for w in self.succ(n) {
                    let j = comp_of[w.as_str()];
                    if j != i && best[j].0 + 1 > best[i].0 {
                        best[i] = (best[j].0 + 1, Some(j));
                    }
                }
            }
        }
        let Some(top) = (0..comps.len()).max_by_key(|&i| best[i].0) else { return (0, Vec::new()) };
        let mut chain = Vec::new();
        let mut at = Some(top);
        while let Some(i) = at {
            chain.push(comps[i].join("+"));
            at = best[i].1;
        }
        (best[top].0, chain)
    }

    /// What a developer needs to break a cycle: its files, one concrete cycle with the line
    /// that makes each edge, and every other edge inside it; each edge with every line that
    /// makes it (all must go for the edge to go).
    fn describe(&self, comp: &[String]) -> String {
        let mut s = format!("cycle of {} modules: {}\n  files:", comp.len(), comp.join(", "));
        for m in comp {
            for f in &self.files[m] {
                s += &format!(" src/{f}");
            }
        }
        s += "\n  one path round it:\n";
        let path = self.cycle_through(&comp[0], comp);
        let mut shown = BTreeSet::new();
        let edge = |a: &str, b: &str| {
            let mut t = String::new();
            for (k, site) in self.edges[a][b].iter().enumerate() {
                let head = if k == 0 { format!("{a} -> {b}") } else { String::new() };
                t += &format!("    {head:<30} {}:{}: {}\n", site.file, site.line, site.text);
            }
            t
        };
        for w in path.windows(2) {
            s += &edge(&w[0], &w[1]);
            shown.insert((w[0].clone(), w[1].clone()));
        }
        s += "  the other edges inside it:\n";
        for a in comp {
            for b in self.edges[a].keys() {
                if comp.contains(b) && !shown.contains(&(a.clone(), b.clone())) {
                    s += &edge(a, b);
                }
            }
        }
        s
    }
}

/// A file's top-level module and how deep its own module is, from its path under src/;
/// None for the crate roots.
fn module_of(path: &str) -> Option<(String, usize)> {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["lib.rs" | "main.rs"] => None,
        [file] => Some((file.strip_suffix(".rs")?.to_string(), 1)),
        [dir, rest @ ..] => {
            let below = rest.len() - usize::from(rest.last() == Some(&"mod.rs"));
            Some((dir.to_string(), 1 + below))
        }
        [] => None,
    }
}

fn rs_files(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rs_files(&p, root, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            out.push((rel, fs::read_to_string(&p).unwrap()));
        }
    }
}

fn src_graph() -> Graph {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rs_files(&root, &root, &mut files);
    Graph::build(&files)
}

/// What is wrong with the cycles `g` has, given the allowed ones: each cycle not allowed, and
/// each allowed one that is not there as listed ("" if nothing).
fn verdict(g: &Graph, allowed: &[&[&str]]) -> String {
    let found = g.cycles();
    let allowed: Vec<Vec<String>> = allowed.iter().map(|c| c.iter().map(ToString::to_string).collect()).collect();
    let mut problems = String::new();
    for c in &found {
        if !allowed.contains(c) {
            problems += &format!("new {}", g.describe(c));
        }
    }
    for c in &allowed {
        if !found.contains(c) {
            problems += &format!(
                "the allowed cycle {c:?} no longer exists as listed: take it off ALLOWED_CYCLES in tests/layout.rs (or list what remains of it)\n"
            );
        }
    }
    problems
}

#[test]
fn no_import_cycle_among_modules() {
    let g = src_graph();
    let (depth, chain) = g.depth();
    println!("{} modules; layering depth {depth}: {}", g.files.len(), chain.join(" -> "));
    for c in g.cycles() {
        println!("{}", g.describe(&c));
    }
    let problems = verdict(&g, ALLOWED_CYCLES);
    assert!(
        problems.is_empty(),
        "import cycles among src modules (move what an edge needs down into the lower module):\n{problems}"
    );
}

fn files(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(p, t)| (p.to_string(), t.to_string())).collect()
}

#[test]
fn finds_a_cycle_and_the_lines_that_make_it() {
    let g = Graph::build(&files(&[
        ("a.rs", "use crate::b::B;\npub struct A;\n"),
        ("b.rs", "pub struct B;\nfn f() -> crate::c::C { todo!() }\n"),
        ("c/mod.rs", "mod d;\npub struct C;\n"),
        ("c/d.rs", "use crate::{log, a::A};\n"),
        ("log.rs", "pub fn log() {}\n"),
        ("lib.rs", "pub mod a;\n"),
    ]));
    assert_eq!(g.cycles(), vec![vec!["a".to_string(), "b".into(), "c".into()]]);
    let text = g.describe(&g.cycles()[0]);
    assert!(text.contains("a -> b                         src/a.rs:1: use crate::b::B;"), "{text}");
    assert!(text.contains("b -> c                         src/b.rs:2: fn f() -> crate::c::C { todo!() }"), "{text}");
    assert!(text.contains("c -> a                         src/c/d.rs:1: use crate::{log, a::A};"), "{text}");
    assert!(text.contains("src/c/mod.rs src/c/d.rs"), "{text}");
    // c -> log is an edge but no part of the cycle: two layers, the cycle counted as one.
    assert!(g.edges["c"].contains_key("log"));
    assert_eq!(g.depth().0, 2);
}

#[test]
fn comments_strings_and_test_modules_make_no_edge() {
    let g = Graph::build(&files(&[
        ("a.rs", "use crate::b::B;\n"),
        (
            "b.rs",
            "// crate::a::x in a comment\n/* and /* nested */ crate::a::y */\n\
             /// doc: `crate::a::z`\nconst S: &str = \"crate::a::s\";\n\
             const R: &str = r#\"crate::a::\"r\"#;\nconst C: char = '\"'; fn l<'a>(x: &'a str) {}\n\
             #[cfg(test)]\nmod tests {\n    use crate::a;\n    fn f() { crate::a::g(); }\n}\n\
             #[cfg(test)]\nuse crate::a::T;\n\
             #[cfg(test)]\n#[allow(dead_code)]\nfn only_in_tests() { crate::a::h() }\n\
             pub struct B;\n",
        ),
    ]));
    assert_eq!(g.cycles(), Vec::<Vec<String>>::new(), "{:?}", g.edges);
    assert!(g.edges["b"].is_empty(), "{:?}", g.edges["b"]);
    // The same reference out of a test module counts once it is in the code.
    let g = Graph::build(&files(&[
        ("a.rs", "use crate::b::B;\n"),
        ("b.rs", "#[cfg(test)]\nmod tests {}\nfn f() { crate::a::g(); }\n"),
    ]));
    assert_eq!(g.cycles().len(), 1);
    // ..and after a string holding a quote and a char literal that is one.
    let g = Graph::build(&files(&[
        ("a.rs", "use crate::b::B;\n"),
        ("b.rs", "const S: &str = \"\\\"\"; const C: char = '\\''; use crate::a::A;\n"),
    ]));
    assert_eq!(g.cycles().len(), 1);
}

#[test]
fn super_counts_only_when_it_leaves_the_module() {
    // super:: inside config stays in config; from a top-level file it is the crate root;
    // from an inline module of a top-level file, twice is the crate root.
    let g = Graph::build(&files(&[
        ("config/mod.rs", "mod ifcfg;\npub fn f() {}\n"),
        ("config/ifcfg.rs", "use super::f;\nfn g() { super::super::plan::p(); }\n"),
        ("plan.rs", "pub fn p() {}\nmod inner {\n    use super::p;\n    fn q() { super::super::config::f(); }\n}\n"),
    ]));
    assert_eq!(g.cycles(), vec![vec!["config".to_string(), "plan".into()]]);
    let g = Graph::build(&files(&[
        ("config/mod.rs", "pub fn f() {}\n"),
        ("plan.rs", "pub fn p() {}\nmod inner {\n    use super::p;\n}\nfn q() { super::config::f(); }\n"),
    ]));
    assert!(g.edges["plan"].contains_key("config"));
    assert!(g.edges["config"].is_empty());
}

#[test]
fn an_edge_to_a_name_that_is_no_module_is_none() {
    let g = Graph::build(&files(&[("a.rs", "use crate::Thing;\nuse crate::{self, b};\n"), ("b.rs", "")]));
    assert_eq!(g.succ("a"), vec!["b".to_string()]);
}

#[test]
fn the_allow_list_only_shrinks() {
    let g = Graph::build(&files(&[
        ("a.rs", "use crate::b::B;\n"),
        ("b.rs", "use crate::a::A;\n"),
        ("c.rs", "use crate::a::A;\n"),
    ]));
    assert_eq!(verdict(&g, &[&["a", "b"]]), "");
    // A cycle not listed fails, with what makes it.
    assert!(verdict(&g, &[]).contains("new cycle of 2 modules: a, b"));
    // One that grew is another cycle; one that is gone must come off the list.
    let v = verdict(&g, &[&["a", "b", "c"]]);
    assert!(v.contains("new cycle of 2 modules: a, b") && v.contains("no longer exists"), "{v}");
    let fixed = Graph::build(&files(&[("a.rs", "use crate::b::B;\n"), ("b.rs", "")]));
    assert!(verdict(&fixed, &[&["a", "b"]]).contains("[\"a\", \"b\"] no longer exists"));
}

/// The directories of src/ whose modules are layers of their own (tests above see each as one
/// node): inside each, its modules must not form a cycle either.
const LAYERS: &[&str] = &["config", "kernel", "plan", "run", "front"];

/// The modules inside layer `dir` as a graph of their own: each file below src/DIR/ but its
/// mod.rs (which declares the others and re-exports what they share) seen as a crate-level
/// module, with `crate::DIR::` read as `crate::`. References to other layers name no module of
/// this graph, and are no edge in it.
fn layer_graph(dir: &str, all: &[(String, String)]) -> Graph {
    let prefix = format!("{dir}/");
    let files: Vec<(String, String)> = all
        .iter()
        .filter_map(|(path, text)| {
            let rest = path.strip_prefix(&prefix)?;
            (rest != "mod.rs").then(|| (rest.to_string(), text.replace(&format!("crate::{dir}::"), "crate::")))
        })
        .collect();
    Graph::build(&files)
}

#[test]
fn no_import_cycle_within_a_layer() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rs_files(&root, &root, &mut files);
    let mut problems = String::new();
    for dir in LAYERS {
        let g = layer_graph(dir, &files);
        assert!(g.files.len() > 1, "src/{dir}/ has fewer than two modules: is it still a layer?");
        let (depth, chain) = g.depth();
        println!("src/{dir}/: {} modules; layering depth {depth}: {}", g.files.len(), chain.join(" -> "));
        problems += &verdict(&g, &[]);
    }
    assert!(problems.is_empty(), "import cycles inside a layer of src/:\n{problems}");
}

#[test]
fn a_cycle_inside_a_layer_is_found() {
    let files = vec![
        ("run/mod.rs".to_string(), "pub mod a;\npub mod b;\n".to_string()),
        ("run/a.rs".to_string(), "use crate::run::b::f;\npub fn g() {}\n".to_string()),
        ("run/b.rs".to_string(), "pub fn f() { crate::run::a::g() }\n".to_string()),
        ("run/c.rs".to_string(), "use super::a;\nuse crate::kernel::x;\n".to_string()),
    ];
    let g = layer_graph("run", &files);
    assert_eq!(g.cycles(), vec![vec!["a".to_string(), "b".to_string()]]);
    // `super::a` from run/c.rs is run::a; another layer's module is no edge here.
    assert_eq!(g.succ("c"), ["a"]);
}
