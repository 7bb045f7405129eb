//! SMS text: GSM 03.38 / UCS-2 segment counting and the opt-out footer.
//!
//! A message is sent in the GSM 03.38 7-bit alphabet when every character is in it
//! (the extension characters `^{}\[~]|€` and form feed take two septets, an escape and
//! the character), otherwise in UCS-2, where characters outside the Basic Multilingual
//! Plane (emoji) take two 16-bit code units. A single segment holds 160 septets or 70
//! code units; concatenated segments hold 153 or 67, because of the user data header.
//!
//! Segments are packed the way gateways pack them: an escape pair or a surrogate pair is
//! never split across two segments, so a long message can need one segment more than a
//! plain `ceil(units / 153)` would say.
//!
//! ```
//! use sendfilter::sms::{count, Encoding};
//! assert_eq!(count("Hei!").segments, 1);
//! assert_eq!(count(&"a".repeat(161)).segments, 2);
//! let c = count("Tilbud 🎉");
//! assert_eq!((c.encoding, c.units, c.segments), (Encoding::Ucs2, 9, 1));
//! ```

mod footer;
mod optout;
mod scan;

pub use footer::{Footer, FooterError, Stamp, default_template, is_trailing};
pub use optout::check_opt_out;

/// The character set a message is sent in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// GSM 03.38 7-bit default alphabet (with the extension table).
    Gsm7,
    /// UCS-2 (UTF-16 code units).
    Ucs2,
}

/// How long a message is on the air.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Count {
    /// The encoding the message needs.
    pub encoding: Encoding,
    /// Septets (GSM) or UTF-16 code units (UCS-2).
    pub units: usize,
    /// SMS segments; an empty message is still one SMS.
    pub segments: usize,
}

/// Per-ASCII-byte GSM width: 1 basic, 2 extension (escape + char), 0 not in GSM 03.38.
const ASCII_GSM: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut c = 0x20;
    while c < 0x7f {
        t[c] = 1;
        c += 1;
    }
    t[b'\n' as usize] = 1;
    t[b'\r' as usize] = 1;
    t[0x0c] = 2; // form feed is in the extension table
    t[b'`' as usize] = 0; // 0x60 in GSM is ¿, the backtick has no GSM code
    let ext = b"^{}\\[~]|";
    let mut i = 0;
    while i < ext.len() {
        t[ext[i] as usize] = 2;
        i += 1;
    }
    t
};

/// GSM width of the characters U+0080..U+07FF (two UTF-8 bytes), by code point - 0x80:
/// every non-ASCII GSM character but the euro sign is among them.
const GSM_2BYTE: [u8; 0x780] = {
    let mut t = [0u8; 0x780];
    let mut i = 0;
    while i < t.len() {
        if let Some(c) = char::from_u32(i as u32 + 0x80) {
            t[i] = gsm_width(c);
        }
        i += 1;
    }
    t
};

/// The GSM 03.38 width of `c`: 1 (basic table), 2 (extension table) or 0 (not encodable).
#[inline]
pub const fn gsm_width(c: char) -> u8 {
    if (c as u32) < 128 {
        return ASCII_GSM[c as usize];
    }
    match c {
        '£' | '¥' | 'è' | 'é' | 'ù' | 'ì' | 'ò' | 'Ç' | 'Ø' | 'ø' | 'Å' | 'å' | 'Δ' | 'Φ' | 'Γ'
        | 'Λ' | 'Ω' | 'Π' | 'Ψ' | 'Σ' | 'Θ' | 'Ξ' | 'Æ' | 'æ' | 'ß' | 'É' | '¤' | '¡' | 'Ä'
        | 'Ö' | 'Ñ' | 'Ü' | '§' | '¿' | 'ä' | 'ö' | 'ñ' | 'ü' | 'à' => 1,
        '€' => 2,
        _ => 0,
    }
}

/// Septets, UTF-16 units and GSM-ness of a text, so concatenations can be measured
/// without building the concatenated string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Measure {
    septets: usize,
    utf16: usize,
    gsm: bool,
    /// Characters two GSM septets wide (escapes): only they can make packing differ from
    /// plain division.
    wide_gsm: usize,
    /// Characters two UTF-16 units wide (surrogate pairs): likewise for UCS-2.
    wide_ucs2: usize,
}

impl Measure {
    /// The measure of the empty text.
    pub(crate) const EMPTY: Measure =
        Measure { septets: 0, utf16: 0, gsm: true, wide_gsm: 0, wide_ucs2: 0 };

