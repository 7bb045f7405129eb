//! What comes before the first record: the input's first bytes (a UTF-8 BOM dropped, the
//! encoding looked at once) and, for CSV, the header line, checked and turned into the
//! columns the run reads ([`Kind::Csv`]) and the header lines of the output and rejects.

use std::io::{self, Read};

use super::Kind;
use crate::csv_header::{self, BOM};
use crate::error::Error;
use crate::filter::{Format, RunOptions, csv, read_some};
use crate::pipeline::{self as chunked, RecordTooLong};
use crate::spreadsheet::NotUtf8;

/// The start of a run's input, read and checked.
pub(super) struct Head {
    /// The bytes read after the header: the first records.
    pub(super) rest: Vec<u8>,
    /// How the records are read (for CSV: which columns hold the number and message).
    pub(super) kind: Kind,
    /// The output's header line (CSV only; else empty).
    pub(super) output: Vec<u8>,
    /// The rejects file's header line: the input's with a `reason` column (CSV only).
    pub(super) rejects: Vec<u8>,
    /// Input lines the header took (0 without one): record line numbers count after it.
    pub(super) lines: u64,
    /// Set when the first 64 KiB are not UTF-8 (a spreadsheet's Windows-1252 export makes
    /// every message with æ, ø, å MALFORMED, and the summary should say why).
    pub(super) not_utf8: Option<NotUtf8>,
}

/// Reads the start of `input`: for CSV up to the end of the header, which must name the
/// number column (and may name the message column) exactly once. `adds_message` is true
/// when the run fills in a `--message` column the input does not have: the output header
/// names it then.
pub(super) fn read<R: Read>(
    input: &mut R,
    opts: &RunOptions,
    adds_message: bool,
) -> Result<Head, Error> {
    let eager = opts.live.is_some();
    let mut head = Vec::new();
    let mut more = read_head(input, &mut head, 64 << 10, eager)?;
    if head.starts_with(BOM) {
        head.drain(..BOM.len());
    }
    let not_utf8 = crate::spreadsheet::not_utf8(&head);
    let kind = match opts.format {
        Format::Lines => Kind::Lines,
        Format::Jsonl => Kind::Jsonl,
        Format::Csv => {
            while more && chunked::cut_csv(&head).is_none() {
                if head.len() > chunked::MAX_RECORD {
                    return Err(RecordTooLong { line: 1 }.into());
                }
                let n = head.len().max(64 << 10);
                more = read_head(input, &mut head, n, eager)?;
            }
            return csv_header(head, opts, adds_message, not_utf8);
        }
    };
    Ok(Head { rest: head, kind, output: Vec::new(), rejects: Vec::new(), lines: 0, not_utf8 })
}

/// Splits the CSV header off `head` (which holds at least the whole header line, or all
/// of the input) and checks it.
fn csv_header(
    mut head: Vec<u8>,
    opts: &RunOptions,
    adds_message: bool,
    not_utf8: Option<NotUtf8>,
) -> Result<Head, Error> {
    let sep = opts.delimiter;
    if head.is_empty() {
        return Err(Error::Csv { line: 1, detail: "empty input: CSV needs a header line".into() });
    }
    let (range, next, lines) = csv::next_record(&head, 0);
    if range.len() > chunked::MAX_RECORD {
        return Err(RecordTooLong { line: 1 }.into());
    }
    let header = head[range].to_vec();
    head.drain(..next);
    // A carriage return left in the header does not end a line here, but it does for many
    // CSV readers: with CR-only line ends the whole file is this "header" and would be
    // written out as it came, every number in it undecided.
    if header.contains(&b'\r') {
        return Err(Error::Csv {
            line: 1,
            detail: "the header line holds a carriage return that does not end it \
                     (CR-only line ends?): lines must end in LF or CRLF"
                .into(),
        });
    }
    let mut fields = Vec::new();
    csv::split_fields_by(&header, &mut fields, sep)
        .map_err(|e| Error::Csv { line: 1, detail: format!("bad header: {}", e.as_str()) })?;
    let names: Vec<_> = fields.iter().map(|f| f.value(&header)).collect();
    let find = |name: &str| {
        csv_header::find_column(&names, name)
            .map_err(|e| Error::Csv { line: 1, detail: e.to_string() })
    };
    let number = find(&opts.number_column)?.ok_or_else(|| {
        // Why, when it can be told: another separator, another encoding.
        let why = crate::spreadsheet::delimiter_hint(&header, sep)
            .or_else(|| not_utf8.map(|n| n.explain().to_string()))
            .map_or(String::new(), |h| format!("; {h}"));
        Error::Csv {
            line: 1,
            detail: format!(
                "no {:?} column in the header (choose one with --number-column){why}",
                opts.number_column
            ),
        }
    })?;
    let message = find(&opts.message_column)?;
    let mut output = header.clone();
    if message.is_none() && adds_message {
        output.push(sep);
        csv::push_field_by(&mut output, opts.message_column.as_bytes(), sep);
    }
    output.push(b'\n');
    let mut rejects = header;
    rejects.push(sep);
    rejects.extend_from_slice(b"reason\n");
    let kind = Kind::Csv { number, message, fields: fields.len(), sep };
    Ok(Head { rest: head, kind, output, rejects, lines, not_utf8 })
}

/// [`read_some`], or with `eager` (a live run) as little as a short read gives, as long
/// as there are enough bytes to see a BOM: a slow stream must not wait for 64 KiB.
fn read_head<R: Read>(
    input: &mut R,
    buf: &mut Vec<u8>,
    want: usize,
    eager: bool,
) -> io::Result<bool> {
    if !eager {
        return read_some(input, buf, want);
    }
    let start = buf.len();
    loop {
        let filled = buf.len();
        buf.resize(start + want, 0);
        match input.read(&mut buf[filled..]) {
            Ok(0) => {
                buf.truncate(filled);
                return Ok(false);
            }
            Ok(n) => {
                buf.truncate(filled + n);
                if buf.len() - start >= BOM.len() || buf.len() == start + want {
                    return Ok(true);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => buf.truncate(filled),
            Err(e) => {
                buf.truncate(filled);
                return Err(e);
            }
        }
    }
}
