//! One record of a chunk, parsed: where it is, its number, and what rules 1 and 2 found.

use super::{Ctx, Kind, Worker};
use crate::decision::Reason;
use crate::filter::msgcache::Ticket;
use crate::filter::{csv, json};
use crate::phone::E164;
use crate::pipeline::Chunk as Piece;
use crate::report::Counts;
use crate::standing::StandingSource;

/// No position (an absent span, a line that is not a JSON object).
pub(super) const NONE: u32 = u32::MAX;

/// One parsed record. Spans are relative to the record's start.
#[derive(Clone, Copy)]
pub(super) struct Rec {
    /// Position in the input: chunk index in the high 32 bits, record in the chunk below.
    pub(super) order: u64,
    /// Line number in the chunk (from 1), for naming malformed records.
    pub(super) line: u32,
    /// The record's bytes in the chunk, line end excluded.
    pub(super) start: u32,
    pub(super) end: u32,
    /// The number in E.164 as an integer (valid when `pre` is `Allowed`).
    pub(super) number: u64,
    /// What rules 1 and 2 found: `Allowed` to go on, else the reject reason.
    pub(super) pre: Reason,
    /// csv: the record's fields in `Worker::fields` ([`Rec::csv_fields`]); jsonl: the
    /// number value ([`Rec::json_number`]).
    pub(super) first: Span,
    /// csv: the message's ticket in the worker's message cache ([`Rec::csv_ticket`]);
    /// jsonl: the message value, `NONE` when absent ([`Rec::json_message`]).
    pub(super) second: Span,
    /// jsonl: the closing brace (`NONE` when the line is not an object).
    pub(super) close: u32,
    /// jsonl: whether the object has members (a reason is appended after a comma then).
    pub(super) nonempty: bool,
}

/// Two `u32` positions, kept this small so that a [`Rec`] stays compact in the batch.
#[derive(Clone, Copy)]
pub(super) struct Span {
    start: u32,
    end: u32,
}

impl Span {
    /// No span: a jsonl message that is absent.
    const NONE: Span = Span { start: NONE, end: NONE };

    pub(super) fn new(start: usize, end: usize) -> Span {
        Span { start: start as u32, end: end as u32 }
    }

    fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

impl Rec {
    /// csv: the record's fields, as a range of `Worker::fields`.
    pub(super) fn csv_fields(&self) -> std::ops::Range<usize> {
        self.first.range()
    }

    /// csv: the message's ticket in the worker's message cache.
    pub(super) fn csv_ticket(&self) -> Ticket {
        Ticket::from_parts(self.second.start, self.second.end)
    }

    /// jsonl: the number value's bytes in the record.
    pub(super) fn json_number(&self) -> std::ops::Range<usize> {
        self.first.range()
    }

