//! A CSV header line's column names, read by the same rules in every CSV reader
//! (`filter --format csv`, `import`, `inbound --format csv`): a UTF-8 byte order mark
//! before the first name is not part of it, and a column the reader needs may be named
//! only once.

/// A UTF-8 byte order mark, as spreadsheets write before the first column's name.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// `bytes` without a leading [`BOM`].
pub fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(BOM).unwrap_or(bytes)
}

/// A header that names a column the reader needs more than once: the reader would take
/// one, while a consumer reading by name may take the other.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the header names the {name:?} column more than once: which one holds the recipient's \
     value is ambiguous (rename the others)"
)]
pub struct RepeatedColumn {
    /// The column's name.
    pub name: String,
}

/// The position of the column named `want` among `names` (compared exactly: the caller
/// trims them if its format allows spaces around names), `None` when there is none.
pub fn find_column<N: AsRef<[u8]>>(
    names: impl IntoIterator<Item = N>,
    want: &str,
) -> Result<Option<usize>, RepeatedColumn> {
    let mut at = names.into_iter().enumerate().filter(|(_, n)| n.as_ref() == want.as_bytes());
    let first = at.next().map(|(i, _)| i);
    match at.next() {
        Some(_) => Err(RepeatedColumn { name: want.to_string() }),
        None => Ok(first),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bom_is_dropped_once() {
        assert_eq!(strip_bom(b"\xEF\xBB\xBFnumber"), b"number");
        assert_eq!(strip_bom(b"number"), b"number");
        assert_eq!(strip_bom(b"\xEF\xBB\xBF\xEF\xBB\xBFx"), b"\xEF\xBB\xBFx");
    }

    #[test]
    fn a_column_is_found_once_and_refused_twice() {
        let names = ["x", "number", "message"];
        assert_eq!(find_column(names, "number"), Ok(Some(1)));
        assert_eq!(find_column(names, "missing"), Ok(None));
        let err = find_column(["number", "x", "number"], "number").unwrap_err();
        assert_eq!(err.name, "number");
        assert!(err.to_string().contains("\"number\" column more than once"), "{err}");
    }
}
