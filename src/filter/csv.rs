//! A small RFC 4180 reader and writer over bytes, built for splicing: it reports where each
//! field's raw bytes are, so untouched fields are copied out exactly as they came in.
//!
//! Record boundaries follow quote parity only: a record ends at the first `\n` preceded by
//! an even number of `"` since the record started (an optional `\r` before it is dropped).
//! The chunk reader ([`crate::pipeline::cut_csv`]) uses the same rule, so parallel and
//! sequential runs see the same records even in broken input. Inside a record, any
//! departure from RFC 4180 (a quote inside an unquoted field, text after a closing quote,
//! an unterminated quote) makes the record malformed.

use std::borrow::Cow;
use std::ops::Range;

/// One field's place in its record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Field {
    /// Start of the raw bytes (including quotes) within the record.
    pub start: u32,
    /// End of the raw bytes.
    pub end: u32,
    /// The field is quoted.
    pub quoted: bool,
    /// The quoted field contains a doubled quote.
    pub escaped: bool,
}

impl Field {
    pub(crate) fn raw<'a>(&self, rec: &'a [u8]) -> &'a [u8] {
        &rec[self.start as usize..self.end as usize]
    }

    /// The field's value, unquoted (borrowed unless it holds a doubled quote).
    pub(crate) fn value<'a>(&self, rec: &'a [u8]) -> Cow<'a, [u8]> {
        let raw = self.raw(rec);
        if !self.quoted {
            return Cow::Borrowed(raw);
        }
        let inner = &raw[1..raw.len() - 1];
        if !self.escaped {
            return Cow::Borrowed(inner);
        }
        Cow::Owned(unescape(inner))
    }

    /// Like [`Field::value`], into a reused buffer when unescaping is needed.
    pub(crate) fn value_into<'a>(&self, rec: &'a [u8], scratch: &'a mut Vec<u8>) -> &'a [u8] {
        let raw = self.raw(rec);
        if !self.quoted {
            return raw;
        }
        let inner = &raw[1..raw.len() - 1];
        if !self.escaped {
            return inner;
        }
        scratch.clear();
        unescape_into(inner, scratch);
        scratch
    }
}

fn unescape(inner: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(inner.len());
    unescape_into(inner, &mut v);
    v
}

fn unescape_into(inner: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while let Some(j) = memchr::memchr(b'"', &inner[i..]) {
        out.extend_from_slice(&inner[i..i + j + 1]);
        i += j + 2; // skip the second quote of the pair
    }
    if i < inner.len() {
        out.extend_from_slice(&inner[i..]);
    }
}

/// Why a record is not valid CSV.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CsvError {
    /// A quoted field never closes.
    Unterminated,
    /// A `"` inside an unquoted field.
    BareQuote,
    /// Text between a closing quote and the next comma.
    AfterQuote,
}

impl CsvError {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CsvError::Unterminated => "unterminated quoted field",
            CsvError::BareQuote => "a quote inside an unquoted field",
            CsvError::AfterQuote => "text after a closing quote",
        }
    }
}

/// The next record in `data` from `pos`: the record's range (no terminator, no trailing
/// `\r`), the position after its terminator, and how many `\n` it spans (including the
/// terminator).
pub(crate) fn next_record(data: &[u8], pos: usize) -> (Range<usize>, usize, u64) {
    let mut i = pos;
    let mut newlines = 0u64;
    loop {
        let Some(j) = memchr::memchr2(b'"', b'\n', &data[i..]) else {
            let end = if data.len() > i && data[data.len() - 1] == b'\r' {
                data.len() - 1
            } else {
                data.len()
            };
            return (pos..end, data.len(), newlines);
        };
        let at = i + j;
        if data[at] == b'\n' {
            newlines += 1;
            let end = if at > pos && data[at - 1] == b'\r' { at - 1 } else { at };
            return (pos..end, at + 1, newlines);
        }
        // An opening quote: skip to its partner (a doubled quote is two such pairs).
        let close = memchr::memchr(b'"', &data[at + 1..]).map_or(data.len(), |k| at + 1 + k);
        newlines += memchr::memchr_iter(b'\n', &data[at + 1..close]).count() as u64;
        if close == data.len() {
            return (pos..data.len(), data.len(), newlines);
        }
        i = close + 1;
    }
}

/// Splits one record (as returned by [`next_record`]) into fields.
pub(crate) fn split_fields(rec: &[u8], fields: &mut Vec<Field>) -> Result<(), CsvError> {
    fields.clear();
    let mut pos = 0usize;
    loop {
        if rec.get(pos) == Some(&b'"') {
            let mut i = pos + 1;
            let mut escaped = false;
            let end = loop {
                match memchr::memchr(b'"', &rec[i..]) {
                    None => return Err(CsvError::Unterminated),
                    Some(j) if rec.get(i + j + 1) == Some(&b'"') => {
                        escaped = true;
                        i += j + 2;
                    }
                    Some(j) => break i + j + 1,
                }
            };
            fields.push(Field { start: pos as u32, end: end as u32, quoted: true, escaped });
            match rec.get(end) {
                None => return Ok(()),
                Some(b',') => pos = end + 1,
                Some(_) => return Err(CsvError::AfterQuote),
            }
        } else {
            let stop = memchr::memchr2(b',', b'"', &rec[pos..]).map(|j| pos + j);
            match stop {
                Some(at) if rec[at] == b'"' => return Err(CsvError::BareQuote),
                Some(at) => {
                    fields.push(Field {
                        start: pos as u32,
                        end: at as u32,
                        quoted: false,
                        escaped: false,
                    });
                    pos = at + 1;
                }
                None => {
                    fields.push(Field {
                        start: pos as u32,
                        end: rec.len() as u32,
                        quoted: false,
                        escaped: false,
                    });
                    return Ok(());
                }
            }
        }
    }
}

