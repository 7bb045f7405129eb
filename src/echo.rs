//! Echoing a header line in an error message without echoing personal data: a file
//! without a header starts with a data row (a number, a name), and a binary file with
//! bytes no terminal should get. Digits are masked, cells cut short, non-text never shown.

/// At most this many characters of a cell are shown.
pub const MAX_CELL_CHARS: usize = 12;
/// At most this many unknown cells are listed.
pub const MAX_CELLS: usize = 5;

/// A header cell as it may appear in a message: `#` for every digit, at most
/// [`MAX_CELL_CHARS`] characters (then `…`), `(empty, column N)` or
/// `(not text, column N)` (invalid UTF-8 or control characters: never echoed).
///
/// ```
/// use sendfilter::echo::cell;
/// assert_eq!(cell(b"tlf 912 34 567", 1), "tlf ### ## #…");
/// assert_eq!(cell(b"Kari Nordmann Hansen", 2), "Kari Nordman…");
/// assert_eq!(cell(b"\x89PNG", 1), "(not text, column 1)");
/// ```
pub fn cell(raw: &[u8], column: usize) -> String {
    let Ok(text) = std::str::from_utf8(raw) else {
        return format!("(not text, column {column})");
    };
    let text = text.trim();
    if text.is_empty() {
        return format!("(empty, column {column})");
    }
    if text.chars().any(char::is_control) {
        return format!("(not text, column {column})");
    }
    let mut out: String = text
        .chars()
        .take(MAX_CELL_CHARS)
        .map(|c| if c.is_ascii_digit() { '#' } else { c })
        .collect();
    if text.chars().nth(MAX_CELL_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// True when a header line looks like a data row: a cell holds a digit run of three or
/// more (a phone number, a date), which no column name here has.
pub fn looks_like_data<'a>(cells: impl IntoIterator<Item = &'a [u8]>) -> bool {
    cells.into_iter().any(|c| {
        c.split(|b| !b.is_ascii_digit() && !matches!(b, b' ' | b'-' | b'+'))
            .any(|run| run.iter().filter(|b| b.is_ascii_digit()).count() >= 3)
    })
}

/// Cells for a message: each through [`cell`], at most [`MAX_CELLS`] of them, then
/// `… and N more`.
pub fn cells(list: &[(usize, &[u8])]) -> Vec<String> {
    let mut out: Vec<String> = list.iter().take(MAX_CELLS).map(|&(i, c)| cell(c, i)).collect();
    if list.len() > MAX_CELLS {
        out.push(format!("… and {} more", list.len() - MAX_CELLS));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_names_and_bytes() {
        assert_eq!(cell(b" tlf ", 1), "tlf");
        assert_eq!(cell(b"", 3), "(empty, column 3)");
        assert_eq!(cell(b"a\x1b[31mred", 2), "(not text, column 2)");
        assert_eq!(cell("blåbærsyltetøy".as_bytes(), 1), "blåbærsyltet…");
        assert_eq!(cell(b"+4791234567", 1), "+##########");
        assert!(looks_like_data([&b"name"[..], b"912 34 567"]));
        assert!(looks_like_data([&b"2026-01-01"[..]]));
        assert!(!looks_like_data([&b"tlf"[..], b"col2", b"v12"]));
        let many: Vec<(usize, &[u8])> = (1..=7).map(|i| (i, &b"x"[..])).collect();
        let shown = cells(&many);
        assert_eq!(shown.len(), MAX_CELLS + 1);
        assert_eq!(shown[MAX_CELLS], "… and 2 more");
    }
}
