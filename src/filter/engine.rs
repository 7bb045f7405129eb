//! The streaming engine: parse, decide and render chunks of records.

use std::io::Read;

use super::csv::{self, Field};
use super::msgcache::Ticket;
use super::seen::InOrder;
use super::{Filter, Format, RunOptions, Sinks, json, read_some};
use crate::decision::{Class, Reason};
use crate::error::Error;
use crate::phone::E164;
use crate::pipeline::{self as chunked, Chunk as Piece, RecordTooLong};
use crate::report::{Counts, Report};
use crate::sms::{Footer, Stamp};
use crate::spreadsheet::NotUtf8;
use crate::standing::StandingSource;
use crate::store::live::{LiveStops, StopMap};
use std::io;
use std::sync::Arc;

/// A record's table slot is prefetched this many records before it is decided (see
/// `process`).
const AHEAD: usize = 16;
/// Lookup tokens kept in flight (a power of two above `2 * AHEAD`).
const TOKENS: usize = 64;
/// The same for marking duplicates, whose step per record is much shorter.
const SEEN_AHEAD: usize = 64;
const NONE: u32 = u32::MAX;
/// With live stops, output is written and flushed in groups of at most this many bytes
/// (a pipe buffer)...
const LIVE_WRITE: usize = 64 << 10;
/// ... starting from this many, doubling after each quick write and back to this after a
/// write that took [`SLOW_WRITE`]: with a consumer that reads slowly, a group waits in the
/// pipe long after its records were decided, so groups stay small there.
const LIVE_WRITE_SLOW: usize = 4 << 10;
/// A write (with its flush) this long means a slow consumer; one under a tenth of it, a
/// fast one.
const SLOW_WRITE: std::time::Duration = std::time::Duration::from_millis(20);
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Chunks decided again because a live stop arrived (tests check the path is exercised).
#[cfg(test)]
pub(crate) static REDECIDED_LIVE: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(0);

/// One chunk's results, recycled between chunks.
#[derive(Default)]
pub(crate) struct ChunkOut {
    out: Vec<u8>,
    rej: Vec<u8>,
    counts: Counts,
    /// Indices (in the chunk, blank lines not counted) of the records that are duplicates
    /// of earlier ones: found once, kept for deciding the chunk again.
    dups: Vec<u32>,
    /// `\n` in the chunk (for input line numbers).
    newlines: u64,
    /// Chunk-local line numbers of the first malformed records.
    malformed: Vec<u32>,
    /// Decision receipts of the chunk (legal: `--receipts`).
    receipts: Vec<u8>,
    /// With live stops: the live-set version the chunk was decided with, and per allowed
    /// record its order and the end of its output (so the writer can stop mid-chunk).
    live_version: u64,
    /// The live-stop set of `live_version`.
    live_map: Arc<StopMap>,
    allowed: Vec<(u64, usize)>,
}

impl ChunkOut {
    fn clear(&mut self) {
        self.out.clear();
        self.rej.clear();
        self.counts = Counts::default();
        self.newlines = 0;
        self.malformed.clear();
        self.receipts.clear(); // legal: receipts
        self.live_version = 0;
        self.allowed.clear();
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Lines,
    /// `sep`: the field separator (`,` unless `--delimiter`).
    Csv {
        number: usize,
        message: Option<usize>,
        fields: usize,
        sep: u8,
    },
    Jsonl,
}

/// `--message`, stamped once for the whole run.
struct Fill {
    before: usize,
    after: usize,
    appended: bool,
    csv: Vec<u8>,
    json: Vec<u8>,
}

struct Ctx<'a, 's, S: StandingSource> {
    filter: &'a Filter<'s, S>,
    opts: &'a RunOptions,
    kind: Kind,
    /// The footers allowed records get stamped with (marketing only): the run's one, or
    /// one per opt-out route (indexed as [`super::Routes::entries`]).
    footers: Vec<&'a Footer>,
    /// The run's routes, when it has them: pick a record's footer by its country.
    routes: Option<&'a super::Routes>,
    /// `--message` stamped with each footer (one, unstamped, when there is no footer);
    /// empty without `--message`.
    fills: Vec<Fill>,
    rejects: bool,
    /// Numbers seen so far, for duplicates.
    seen: InOrder,
    /// legal: `Some((key, line suffix))` when receipts are written (see `receipts.rs`).
    receipt: Option<(super::receipts::ReceiptKey, Vec<u8>)>,
    live: Option<&'a LiveStops>,
}

/// One parsed record. Spans are relative to the record's start.
#[derive(Clone, Copy)]
struct Rec {
    order: u64,
    line: u32,
    start: u32,
    end: u32,
    number: u64,
    pre: Reason,
    /// csv: the record's fields in `Worker::fields` ([`Rec::csv_fields`]); jsonl: the
    /// number value ([`Rec::json_number`]).
    first: Span,
    /// csv: the message's ticket in the worker's message cache ([`Rec::csv_ticket`]);
    /// jsonl: the message value, `NONE` when absent ([`Rec::json_message`]).
    second: Span,
    /// jsonl: the closing brace (`NONE` when the line is not an object); nonempty flag.
    close: u32,
    nonempty: bool,
}

/// Two `u32` positions, kept this small so that a [`Rec`] stays compact in the batch.
#[derive(Clone, Copy)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    /// No span: a jsonl message that is absent.
    const NONE: Span = Span { start: NONE, end: NONE };

    fn new(start: usize, end: usize) -> Span {
        Span { start: start as u32, end: end as u32 }
    }

    fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

impl Rec {
    /// csv: the record's fields, as a range of `Worker::fields`.
    fn csv_fields(&self) -> std::ops::Range<usize> {
        self.first.range()
    }

    /// csv: the message's ticket in the worker's message cache.
    fn csv_ticket(&self) -> Ticket {
        Ticket::from_parts(self.second.start, self.second.end)
    }

    /// jsonl: the number value's bytes in the record.
    fn json_number(&self) -> std::ops::Range<usize> {
        self.first.range()
    }