    /// Measures `s` in one pass.
    ///
    /// Runs of plain GSM ASCII (`0x20..=0x5A`, `0x61..=0x7A`: letters, digits, space and
    /// most punctuation, one septet and one code unit each) are taken 16 bytes at a time
    /// (see [`scan::plain_prefix`]); other characters one at a time, decoded by hand.
    pub(crate) fn of(s: &str) -> Measure {
        let b = s.as_bytes();
        let mut m = Measure::EMPTY;
        let mut i = 0;
        while i < b.len() {
            let k = scan::plain_prefix(b, i);
            m.septets += k;
            m.utf16 += k;
            i += k;
            let Some(&c) = b.get(i) else { break };
            if c < 0x80 {
                let w = ASCII_GSM[c as usize];
                m.gsm &= w != 0;
                m.septets += w as usize;
                m.wide_gsm += usize::from(w == 2);
                m.utf16 += 1;
                i += 1;
            } else {
                // `i` is at a char boundary (`s` is a str and ASCII bytes are whole chars):
                // decode by hand, the lead byte says the length.
                let (w, len) = if c < 0xE0 {
                    // Two bytes: U+0080..U+07FF, where all of GSM's non-ASCII letters are.
                    let cp = (u32::from(c & 0x1F) << 6)
                        | u32::from(b.get(i + 1).map_or(0, |x| x & 0x3F));
                    (GSM_2BYTE[(cp as usize).saturating_sub(0x80).min(GSM_2BYTE.len() - 1)], 2)
                } else if c < 0xF0 {
                    // Three bytes: only the euro sign (U+20AC, an escape pair) is GSM.
                    let euro = b.get(i..i + 3) == Some("€".as_bytes());
                    (if euro { 2 } else { 0 }, 3)
                } else {
                    // Four bytes: outside the BMP, a surrogate pair in UCS-2, never GSM.
                    m.wide_ucs2 += 1;
                    m.utf16 += 1;
                    (0, 4)
                };
                m.gsm &= w != 0;
                m.septets += w as usize;
                m.wide_gsm += usize::from(w == 2);
                m.utf16 += 1;
                i += len;
            }
        }
        m
    }

    pub(crate) fn plus(self, o: Measure) -> Measure {
        Measure {
            septets: self.septets + o.septets,
            utf16: self.utf16 + o.utf16,
            gsm: self.gsm && o.gsm,
            wide_gsm: self.wide_gsm + o.wide_gsm,
            wide_ucs2: self.wide_ucs2 + o.wide_ucs2,
        }
    }
}

/// Counts the segments of `text`.
pub fn count(text: &str) -> Count {
    count_parts(&[text])
}

/// Counts the segments of the concatenation of `parts` (e.g. message, separator, footer)
/// without building it.
pub fn count_parts(parts: &[&str]) -> Count {
    let m = parts.iter().fold(Measure::EMPTY, |a, p| a.plus(Measure::of(p)));
    count_measured(parts, m)
}

#[inline]
pub(crate) fn count_measured(parts: &[&str], m: Measure) -> Count {
    let (encoding, units, single, multi, wide) = if m.gsm {
        (Encoding::Gsm7, m.septets, 160, 153, m.wide_gsm)
    } else {
        (Encoding::Ucs2, m.utf16, 70, 67, m.wide_ucs2)
    };
    if units <= single {
        return Count { encoding, units, segments: 1 };
    }
    if wide == 0 {
        // Every character is one unit: nothing can straddle a boundary.
        return Count { encoding, units, segments: units.div_ceil(multi) };
    }
    // Greedy packing: a two-unit character that does not fit moves to the next segment.
    let (mut segments, mut room) = (1usize, multi);
    for c in parts.iter().flat_map(|p| p.chars()) {
        let w = if m.gsm { gsm_width(c) as usize } else { c.len_utf16() };
        if w > room {
            segments += 1;
            room = multi;
        }
        room -= w;
    }
    Count { encoding, units, segments }
}

/// The simple per-character measure the fast one replaced: the model in tests.
#[cfg(test)]
pub(crate) fn measure_reference(s: &str) -> Measure {
    let mut m = Measure::EMPTY;
    for ch in s.chars() {
        let w = gsm_width(ch);
        m.gsm &= w != 0;
        m.septets += w as usize;
        m.wide_gsm += usize::from(w == 2);
        m.utf16 += ch.len_utf16();
        m.wide_ucs2 += usize::from(ch.len_utf16() == 2);
    }
    m
}

