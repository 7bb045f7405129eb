//! A small RFC 4180 reader and writer over bytes, built for splicing: it reports where each
//! field's raw bytes are, so untouched fields are copied out exactly as they came in.
//!
//! Record boundaries follow quote parity only: a record ends at the first `\n` preceded by
//! an even number of `"` since the record started (an optional `\r` before it is dropped).
//! The chunk reader ([`crate::pipeline::cut_csv`]) uses the same rule, so parallel and
//! sequential runs see the same records even in broken input. Inside a record, any
//! departure from RFC 4180 (a quote inside an unquoted field, text after a closing quote,
//! an unterminated quote) makes the record malformed.
//!
//! Both scans ([`next_record`], [`split_fields`]) walk the record once, 16 bytes at a
//! time, over bit masks of the bytes that matter (SSE2 compares on x86_64, a byte loop
//! elsewhere): records are ~70 bytes, and a memchr call per field cost more in setup than
//! in scanning. The memchr-based versions they replaced stay under `cfg(test)` as the
//! model property tests compare against.

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
    #[inline]
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
    /// A carriage return inside an unquoted field: many readers end a line there, so
    /// the record would not read back as one (RFC 4180 allows it only in quotes).
    BareCr,
}

impl CsvError {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CsvError::Unterminated => "unterminated quoted field",
            CsvError::BareQuote => "a quote inside an unquoted field",
            CsvError::AfterQuote => "text after a closing quote",
            CsvError::BareCr => "a carriage return inside an unquoted field",
        }
    }
}

/// The next record in `data` from `pos`: the record's range (no terminator, no trailing
/// `\r`), the position after its terminator, and how many `\n` it spans (including the
/// terminator).
///
/// One pass over the record's quotes and newlines, 16 bytes at a time ([`Specials`]).
#[inline]
pub(crate) fn next_record(data: &[u8], pos: usize) -> (Range<usize>, usize, u64) {
    let mut newlines = 0u64;
    let mut quoted = false;
    let mut specials = Specials::new(data, pos, [b'"', b'\n']);
    while let Some(at) = specials.next() {
        if data[at] == b'"' {
            quoted = !quoted;
            continue;
        }
        newlines += 1;
        if !quoted {
            let end = if at > pos && data[at - 1] == b'\r' { at - 1 } else { at };
            return (pos..end, at + 1, newlines);
        }
    }
    // The end of the input. An unterminated quote makes the rest one record, as it is.
    let end = if !quoted && data.len() > pos && data[data.len() - 1] == b'\r' {
        data.len() - 1
    } else {
        data.len()
    };
    (pos..end, data.len(), newlines)
}

/// Splits one record (as returned by [`next_record`]) into fields.
///
/// One pass over the record's commas and quotes, 16 bytes at a time ([`Specials`]).
#[inline]
#[cfg(test)]
pub(crate) fn split_fields(rec: &[u8], fields: &mut Vec<Field>) -> Result<(), CsvError> {
    fields.clear();
    append_fields(rec, fields)
}

/// [`split_fields`] with another field separator (`--delimiter`).
pub(crate) fn split_fields_by(
    rec: &[u8],
    fields: &mut Vec<Field>,
    delimiter: u8,
) -> Result<(), CsvError> {
    fields.clear();
    append_fields_by(rec, fields, delimiter)
}

/// [`append_fields`] with the separator `delimiter`: one of `,` `;` tab `|` (see
/// [`crate::spreadsheet::parse_delimiter`]; anything else reads as `|`), each scanned with
/// the separator as a constant.
#[inline(always)]
pub(crate) fn append_fields_by(
    rec: &[u8],
    fields: &mut Vec<Field>,
    delimiter: u8,
) -> Result<(), CsvError> {
    match delimiter {
        b',' => append_fields_sep::<b','>(rec, fields),
        b';' => append_fields_sep::<b';'>(rec, fields),
        b'\t' => append_fields_sep::<b'\t'>(rec, fields),
        _ => append_fields_sep::<b'|'>(rec, fields),
    }
}

/// [`split_fields`] appending to `fields` (on error, some fields may have been appended).
#[inline]
#[cfg(test)]
pub(crate) fn append_fields(rec: &[u8], fields: &mut Vec<Field>) -> Result<(), CsvError> {
    append_fields_sep::<b','>(rec, fields)
}