    /// jsonl: the message value's bytes in the record, if the record has one.
    fn json_message(&self) -> Option<std::ops::Range<usize>> {
        (self.second.start != NONE).then(|| self.second.range())
    }
}

#[derive(Default)]
struct Worker {
    /// The records of the chunk being decided (see `process`).
    batch: Vec<Rec>,
    /// Their numbers (0 = not a valid number), compact for marking duplicates.
    keys: Vec<u64>,
    /// csv fields of the records in `batch` ([`Rec::csv_fields`]).
    fields: Vec<Field>,
    bytes: Vec<u8>,
    text: String,
    /// Messages already checked and measured (a campaign repeats a few texts).
    msgs: super::msgcache::MessageCache,
    /// `INVALID_NUMBER` records of the chunk in scientific notation (moved to the counts).
    scientific: u64,
    /// The live stops this worker decides with (version, set), refreshed per chunk.
    live: (u64, Arc<StopMap>),
    /// When a chunk is decided again after some of it was written: per written prefix
    /// (last order written, set it was decided with), oldest first. Those records keep
    /// the decision they were written with, so counts, rejects and receipts say what was
    /// actually sent.
    written: Vec<(u64, Arc<StopMap>)>,
}

/// A message as found in a record.
enum Msg<'a> {
    Text(&'a str),
    Fill,
    Absent,
}

pub(super) fn run<S: StandingSource, R: Read + Send>(
    filter: &Filter<'_, S>,
    opts: &RunOptions,
    mut input: R,
    sinks: Sinks<'_>,
    mut receipts: Option<&mut dyn std::io::Write>, // legal: `--receipts`
) -> Result<(Counts, Vec<u64>, Option<NotUtf8>), Error> {
    let Sinks { output, mut rejects, mut progress } = sinks;
    let mut head = Vec::new();
    let eager = opts.live.is_some();
    let mut more = read_head(&mut input, &mut head, 64 << 10, eager)?;
    if head.starts_with(BOM) {
        head.drain(..BOM.len());
    }
    // Once per run (the first 64 KiB): a spreadsheet's Windows-1252 export makes every
    // message with æ, ø, å MALFORMED, and the summary should say why.
    let not_utf8 = crate::spreadsheet::not_utf8(&head);
    let sep = opts.delimiter;
    let marketing = filter.options().class == Class::Marketing;
    let routes = if marketing { filter.options().routes.as_deref() } else { None };
    let footers: Vec<&Footer> = match routes {
        Some(r) => r.entries().iter().map(|(_, f)| f).collect(),
        None if marketing => filter.options().footer.iter().collect(),
        None => Vec::new(),
    };
    let fills: Vec<Fill> = match opts.message.as_deref() {
        None => Vec::new(),
        Some(m) if footers.is_empty() => vec![make_fill(None, m, opts.delimiter)],
        Some(m) => footers.iter().map(|f| make_fill(Some(f), m, opts.delimiter)).collect(),
    };

    let mut header_lines = 0u64;
    let mut out_header = Vec::new();
    let mut rej_header = Vec::new();
    let kind = match opts.format {
        Format::Lines => Kind::Lines,
        Format::Jsonl => Kind::Jsonl,
        Format::Csv => {
            while more && chunked::cut_csv(&head).is_none() {
                if head.len() > chunked::MAX_RECORD {
                    return Err(RecordTooLong { line: 1 }.into());
                }
                let n = head.len().max(64 << 10);
                more = read_head(&mut input, &mut head, n, eager)?;
            }
            if head.is_empty() {
                return Err(Error::Csv {
                    line: 1,
                    detail: "empty input: CSV needs a header line".into(),
                });
            }
            let (range, next, nl) = csv::next_record(&head, 0);
            if range.len() > chunked::MAX_RECORD {
                return Err(RecordTooLong { line: 1 }.into());
            }
            let header = head[range].to_vec();
            header_lines = nl;
            head.drain(..next);
            // A carriage return left in the header does not end a line here, but it does
            // for many CSV readers: with CR-only line ends the whole file is this "header"
            // and would be written out as it came, every number in it undecided.
            if header.contains(&b'\r') {
                return Err(Error::Csv {
                    line: 1,
                    detail: "the header line holds a carriage return that does not end it \
                             (CR-only line ends?): lines must end in LF or CRLF"
                        .into(),
                });
            }
            let mut fields = Vec::new();
            csv::split_fields_by(&header, &mut fields, sep).map_err(|e| Error::Csv {
                line: 1,
                detail: format!("bad header: {}", e.as_str()),
            })?;
            // A column named twice is refused: the run would decide and stamp the first,
            // while a consumer reading by name may take the other, undecided or unstamped.
            let find = |name: &str| -> Result<Option<usize>, Error> {
                let mut at = fields
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| *f.value(&header) == *name.as_bytes());
                let first = at.next().map(|(i, _)| i);
                if at.next().is_some() {
                    return Err(Error::Csv {
                        line: 1,
                        detail: format!(
                            "the header names the {name:?} column more than once: which one \
                             holds the recipient's value is ambiguous (rename the others)"
                        ),
                    });
                }
                Ok(first)
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
            out_header.extend_from_slice(&header);
            if message.is_none() && !fills.is_empty() {
                out_header.push(sep);
                csv::push_field_by(&mut out_header, opts.message_column.as_bytes(), sep);
            }
            out_header.push(b'\n');
            rej_header.extend_from_slice(&header);
            rej_header.push(sep);
            rej_header.extend_from_slice(b"reason\n");
            Kind::Csv { number, message, fields: fields.len(), sep }
        }
    };

    let ctx = Ctx {
        filter,
        opts,
        kind,
        footers,
        routes,
        fills,
        rejects: rejects.is_some(),
        seen: InOrder::default(),
        receipt: receipts.as_ref().zip(opts.receipt_key).map(|(_, key)| {
            let src = filter.source();
            (key, super::receipts::line_suffix(src.generation(), src.journal_seq()))
        }),
        live: opts.live.as_deref(),
    };
    output.write_all(&out_header)?;
    if let Some(r) = rejects.as_mut() {
        r.write_all(&rej_header)?;
    }
    if let (Some(w), Some(key)) = (receipts.as_mut(), &opts.receipt_key) {
        let src = filter.source();
        let head = super::receipts::header(opts, key, src.generation(), src.journal_seq());
        w.write_all(head.as_bytes())?;
    }

    let mut total = Counts::default();
    let mut group = LIVE_WRITE_SLOW;
    let mut malformed = Vec::new();
    let mut base = header_lines;
    let mut verifier = Worker::default();
    let cut = if kind == Kind::Lines || kind == Kind::Jsonl {
        chunked::cut_lines
    } else {
        chunked::cut_csv
    };
    let how = chunked::How {
        threads: opts.threads,
        chunk_bytes: opts.chunk_bytes,
        eager: opts.live.is_some(),
        cut,
    };
    let ran = chunked::run_chunks(
        input,
        head,
        how,
        Worker::default,
        |w, piece, recycled| {
            let mut out = recycled.unwrap_or_default();
            process(&ctx, w, &piece, true, &mut out);
            out
        },
        |mut out, piece| {
            match ctx.live {
                None => output.write_all(&out.out)?,
                Some(live) => {
                    // Write in small flushed groups; before each, make sure no stop arrived
                    // since the chunk was decided, else decide it again (exact: every
                    // earlier chunk is done) and go on after the records already written.
                    let mut written: Option<u64> = None;
                    let mut i = 0;
                    verifier.written.clear();
                    loop {
                        if let Some(why) = live.failure() {
                            // Fail closed: stops may be arriving unseen.
                            let msg = format!("live stop watching failed, run stopped: {why}");
                            return Err(std::io::Error::other(msg));
                        }
                        if live.version() != out.live_version {
                            #[cfg(test)]
                            REDECIDED_LIVE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            if let Some(last) = written {
                                verifier.written.push((last, Arc::clone(&out.live_map)));
                            }
                            process(&ctx, &mut verifier, &piece, false, &mut out);
                            i = out
                                .allowed
                                .partition_point(|&(o, _)| written.is_some_and(|w| o <= w));
                        }
                        if i >= out.allowed.len() {
                            break;
                        }
                        let start = if i == 0 { 0 } else { out.allowed[i - 1].1 };
                        let mut j = i + 1;
                        while j < out.allowed.len() && out.allowed[j].1 - start <= group {
                            j += 1;
                        }
                        let t = std::time::Instant::now();
                        output.write_all(&out.out[start..out.allowed[j - 1].1])?;
                        output.flush()?;
                        let took = t.elapsed();
                        if took > SLOW_WRITE {
                            group = LIVE_WRITE_SLOW;
                        } else if took < SLOW_WRITE / 10 {
                            group = (group * 2).min(LIVE_WRITE);
                        }
                        written = Some(out.allowed[j - 1].0);
                        i = j;
                    }
                    verifier.written.clear();
                }
            }
            if let Some(r) = rejects.as_mut() {
                r.write_all(&out.rej)?;
            }
            if let Some(w) = receipts.as_mut() {
                w.write_all(&out.receipts)?; // legal: receipts, in input order
            }
            total.add(&out.counts);
            for &l in &out.malformed {
                if malformed.len() < Report::MAX_MALFORMED_LINES {
                    malformed.push(base + u64::from(l));
                }
            }
            base += out.newlines;
            if let Some(p) = progress.as_mut() {
                p(total.input());
            }
            Ok(Some(out))
        },
    );
    // Flushed on error too: what was decided before a bad record or a failed read stays
    // written (the first error is the one reported).
    let flushed = output.flush();
    let flushed = flushed.and(rejects.as_mut().map_or(Ok(()), |r| r.flush()));
    let flushed = flushed.and(receipts.as_mut().map_or(Ok(()), |w| w.flush()));
    ran.map_err(|e| match RecordTooLong::of(&e) {
        // The reader counts lines from the first record; the file has the header before.
        Some(r) => RecordTooLong { line: r.line + header_lines }.into(),
        None => Error::Io(e),
    })?;
    flushed?;
    Ok((total, malformed, not_utf8))
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

fn make_fill(footer: Option<&Footer>, m: &str, sep: u8) -> Fill {
    let mut text = String::new();
    let (mut before, mut after, mut appended) = (0, 0, false);
    match footer {
        Some(f) => {
            let plan = f.stamp(m, &mut text);
            let (b, a) = f.count_stamped(m, plan);
            (before, after, appended) = (b.segments, a.segments, plan != Stamp::Present);
        }
        None => text.push_str(m),
    }
    let mut csv = Vec::new();
    csv::push_field_by(&mut csv, text.as_bytes(), sep);
    let mut json = vec![b'"'];
    json::push_escaped(&mut json, &text);
    json.push(b'"');
    Fill { before, after, appended, csv, json }
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

/// Decides one chunk in three passes: parse every record (rules 1–2), mark duplicates in
/// input order (rule 3, on the run's shared set, one chunk at a time: see `seen.rs`), then
/// decide and render each record (rules 4–9) with its table slot prefetched [`AHEAD`]
/// records earlier. With `dedup` false (deciding a chunk again for live stops) the chunk's
/// duplicates are those found the first time, kept in `out.dups`.
fn process<S: StandingSource>(
    ctx: &Ctx<'_, '_, S>,
    w: &mut Worker,
    piece: &Piece<'_>,
    dedup: bool,
    out: &mut ChunkOut,
) {
    // Taken first: if this worker dies, later chunks are released (see `seen::Turn`).
    let turn = dedup.then(|| ctx.seen.turn(piece.index));
    let dups = std::mem::take(&mut out.dups);
    out.clear();
    out.dups = dups;
    if let Some(live) = ctx.live {
        if live.version() != w.live.0 {
            w.live = live.current();
        }
        out.live_version = w.live.0;
        out.live_map = Arc::clone(&w.live.1);
    }
    let data = piece.data;
    let (mut pos, mut line, mut idx) = (0usize, 1u64, 0u64);
    let mut recs = std::mem::take(&mut w.batch);
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
            out.counts.blank_lines += 1;
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
    out.counts.scientific_numbers += std::mem::take(&mut w.scientific);
    if let Some(turn) = turn {
        out.dups.clear();
        // `number` is a valid E.164 when `pre` is Allowed (set by parse).
        let keys = &mut w.keys;
        keys.clear();
        keys.extend(recs.iter().map(|r| if r.pre == Reason::Allowed { r.number } else { 0 }));
        turn.take(|seen| {
            for (i, &k) in keys.iter().enumerate() {
                if let Some(&ahead) = keys.get(i + 2 * SEEN_AHEAD) {
                    seen.prefetch(ahead);
                }
                if let Some(&ahead) = keys.get(i + SEEN_AHEAD) {
                    seen.prefetch_bits(ahead);
                }
                if k != 0 && !seen.insert(k) {
                    out.dups.push(i as u32);
                }
            }
        });
    }
    let mut dups = std::mem::take(&mut out.dups);
    let mut next_dup = dups.iter().copied().peekable();
    // The store's lookups in three stages, AHEAD records apart: its index (tags), the
    // entry the index names, the decision. Tokens of the records in between, by index.
    let mut tokens = [S::Token::default(); TOKENS];
    let valid = |r: &Rec| if r.pre == Reason::Allowed { E164::from_u64(r.number) } else { None };
    // The first records' earlier stages (the loop runs them for the records after).
    for (i, r) in recs.iter().enumerate().take(2 * AHEAD) {
        if let Some(e) = valid(r) {
            tokens[i % TOKENS] = ctx.filter.lookup_start(e);
        }
    }
    for (i, r) in recs.iter().enumerate().take(AHEAD) {
        if let Some(e) = valid(r) {
            tokens[i % TOKENS] = ctx.filter.lookup_next(e, tokens[i % TOKENS]);
        }
    }
    for (i, r) in recs.iter().enumerate() {
        if let Some(e) = recs.get(i + 2 * AHEAD).and_then(valid) {
            tokens[(i + 2 * AHEAD) % TOKENS] = ctx.filter.lookup_start(e);
        }
        if let Some(e) = recs.get(i + AHEAD).and_then(valid) {
            let t = &mut tokens[(i + AHEAD) % TOKENS];
            *t = ctx.filter.lookup_next(e, *t);
        }
        // The record itself is read again when it is rendered (parsed long before).
        if let Some(ahead) = recs.get(i + AHEAD / 2) {
            for at in [ahead.start as usize, ahead.start as usize + 64] {
                if let Some(b) = data.get(at) {
                    crate::hint::prefetch(b);
                }
            }
        }
        let dup = next_dup.next_if_eq(&(i as u32)).is_some();
        decide(ctx, w, data, r, dup, tokens[i % TOKENS], out);
    }
    drop(next_dup);
    std::mem::swap(&mut out.dups, &mut dups);
    w.batch = recs;
    out.newlines = line - 1;
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

/// Rules 3–9 for one parsed record, then rendering.
fn decide<S: StandingSource>(
    ctx: &Ctx<'_, '_, S>,
    w: &mut Worker,
    data: &[u8],
    r: &Rec,
    dup: bool,
    token: S::Token,
    out: &mut ChunkOut,
) {
    let rec = &data[r.start as usize..r.end as usize];
    let e164 = E164::from_u64(r.number);
    let mut reason = r.pre;
    let mut basis = crate::decision::Basis::None; // legal: what allowed it
    if let (Reason::Allowed, Some(e)) = (reason, e164) {
        reason = if !dup {
            let d = decide_first(ctx, w, e, r.order, token); // legal: reason + basis
            basis = d.basis;
            d.reason
        } else {
            Reason::Duplicate
        };
    }

    // Rule 9 and stamping, for allowed marketing messages, with the footer of the
    // number's country (allowed implies a route when the run has routes).
    let mut stamp = None;
    let fidx = match (ctx.routes, e164) {
        (Some(routes), Some(e)) if reason == Reason::Allowed => routes.index(e).unwrap_or(0),
        _ => 0,
    };
    if reason == Reason::Allowed
        && let Some(&footer) = ctx.footers.get(fidx)
    {
        let found = match message(ctx, &w.fields, &mut w.bytes, &mut w.text, rec, r) {
            Msg::Text(t) => {
                let ticket = match ctx.kind {
                    Kind::Csv { .. } => r.csv_ticket(),
                    _ => Ticket::NONE,
                };
                let s = w.msgs.stamped(footer, fidx, t, ticket);
                Some((s.before, s.after, s.plan != Stamp::Present, s.plan, false))
            }
            Msg::Fill => {
                ctx.fill(fidx).map(|f| (f.before, f.after, f.appended, Stamp::Present, true))
            }
            Msg::Absent => None,
        };
        if let Some((before, after, appended, plan, fill)) = found {
            if ctx.filter.options().max_segments.is_some_and(|m| after > m as usize) {
                reason = Reason::TooLong;
            } else {
                let c = &mut out.counts;
                c.messages += 1;
                c.segments_before += before as u64;
                c.segments_after += after as u64;
                c.footer_added += u64::from(appended);
                c.footer_extra_segment += u64::from(after > before);
                stamp = Some((plan, fill));
            }
        }
    }

    out.counts.reasons[reason.index()] += 1;
    if reason == Reason::NoOptOutRoute
        && let Some(e) = e164
    {
        *out.counts.no_route_by_code.entry(e.country_code()).or_insert(0) += 1;
    }
    // legal: counts by basis and the decision receipt.
    let basis = if reason == Reason::Allowed { basis } else { crate::decision::Basis::None };
    out.counts.count_basis(basis);
    if let Some((key, suffix)) = &ctx.receipt {
        super::receipts::push(&mut out.receipts, key, e164, reason, basis, suffix);
    }
    if reason == Reason::Allowed {
        // Allowed implies a valid number.
        if let Some(e) = e164 {
            render_allowed(ctx, w, rec, r, e, (stamp, fidx), &mut out.out);
            if ctx.live.is_some() {
                out.allowed.push((r.order, out.out.len()));
            }
        }
    } else {
        if reason == Reason::Malformed
            && out.malformed.len() < crate::report::Report::MAX_MALFORMED_LINES
        {
            out.malformed.push(r.line);
        }
        if ctx.rejects {
            render_reject(ctx.kind, rec, r, reason, &mut out.rej);
        }
    }
}

/// Rules 4–8 for a first occurrence, with the live stops folded in.
#[inline]
fn decide_first<S: StandingSource>(
    ctx: &Ctx<'_, '_, S>,
    w: &Worker,
    e: E164,
    order: u64,
    token: S::Token,
) -> crate::decision::Decision {
    let d = ctx.filter.decide_looked_up(e, token);
    // Records already written keep the set they were decided (and written) with.
    let live = w.written.iter().find(|(last, _)| order <= *last).map_or(&w.live.1, |(_, m)| m);
    ctx.filter.with_live(e, d, live)
}

/// The record's message (readability was checked by `parse`).
fn message<'w, S: StandingSource>(
    ctx: &Ctx<'_, '_, S>,
    fields: &[Field],
    bytes: &'w mut Vec<u8>,
    text: &'w mut String,
    rec: &'w [u8],
    r: &Rec,
) -> Msg<'w> {
    let fill_or_absent = if ctx.has_fill() { Msg::Fill } else { Msg::Absent };
    match ctx.kind {
        Kind::Lines => fill_or_absent,
        Kind::Csv { message: None, .. } => fill_or_absent,
        Kind::Csv { message: Some(m), .. } => {
            let f = fields[r.csv_fields().start + m];
            let v = f.value_into(rec, bytes);
            // An empty message is a message: without --message it is stamped (the footer
            // alone), never sent on without the opt-out.
            if v.is_empty() && ctx.has_fill() {
                return Msg::Fill;
            }
            // SAFETY: `parse` rejected the record as MALFORMED unless this very value (the
            // same field of the same bytes, unescaped the same way) is UTF-8.
            Msg::Text(unsafe { std::str::from_utf8_unchecked(v) })
        }
        Kind::Jsonl => {
            let Some(m) = r.json_message().filter(|m| &rec[m.clone()] != b"null") else {
                return fill_or_absent;
            };
            match json::decode_str(&rec[m], text) {
                Some(()) if text.is_empty() && ctx.has_fill() => Msg::Fill,
                Some(()) => Msg::Text(text),
                None => Msg::Absent, // not reached: parse rejects bad strings
            }
        }
    }
}

/// Writes `e`, copying `raw` when it already is exactly `+digits` of `e` (the common
/// clean-input case: a copy instead of digit formatting).
#[inline]
fn push_number(out: &mut Vec<u8>, raw: &[u8], e: E164) {
    if is_clean_e164(raw, e) {
        out.extend_from_slice(raw);
    } else {
        push_e164(out, e);
    }
}

/// True when `raw` is exactly `+digits` of `e`.
#[inline]
fn is_clean_e164(raw: &[u8], e: E164) -> bool {
    matches!(raw, [b'+', digits @ ..]
        if (1..=15).contains(&digits.len())
            && digits.iter().all(u8::is_ascii_digit)
            && digits.iter().fold(0u64, |a, d| a * 10 + u64::from(d - b'0')) == e.as_u64())
}

/// Copies `rec[*pos..f.start]` (the unchanged bytes before field `f`) and moves `pos`
/// past `f`.
#[inline]
fn copy_until(out: &mut Vec<u8>, rec: &[u8], pos: &mut usize, f: Field) {
    out.extend_from_slice(&rec[*pos..f.start as usize]);
    *pos = f.end as usize;
}

fn push_e164(out: &mut Vec<u8>, e: E164) {
    let mut b = [0u8; E164::MAX_WRITTEN_LEN];
    let n = e.write_to(&mut b);
    out.extend_from_slice(&b[..n]);
}

/// Writes an allowed record: number in E.164, message stamped (`stamp` is the plan and
/// whether the run's `--message` fills in; `fidx` the footer's index).
fn render_allowed<S: StandingSource>(
    ctx: &Ctx<'_, '_, S>,
    w: &Worker,
    rec: &[u8],
    r: &Rec,
    e: E164,
    (stamp, fidx): (Option<(Stamp, bool)>, usize),
    out: &mut Vec<u8>,
) {
    let footer = ctx.footers.get(fidx).map_or("", |f| f.text());
    match ctx.kind {
        Kind::Lines => push_number(out, rec, e),
        Kind::Csv { number, message, sep, .. } => {
            // The record is its fields' raw bytes joined by commas (see `csv::split_fields`):
            // copy it in runs, replacing only the number (unless already clean E.164) and a
            // stamped or filled message, in record order.
            let fields = &w.fields[r.csv_fields()];
            #[cfg(test)]
            let start = out.len();
            let num = fields.get(number).copied();
            let num = num.filter(|f| !is_clean_e164(f.raw(rec), e));
            // (A message column that is the number column stays the number.)
            let message_field = message.filter(|&m| m != number).and_then(|m| fields.get(m));
            let msg = match (message_field, stamp) {
                (Some(f), Some((_, true))) => Some((*f, None)),
                (Some(f), Some((plan @ Stamp::Appended { .. }, false))) => Some((*f, Some(plan))),
                _ => None,
            };
            let write_num = |out: &mut Vec<u8>| push_e164(out, e);
            let write_msg = |out: &mut Vec<u8>, f: Field, plan: Option<Stamp>| match plan {
                None => out.extend_from_slice(ctx.fill_bytes_csv(fidx)),
                Some(plan) => {
                    push_csv_stamped(out, f.raw(rec), f.quoted, plan.separator(), footer, sep)
                }
            };
            let mut pos = 0usize;
            match (num, msg) {
                (Some(n), Some((m, plan))) if m.start < n.start => {
                    copy_until(out, rec, &mut pos, m);
                    write_msg(out, m, plan);
                    copy_until(out, rec, &mut pos, n);
                    write_num(out);
                }
                (n, m) => {
                    if let Some(n) = n {
                        copy_until(out, rec, &mut pos, n);
                        write_num(out);
                    }
                    if let Some((m, plan)) = m {
                        copy_until(out, rec, &mut pos, m);
                        write_msg(out, m, plan);
                    }
                }
            }
            out.extend_from_slice(&rec[pos..]);
            if message.is_none()
                && let Some(fill) = ctx.fill(fidx)
            {
                out.push(sep);
                out.extend_from_slice(&fill.csv);
            }
            #[cfg(test)]
            {
                let mut model = Vec::new();
                let cols = (number, message);
                render_csv_reference(ctx, fields, rec, cols, e, (stamp, fidx), &mut model);
                let got = &out[start..];
                assert_eq!(
                    String::from_utf8_lossy(got),
                    String::from_utf8_lossy(&model),
                    "csv rendering differs from the field-by-field model"
                );
            }
        }
        Kind::Jsonl => {
            let num = r.json_number();
            let num = (num.start, num.end);
            let msg = r.json_message().map(|m| (m.start, m.end));
            let mut pos = 0;
            let mut splice =
                |out: &mut Vec<u8>, at: (usize, usize), what: &dyn Fn(&mut Vec<u8>)| {
                    out.extend_from_slice(&rec[pos..at.0]);
                    what(out);
                    pos = at.1;
                };
            let write_num = |o: &mut Vec<u8>| {
                o.push(b'"');
                push_e164(o, e);
                o.push(b'"');
            };
            let write_msg = |o: &mut Vec<u8>| {
                let (s, t) = msg.unwrap_or((0, 0));
                let raw = &rec[s..t];
                match stamp {
                    Some((_, true)) => o.extend_from_slice(ctx.fill_bytes_json(fidx)),
                    Some((plan @ Stamp::Appended { .. }, false)) => {
                        o.extend_from_slice(&raw[..raw.len() - 1]);
                        json::push_escaped(o, plan.separator());
                        json::push_escaped(o, footer);
                        o.push(b'"');
                    }
                    _ => o.extend_from_slice(raw),
                }
            };
            match msg {
                Some(m) if m.0 < num.0 => {
                    splice(out, m, &write_msg);
                    splice(out, num, &write_num);
                }
                Some(m) => {
                    splice(out, num, &write_num);
                    splice(out, m, &write_msg);
                }
                None => splice(out, num, &write_num),
            }
            let close = r.close as usize;
            out.extend_from_slice(&rec[pos..close]);
            if msg.is_none()
                && let Some(fill) = ctx.fill(fidx)
            {
                out.extend_from_slice(b",\"");
                json::push_escaped(out, &ctx.opts.message_field);
                out.extend_from_slice(b"\":");
                out.extend_from_slice(&fill.json);
            }
            out.extend_from_slice(&rec[close..]);
        }
    }
    out.push(b'\n');
}

impl<S: StandingSource> Ctx<'_, '_, S> {
    /// Whether the run has a `--message` to fill in.
    fn has_fill(&self) -> bool {
        !self.fills.is_empty()
    }
    /// The `--message` stamped with footer `fidx`.
    fn fill(&self, fidx: usize) -> Option<&Fill> {
        self.fills.get(fidx).or(self.fills.first())
    }
    fn fill_bytes_csv(&self, fidx: usize) -> &[u8] {
        self.fill(fidx).map_or(&[], |f| &f.csv)
    }
    fn fill_bytes_json(&self, fidx: usize) -> &[u8] {
        self.fill(fidx).map_or(b"\"\"", |f| &f.json)
    }
}

/// The field-by-field CSV rendering the run copy replaced: the model the tests check
/// every rendered record against.
#[cfg(test)]
fn render_csv_reference<S: StandingSource>(
    ctx: &Ctx<'_, '_, S>,
    fields: &[Field],
    rec: &[u8],
    (number, message): (usize, Option<usize>),
    e: E164,
    (stamp, fidx): (Option<(Stamp, bool)>, usize),
    out: &mut Vec<u8>,
) {
    let footer = ctx.footers.get(fidx).map_or("", |f| f.text());
    let sep = ctx.opts.delimiter;
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(sep);
        }
        if i == number {
            push_number(out, f.raw(rec), e);
        } else if Some(i) == message {
            match stamp {
                Some((_, true)) => out.extend_from_slice(ctx.fill_bytes_csv(fidx)),
                Some((plan @ Stamp::Appended { .. }, false)) => {
                    push_csv_stamped(out, f.raw(rec), f.quoted, plan.separator(), footer, sep)
                }
                _ => out.extend_from_slice(f.raw(rec)),
            }
        } else {
            out.extend_from_slice(f.raw(rec));
        }
    }
    if message.is_none()
        && let Some(fill) = ctx.fill(fidx)
    {
        out.push(sep);
        out.extend_from_slice(&fill.csv);
    }
}

