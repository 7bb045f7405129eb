//! Small settings files sealed with a checksum (the policy, the roles, the brand registry):
//!
//! ```text
//! MAGIC LINE
//! {"json":"on one line"}
//! check 0123456789abcdef
//! ```
//! `check` is the xxh3 of the lines before it. Written whole by temp file and rename, so a
//! mismatch means damage, never a write in progress.

/// Why a sealed file was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unsealed {
    /// The first line is not the expected magic line (another file, or a newer format).
    Magic,
    /// Truncated, extra lines, or the checksum does not match.
    Damaged,
}

/// The file's text for `json` (one line) under `magic`.
pub(crate) fn seal(magic: &str, json: &str) -> String {
    let body = format!("{magic}\n{json}\n");
    let sum = xxhash_rust::xxh3::xxh3_64(body.as_bytes());
    format!("{body}check {sum:016x}\n")
}

/// The JSON line of a sealed file's `text`, checked against `magic` and its checksum.
pub(crate) fn unseal<'a>(text: &'a str, magic: &str) -> Result<&'a str, Unsealed> {
    let mut lines = text.split_inclusive('\n');
    if lines.next().map(|l| l.trim_end_matches('\n')) != Some(magic) {
        return Err(Unsealed::Magic);
    }
    let json = lines.next().and_then(|l| l.strip_suffix('\n')).ok_or(Unsealed::Damaged)?;
    let check = lines.next().ok_or(Unsealed::Damaged)?;
    if lines.next().is_some()
        || seal(magic, json).strip_suffix(check).is_none_or(|b| b.len() + check.len() != text.len())
    {
        return Err(Unsealed::Damaged);
    }
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_kind_of_damage() {
        let text = seal("magic 1", r#"{"a":1}"#);
        assert_eq!(unseal(&text, "magic 1"), Ok(r#"{"a":1}"#));
        assert_eq!(unseal(&text, "magic 2"), Err(Unsealed::Magic));
        let flipped = text.replacen("\"a\":1", "\"a\":2", 1);
        for bad in [
            &text[..text.len() - 1],
            &text[..text.len() / 2],
            &flipped,
            &format!("{text}extra\n"),
            "magic 1\n",
            "magic 1\n{}\n",
        ] {
            assert_eq!(unseal(bad, "magic 1"), Err(Unsealed::Damaged), "{bad:?}");
        }
        assert_eq!(unseal("", "magic 1"), Err(Unsealed::Magic));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(text in ".{0,100}") {
            let _ = unseal(&text, "m");
        }
    }
}
