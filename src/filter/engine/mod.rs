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

use std::io::Read;
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
    mut receipts: Option<&mut dyn std::io::Write>, // `--receipts`
) -> Result<(Counts, Vec<u64>, Option<NotUtf8>), Error> {
    let Sinks { output, mut rejects, mut progress } = sinks;
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
        Some(m) => footers.iter().map(|f| render::make_fill(Some(f), m, opts.delimiter)).collect(),
    };
    let head = header::read(&mut input, opts, !fills.is_empty())?;
    let (header_lines, not_utf8) = (head.lines, head.not_utf8);

    let ctx = Ctx {
        filter,
        opts,
        kind: head.kind,
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
    output.write_all(&head.output)?;
    if let Some(r) = rejects.as_mut() {
        r.write_all(&head.rejects)?;
    }
    if let (Some(w), Some(key)) = (receipts.as_mut(), &opts.receipt_key) {
        let src = filter.source();
        let head = super::receipts::header(opts, key, src.generation(), src.journal_seq());
        w.write_all(head.as_bytes())?;
    }

    let mut total = Counts::default();
    let mut malformed = Vec::new();
    let mut base = header_lines;
    let mut live_writer = LiveWriter::new();
    let how = chunked::How {
        threads: opts.threads,
        chunk_bytes: opts.chunk_bytes,
        eager: opts.live.is_some(),
        cut: if ctx.kind == Kind::Lines || ctx.kind == Kind::Jsonl {
            chunked::cut_lines
        } else {
            chunked::cut_csv
        },
    };
    let ran = chunked::run_chunks(
        input,
        head.rest,
        how,
        Worker::default,
        |w, piece, recycled| {
            let mut out = recycled.unwrap_or_default();
            chunk::process(&ctx, w, &piece, true, &mut out);
            out
        },
        |mut out, piece| {
            match ctx.live {
                None => output.write_all(&out.out)?,
                Some(live) => live_writer.write(&ctx, live, &piece, &mut out, &mut *output)?,
            }
            if let Some(r) = rejects.as_mut() {
                r.write_all(&out.rej)?;
            }
            if let Some(w) = receipts.as_mut() {
                w.write_all(&out.receipts)?; // in input order
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