/// True when a value must be quoted in CSV output.
pub(crate) fn needs_quotes(v: &[u8]) -> bool {
    memchr::memchr3(b',', b'"', b'\n', v).is_some() || memchr::memchr(b'\r', v).is_some()
}

/// Appends `v` with its quotes doubled (no surrounding quotes).
pub(crate) fn push_escaped(out: &mut Vec<u8>, v: &[u8]) {
    let mut i = 0;
    while let Some(j) = memchr::memchr(b'"', &v[i..]) {
        out.extend_from_slice(&v[i..=i + j]);
        out.push(b'"');
        i += j + 1;
    }
    out.extend_from_slice(&v[i..]);
}

/// Appends `v` as one CSV field, quoted only when needed.
pub(crate) fn push_field(out: &mut Vec<u8>, v: &[u8]) {
    if needs_quotes(v) {
        out.push(b'"');
        push_escaped(out, v);
        out.push(b'"');
    } else {
        out.extend_from_slice(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn values(rec: &[u8]) -> Result<Vec<String>, CsvError> {
        let mut f = Vec::new();
        split_fields(rec, &mut f)?;
        Ok(f.iter().map(|x| String::from_utf8(x.value(rec).into_owned()).unwrap()).collect())
    }

    #[test]
    fn fields_and_quotes() {
        assert_eq!(values(b"a,b,c").unwrap(), ["a", "b", "c"]);
        assert_eq!(values(b"").unwrap(), [""]);
        assert_eq!(values(b"a,").unwrap(), ["a", ""]);
        assert_eq!(values(b"\"a,b\",\"say \"\"hi\"\"\",\"\"").unwrap(), ["a,b", "say \"hi\"", ""]);
        assert_eq!(values(b"\"line\nbreak\",x").unwrap(), ["line\nbreak", "x"]);
        assert_eq!(values(b"a\"b,c"), Err(CsvError::BareQuote));
        assert_eq!(values(b"\"ab\"c,d"), Err(CsvError::AfterQuote));
        assert_eq!(values(b"\"ab,c"), Err(CsvError::Unterminated));
    }

    #[test]
    fn records_and_lines() {
        let data = b"a,b\r\n\"x\ny\",z\nlast";
        let (r, next, nl) = next_record(data, 0);
        assert_eq!((&data[r], next, nl), (&b"a,b"[..], 5, 1));
        let (r, next, nl) = next_record(data, next);
        assert_eq!((&data[r], nl), (&b"\"x\ny\",z"[..], 2));
        let (r, next2, nl) = next_record(data, next);
        assert_eq!((&data[r], next2, nl), (&b"last"[..], data.len(), 0));
        // Unterminated quote: the rest of the input is one record.
        let data = b"\"open\nmore\nstuff";
        let (r, next, nl) = next_record(data, 0);
        assert_eq!((r, next, nl), (0..data.len(), data.len(), 2));
    }

    #[test]
    fn writer_quotes_when_needed() {
        let mut out = Vec::new();
        push_field(&mut out, b"plain");
        out.push(b',');
        push_field(&mut out, b"a \"b\", c");
        out.push(b',');
        push_field(&mut out, b"x\r\ny");
        assert_eq!(out, b"plain,\"a \"\"b\"\", c\",\"x\r\ny\"");
    }

    proptest! {
        /// Writing fields and reading them back gives the same fields; never panics.
        #[test]
        fn round_trip(fields in proptest::collection::vec("[a-c,\"\n\r ]{0,6}", 1..5)) {
            let mut rec = Vec::new();
            for (i, f) in fields.iter().enumerate() {
                if i > 0 { rec.push(b','); }
                push_field(&mut rec, f.as_bytes());
            }
            let mut data = rec.clone();
            data.push(b'\n');
            let (r, next, _) = next_record(&data, 0);
            // A trailing "\r" of an unquoted last field is eaten as CRLF; push_field quotes it.
            prop_assert_eq!(next, data.len());
            prop_assert_eq!(values(&data[r]).unwrap(), fields);
        }

        #[test]
        fn never_panics(data in proptest::collection::vec(prop_oneof![Just(b'"'), Just(b','), Just(b'\n'), Just(b'\r'), any::<u8>()], 0..200)) {
            let mut pos = 0;
            let mut f = Vec::new();
            while pos < data.len() {
                let (r, next, _) = next_record(&data, pos);
                prop_assert!(next > pos);
                let _ = split_fields(&data[r], &mut f);
                pos = next;
            }
        }
    }
}