/// A CSV message field with the footer appended, quoted as needed for output separated by
/// `delimiter`.
fn push_csv_stamped(
    out: &mut Vec<u8>,
    raw: &[u8],
    quoted: bool,
    sep: &str,
    footer: &str,
    delimiter: u8,
) {
    if quoted {
        out.extend_from_slice(&raw[..raw.len() - 1]);
        csv::push_escaped(out, sep.as_bytes());
        csv::push_escaped(out, footer.as_bytes());
        out.push(b'"');
    } else if csv::needs_quotes_by(sep.as_bytes(), delimiter)
        || csv::needs_quotes_by(footer.as_bytes(), delimiter)
    {
        out.push(b'"');
        out.extend_from_slice(raw); // unquoted raw holds no quote (parser rule)
        csv::push_escaped(out, sep.as_bytes());
        csv::push_escaped(out, footer.as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(raw);
        out.extend_from_slice(sep.as_bytes());
        out.extend_from_slice(footer.as_bytes());
    }
}

/// Writes a rejected record: the original plus its reason.
fn render_reject(kind: Kind, rec: &[u8], r: &Rec, reason: Reason, out: &mut Vec<u8>) {
    match kind {
        Kind::Lines => {
            out.extend_from_slice(rec);
            out.push(b'\t');
            out.extend_from_slice(reason.as_str().as_bytes());
        }
        Kind::Csv { sep, .. } => {
            // A record that does not split into fields (a stray or unclosed quote) is kept
            // whole as one quoted field: the rejects file stays valid CSV, the reason stays
            // its own column, and unquoting gives the original bytes back.
            if reason == Reason::Malformed
                && csv::split_fields_by(rec, &mut Vec::new(), sep).is_err()
            {
                out.push(b'"');
                csv::push_escaped(out, rec);
                out.push(b'"');
            } else {
                out.extend_from_slice(rec);
            }
            out.push(sep);
            out.extend_from_slice(reason.as_str().as_bytes());
        }
        Kind::Jsonl if r.close != NONE => {
            let close = r.close as usize;
            out.extend_from_slice(&rec[..close]);
            if r.nonempty {
                out.push(b',');
            }
            out.extend_from_slice(b"\"reason\":\"");
            out.extend_from_slice(reason.as_str().as_bytes());
            out.push(b'"');
            out.extend_from_slice(&rec[close..]);
        }
        Kind::Jsonl => {
            // Not a JSON object: keep the original text as a string.
            out.extend_from_slice(b"{\"record\":\"");
            json::push_escaped(out, &String::from_utf8_lossy(rec));
            out.extend_from_slice(b"\",\"reason\":\"");
            out.extend_from_slice(reason.as_str().as_bytes());
            out.extend_from_slice(b"\"}");
        }
    }
    out.push(b'\n');
}

#[cfg(test)]
mod live_tests {
    use std::sync::Arc;

    use super::REDECIDED_LIVE;
    use crate::filter::{FilterOptions, RunOptions, Sinks, run_with};
    use crate::standing::ConsentState;
    use crate::store::live::LiveStops;
    use crate::{E164, MemorySource, Reason};

    fn source(numbers: &[u64]) -> MemorySource {
        let mut s = MemorySource::default();
        let c = ConsentState { granted_at: 1, confirmed_at: None, expires_at: None, event_seq: 1 };
        for &n in numbers {
            s.consents.insert((E164::from_u64(n).unwrap(), "ACME".into(), "offers".into()), c);
        }
        s
    }

    #[test]
    fn a_live_stop_is_folded_into_decisions() {
        let nums = [4790000001, 4790000002, 4790000003];
        let src = source(&nums);
        let live = Arc::new(LiveStops::new());
        live.fold(&[(4790000002, 50)]);
        let mut opts = RunOptions::new("ACME", "offers", FilterOptions::at(100));
        opts.live = Some(live);
        let input = "+4790000001\n+4790000002\n+4790000003\n+4790000002\n";
        let (mut out, mut rej) = (Vec::new(), Vec::new());
        let sinks = Sinks { output: &mut out, rejects: Some(&mut rej), progress: None };
        let report = run_with(&src, &opts, input.as_bytes(), sinks).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "+4790000001\n+4790000003\n");
        assert_eq!(
            String::from_utf8(rej).unwrap(),
            "+4790000002\tSTOPPED\n+4790000002\tDUPLICATE\n"
        );
        assert_eq!(report.counts.reasons[Reason::Stopped.index()], 1);
    }

    /// Stops arriving while chunks are in flight: after each chunk is written, the next
    /// record's number is stopped. Workers have usually decided that record already; the
    /// writer must see the new version and decide its chunk again.
    #[test]
    fn records_decided_before_a_stop_are_decided_again_before_writing() {
        let nums: Vec<u64> = (0..20_000).map(|i| 4790000000 + i).collect();
        let src = source(&nums);
        let live = Arc::new(LiveStops::new());
        let mut opts = RunOptions::new("ACME", "offers", FilterOptions::at(100));
        (opts.threads, opts.chunk_bytes) = (3, 64);
        opts.live = Some(Arc::clone(&live));
        let input: String = nums.iter().map(|n| format!("+{n}\n")).collect();
        let mut stopped = Vec::new();
        let mut progress = |written: u64| {
            if let Some(&n) = nums.get(written as usize) {
                live.fold(&[(n, 50)]);
                stopped.push(n);
            }
        };
        let mut out = Vec::new();
        let sinks = Sinks { output: &mut out, rejects: None, progress: Some(&mut progress) };
        let report = run_with(&src, &opts, input.as_bytes(), sinks).unwrap();
        let out = String::from_utf8(out).unwrap();
        let emitted: std::collections::HashSet<u64> =
            out.lines().map(|l| l[1..].parse().unwrap()).collect();
        assert!(stopped.len() > 100, "many chunks");
        assert!(REDECIDED_LIVE.load(std::sync::atomic::Ordering::Relaxed) > 0, "path exercised");
        for n in &stopped {
            assert!(!emitted.contains(n), "a number stopped before it was written went out");
        }
        assert_eq!(report.counts.reasons[Reason::Stopped.index()], stopped.len() as u64);
        assert_eq!(emitted.len() + stopped.len(), nums.len());
    }

    /// A watcher that gave up (stops may be arriving unseen) ends the run with an error
    /// before anything more is written: fail closed.
    #[test]
    fn a_failed_live_watcher_ends_the_run_with_an_error() {
        let nums = [4790000001, 4790000002];
        let src = source(&nums);
        let live = Arc::new(LiveStops::new());
        live.fail("journal gone".into());
        let mut opts = RunOptions::new("ACME", "offers", FilterOptions::at(100));
        opts.live = Some(live);
        let mut out = Vec::new();
        let sinks = Sinks { output: &mut out, rejects: None, progress: None };
        let r = run_with(&src, &opts, "+4790000001\n+4790000002\n".as_bytes(), sinks);
        let e = r.expect_err("must not go on without live stops");
        assert!(format!("{e:?}").contains("journal gone"), "{e:?}");
        assert!(out.is_empty(), "nothing decided after the failure is written");
    }

    /// Writes to a Vec; on the first write, stops the first number written (already out)
    /// and one later in the same chunk (not yet out).
    struct StopOnFirstWrite<'a> {
        out: Vec<u8>,
        live: &'a LiveStops,
        later: u64,
    }

    impl std::io::Write for StopOnFirstWrite<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.out.is_empty() && !buf.is_empty() {
                let first: u64 = std::str::from_utf8(&buf[1..11]).unwrap().parse().unwrap();
                self.live.fold(&[(first, 50), (self.later, 50)]);
            }
            self.out.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A stop arriving while a chunk is half written: what was already written stays
    /// counted (and rejected nowhere) as allowed — counts, rejects and receipts say what
    /// was sent — and the rest of the chunk honours the stop.
    #[test]
    fn records_written_before_a_mid_chunk_stop_keep_their_decision() {
        let nums: Vec<u64> = (0..5_000).map(|i| 4790000000 + i).collect();
        let src = source(&nums);
        let live = Arc::new(LiveStops::new());
        let mut opts = RunOptions::new("ACME", "offers", FilterOptions::at(100));
        (opts.threads, opts.chunk_bytes) = (1, 1 << 20);
        opts.live = Some(Arc::clone(&live));
        opts.receipt_key = Some(crate::filter::receipts::ReceiptKey::from_bytes(&[3; 32]));
        let input: String = nums.iter().map(|n| format!("+{n}\n")).collect();
        let later = nums[4_000];
        let mut w = StopOnFirstWrite { out: Vec::new(), live: &live, later };
        let (mut rej, mut receipts) = (Vec::new(), Vec::new());
        let sinks = Sinks { output: &mut w, rejects: Some(&mut rej), progress: None };
        let report = crate::filter::run_with_receipts(
            &src,
            &opts,
            input.as_bytes(),
            sinks,
            Some(&mut receipts),
        )
        .unwrap();
        let out = String::from_utf8(w.out).unwrap();
        assert!(out.starts_with("+4790000000\n"), "the first number went out before the stop");
        assert!(!out.contains(&format!("+{later}\n")), "the later one did not");
        assert_eq!(String::from_utf8(rej).unwrap(), format!("+{later}\tSTOPPED\n"));
        assert_eq!(report.counts.reasons[Reason::Stopped.index()], 1);
        assert_eq!(report.counts.allowed(), nums.len() as u64 - 1);
        let stopped_receipts = String::from_utf8(receipts)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains("STOPPED"))
            .count();
        assert_eq!(stopped_receipts, 1);
    }
}

