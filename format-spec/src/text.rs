//! Untrusted text made safe for a terminal.
//!
//! Directory data, certificate names, file names and server messages reach the
//! screen of the administrator who runs the tools. A control character (an
//! ESC sequence can rewrite the screen, set the window title, or hide what
//! follows) or a bidirectional override (text that reads differently from what
//! it is) must not act: each is shown as a visible escape instead.

use std::fmt::Write as _;

/// `s` with every control character (Unicode Cc) and every bidirectional
/// formatting character written as a visible escape: `\n`, `\r`, `\t`, `\x1b`,
/// `\u{202e}`. With `keep_newlines`, LF is kept (multi-line reports).
pub fn terminal_safe(s: &str, keep_newlines: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' if keep_newlines => out.push('\n'),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{061C}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{2028}'
            | '\u{2029}' => {
                let _ = write!(out, "\\u{{{:04x}}}", u32::from(c));
            }
            c if c.is_control() && u32::from(c) <= 0xff => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:04x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_act_no_more() {
        assert_eq!(
            terminal_safe("a\u{1b}]0;pwned\u{7}b", false),
            "a\\x1b]0;pwned\\x07b"
        );
        assert_eq!(
            terminal_safe("x\u{202e}gpj.exe", false),
            "x\\u{202e}gpj.exe"
        );
        assert_eq!(terminal_safe("l1\nl2\r", false), "l1\\nl2\\r");
        assert_eq!(terminal_safe("l1\nl2", true), "l1\nl2");
        assert_eq!(terminal_safe("Weiß \u{85}", false), "Weiß \\x85");
        assert_eq!(terminal_safe("plain, text", false), "plain, text");
    }
}
