//! Text from configuration files on its way into a message.
//!
//! Messages end up on a terminal, in the journal and in `status --json`. A value from a file
//! may hold anything: an ESC sequence that recolours or rewrites the terminal, a bidi override
//! that makes `teql0` read as something else, a NUL, or ten thousand characters that bury the
//! one line the admin needs. Every piece of file text is passed through `escape_for_message`
//! before it is formatted into a message.

/// `s` made safe to print inside a one-line message: C0 and C1 controls, DEL, and the Unicode
/// bidi and invisible format characters are written as escapes (`\n`, `\t`, `\r`, `\e`,
/// otherwise `\u{XXXX}`), and at most `max_chars` characters of `s` are kept, followed by
/// `…(+N chars)` saying how many were cut.
///
/// The backslash itself is not escaped: escaping an already escaped text changes nothing, so a
/// message that embeds escaped values may be escaped again as a whole.
pub fn escape_for_message(s: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max_chars.saturating_mul(4)) + 16);
    for (kept, c) in s.chars().enumerate() {
        if kept == max_chars {
            let cut = s.chars().count() - max_chars;
            out.push_str(&format!("…(+{cut} chars)"));
            return out;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{1b}' => out.push_str("\\e"),
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:04X}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// A whole block of output (`status`, a --dry-run plan) made safe for a terminal: as
/// `escape_for_message`, but newlines and tabs are kept (they lay the block out) and nothing is
/// cut. The last guard for text that did not all come through a checked name or an escaped
/// message, such as the kernel's interface names in a link dump.
pub(crate) fn escape_for_terminal(s: &str) -> String {
    if !s.chars().any(|c| c != '\n' && c != '\t' && needs_escape(c)) {
        return s.to_string();
    }
    s.split('\n')
        .map(|line| line.split('\t').map(|p| escape_for_message(p, usize::MAX)).collect::<Vec<_>>().join("\t"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Characters that must never reach a terminal or a log raw.
fn needs_escape(c: char) -> bool {
    matches!(c,
        // C0 controls, DEL and the C1 controls (CSI U+009B starts an escape sequence on its own
        // in some terminals).
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        // Bidi marks, embeddings, overrides and isolates, and the Arabic letter mark: they
        // reorder what follows on the line (CVE-2021-42574, "Trojan Source").
        | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{61c}'
        // Zero-width characters and the BOM: invisible, so `teql0` and `te\u{200B}ql0` look
        // alike.
        | '\u{200b}'..='\u{200d}' | '\u{feff}'
        // Line and paragraph separators would break the one-line rule in some viewers.
        | '\u{2028}' | '\u{2029}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_unchanged() {
        assert_eq!(escape_for_message("teql0", 64), "teql0");
        assert_eq!(escape_for_message("é ü \\ \" $", 64), "é ü \\ \" $");
        assert_eq!(escape_for_message("", 64), "");
    }

    #[test]
    fn escape_sequence() {
        let s = escape_for_message("\u{1b}[31mred\u{1b}[0m\u{7}", 64);
        assert_eq!(s, "\\e[31mred\\e[0m\\u{0007}");
        assert_eq!(escape_for_message("a\nb\tc\rd\u{7f}\u{9b}", 64), "a\\nb\\tc\\rd\\u{007F}\\u{009B}");
    }

    #[test]
    fn bidi_and_invisible() {
        assert_eq!(escape_for_message("teql\u{202e}0", 64), "teql\\u{202E}0");
        for c in [
            '\u{200e}', '\u{200f}', '\u{202a}', '\u{202d}', '\u{2066}', '\u{2069}', '\u{61c}', '\u{200b}', '\u{200d}',
            '\u{feff}',
        ] {
            let s = escape_for_message(&c.to_string(), 64);
            assert_eq!(s, format!("\\u{{{:04X}}}", u32::from(c)));
        }
    }

    #[test]
    fn nul() {
        assert_eq!(escape_for_message("a\0b", 64), "a\\u{0000}b");
    }

    #[test]
    fn long_value_is_cut() {
        let long = "x".repeat(10_000);
        let s = escape_for_message(&long, 64);
        assert_eq!(s, format!("{}…(+9936 chars)", "x".repeat(64)));
        // Exactly at the bound nothing is cut.
        assert_eq!(escape_for_message(&"y".repeat(64), 64), "y".repeat(64));
        assert_eq!(escape_for_message("abc", 0), "…(+3 chars)");
    }

    #[test]
    fn idempotent() {
        let once = escape_for_message("\u{1b}x\u{202e}\n", 64);
        assert_eq!(escape_for_message(&once, 1000), once);
    }
}