#[cfg(test)]
mod render_tests {
    use proptest::prelude::*;

    use crate::filter::{FilterOptions, Format, RunOptions, Sinks, run_with};
    use crate::sms::Footer;
    use crate::standing::ConsentState;
    use crate::{E164, MemorySource};

    fn source() -> MemorySource {
        let mut s = MemorySource::default();
        let c = ConsentState { granted_at: 1, confirmed_at: None, expires_at: None, event_seq: 1 };
        for n in 4791000000..4791000010u64 {
            s.consents.insert((E164::from_u64(n).unwrap(), "ACME".into(), "offers".into()), c);
        }
        s
    }

    /// A number as a campaign list may spell it: clean E.164, national, spaced, quoted.
    fn number() -> impl Strategy<Value = String> {
        (0u64..12, 0u8..5).prop_map(|(i, style)| {
            let n = 4791000000 + i;
            match style {
                0 | 1 => format!("+{n}"),
                2 => format!("{}", n - 4700000000),
                3 => format!("\"+47 {}\"", n - 4700000000),
                _ => format!("00{n}"),
            }
        })
    }

    /// A CSV message field: plain, quoted with commas/quotes/newlines, with the footer
    /// already present, ending in whitespace, empty.
    fn message() -> impl Strategy<Value = String> {
        prop_oneof![
            r"[a-zA-Z æø€{}]{0,30}",
            r#""[a-z ,\n€]{0,20}(""[a-z]{0,3}"")?[a-z ]{0,5}""#,
            Just("Hei Svar ACME STOPP til 2401".to_string()),
            Just("\"Hei, svar acme stopp til 2401\"".to_string()),
            Just("Tilbud ".to_string()),
            Just(String::new()),
        ]
    }

