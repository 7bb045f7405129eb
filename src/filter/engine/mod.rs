//! The streaming engine behind [`super::run_with`]: how a record goes from the input to
//! the output.
//!
//! 1. [`header`] reads the start of the input: a UTF-8 BOM is dropped and, for CSV, the
//!    header line is checked and says which columns hold the number and the message
//!    ([`Kind`]).
//! 2. [`run`] hands the rest to [`crate::pipeline::run_chunks`], which cuts it into chunks
//!    of whole records and gives them to worker threads.
//! 3. A worker decides a chunk in [`chunk::process`]: [`record::parse_chunk`] reads every
//!    record (rules 1–2: well formed, a valid number, a readable message), duplicates are
//!    marked in input order (rule 3), then each record is decided against the store
//!    (rules 4–9) and rendered by [`render`] into the chunk's output or rejects buffer
//!    ([`ChunkOut`]).
//! 4. Back on the calling thread, [`run`] writes the chunks in input order: as they are,
//!    or with live STOPs through [`live_write`], which decides a chunk again when a stop
//!    arrived after it was decided.

mod chunk;
mod header;
mod live_write;
mod record;
mod render;

use std::io::{self, Read, Write};
use std::sync::Arc;

use super::csv::Field;
use super::seen::InOrder;
use super::{Filter, RunOptions, Sinks};
use crate::decision::Class;
use crate::error::Error;
use crate::pipeline::{self as chunked, RecordTooLong};
use crate::report::{Counts, Report};
use crate::sms::Footer;
use crate::spreadsheet::NotUtf8;
use crate::standing::StandingSource;
use crate::store::live::{LiveStops, StopMap};
use header::Head;
use live_write::LiveWriter;
use record::Rec;
use render::Fill;

/// One chunk's results, recycled between chunks.
#[derive(Default)]
pub(crate) struct ChunkOut {
    /// The allowed records, rendered.
    out: Vec<u8>,
    /// The rejected records with their reasons (when the run writes them).
    rej: Vec<u8>,
    /// What was decided, by reason.
    counts: Counts,
    /// Indices (in the chunk, blank lines not counted) of the records that are duplicates
    /// of earlier ones: found once, kept for deciding the chunk again.
    dups: Vec<u32>,
    /// `\n` in the chunk (for input line numbers).
    newlines: u64,
    /// Chunk-local line numbers of the first malformed records.
    malformed: Vec<u32>,
    /// Decision receipts of the chunk (`--receipts`).
    receipts: Vec<u8>,
    /// With live stops: the live-set version the chunk was decided with (so the writer can
    /// tell when it must decide again, and stop mid-chunk).
    live_version: u64,
    /// The live-stop set of `live_version`.
    live_map: Arc<StopMap>,
    /// With live stops: per allowed record, its order and the end of its output.
    allowed: Vec<(u64, usize)>,
}

impl ChunkOut {
    /// Empties the buffers for the next chunk (`dups` is kept: see `chunk::process`).
    fn clear(&mut self) {
        self.out.clear();
        self.rej.clear();
        self.counts = Counts::default();
        self.newlines = 0;
        self.malformed.clear();
        self.receipts.clear();
        self.live_version = 0;
        self.allowed.clear();
    }
}

/// How the records of a run are read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// One number per line.
    Lines,
    /// `sep`: the field separator (`,` unless `--delimiter`).
    Csv { number: usize, message: Option<usize>, fields: usize, sep: u8 },
    /// One JSON object per line.
    Jsonl,
}

/// What every worker reads while deciding a run: the filter, the options, the layout and
/// the prepared footers and fills.
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
    /// Whether rejected records are written (rendered only then).
    rejects: bool,
    /// Numbers seen so far, for duplicates.
    seen: InOrder,
    /// `Some((key, line suffix))` when receipts are written (see `receipts.rs`).
    receipt: Option<(super::receipts::ReceiptKey, Vec<u8>)>,
    /// STOPs arriving during the run (`--live`), folded into every decision.
    live: Option<&'a LiveStops>,
}

