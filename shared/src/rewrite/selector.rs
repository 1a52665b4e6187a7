//! The CSS selectors variant content may use: the subset lol_html (inside workerd's
//! `HTMLRewriter`) supports, checked here so a selector the edge would refuse is refused when
//! the test is saved, not when a page is served.
//!
//! A selector is a comma-separated list of complex selectors; each is compound selectors joined
//! by descendant (whitespace) or child (`>`) combinators. A compound is an optional type (or
//! `*`) followed by `#id`, `.class`, `[attr]`, `[attr OP value]` (OP one of `= ~= |= ^= $= *=`,
//! the value an identifier or a quoted string), `:first-child`, `:last-child`,
//! `:first-of-type`, `:last-of-type`, `:only-child`, `:only-of-type`, `:empty`,
//! `:nth-child(An+B)`, `:nth-of-type(An+B)` or `:not(compound)`. Sibling combinators (`+`,
//! `~`) and other pseudo-classes are refused: lol_html cannot match them while streaming.

use crate::limits::MAX_SELECTOR_BYTES;

/// Checks `s`; the error says what is wrong.
pub fn check(s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if s.len() > MAX_SELECTOR_BYTES {
        return Err(format!("at most {MAX_SELECTOR_BYTES} bytes"));
    }
    let mut p = Parser {
        s: s.as_bytes(),
        i: 0,
    };
    loop {
        p.skip_ws();
        p.complex()?;
        p.skip_ws();
        match p.peek() {
            None => return Ok(()),
            Some(b',') => p.i += 1,
            Some(c) => return Err(p.unexpected(c)),
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ws(&mut self) -> bool {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
        self.i > start
    }

    fn unexpected(&self, c: u8) -> String {
        match c {
            b'+' | b'~' => "sibling combinators (+, ~) are not supported".into(),
            _ => format!("unexpected `{}` at byte {}", char::from(c), self.i),
        }
    }

    fn complex(&mut self) -> Result<(), String> {
        self.compound()?;
        loop {
            let ws = self.skip_ws();
            match self.peek() {
                Some(b'>') => {
                    self.i += 1;
                    self.skip_ws();
                    self.compound()?;
                }
                Some(b',') | None => return Ok(()),
                Some(_) if ws => self.compound()?,
                Some(c) => return Err(self.unexpected(c)),
            }
        }
    }

    fn compound(&mut self) -> Result<(), String> {
        let start = self.i;
        if self.peek() == Some(b'*') {
            self.i += 1;
        } else if self.peek().is_some_and(is_name_start) {
            self.ident()?;
        }
        loop {
            match self.peek() {
                Some(b'#' | b'.') => {
                    self.i += 1;
                    self.ident()?;
                }
                Some(b'[') => self.attribute()?,
                Some(b':') => self.pseudo()?,
                _ => break,
            }
        }
        if self.i == start {
            return Err(match self.peek() {
                Some(c) => self.unexpected(c),
                None => "a selector is missing at the end".into(),
            });
        }
        Ok(())
    }

    fn ident(&mut self) -> Result<&str, String> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        if !self.peek().is_some_and(is_name_start) {
            return Err(format!("expected a name at byte {start}"));
        }
        while self
            .peek()
            .is_some_and(|c| is_name_start(c) || c == b'-' || c.is_ascii_digit())
        {
            self.i += 1;
        }
        Ok(std::str::from_utf8(&self.s[start..self.i]).unwrap_or(""))
    }

    fn attribute(&mut self) -> Result<(), String> {
        self.i += 1;
        self.skip_ws();
        self.ident()?;
        self.skip_ws();
        match self.peek() {
            Some(b']') => {
                self.i += 1;
                return Ok(());
            }
            Some(b'=') => self.i += 1,
            Some(b'~' | b'|' | b'^' | b'$' | b'*') if self.s.get(self.i + 1) == Some(&b'=') => {
                self.i += 2;
            }
            _ => return Err(format!("malformed attribute selector at byte {}", self.i)),
        }
        self.skip_ws();
        match self.peek() {
            Some(q @ (b'"' | b'\'')) => {
                self.i += 1;
                while self.peek().is_some_and(|c| c != q && c != b'\\') {
                    self.i += 1;
                }
                if self.peek() != Some(q) {
                    return Err("unterminated (or escaped) attribute value".into());
                }
                self.i += 1;
            }
            _ => {
                self.ident()?;
            }
        }
        self.skip_ws();
        if self.peek() != Some(b']') {
            return Err(format!("expected `]` at byte {}", self.i));
        }
        self.i += 1;
        Ok(())
    }

    fn pseudo(&mut self) -> Result<(), String> {
        self.i += 1;
        let name = self.ident()?.to_ascii_lowercase();
        match name.as_str() {
            "first-child" | "last-child" | "first-of-type" | "last-of-type" | "only-child"
            | "only-of-type" | "empty" => Ok(()),
            "nth-child" | "nth-of-type" | "not" => {
                if self.peek() != Some(b'(') {
                    return Err(format!(":{name} needs an argument"));
                }
                self.i += 1;
                self.skip_ws();
                if name == "not" {
                    self.compound()?;
                } else {
                    let start = self.i;
                    while self.peek().is_some_and(|c| {
                        c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b' ')
                    }) {
                        self.i += 1;
                    }
                    if self.i == start {
                        return Err(format!(":{name} needs An+B, odd or even"));
                    }
                }
                self.skip_ws();
                if self.peek() != Some(b')') {
                    return Err(format!("expected `)` at byte {}", self.i));
                }
                self.i += 1;
                Ok(())
            }
            _ => Err(format!("the pseudo-class :{name} is not supported")),
        }
    }
}

fn is_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn accepts_the_supported_subset() {
        for s in [
            "h1",
            "*",
            "#cta",
            ".btn.big",
            "[data-ew=hero] h1",
            "[data-ew=\"hero\"] > p.sub",
            "nav > ul li:first-child a",
            "a[href^='/buy']",
            "ul > li:nth-child(2n+1)",
            "p:not(.x)",
            "h1, h2 , .title",
            "section[data-ew~=x]",
            ".-x-el",
            "é",
        ] {
            assert_eq!(check(s), Ok(()), "{s}");
        }
    }

    #[test]
    fn refuses_what_streaming_cannot_match_or_does_not_parse() {
        for (s, why) in [
            ("", "empty"),
            ("   ", "empty"),
            ("h1 + p", "sibling"),
            ("h1 ~ p", "sibling"),
            ("a:hover", ":hover"),
            ("[x", "malformed"),
            ("[x='y]", "unterminated"),
            ("div >", "missing"),
            ("h1,", "missing"),
            ("#", "name"),
            ("a)b", "unexpected"),
            (":nth-child", "argument"),
        ] {
            let e = check(s).expect_err(s);
            assert!(e.contains(why), "{s}: {e}");
        }
        assert!(check(&"a".repeat(2000)).is_err());
    }
}
