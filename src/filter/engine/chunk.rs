//! Deciding one chunk of records: parse them all, mark duplicates in input order, then
//! decide and render each with its store lookups prefetched a few records ahead.

use std::sync::Arc;

use super::render::{render_allowed, render_reject};
use super::{ChunkOut, Ctx, Kind, Msg, Worker, record};
use crate::decision::Reason;
use crate::filter::LOOKUP_AHEAD;
use crate::filter::csv::Field;
use crate::filter::json;
use crate::filter::msgcache::Ticket;
use crate::filter::seen::Turn;
use crate::phone::E164;
use crate::pipeline::Chunk as Piece;
use crate::sms::Stamp;
use crate::standing::StandingSource;
use record::Rec;

/// How many records ahead the duplicate set is prefetched (its step per record is much
/// shorter than a decision's, whose lookups run [`LOOKUP_AHEAD`] apart).
const SEEN_AHEAD: usize = 64;

/// Decides one chunk in three passes: parse every record (rules 1–2), mark duplicates in
/// input order (rule 3, on the run's shared set, one chunk at a time: see `seen.rs`), then
/// decide and render each record (rules 4–9) with its store lookups run ahead
/// ([`Filter::pipelined`](crate::filter::Filter::pipelined)). With `dedup` false (deciding a chunk again for live stops) the chunk's
/// duplicates are those found the first time, kept in `out.dups`.
pub(super) fn process<S: StandingSource>(
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
    let mut recs = std::mem::take(&mut w.batch);
    out.newlines = record::parse_chunk(ctx, w, piece, &mut recs, &mut out.counts);
    if let Some(turn) = turn {
        mark_duplicates(turn, &mut w.keys, &recs, &mut out.dups);
    }
    let mut dups = std::mem::take(&mut out.dups);
    let mut next_dup = dups.iter().copied().peekable();
    let valid = |r: &Rec| if r.pre == Reason::Allowed { E164::from_u64(r.number) } else { None };
    let n = recs.len();
    ctx.filter.pipelined(
        &mut recs[..],
        n,
        |recs, i| valid(&recs[i]),
        |recs, i, token| {
            // The record itself is read again when it is rendered (parsed long before).
            if let Some(ahead) = recs.get(i + LOOKUP_AHEAD / 2) {
                for at in [ahead.start as usize, ahead.start as usize + 64] {
                    if let Some(b) = data.get(at) {
                        crate::hint::prefetch(b);
                    }
                }
            }
            let dup = next_dup.next_if_eq(&(i as u32)).is_some();
            decide(ctx, w, data, &recs[i], dup, token, out);
        },
    );
    drop(next_dup);
    std::mem::swap(&mut out.dups, &mut dups);
    w.batch = recs;
}

/// Rule 3: pushes to `dups` the indices of the records in `recs` whose number was seen
/// before (in this chunk or an earlier one), inserting the others into the run's set.
fn mark_duplicates(turn: Turn<'_>, keys: &mut Vec<u64>, recs: &[Rec], dups: &mut Vec<u32>) {
    dups.clear();
    // `number` is a valid E.164 when `pre` is Allowed (set by parse).
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
                dups.push(i as u32);
            }
        }
    });
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
    let mut basis = crate::decision::Basis::None; // what allowed it: counted, and named in receipts
    if let (Reason::Allowed, Some(e)) = (reason, e164) {
        reason = if !dup {
            let d = decide_first(ctx, w, e, r.order, token);
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
    // Counts by basis, and the decision receipt.
    let basis = if reason == Reason::Allowed { basis } else { crate::decision::Basis::None };
    out.counts.count_basis(basis);
    if let Some((key, suffix)) = &ctx.receipt {
        crate::filter::receipts::push(&mut out.receipts, key, e164, reason, basis, suffix);
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