    /// jsonl: the message value's bytes in the record, if the record has one.
    pub(super) fn json_message(&self) -> Option<std::ops::Range<usize>> {
        (self.second.start != NONE).then(|| self.second.range())
    }
}

/// The next line-delimited record: its range without `\n`/`\r\n`, the next position, and
/// the newlines consumed.
#[inline]
fn next_line(data: &[u8], pos: usize) -> (std::ops::Range<usize>, usize, u64) {
    match memchr::memchr(b'\n', &data[pos..]) {
        Some(j) => {
            let at = pos + j;
            let end = if at > pos && data[at - 1] == b'\r' { at - 1 } else { at };
            (pos..end, at + 1, 1)
        }
        // The last line, without a newline: a lone trailing `\r` is still a line end.
        None => {
            let end = if data.len() > pos && data[data.len() - 1] == b'\r' {
                data.len() - 1
            } else {
                data.len()
            };
            (pos..end, data.len(), 0)
        }
    }
}

/// Rules 1 and 2 for every record of `piece`, into `recs` (blank lines counted in
/// `counts`, not kept); returns the newlines in the chunk.
pub(super) fn parse_chunk<S: StandingSource>(
    ctx: &Ctx<'_, '_, S>,
    w: &mut Worker,
    piece: &Piece<'_>,
    recs: &mut Vec<Rec>,
    counts: &mut Counts,
) -> u64 {
    let data = piece.data;
    let (mut pos, mut line, mut idx) = (0usize, 1u64, 0u64);
    recs.clear();
    w.fields.clear();
    while pos < data.len() {
        let (range, next, nl) = match ctx.kind {
            Kind::Csv { .. } => csv::next_record(data, pos),
            _ => next_line(data, pos),
        };
        let rec_line = line;
        line += nl;
        pos = next;
        let rec = &data[range.clone()];
        let blank = match ctx.kind {
            Kind::Jsonl => rec.trim_ascii().is_empty(),
            _ => rec.is_empty(),
        };
        if blank {
            counts.blank_lines += 1;
            continue;
        }
        let mut r = Rec {
            order: piece.index << 32 | idx,
            line: rec_line as u32,
            start: range.start as u32,
            end: range.end as u32,
            number: 0,
            pre: Reason::Allowed,
            first: Span::new(0, 0),
            second: Span::NONE,
            close: NONE,
            nonempty: false,
        };
        idx += 1;
        parse(ctx, w, rec, &mut r);
        recs.push(r);
    }
    counts.scientific_numbers += std::mem::take(&mut w.scientific);
    line - 1
}

/// Rules 1 and 2: read the record, normalise the number, check the message is readable.
fn parse<S: StandingSource>(ctx: &Ctx<'_, '_, S>, w: &mut Worker, rec: &[u8], r: &mut Rec) {
    let filter = ctx.filter;
    let number = match ctx.kind {
        Kind::Lines => scientific(&mut w.scientific, rec, filter.normalize(rec)),
        Kind::Csv { number, message, fields, sep } => {
            // Split straight into the chunk's field list (no copy from a scratch list).
            let all = &mut w.fields;
            let base = all.len();
            if csv::append_fields_by(rec, all, sep).is_err() || all.len() - base != fields {
                all.truncate(base);
                r.pre = Reason::Malformed;
                return;
            }
            r.first = Span::new(base, all.len());
            let f = &all[base..];
            if let Some(m) = message {
                match w.msgs.is_utf8(f[m].value_into(rec, &mut w.bytes)) {
                    Some(ticket) => {
                        let (start, end) = ticket.to_parts();
                        r.second = Span { start, end };
                    }
                    None => {
                        r.pre = Reason::Malformed;
                        return;
                    }
                }
            }
            let v = f[number].value_into(rec, &mut w.bytes);
            scientific(&mut w.scientific, v, filter.normalize(v))
        }
        Kind::Jsonl => {
            let Ok(spans) = json::scan(rec, &ctx.opts.number_field, &ctx.opts.message_field) else {
                r.pre = Reason::Malformed;
                return;
            };
            r.close = spans.close as u32;
            r.nonempty = spans.nonempty;
            if let Some(m) = spans.message {
                r.second = Span::new(m.start, m.end);
                let raw = &rec[m];
                if raw != b"null" && json::decode_str(raw, &mut w.text).is_none() {
                    r.pre = Reason::Malformed; // not a string, or a lone surrogate
                    return;
                }
            }
            let Some(n) = spans.number else {
                r.pre = Reason::Malformed;
                return;
            };
            r.first = Span::new(n.start, n.end);
            let raw = &rec[n];
            match raw.first() {
                Some(b'"') => match json::decode_str(raw, &mut w.text) {
                    Some(()) => {
                        let v = w.text.as_bytes();
                        scientific(&mut w.scientific, v, filter.normalize(v))
                    }
                    None => Err(Reason::Malformed),
                },
                // A bare JSON number: give its digits to the normaliser.
                Some(b'0'..=b'9') => scientific(&mut w.scientific, raw, filter.normalize(raw)),
                _ => Err(Reason::Malformed),
            }
        }
    };
    match number {
        Ok(e) => r.number = e.as_u64(),
        Err(reason) => r.pre = reason,
    }
}

/// `result` of normalising `raw`, counting in `count` an invalid number that is in
/// scientific notation (a cold path: only invalid numbers are looked at).
#[inline(always)]
fn scientific(count: &mut u64, raw: &[u8], result: Result<E164, Reason>) -> Result<E164, Reason> {
    if let Err(Reason::InvalidNumber) = result
        && crate::spreadsheet::is_scientific(raw)
    {
        *count += 1;
    }
    result
}
