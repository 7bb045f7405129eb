//! Blanking an erased number's digits out of free text (a consent's `source` of "referred
//! by 912 34 567" held for someone else), for the compaction that carries out an erasure.
//!
//! A number is found in its written forms: its E.164 digits (with or without `+` or
//! `00`), its national significant number (with or without a trunk `0`), each with the
//! separators people type between digits (space, no-break space, `-`, `.`, `/`,
//! parentheses). The digits found, with the separators between them and a `+` before
//! them, become [`ERASED`]; the rest of the text stays as it was.

use crate::E164;

/// What an erased number's digits are replaced with.
pub const ERASED: &str = "[erased]";

/// Characters that may stand between the digits of one written number.
fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '\u{a0}' | '-' | '.' | '/' | '(' | ')')
}

/// The digit strings to look for, per number: the national significant number (the
/// E.164 digits after the country code) when it is at least 5 digits long, else all the
/// E.164 digits (a short pattern would blank unrelated digits); and the country code's
/// length, so that a code written before the national number goes too.
#[derive(Clone, Debug, Default)]
pub struct Patterns {
    /// (E.164 digits, country code length, sequence of the erasure), newest erasure first.
    numbers: Vec<(Vec<u8>, usize, u64)>,
}

impl Patterns {
    /// Patterns for `numbers`, each erased at any time (see [`Patterns::with_seqs`]).
    pub fn new(numbers: &[E164]) -> Patterns {
        let n: Vec<(E164, u64)> = numbers.iter().map(|&n| (n, u64::MAX)).collect();
        Patterns::with_seqs(&n)
    }

    /// Patterns for `numbers`, each with the journal sequence of its erasure: an erasure
    /// covers what was recorded before it, so a text recorded after the erasure keeps the
    /// number (the person may have come back; see [`Patterns::applicable`]).
    pub fn with_seqs(numbers: &[(E164, u64)]) -> Patterns {
        let mut numbers: Vec<(Vec<u8>, usize, u64)> = numbers
            .iter()
            .map(|&(n, seq)| {
                let digits = n.as_u64().to_string().into_bytes();
                let cc = n.country_code_len().unwrap_or(0);
                let cc = if digits.len() - cc >= 5 { cc } else { 0 };
                (digits, cc, seq)
            })
            .collect();
        numbers.sort_by_key(|&(_, _, seq)| std::cmp::Reverse(seq));
        Patterns { numbers }
    }

    /// How many of the numbers apply to a text recorded at journal sequence `seq`: those
    /// erased after it. They are the first ones ([`Patterns::scrub_first`]).
    pub fn applicable(&self, seq: u64) -> usize {
        self.numbers.partition_point(|&(_, _, erased)| erased > seq)
    }

    /// True when there is nothing to look for.
    pub fn is_empty(&self) -> bool {
        self.numbers.is_empty()
    }

    /// `text` with every written form of the numbers replaced by [`ERASED`], or `None`
    /// when it holds none.
    pub fn scrub(&self, text: &str) -> Option<String> {
        self.scrub_first(text, self.numbers.len())
    }

    /// Like [`Patterns::scrub`], with only the first `k` numbers (newest erasures first).
    pub fn scrub_first(&self, text: &str, k: usize) -> Option<String> {
        let k = k.min(self.numbers.len());
        if k == 0 || !text.bytes().any(|b| b.is_ascii_digit()) {
            return None;
        }
        // Runs of digits joined by separators: (byte start, byte end) of each digit.
        let mut spans: Vec<(usize, usize)> = Vec::new();
        let mut erase: Vec<(usize, usize)> = Vec::new();
        let mut chars = text.char_indices().peekable();
        loop {
            spans.clear();
            // Find the next digit.
            let Some((start, _)) = chars.by_ref().find(|(_, c)| c.is_ascii_digit()) else {
                break;
            };
            spans.push((start, start + 1));
            let mut separators = 0;
            while let Some(&(i, c)) = chars.peek() {
                if c.is_ascii_digit() {
                    spans.push((i, i + 1));
                    separators = 0;
                } else if is_separator(c) && separators < 2 {
                    // One or two (`) `, ` - `) between digits; more end the number.
                    separators += 1;
                } else {
                    break;
                }
                chars.next();
            }
            self.mark(text.as_bytes(), &spans, k, &mut erase);
        }
        if erase.is_empty() {
            return None;
        }
        erase.sort_unstable();
        let mut out = String::with_capacity(text.len());
        let mut pos = 0;
        for (s, e) in erase {
            if s < pos {
                // Overlaps the previous blanked span: extend it.
                pos = pos.max(e);
                continue;
            }
            out.push_str(&text[pos..s]);
            out.push_str(ERASED);
            pos = e;
        }
        out.push_str(&text[pos..]);
        Some(out)
    }

