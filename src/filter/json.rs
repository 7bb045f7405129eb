//! Just enough JSON for `jsonl`: validate one object per line and find where two
//! top-level fields' values are, so everything else is copied through byte for byte
//! (key order, spacing and escapes kept).

use std::ops::Range;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

/// Where the interesting parts of one JSON object line are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Spans {
    /// The number field's raw value.
    pub number: Option<Range<usize>>,
    /// The message field's raw value.
    pub message: Option<Range<usize>>,
    /// Position of the object's closing `}`.
    pub close: usize,
    /// The object has at least one member.
    pub nonempty: bool,
}

/// Validates `line` as one JSON object and locates `number_field` and `message_field`.
/// A repeated number or message field is an error (which one would count is ambiguous).
pub(crate) fn scan(line: &[u8], number_field: &str, message_field: &str) -> Result<Spans, ()> {
    let mut de = serde_json::Deserializer::from_slice(line);
    let (num, msg, nonempty) = TopLevel { number: number_field, message: message_field }
        .deserialize(&mut de)
        .map_err(drop)?;
    de.end().map_err(drop)?;
    let trimmed = line.trim_ascii_end();
    if trimmed.last() != Some(&b'}') {
        return Err(());
    }
    let span = |r: &RawValue| {
        let start = r.get().as_ptr() as usize - line.as_ptr() as usize;
        start..start + r.get().len()
    };
    Ok(Spans { number: num.map(span), message: msg.map(span), close: trimmed.len() - 1, nonempty })
}

struct TopLevel<'f> {
    number: &'f str,
    message: &'f str,
}

type Found<'de> = (Option<&'de RawValue>, Option<&'de RawValue>, bool);

impl<'de> DeserializeSeed<'de> for TopLevel<'_> {
    type Value = Found<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TopLevel<'_> {
    type Value = Found<'de>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut num, mut msg, mut nonempty) = (None, None, false);
        while let Some(key) =
            map.next_key_seed(KeySeed { number: self.number, message: self.message })?
        {
            nonempty = true;
            match key {
                Key::Number if num.is_some() => {
                    return Err(de::Error::custom("repeated number field"));
                }
                Key::Message if msg.is_some() => {
                    return Err(de::Error::custom("repeated message field"));
                }
                Key::Number => num = Some(map.next_value::<&RawValue>()?),
                Key::Message => msg = Some(map.next_value::<&RawValue>()?),
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok((num, msg, nonempty))
    }
}

enum Key {
    Number,
    Message,
    Other,
}

struct KeySeed<'f> {
    number: &'f str,
    message: &'f str,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Key;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed<'_> {
    type Value = Key;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, k: &str) -> Result<Key, E> {
        // Checked in this order so equal number and message names mean the number.
        Ok(if k == self.number {
            Key::Number
        } else if k == self.message {
            Key::Message
        } else {
            Key::Other
        })
    }
}

/// Decodes a raw JSON string (with its quotes) into `out`. `None` when `raw` is not a
/// string or holds a lone surrogate.
pub(crate) fn decode_str(raw: &[u8], out: &mut String) -> Option<()> {
    out.clear();
    let inner = raw.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    let mut i = 0;
    while let Some(j) = memchr::memchr(b'\\', &inner[i..]) {
        out.push_str(std::str::from_utf8(&inner[i..i + j]).ok()?);
        i += j + 1;
        let c = *inner.get(i)?;
        i += 1;
        match c {
            b'"' => out.push('"'),
            b'\\' => out.push('\\'),
            b'/' => out.push('/'),
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'n' => out.push('\n'),
            b'r' => out.push('\r'),
            b't' => out.push('\t'),
            b'u' => {
                let hi = hex4(inner.get(i..i + 4)?)?;
                i += 4;
                let cp = if (0xD800..0xDC00).contains(&hi) {
                    let lo = inner
                        .get(i..i + 6)
                        .filter(|s| s.starts_with(b"\\u"))
                        .and_then(|s| hex4(&s[2..]))?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return None;
                    }
                    i += 6;
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else {
                    hi
                };
                out.push(char::from_u32(cp)?);
            }
            _ => return None,
        }
    }
    out.push_str(std::str::from_utf8(&inner[i..]).ok()?);
    Some(())
}

fn hex4(h: &[u8]) -> Option<u32> {
    std::str::from_utf8(h).ok().and_then(|s| u32::from_str_radix(s, 16).ok())
}

/// Appends `s` JSON-escaped (no surrounding quotes).
pub(crate) fn push_escaped(out: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            c if c < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(c >> 4) as usize]);
                out.push(HEX[(c & 15) as usize]);
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn finds_fields() {
        let line = br#"{"id":1, "to":"+4791234567","body":"Hei","x":{"to":2}}"#;
        let s = scan(line, "to", "body").unwrap();
        assert_eq!(&line[s.number.unwrap()], br#""+4791234567""#);
        assert_eq!(&line[s.message.clone().unwrap()], br#""Hei""#);
        assert_eq!(line[s.close], b'}');
        let s = scan(br#"{"a":1}  "#, "to", "body").unwrap();
        assert_eq!((s.number, s.message, s.close), (None, None, 6));
    }

    #[test]
    fn rejects_bad_json() {
        for bad in [
            &b"[1]"[..],
            b"{",
            b"{\"to\":1,}",
            b"nope",
            b"{\"to\":\"1\",\"to\":\"2\"}",
            b"{} {}",
            b"\"s\"",
        ] {
            assert!(scan(bad, "to", "body").is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn decodes_escapes() {
        let mut s = String::new();
        decode_str(br#""Hei \u00e6\u00f8\u00e5 \"x\" \ud83c\udf89\n""#, &mut s).unwrap();
        assert_eq!(s, "Hei æøå \"x\" 🎉\n");
        assert!(decode_str(br#""\ud83c""#, &mut s).is_none());
        assert!(decode_str(b"12", &mut s).is_none());
    }

    proptest! {
        #[test]
        fn escape_round_trips(s in "\\PC*|[\\x00-\\x1f\"\\\\]*") {
            let mut raw = vec![b'"'];
            push_escaped(&mut raw, &s);
            raw.push(b'"');
            let mut back = String::new();
            prop_assert!(decode_str(&raw, &mut back).is_some());
            prop_assert_eq!(&back, &s);
            prop_assert_eq!(serde_json::from_slice::<String>(&raw).unwrap(), s);
        }

        #[test]
        fn scan_never_panics(line in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = scan(&line, "to", "body");
        }
    }
}
