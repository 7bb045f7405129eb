//! The fast path of an NDJSON check line: a flat object of plain strings
//! (`{"number":"+4791234567","brand":"ACME","purpose":"offers"}`, `class` optional) is
//! read without serde, and its answer written without serde. Anything else (an escape, a
//! `message`, another key, a repeated key, a non-string value) is left to serde
//! ([`parse`] answers `None`), which gives the same answer or the error.

/// A check line of the simple shape, borrowed from the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Simple<'a> {
    /// `number`, as written.
    pub number: &'a [u8],
    /// `brand`.
    pub brand: &'a str,
    /// `purpose`.
    pub purpose: &'a str,
    /// `class`, if given (and not `null`).
    pub class: Option<&'a str>,
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(c) = b.get(i) {
        if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
            break;
        }
        i += 1;
    }
    i
}

/// A string without escapes starting at `b[i]` (the opening quote): its bytes and the
/// index after the closing quote.
fn plain_string(b: &[u8], i: usize) -> Option<(&[u8], usize)> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let start = i + 1;
    let len = memchr::memchr2(b'"', b'\\', b.get(start..)?)?;
    let s = b.get(start..start + len)?;
    // A backslash (an escape) or a raw control character: serde's business.
    if b.get(start + len) != Some(&b'"') || s.iter().any(|&c| c < 0x20) {
        return None;
    }
    Some((s, start + len + 1))
}

fn text(s: Option<&[u8]>) -> Option<&str> {
    std::str::from_utf8(s?).ok()
}

/// Reads `line` if it has the simple shape; `None` leaves it to serde.
pub fn parse(line: &[u8]) -> Option<Simple<'_>> {
    parse_raw(line)?.text()
}

/// A check line of the simple shape with its fields not yet checked as UTF-8 (a batch
/// whose lines repeat one brand and purpose checks those once: see [`Raw::same_scope`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raw<'a> {
    /// `number`, as written.
    pub number: &'a [u8],
    /// `brand`.
    pub brand: &'a [u8],
    /// `purpose`.
    pub purpose: &'a [u8],
    /// `class`, if given (and not `null`).
    pub class: Option<&'a [u8]>,
}

impl<'a> Raw<'a> {
    /// The line's fields as text (`None`: one is not UTF-8, which serde refuses).
    pub fn text(self) -> Option<Simple<'a>> {
        Some(Simple {
            number: text(Some(self.number))?.as_bytes(),
            brand: text(Some(self.brand))?,
            purpose: text(Some(self.purpose))?,
            class: match self.class {
                Some(c) => Some(std::str::from_utf8(c).ok()?),
                None => None,
            },
        })
    }

    /// True when `other` names the same brand, purpose and class, byte for byte.
    pub fn same_scope(&self, other: &Raw<'_>) -> bool {
        self.brand == other.brand && self.purpose == other.purpose && self.class == other.class
    }
}

/// [`parse`] without the UTF-8 checks.
pub fn parse_raw(line: &[u8]) -> Option<Raw<'_>> {
    let b = line;
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    let (mut number, mut brand, mut purpose, mut class) = (None, None, None, None);
    let mut class_seen = false;
    loop {
        i = skip_ws(b, i);
        let (key, at) = plain_string(b, i)?;
        i = skip_ws(b, at);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(b, i + 1);
        let value = if b.get(i..i + 4) == Some(b"null") && key == b"class" {
            i += 4;
            None
        } else {
            let (v, at) = plain_string(b, i)?;
            i = at;
            Some(v)
        };
        if key == b"class" {
            if class_seen {
                return None;
            }
            class_seen = true;
            class = value;
        } else {
            let slot = match key {
                b"number" => &mut number,
                b"brand" => &mut brand,
                b"purpose" => &mut purpose,
                _ => return None,
            };
            if slot.is_some() {
                return None;
            }
            *slot = Some(value?);
        }
        i = skip_ws(b, i);
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b'}') => {
                i += 1;
                break;
            }
            _ => return None,
        }
    }
    if skip_ws(b, i) != b.len() {
        return None;
    }
    Some(Raw { number: number?, brand: brand?, purpose: purpose?, class })
}