/// A worker thread's reusable buffers and state (one more on the writing thread decides
/// chunks again for live stops).
#[derive(Default)]
struct Worker {
    /// The records of the chunk being decided (see `process`).
    batch: Vec<Rec>,
    /// Their numbers (0 = not a valid number), compact for marking duplicates.
    keys: Vec<u64>,
    /// csv fields of the records in `batch` ([`Rec::csv_fields`]).
    fields: Vec<Field>,
    /// Scratch for a CSV value with escapes.
    bytes: Vec<u8>,
    /// Scratch for a decoded JSON string.
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
    /// A text to stamp.
    Text(&'a str),
    /// None or an empty one, and the run fills in its `--message`.
    Fill,
    /// None, and nothing to fill in.
    Absent,
}

/// Filters `input` into `sinks` (and `receipts`): the counts, the line numbers of the
/// first malformed records, and whether the input looked like it is not UTF-8.
pub(super) fn run<S: StandingSource, R: Read + Send>(
    filter: &Filter<'_, S>,
    opts: &RunOptions,
    mut input: R,
    sinks: Sinks<'_>,
    receipts: Option<&mut dyn Write>, // `--receipts`
) -> Result<(Counts, Vec<u64>, Option<NotUtf8>), Error> {
    let Sinks { output, rejects, mut progress } = sinks;
    let mut writers = Writers { output, rejects, receipts };
    let stamps = Stamps::of(filter, opts);
    let head = header::read(&mut input, opts, !stamps.fills.is_empty())?;
    let ctx = Ctx::new(filter, opts, head.kind, stamps, &writers);
    writers.heads(&ctx, &head)?;

    let mut tally = Tally { base: head.lines, ..Tally::default() };
    let mut live_writer = LiveWriter::new();
    let ran = chunked::run_chunks(
        input,
        head.rest,
        how(opts, ctx.kind),
        Worker::default,
        |w, piece, recycled| {
            let mut out = recycled.unwrap_or_default();
            chunk::process(&ctx, w, &piece, true, &mut out);
            out
        },
        |mut decided, piece| {
            writers.chunk(&ctx, &mut live_writer, &piece, &mut decided)?;
            tally.add(&decided);
            if let Some(p) = progress.as_mut() {
                p(tally.total.input());
            }
            Ok(Some(decided))
        },
    );
    // Flushed on error too: what was decided before a bad record or a failed read stays
    // written (the first error is the one reported).
    let flushed = writers.flush();
    ran.map_err(|e| read_error(e, head.lines))?;
    flushed?;
    Ok((tally.total, tally.malformed, head.not_utf8))
}

/// The footers and `--message` fills of a run (see [`Ctx`]).
struct Stamps<'a> {
    /// The run's routes, when it has them.
    routes: Option<&'a super::Routes>,
    /// One footer per route, or the run's one footer (marketing only).
    footers: Vec<&'a Footer>,
    /// `--message` stamped with each footer.
    fills: Vec<Fill>,
}

impl<'a> Stamps<'a> {
    /// What `filter` stamps allowed records with: footers for marketing only, and
    /// `opts.message` with each footer (or alone when there is none).
    fn of<S: StandingSource>(filter: &'a Filter<'_, S>, opts: &RunOptions) -> Stamps<'a> {
        let marketing = filter.options().class == Class::Marketing;
        let routes = if marketing { filter.options().routes.as_deref() } else { None };
        let footers: Vec<&Footer> = match routes {
            Some(r) => r.entries().iter().map(|(_, f)| f).collect(),
            None if marketing => filter.options().footer.iter().collect(),
            None => Vec::new(),
        };
        let fills: Vec<Fill> = match opts.message.as_deref() {
            None => Vec::new(),
            Some(m) if footers.is_empty() => vec![render::make_fill(None, m, opts.delimiter)],
            Some(m) => {
                footers.iter().map(|f| render::make_fill(Some(f), m, opts.delimiter)).collect()
            }
        };
        Stamps { routes, footers, fills }
    }
}

impl<'a, 's, S: StandingSource> Ctx<'a, 's, S> {
    /// The context of a run reading records as `kind`, writing to `out`.
    fn new(
        filter: &'a Filter<'s, S>,
        opts: &'a RunOptions,
        kind: Kind,
        stamps: Stamps<'a>,
        out: &Writers<'_, '_>,
    ) -> Self {
        let Stamps { routes, footers, fills } = stamps;
        Ctx {
            filter,
            opts,
            kind,
            footers,
            routes,
            fills,
            rejects: out.rejects.is_some(),
            seen: InOrder::default(),
            receipt: opts.receipt_key.filter(|_| out.receipts.is_some()).map(|key| {
                let src = filter.source();
                (key, super::receipts::line_suffix(src.generation(), src.journal_seq()))
            }),
            live: opts.live.as_deref(),
        }
    }
}