/// [`append_fields`] with the separator `D`.
#[inline]
fn append_fields_sep<const D: u8>(rec: &[u8], fields: &mut Vec<Field>) -> Result<(), CsvError> {
    let mut specials = Specials::new(rec, 0, [D, b'"', b'\r']);
    let mut start = 0usize;
    let unquoted = |start: usize, end: usize| Field {
        start: start as u32,
        end: end as u32,
        quoted: false,
        escaped: false,
    };
    loop {
        // At the start of a field.
        match specials.next() {
            None => {
                fields.push(unquoted(start, rec.len()));
                return Ok(());
            }
            Some(at) if rec[at] == D => {
                fields.push(unquoted(start, at));
                start = at + 1;
            }
            Some(at) if rec[at] == b'\r' => return Err(CsvError::BareCr),
            Some(at) if at != start => return Err(CsvError::BareQuote),
            Some(_) => {
                // An opening quote: find its closing partner, skipping commas, carriage
                // returns and doubled quotes (both bytes of a pair are specials, taken
                // together).
                let mut escaped = false;
                let end = loop {
                    match specials.next() {
                        None => return Err(CsvError::Unterminated),
                        Some(at) if rec[at] != b'"' => {}
                        Some(at) if rec.get(at + 1) == Some(&b'"') => {
                            escaped = true;
                            specials.next();
                        }
                        Some(at) => break at + 1,
                    }
                };
                fields.push(Field { start: start as u32, end: end as u32, quoted: true, escaped });
                match rec.get(end) {
                    None => return Ok(()),
                    Some(&c) if c == D => {
                        specials.next(); // that separator
                        start = end + 1;
                    }
                    Some(_) => return Err(CsvError::AfterQuote),
                }
            }
        }
    }
}

/// The positions, in order, of the bytes of `data` from a start that equal one of `N`
/// needles, found 16 bytes at a time: one compare per needle and a bit mask
/// per block instead of a memchr call per field (records are short; the calls' setup
/// cost more than the scanning).
struct Specials<'a, const N: usize> {
    data: &'a [u8],
    needles: [u8; N],
    /// Start of the current block.
    base: usize,
    /// Needle positions in the block not yet returned, as bits.
    mask: u32,
}

impl<'a, const N: usize> Specials<'a, N> {
    #[inline(always)]
    fn new(data: &'a [u8], from: usize, needles: [u8; N]) -> Self {
        let mask = if from < data.len() { block_mask(data, from, needles) } else { 0 };
        Specials { data, needles, base: from, mask }
    }

    #[inline(always)]
    fn next(&mut self) -> Option<usize> {
        while self.mask == 0 {
            self.base += 16;
            if self.base >= self.data.len() {
                return None;
            }
            self.mask = block_mask(self.data, self.base, self.needles);
        }
        let at = self.base + self.mask.trailing_zeros() as usize;
        self.mask &= self.mask - 1;
        Some(at)
    }
}

/// Bit `i` set when `data[at + i]` is one of `needles` (`at < data.len()`; bits past
/// the end are 0).
#[inline(always)]
fn block_mask<const N: usize>(data: &[u8], at: usize, needles: [u8; N]) -> u32 {
    if let Some(c) = data.get(at..).and_then(|r| r.first_chunk::<16>()) {
        return simd::eq_mask(*c, needles);
    }
    // The last, partial block: the input's last 16 bytes, shifted, when there are 16
    // (copying a short tail into a buffer costs a memcpy call and a stalled load).
    let over = (at + 16).saturating_sub(data.len());
    if let Some(c) = data.len().checked_sub(16).and_then(|s| data[s..].first_chunk::<16>()) {
        return simd::eq_mask(*c, needles) >> over;
    }
    let mut buf = [0u8; 16];
    let rest = data.get(at..).unwrap_or_default();
    buf[..rest.len()].copy_from_slice(rest);
    simd::eq_mask(buf, needles) & (0xFFFF >> over.min(16))
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod simd {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        _mm_setzero_si128,
    };

    /// Bit `i` set when `b[i]` is one of `needles`.
    #[inline(always)]
    pub(super) fn eq_mask<const N: usize>(b: [u8; 16], needles: [u8; N]) -> u32 {
        // SAFETY: SSE2 is enabled (this module's cfg); `loadu` reads the 16 bytes of `b`
        // and needs no alignment.
        unsafe {
            let v = _mm_loadu_si128(b.as_ptr().cast());
            let mut hits = _mm_setzero_si128();
            for n in needles {
                hits = _mm_or_si128(hits, _mm_cmpeq_epi8(v, _mm_set1_epi8(n as i8)));
            }
            _mm_movemask_epi8(hits) as u32
        }
    }
}

#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
mod simd {
    /// Bit `i` set when `b[i]` is one of `needles`.
    pub(super) fn eq_mask<const N: usize>(b: [u8; 16], needles: [u8; N]) -> u32 {
        b.iter().enumerate().fold(0, |m, (i, c)| m | (u32::from(needles.contains(c)) << i))
    }
}