/// Two measures agree on everything a count reads (septets only matter for GSM texts).
#[cfg(test)]
pub(crate) fn same_measure(a: Measure, b: Measure) -> bool {
    a.gsm == b.gsm
        && a.utf16 == b.utf16
        && a.wide_ucs2 == b.wide_ucs2
        && (!a.gsm || (a.septets == b.septets && a.wide_gsm == b.wide_gsm))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Messages mixing plain ASCII, GSM extension characters, Nordic letters, non-GSM
    /// characters (the en dash, ç, the backtick), emoji and controls.
    pub(crate) fn message() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            6 => r"[a-zA-Z0-9 .,!%:-]{1,20}",
            2 => r"[{}\\\[\]~|^€\x0C]{1,3}",
            2 => r"[æøåÆØÅäöüéÉßΔΩ£¥§¿¡]{1,3}",
            1 => r"[–ç`\x7F\t\x01ő]",
            1 => r"[🎉😀\u{10000}]{1,2}",
            1 => r"[\n\r _@]{1,2}",
            1 => r"\PC{1,5}",
        ];
        proptest::collection::vec(piece, 0..40).prop_map(|v| v.concat())
    }

    proptest! {
        /// The fast measure equals the simple per-character one.
        #[test]
        fn fast_measure_matches_model(s in message()) {
            let (fast, model) = (Measure::of(&s), measure_reference(&s));
            prop_assert!(same_measure(fast, model), "{:?} vs {:?}", fast, model);
            prop_assert_eq!(count_measured(&[&s], fast), count_measured(&[&s], model));
        }

        /// The byte-wise measure equals a plain per-char definition.
        #[test]
        fn measure_matches_reference(s in "\\PC{0,40}|[a-z€{}^`\n æøåç🎉]{0,200}") {
            let m = Measure::of(&s);
            prop_assert_eq!(m.septets, s.chars().map(|c| gsm_width(c) as usize).sum::<usize>());
            prop_assert_eq!(m.utf16, s.encode_utf16().count());
            prop_assert_eq!(m.gsm, s.chars().all(|c| gsm_width(c) != 0));
        }

        /// The shortcut for texts without two-unit characters equals greedy packing.
        #[test]
        fn segments_match_greedy_packing(s in "[a-zå€🎉–]{0,400}") {
            let c = count(&s);
            let (multi, single) = if c.encoding == Encoding::Gsm7 { (153, 160) } else { (67, 70) };
            let width = |ch: char| if c.encoding == Encoding::Gsm7 { gsm_width(ch) as usize } else { ch.len_utf16() };
            let greedy = if c.units <= single { 1 } else {
                let (mut segs, mut room) = (1, multi);
                for ch in s.chars() {
                    if width(ch) > room { segs += 1; room = multi; }
                    room -= width(ch);
                }
                segs
            };
            prop_assert_eq!(c.segments, greedy);
        }
    }

    #[test]
    fn gsm_boundaries() {
        assert_eq!(count(&"a".repeat(160)).segments, 1);
        assert_eq!(count(&"a".repeat(161)).segments, 2);
        assert_eq!(count(&"a".repeat(306)).segments, 2);
        assert_eq!(count(&"a".repeat(307)).segments, 3);
        assert_eq!(count("").segments, 1);
    }

    #[test]
    fn extension_chars_count_double() {
        for ext in ["^", "{", "}", "\\", "[", "~", "]", "|", "€", "\u{c}"] {
            let c = count(ext);
            assert_eq!((c.encoding, c.units), (Encoding::Gsm7, 2), "{ext:?}");
        }
        // 80 euro signs = 160 septets: one segment; one more char: two.
        assert_eq!(count(&"€".repeat(80)).segments, 1);
        assert_eq!(count(&format!("{}a", "€".repeat(80))).segments, 2);
    }

    #[test]
    fn escape_pair_is_not_split() {
        // 152 plain + '€' would straddle septets 153/154: the pair moves to segment 2.
        let s = format!("{}€{}", "a".repeat(152), "a".repeat(10));
        let c = count(&s);
        assert_eq!(c.units, 164);
        assert_eq!(c.segments, 2);
        // 152 + € + 152 + € ...: ceil(308/153) = 3 but packing also gives 3; force a split:
        let s = format!("{}€{}€", "a".repeat(152), "a".repeat(151));
        assert_eq!(count(&s).units, 307);
        assert_eq!(count(&s).segments, 3);
    }

    #[test]
    fn nordic_letters_are_gsm() {
        let c = count("Æ Ø Å æ ø å Ä Ö ä ö é É ü Ü");
        assert_eq!(c.encoding, Encoding::Gsm7);
        assert_eq!(count("Svar STOPP til 2401, ta kontakt på e-post").encoding, Encoding::Gsm7);
    }

    #[test]
    fn ucs2_boundaries_and_emoji() {
        assert_eq!(count("ç").encoding, Encoding::Ucs2); // lower-case ç is not in GSM
        assert_eq!(count("`").encoding, Encoding::Ucs2);
        let s70 = format!("ő{}", "a".repeat(69));
        assert_eq!(count(&s70).segments, 1);
        assert_eq!(count(&format!("{s70}a")).segments, 2);
        let emoji = "🎉";
        assert_eq!(count(emoji).units, 2);
        assert_eq!(count(&emoji.repeat(35)).segments, 1);
        assert_eq!(count(&emoji.repeat(36)).segments, 2);
        // 66 units then an emoji: the surrogate pair does not fit in 67, moves on.
        let s = format!("ő{}🎉{}", "a".repeat(65), "a".repeat(10));
        assert_eq!(count(&s).units, 78);
        assert_eq!(count(&s).segments, 2);
        let s = format!("ő{}🎉{}🎉", "a".repeat(65), "a".repeat(64));
        assert_eq!(count(&s).units, 134);
        assert_eq!(count(&s).segments, 3);
    }

    #[test]
    fn parts_equal_concatenation() {
        let parts = ["Hei på deg", " ", "Svar ACME STOPP til 2401"];
        assert_eq!(count_parts(&parts), count(&parts.concat()));
        let parts = [&*"x".repeat(150), " ", "Svar ACME STOPP til 2401 {}"];
        assert_eq!(count_parts(&parts), count(&parts.concat()));
    }
}