/// Appends `v` in decimal.
pub fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends the answer serde writes for a verdict without message or error:
/// `{"line":N,"e164":"+D","verdict":V,"reason":R}` (`e164` left out when `None`).
/// `verdict` and `reason` are plain ASCII names (no escapes needed).
pub fn write_answer(
    out: &mut Vec<u8>,
    line: usize,
    e164: Option<u64>,
    verdict: &str,
    reason: &str,
) {
    out.extend_from_slice(b"{\"line\":");
    push_u64(out, line as u64);
    if let Some(e) = e164 {
        out.extend_from_slice(b",\"e164\":\"+");
        push_u64(out, e);
        out.push(b'"');
    }
    out.extend_from_slice(b",\"verdict\":\"");
    out.extend_from_slice(verdict.as_bytes());
    out.extend_from_slice(b"\",\"reason\":\"");
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\"}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What serde makes of a line, in the fast parser's terms (`None`: an error, or a
    /// shape the fast parser leaves alone: then only an error of the fast parser counts).
    #[derive(serde::Deserialize)]
    struct Full {
        number: String,
        brand: String,
        purpose: String,
        #[serde(default)]
        class: Option<String>,
        #[serde(default)]
        message: Option<String>,
    }

    fn agrees(line: &str) {
        let fast = parse(line.as_bytes());
        let slow: Result<Full, _> = serde_json::from_str(line);
        if let Some(f) = fast {
            let s = slow.unwrap_or_else(|e| panic!("fast read {line:?}, serde refused: {e}"));
            assert_eq!(f.number, s.number.as_bytes(), "{line:?}");
            assert_eq!(f.brand, s.brand, "{line:?}");
            assert_eq!(f.purpose, s.purpose, "{line:?}");
            assert_eq!(f.class, s.class.as_deref(), "{line:?}");
            assert!(s.message.is_none(), "{line:?}");
        }
    }

    #[test]
    fn the_simple_shape_is_read_and_the_rest_left_to_serde() {
        let l = br#" {"number":"+4791234567", "brand" : "ACME","purpose":"offers"} "#;
        let s = parse(l).expect("simple");
        assert_eq!(
            (s.number, s.brand, s.purpose, s.class),
            (&b"+4791234567"[..], "ACME", "offers", None)
        );
        let l = br#"{"class":"service","number":"1","brand":"B","purpose":"p"}"#;
        assert_eq!(parse(l).expect("simple").class, Some("service"));
        let l = br#"{"number":"1","brand":"B","purpose":"p","class":null}"#;
        assert_eq!(parse(l).expect("simple").class, None);
        for other in [
            &br#"{"number":"1","brand":"B","purpose":"p","message":"hi"}"#[..],
            br#"{"number":"1","brand":"B\u0041","purpose":"p"}"#,
            br#"{"number":1,"brand":"B","purpose":"p"}"#,
            br#"{"number":"1","number":"2","brand":"B","purpose":"p"}"#,
            br#"{"number":"1","brand":"B"}"#,
            br#"{"number":"1","brand":"B","purpose":"p"} x"#,
            br#"{"number":"1","brand":"B","purpose":"p","extra":"x"}"#,
            br#"{"number":"1","brand":null,"purpose":"p"}"#,
            b"{\"number\":\"1\",\"brand\":\"B\t\",\"purpose\":\"p\"}",
            br#"{"number":"1","brand":"B","purpose":"p""#,
            b"",
        ] {
            assert_eq!(parse(other), None, "{}", String::from_utf8_lossy(other));
        }
    }

    #[test]
    fn answers_are_written_as_serde_writes_them() {
        let mut out = Vec::new();
        write_answer(&mut out, 12, Some(4791234567), "allow", "ALLOWED");
        write_answer(&mut out, 0, None, "reject", "INVALID_NUMBER");
        // Field order as `check::Answer` declares them (serde keeps it).
        let want = concat!(
            r#"{"line":12,"e164":"+4791234567","verdict":"allow","reason":"ALLOWED"}"#,
            r#"{"line":0,"verdict":"reject","reason":"INVALID_NUMBER"}"#
        );
        assert_eq!(String::from_utf8(out).expect("utf-8"), want);
        let mut out = Vec::new();
        push_u64(&mut out, u64::MAX);
        assert_eq!(out, u64::MAX.to_string().as_bytes());
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z0-9+ é]{0,6}".prop_map(|s| format!("\"{s}\"")),
            "[a-z\\\\\"\t\u{1}]{0,4}".prop_map(|s| format!("\"{s}\"")),
            Just("null".to_string()),
            Just("12".to_string()),
            Just("{}".to_string()),
        ]
    }

    proptest! {
        #[test]
        fn the_fast_parser_never_reads_what_serde_reads_otherwise(
            keys in proptest::collection::vec(
                prop_oneof![Just("number"), Just("brand"), Just("purpose"), Just("class"),
                    Just("message"), Just("x"), Just("num\\u0062er")], 0..6),
            values in proptest::collection::vec(value(), 6),
            ws in "[ \t\r]{0,2}",
            tail in prop_oneof![Just(""), Just(" "), Just(","), Just("}"), Just("x")],
        ) {
            let members: Vec<String> = keys.iter().zip(&values)
                .map(|(k, v)| format!("{ws}\"{k}\"{ws}:{ws}{v}")).collect();
            let line = format!("{ws}{{{}}}{tail}", members.join(","));
            agrees(&line);
        }

        #[test]
        fn arbitrary_text_is_never_misread(s in "\\PC{0,60}") {
            agrees(&s);
        }
    }
}