/// The memchr-based [`next_record`] the one-pass scanner replaced: the model in tests.
#[cfg(test)]
/// The next record in `data` from `pos`: the record's range (no terminator, no trailing
/// `\r`), the position after its terminator, and how many `\n` it spans (including the
/// terminator).
pub(crate) fn next_record_reference(data: &[u8], pos: usize) -> (Range<usize>, usize, u64) {
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

/// The memchr-based [`split_fields`] (the model in tests).
#[cfg(test)]
pub(crate) fn split_fields_reference(rec: &[u8], fields: &mut Vec<Field>) -> Result<(), CsvError> {
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
            let stop = memchr::memchr3(b',', b'"', b'\r', &rec[pos..]).map(|j| pos + j);
            match stop {
                Some(at) if rec[at] == b'"' => return Err(CsvError::BareQuote),
                Some(at) if rec[at] == b'\r' => return Err(CsvError::BareCr),
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
#[inline]
pub(crate) fn needs_quotes(v: &[u8]) -> bool {
    Specials::new(v, 0, [b',', b'"', b'\n', b'\r']).next().is_some()
}

/// [`needs_quotes`] for output separated by `delimiter`.
#[inline]
pub(crate) fn needs_quotes_by(v: &[u8], delimiter: u8) -> bool {
    if delimiter == b',' {
        return needs_quotes(v);
    }
    Specials::new(v, 0, [delimiter, b'"', b'\n', b'\r']).next().is_some()
}

/// [`push_field`] for output separated by `delimiter`.
pub(crate) fn push_field_by(out: &mut Vec<u8>, v: &[u8], delimiter: u8) {
    if needs_quotes_by(v, delimiter) {
        out.push(b'"');
        push_escaped(out, v);
        out.push(b'"');
    } else {
        out.extend_from_slice(v);
    }
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
#[cfg(test)]
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
        // A lone CR ends a line for many readers: only inside quotes is it a field's text.
        assert_eq!(values(b"a\rb,c"), Err(CsvError::BareCr));
        assert_eq!(values(b"a,b\r"), Err(CsvError::BareCr));
        assert_eq!(values(b"\"a\rb\",c").unwrap(), ["a\rb", "c"]);
    }

    #[test]
    fn other_separators() {
        let split = |rec: &[u8], d: u8| {
            let mut f = Vec::new();
            split_fields_by(rec, &mut f, d).map(|()| {
                f.iter()
                    .map(|x| String::from_utf8(x.value(rec).into_owned()).unwrap())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(split(b"a;b,c;\"d;e\"", b';').unwrap(), ["a", "b,c", "d;e"]);
        assert_eq!(split(b"a\tb;c", b'\t').unwrap(), ["a", "b;c"]);
        assert_eq!(split(b"a|\"b\"|", b'|').unwrap(), ["a", "b", ""]);
        assert_eq!(split(b"\"a\"x;b", b';'), Err(CsvError::AfterQuote));
        assert_eq!(split(b"a,b", b',').unwrap(), ["a", "b"]);
        assert!(needs_quotes_by(b"x;y", b';') && !needs_quotes_by(b"x,y", b';'));
        let mut out = Vec::new();
        push_field_by(&mut out, b"x;y", b';');
        assert_eq!(out, b"\"x;y\"");
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

        /// The one-pass scanners cut and split exactly as the memchr-based ones, on
        /// any mix of quotes (embedded, doubled, unterminated), commas, newlines, CRLF
        /// and text longer than a 16-byte block.
        #[test]
        fn scanners_match_model(data in proptest::collection::vec(prop_oneof![
            3 => Just(b'"'), 3 => Just(b','), 2 => Just(b'\n'), 2 => Just(b'\r'),
            12 => b'a'..b'e', 2 => Just(b' '), 1 => any::<u8>()], 0..300)) {
            let (mut pos, mut f, mut g) = (0, Vec::new(), Vec::new());
            loop {
                let got = next_record(&data, pos);
                prop_assert_eq!(got.clone(), next_record_reference(&data, pos));
                let rec = &data[got.0];
                let (a, b) = (split_fields(rec, &mut f), split_fields_reference(rec, &mut g));
                prop_assert_eq!(a, b);
                if a.is_ok() {
                    prop_assert_eq!(&f, &g);
                }
                if got.1 >= data.len() {
                    break;
                }
                pos = got.1;
            }
        }

        /// Well-formed records of quoted and plain fields (long ones too) split into
        /// the fields they were written from, with and without CRLF.
        #[test]
        fn written_records_split_back(rows in proptest::collection::vec(
            proptest::collection::vec(r#"[a-c,"\n\r ]{0,6}|[a-z +0-9]{0,40}|"[^"]{0,30}""#, 1..5), 1..6),
            crlf in any::<bool>()) {
            let mut data = Vec::new();
            for row in &rows {
                for (i, v) in row.iter().enumerate() {
                    if i > 0 { data.push(b','); }
                    push_field(&mut data, v.as_bytes());
                }
                data.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
            }
            let (mut pos, mut f) = (0, Vec::new());
            for row in &rows {
                let (r, next, _) = next_record(&data, pos);
                prop_assert_eq!(next_record_reference(&data, pos), (r.clone(), next, next_record(&data, pos).2));
                split_fields(&data[r.clone()], &mut f).unwrap();
                let got: Vec<String> = f.iter().map(|x| String::from_utf8(x.value(&data[r.clone()]).into_owned()).unwrap()).collect();
                prop_assert_eq!(&got, row);
                pos = next;
            }
            prop_assert_eq!(pos, data.len());
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