/// Where a run writes, on the calling thread, in input order: the [`Sinks`] (`'s`) and
/// the receipts (`'r`).
struct Writers<'s, 'r> {
    /// Allowed records.
    output: &'s mut dyn Write,
    /// Rejected records with their reasons, when the run writes them.
    rejects: Option<&'s mut dyn Write>,
    /// Decision receipts (`--receipts`).
    receipts: Option<&'r mut dyn Write>,
}

impl Writers<'_, '_> {
    /// Writes what comes before the first record: the output's and rejects' header lines
    /// (CSV) and the receipts' header.
    fn heads<S: StandingSource>(&mut self, ctx: &Ctx<'_, '_, S>, head: &Head) -> io::Result<()> {
        self.output.write_all(&head.output)?;
        if let Some(r) = self.rejects.as_mut() {
            r.write_all(&head.rejects)?;
        }
        if let (Some(w), Some(key)) = (self.receipts.as_mut(), &ctx.opts.receipt_key) {
            let src = ctx.filter.source();
            let head = super::receipts::header(ctx.opts, key, src.generation(), src.journal_seq());
            w.write_all(head.as_bytes())?;
        }
        Ok(())
    }

    /// Writes a decided chunk: its allowed records (through `live_writer`, which decides
    /// it again for stops that arrived since, with live stops), rejects and receipts.
    fn chunk<S: StandingSource>(
        &mut self,
        ctx: &Ctx<'_, '_, S>,
        live_writer: &mut LiveWriter,
        piece: &chunked::Chunk<'_>,
        out: &mut ChunkOut,
    ) -> io::Result<()> {
        match ctx.live {
            None => self.output.write_all(&out.out)?,
            Some(live) => live_writer.write(ctx, live, piece, out, &mut *self.output)?,
        }
        if let Some(r) = self.rejects.as_mut() {
            r.write_all(&out.rej)?;
        }
        if let Some(w) = self.receipts.as_mut() {
            w.write_all(&out.receipts)?; // in input order
        }
        Ok(())
    }

    /// Flushes every sink; the first error is returned.
    fn flush(&mut self) -> io::Result<()> {
        let flushed = self.output.flush();
        let flushed = flushed.and(self.rejects.as_mut().map_or(Ok(()), |r| r.flush()));
        flushed.and(self.receipts.as_mut().map_or(Ok(()), |w| w.flush()))
    }
}

/// What the writing thread adds up over the chunks.
#[derive(Default)]
struct Tally {
    /// The counts so far.
    total: Counts,
    /// Input line numbers of the first malformed records.
    malformed: Vec<u64>,
    /// Input lines before the next chunk (the header's first).
    base: u64,
}

impl Tally {
    /// Adds a written chunk.
    fn add(&mut self, out: &ChunkOut) {
        self.total.add(&out.counts);
        for &l in &out.malformed {
            if self.malformed.len() < Report::MAX_MALFORMED_LINES {
                self.malformed.push(self.base + u64::from(l));
            }
        }
        self.base += out.newlines;
    }
}

/// How the rest of the input is read: in chunks of `--chunk-bytes` for `--threads`
/// workers, cut after a line or (CSV) a whole record, eagerly with live stops.
fn how(opts: &RunOptions, kind: Kind) -> chunked::How {
    chunked::How {
        threads: opts.threads,
        chunk_bytes: opts.chunk_bytes,
        eager: opts.live.is_some(),
        cut: if kind == Kind::Lines || kind == Kind::Jsonl {
            chunked::cut_lines
        } else {
            chunked::cut_csv
        },
    }
}

/// The run's error for the chunk runner's `e`: a record too long names its line in the
/// file (the reader counts from the first record; the file has `header_lines` before).
fn read_error(e: io::Error, header_lines: u64) -> Error {
    match RecordTooLong::of(&e) {
        Some(r) => RecordTooLong { line: r.line + header_lines }.into(),
        None => Error::Io(e),
    }
}