    proptest! {
        /// Any column order (number before or after the message, extra columns around,
        /// no message column), clean or messy numbers, stamped, present or filled
        /// messages: every allowed record renders as the field-by-field model does
        /// (`render_allowed` asserts it under `cfg(test)`), and clean numbers and
        /// untouched fields come out byte for byte.
        #[test]
        fn csv_rendering_equals_model(
            rows in proptest::collection::vec((number(), message(), "[a-z]{0,4}"), 1..30),
            order in 0usize..4, fill in any::<bool>(), crlf in any::<bool>(),
        ) {
            let header = ["number,message,x", "x,message,number", "message,number", "x,number"][order];
            let mut input = format!("{header}\n");
            for (n, m, x) in &rows {
                let line = match order {
                    0 => format!("{n},{m},{x}"),
                    1 => format!("{x},{m},{n}"),
                    2 => format!("{m},{n}"),
                    _ => format!("{x},{n}"),
                };
                input.push_str(&line);
                input.push_str(if crlf { "\r\n" } else { "\n" });
            }
            let mut f = FilterOptions::at(100);
            f.footer = Some(Footer::new("Svar {brand} STOPP til {shortcode}", "ACME", Some("2401")).unwrap());
            let mut o = RunOptions::new("ACME", "offers", f).with_format(Format::Csv);
            if fill {
                o.message = Some("Fyll inn, \"takk\"".into());
            }
            let (mut out, mut rej) = (Vec::new(), Vec::new());
            let sinks = Sinks { output: &mut out, rejects: Some(&mut rej), progress: None };
            let report = run_with(&source(), &o, input.as_bytes(), sinks).unwrap();
            prop_assert_eq!(report.counts.input() as usize, rows.len());
            let out = String::from_utf8(out).unwrap();
            for line in out.lines().skip(1) {
                if order == 3 && !fill {
                    prop_assert!(line.contains(",+47910000"), "{}", line);
                }
            }
        }
    }
}
