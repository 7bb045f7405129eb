//! One CSV record's fields as trimmed text, with the record checked as UTF-8 once (not
//! once per field: an import reads ten fields a row, millions of rows).

/// The fields of one record.
pub(super) struct Fields<'r> {
    rec: &'r csv::ByteRecord,
    /// The whole record (fields without separators) when it is UTF-8.
    text: Option<&'r str>,
}

impl<'r> Fields<'r> {
    /// Checks `rec` as UTF-8 in one pass.
    pub(super) fn new(rec: &'r csv::ByteRecord) -> Self {
        Fields { rec, text: simdutf8::basic::from_utf8(rec.as_slice()).ok() }
    }

    /// The raw bytes of column `col`, if the record has it.
    pub(super) fn raw(&self, col: usize) -> Option<&'r [u8]> {
        self.rec.get(col)
    }

    /// The text of column `col`, trimmed (Unicode whitespace, as [`str::trim`]); `None`
    /// when the record has no such column, `Some(None)` when it is not UTF-8.
    pub(super) fn text(&self, col: usize) -> Option<Option<&'r str>> {
        let b = self.rec.get(col)?;
        if b.is_empty() {
            // An empty field is text wherever it lies (even between the halves of a
            // character split by a separator, where slicing the record would fail).
            return Some(Some(""));
        }
        let s = match self.text {
            // A field of a UTF-8 record is UTF-8 when it starts and ends on character
            // boundaries (a character split by a separator is not).
            Some(all) => {
                let at = (b.as_ptr() as usize).wrapping_sub(all.as_ptr() as usize);
                all.get(at..at.saturating_add(b.len()))
            }
            None => std::str::from_utf8(b).ok(),
        };
        Some(s.map(trim))
    }
}

/// [`str::trim`], with a shortcut for the usual field that starts and ends with a visible
/// ASCII character.
fn trim(s: &str) -> &str {
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(a), Some(z)) if a.is_ascii_graphic() && z.is_ascii_graphic() => s,
        _ => s.trim(),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn record(fields: &[&[u8]]) -> csv::ByteRecord {
        let mut r = csv::ByteRecord::new();
        for f in fields {
            r.push_field(f);
        }
        r
    }

    /// Each field as the per-field check reads it.
    fn each(fields: &[&[u8]]) -> Vec<Option<String>> {
        fields.iter().map(|f| std::str::from_utf8(f).ok().map(|s| s.trim().to_string())).collect()
    }

    #[test]
    fn an_empty_field_inside_a_split_character_is_empty_text() {
        let r = record(&[b"\xC3", b"", b"\xA9"]);
        let f = Fields::new(&r);
        assert_eq!(f.text(1), Some(Some("")));
        assert_eq!(f.text(0), Some(None));
    }

    #[test]
    fn a_character_split_between_fields_is_not_text() {
        // "é" is C3 A9: the record's bytes are UTF-8, its two fields are not.
        let fields: [&[u8]; 3] = [b"a\xC3", b"\xA9b", b" ok\xC2\xA0"];
        let r = record(&fields);
        let f = Fields::new(&r);
        assert!(f.text.is_some());
        assert_eq!(f.text(0), Some(None));
        assert_eq!(f.text(1), Some(None));
        assert_eq!(f.text(2), Some(Some("ok")), "NBSP is trimmed, as str::trim does");
        assert_eq!(f.text(3), None);
        assert_eq!(f.raw(1), Some(&b"\xA9b"[..]));
    }

    proptest! {
        #[test]
        fn agrees_with_checking_each_field(
            fields in proptest::collection::vec(
                proptest::collection::vec(
                    prop_oneof![Just(b' '), Just(b'a'), Just(0xC3u8), Just(0xA9), Just(0xC2),
                                Just(0xA0), Just(b'\t'), any::<u8>()],
                    0..6),
                0..6),
        ) {
            let refs: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
            let r = record(&refs);
            let f = Fields::new(&r);
            let got: Vec<Option<String>> =
                (0..refs.len()).map(|i| f.text(i).unwrap().map(str::to_string)).collect();
            prop_assert_eq!(got, each(&refs));
        }
    }
}