    /// Adds to `erase` the byte ranges of the run `spans` (one per digit) that spell one
    /// of the numbers.
    fn mark(
        &self,
        text: &[u8],
        spans: &[(usize, usize)],
        k: usize,
        erase: &mut Vec<(usize, usize)>,
    ) {
        let digits: Vec<u8> = spans.iter().map(|&(s, _)| text[s]).collect();
        for (full, cc, _) in &self.numbers[..k] {
            let nsn = &full[*cc..];
            let mut from = 0;
            while let Some(at) = find(&digits[from..], nsn).map(|i| from + i) {
                let end = at + nsn.len();
                let start =
                    if at >= *cc && digits[at - cc..at] == full[..*cc] { at - cc } else { at };
                let mut byte_start = spans[start].0;
                if byte_start > 0 && text[byte_start - 1] == b'+' {
                    byte_start -= 1;
                }
                erase.push((byte_start, spans[end - 1].1));
                from = end;
            }
        }
    }
}

/// The first position of `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(numbers: &[&str]) -> Patterns {
        let n: Vec<E164> = numbers
            .iter()
            .map(|s| crate::phone::normalize(s.as_bytes(), crate::Region::NO).unwrap())
            .collect();
        Patterns::new(&n)
    }

    #[test]
    fn every_written_form_is_blanked() {
        let pat = p(&["+4791000002"]);
        for (text, want) in [
            ("referred by 91000002", "referred by [erased]"),
            ("ref +4791000002.", "ref [erased]."),
            ("ref 004791000002", "ref 00[erased]"),
            ("tlf 910 00 002, Kari", "tlf [erased], Kari"),
            ("tlf +47 910 00 002", "tlf [erased]"),
            ("(+47) 91-00-00-02 x", "([erased] x"),
            ("4791000002", "[erased]"),
            ("a 91000002 b 91000002", "a [erased] b [erased]"),
            ("tel.\u{a0}910\u{a0}00\u{a0}002", "tel.\u{a0}[erased]"),
        ] {
            assert_eq!(pat.scrub(text).as_deref(), Some(want), "{text:?}");
        }
    }

    #[test]
    fn other_numbers_and_text_stay() {
        let pat = p(&["+4791000002"]);
        for text in ["referred by 91000003", "order 1234", "", "no digits", "9100000   2"] {
            assert_eq!(pat.scrub(text), None, "{text:?}");
        }
        assert_eq!(pat.scrub("91000003 and 91000002").as_deref(), Some("91000003 and [erased]"));
        // Two numbers typed in one run: only the erased one goes.
        assert_eq!(pat.scrub("91000003 91000002").as_deref(), Some("91000003 [erased]"));
        assert_eq!(Patterns::new(&[]).scrub("91000002"), None);
    }

    #[test]
    fn several_numbers_and_multibyte_text() {
        let pat = p(&["+4791000002", "+4798765432"]);
        assert_eq!(
            pat.scrub("Pål: 91000002 / Åse: 987 65 432 ✓").as_deref(),
            Some("Pål: [erased] / Åse: [erased] ✓")
        );
    }

    #[test]
    fn only_texts_recorded_before_the_erasure_are_blanked() {
        let a = crate::phone::normalize(b"91000002", crate::Region::NO).unwrap();
        let b = crate::phone::normalize(b"91000003", crate::Region::NO).unwrap();
        let pat = Patterns::with_seqs(&[(a, 10), (b, 20)]);
        let text = "91000002 or 91000003";
        assert_eq!(pat.applicable(5), 2);
        assert_eq!(pat.scrub_first(text, 2).as_deref(), Some("[erased] or [erased]"));
        // Recorded between the two erasures: only the later one covers it.
        assert_eq!(pat.applicable(15), 1);
        assert_eq!(pat.scrub_first(text, 1).as_deref(), Some("91000002 or [erased]"));
        // Recorded after both: new data, kept.
        assert_eq!(pat.applicable(25), 0);
        assert_eq!(pat.scrub_first(text, 0), None);
    }
}
