//! Compaction: snapshot + journal tail → new snapshot.
//!
//! The old snapshot's evidence is already sorted by (number, seq); the journal tail is
//! decoded and sorted the same way in bounded memory ([`crate::store::sorted_runs`]: runs
//! spilled to disk beyond a limit, merged on the fly) and merged with it in one pass. Each
//! number's events are folded as they stream by: the number gets its id in the new number
//! table, and its newest stop per brand, newest sms consent per (brand, purpose) and newest
//! relationship per brand are appended to those lists (see
//! [`crate::store::snapshot::format`]). The consent lists, the bulk of a large store, are
//! collected as sorted runs too and written one list at a time. Memory is the two run
//! buffers, the number table, the stop and relationship lists and the largest consent
//! list: proportional to numbers and stops, never to brands × stops. Publishing (rename, journal
//! rotation) is the caller's job: see [`crate::store::Store::compact`].
//!
//! Compaction is also where data-subject rights take effect on disk:
//! * **Erasure**: for every erasure event in the tail (a keyed hash, see
//!   [`crate::store::suppress`]) the events of the matching number recorded *before* the
//!   erasure are dropped (each number is hashed once, only when erasures are pending);
//!   the new snapshot keeps only the suppression entry `(keyed hash, erased_at)`. The
//!   caller then rotates the journal, so no file holds the dropped events any more.
//! * **Retention** ([`CompactOptions::purge_before`]): consents that ended — expired, or
//!   withdrawn by a stop for their brand or `*` (or by a number move) — before the cutoff
//!   are dropped with their corrections; stops are always kept (they are the suppression
//!   list). The newest sms consent of a (brand, purpose) is dropped only together with
//!   all older ones. That alone does not keep every decision: an expired consent that
//!   blocks a recent customer would, once dropped, let soft opt-in allow them; the guard
//!   in [`crate::rights::purge`] decides each affected number before and after and
//!   refuses such a purge unless forced. Per-brand, per-category cutoffs come from the
//!   records of processing ([`CompactOptions::purge_cutoffs`]). Customer
//!   relationships of a brand go too, all of the brand's records together, when the
//!   newest is over before the cutoff: not a lasting relationship still open, and
//!   started, last purchase and end all before it (soft opt-in then cannot allow again
//!   for any window up to the retention period).
//! * **Strings**: interned strings no kept record refers to are blanked (ids stay stable),
//!   so free text of erased or purged evidence (a source naming a number) goes too. The
//!   free text (method, text_ref, source) of everyone else's consents and corrections is
//!   searched for the numbers erased now ([`crate::store::scrub`]): a text naming one is
//!   replaced by a copy with its digits blanked, and the original, unreferenced, goes.
//!   Records of kinds this module does not know keep all their strings (fail safe).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::store::error::StoreError;
use crate::store::event::{EVERY_BRAND, EventRef, LASTING_RELATIONSHIPS};
use crate::store::journal;
use crate::store::retention::{Cut, Cutoffs};
use crate::store::scrub::Patterns;
use crate::store::snapshot::Snapshot;
use crate::store::snapshot::build::{BrandLists, Builder, ConsentLists, NumberTable, Parts};
use crate::store::snapshot::format::{
    ConsentRec, EvidenceRec, KIND_CONSENT, KIND_CORRECT, KIND_MOVE, KIND_RELATIONSHIP, KIND_STOP,
    RelRec,
};
use crate::store::sorted_runs::{self, SortedRuns};
use crate::store::suppress::{Entry, Keyer, SubjectKey};
use crate::{E164, Timestamp};

/// How to compact, beyond the defaults.
#[derive(Clone, Debug, Default)]
pub struct CompactOptions {
    /// The store's suppression key: needed when erasures are pending (filled in by
    /// [`crate::store::Store::compact_with`] from the key file).
    pub keyer: Option<Keyer>,
    /// The key file, for the error when erasures are pending but there is no key.
    pub key_path: PathBuf,
    /// Retention purge: drop evidence of consents that ended before this time.
    pub purge_before: Option<Timestamp>,
    /// Retention purge per brand and category; when set, `purge_before` is not used.
    pub purge_cutoffs: Option<Cutoffs>,
    /// Records held in memory before sorted runs are spilled to disk, for the journal
    /// tail and for the consent lists each (default [`sorted_runs::DEFAULT_LIMIT`]).
    pub tail_limit: Option<usize>,
    /// Keep only what decisions for this (brand, purpose) need (an extract, see
    /// [`crate::store::extract`]): the brand's stops (any spelling) and those for every
    /// brand, moves, the scope's consents and their corrections, the brand's customer
    /// relationships; numbers left with nothing are dropped. Suppression entries are
    /// kept whole. `None`: everything.
    pub scope: Option<(String, String)>,
    /// At most this many numbers are kept (the number table is sized for them): a scoped
    /// compaction that counted them in an earlier pass over the same inputs
    /// ([`Compacted::numbers`]). Default: every number of the old snapshot and the tail.
    pub number_bound: Option<u64>,
}

/// String ids of what a scoped compaction keeps (see [`CompactOptions::scope`]).
struct ScopeKeep {
    /// `*` and every spelling of the brand: their stops apply.
    stop_brands: Vec<u32>,
    /// Every spelling of the brand: customer relationships (a superset is harmless).
    rel_brands: Vec<u32>,
    /// The exact (brand, purpose) of consents, if both names exist in the store.
    consent: Option<(u32, u32)>,
    /// Scratch: sequences of the consents kept in the current group.
    kept: Vec<u64>,
}

impl ScopeKeep {
    fn new(strings: &[String], brand: &str, purpose: &str, star: u32) -> ScopeKeep {
        let key = crate::brand::fold_key(brand);
        let rel_brands: Vec<u32> = strings
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                s.as_str() == brand
                    || (crate::brand::may_be_same_name(s, brand)
                        && crate::brand::fold_key(s) == key)
            })
            .map(|(i, _)| i as u32)
            .collect();
        let mut stop_brands = rel_brands.clone();
        stop_brands.push(star);
        let id = |name: &str| strings.iter().position(|s| s == name).map(|i| i as u32);
        let consent = id(brand).zip(id(purpose));
        ScopeKeep { stop_brands, rel_brands, consent, kept: Vec::new() }
    }

    /// Drops from one number's `group` what decisions for the scope never read. Records
    /// of kinds this module does not know are kept (fail safe).
    fn retain(&mut self, group: &mut Vec<EvidenceRec>) {
        let consent = self.consent;
        self.kept.clear();
        self.kept.extend(
            group
                .iter()
                .filter(|r| r.kind == KIND_CONSENT && consent == Some((r.brand(), r.purpose())))
                .map(|r| r.seq),
        );
        group.retain(|r| match r.kind {
            KIND_STOP => self.stop_brands.contains(&r.brand()),
            KIND_CONSENT => self.kept.contains(&r.seq),
            KIND_CORRECT => self.kept.contains(&r.corrects()),
            KIND_RELATIONSHIP => self.rel_brands.contains(&r.brand()),
            _ => true,
        });
    }
}

/// What a compaction wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compacted {
    /// Generation of the new snapshot.
    pub generation: u64,
    /// Last journal sequence folded in.
    pub last_seq: u64,
    /// Journal events folded in by this compaction.
    pub new_events: u64,
    /// Events in the new snapshot.
    pub total_events: u64,
    /// Size of the new snapshot in bytes.
    pub bytes: u64,
    /// Numbers in the new snapshot's number table.
    pub numbers: u64,
    /// Numbers whose events were dropped by an erasure in this compaction.
    pub erased_numbers: u64,
    /// Events dropped by erasures.
    pub erased_events: u64,
    /// Erasures (suppression entries) in the new snapshot, all generations.
    pub suppression_entries: u64,
    /// Consents dropped by the retention purge.
    pub purged_consents: u64,
    /// Corrections dropped with them.
    pub purged_corrections: u64,
    /// Customer-relationship records dropped by the retention purge.
    pub purged_relationships: u64,
    /// Numbers that lost evidence to the purge.
    pub purged_numbers: u64,
}

/// When to compact: a pure policy over metadata, testable without disk (tantivy's
/// `MergePolicy`). Compact once the journal tail holds at least `min_events` events and at
/// least `ratio_percent` % as many events as the snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompactPolicy {
    /// Minimum tail length worth a compaction.
    pub min_events: u64,
    /// Tail size relative to the snapshot, in percent.
    pub ratio_percent: u64,
}

impl Default for CompactPolicy {
    fn default() -> Self {
        CompactPolicy { min_events: 100_000, ratio_percent: 10 }
    }
}

impl CompactPolicy {
    /// True when a store with `snapshot_events` folded and `tail_events` in the journal
    /// should be compacted.
    pub fn should_compact(&self, snapshot_events: u64, tail_events: u64) -> bool {
        tail_events >= self.min_events
            && tail_events.saturating_mul(100) >= snapshot_events.saturating_mul(self.ratio_percent)
    }
}

/// Interned strings; ids are stable across generations (old ids are kept).
struct Interner {
    strings: Vec<String>,
    ids: HashMap<String, u32>,
    /// Last id looked up per text field: imports repeat the same brand, method, … row
    /// after row, and a compare is much cheaper than a hash lookup.
    last: [u32; 6],
}

impl Interner {
    /// An interner holding `strings` (an old snapshot's) under their ids.
    fn new(strings: Vec<String>) -> Interner {
        let ids = strings.iter().enumerate().map(|(i, s)| (s.clone(), i as u32)).collect();
        Interner { strings, ids, last: [u32::MAX; 6] }
    }

    fn id_at(&mut self, field: usize, s: &str) -> u32 {
        let last = self.last[field];
        if self.strings.get(last as usize).is_some_and(|l| l == s) {
            return last;
        }
        let id = self.id(s);
        self.last[field] = id;
        id
    }

    fn id(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.ids.get(s) {
            return i;
        }
        let i = self.strings.len() as u32;
        self.strings.push(s.to_string());
        self.ids.insert(s.to_string(), i);
        i
    }
}

/// Times are validated to the u32 range before they reach the journal; clamp defensively.
fn t32(t: i64) -> u32 {
    t.clamp(0, i64::from(u32::MAX)) as u32
}

fn split(n: E164) -> [u32; 2] {
    let v = n.as_u64();
    [v as u32, (v >> 32) as u32]
}

/// The two records of a number move: on the old number (`expires` 0: it stops every
/// brand there) and on the new one (`expires` 1), each holding the other number.
fn move_recs(seq: u64, from: E164, to: E164, moved_at: Timestamp) -> [EvidenceRec; 2] {
    let side = |number: E164, other: E164, expires| {
        let [lo, hi] = split(other);
        EvidenceRec {
            number: number.as_u64(),
            seq,
            kind: KIND_MOVE,
            text: [lo, hi, 0, 0, 0, 0],
            t0: t32(moved_at),
            expires,
            confirmed: 0,
            t3: 0,
        }
    };
    [side(from, to, 0), side(to, from, 1)]
}

/// Turns one journal event into evidence records (a move gives two, an erasure none: it
/// is collected into `erasures`).
fn push_recs(
    seq: u64,
    ev: EventRef<'_>,
    it: &mut Interner,
    out: &mut Vec<EvidenceRec>,
    erasures: &mut Vec<(u64, Entry)>,
) {
    let rec = match ev {
        EventRef::Erase { subject, erased_at } => {
            erasures.push((seq, Entry { key: subject, erased_at, seq }));
            return;
        }
        EventRef::Move { from, to, moved_at } => {
            out.extend(move_recs(seq, from, to, moved_at));
            return;
        }
        EventRef::Correct { number, corrects, corrected_at, text } => {
            let mut ids = [u32::MAX; 6];
            for (i, t) in text.iter().enumerate() {
                if !t.is_empty() {
                    ids[i] = it.id_at(3 + i, t);
                }
            }
            let mut r = EvidenceRec {
                number: number.as_u64(),
                seq,
                kind: KIND_CORRECT,
                text: ids,
                t0: t32(corrected_at),
                ..EvidenceRec::default()
            };
            r.set_corrects(corrects);
            r
        }
        EventRef::Stop { number, brand, stopped_at } => EvidenceRec {
            number: number.as_u64(),
            seq,
            kind: KIND_STOP,
            text: [it.id_at(0, brand), 0, 0, 0, 0, 0],
            t0: t32(stopped_at),
            expires: 0,
            confirmed: 0,
            t3: 0,
        },
        EventRef::Consent {
            number,
            text: [brand, purpose, channel, method, text_ref, source],
            granted_at,
            expires_at,
            confirmed_at,
        } => EvidenceRec {
            number: number.as_u64(),
            seq,
            kind: KIND_CONSENT,
            text: [
                it.id_at(0, brand),
                it.id_at(1, purpose),
                it.id_at(2, channel),
                it.id_at(3, method),
                it.id_at(4, text_ref),
                it.id_at(5, source),
            ],
            t0: t32(granted_at),
            expires: expires_at.map_or(0, t32),
            confirmed: confirmed_at.map_or(0, t32),
            t3: 0,
        },
        EventRef::Relationship {
            number,
            text: [brand, relationship],
            started_at,
            last_purchase_at,
            ends_at,
            informed_at,
        } => EvidenceRec {
            number: number.as_u64(),
            seq,
            kind: KIND_RELATIONSHIP,
            // Field slots 0 and 1 (brand, relationship) share the consent's caches:
            // imports of one kind repeat the same brand row after row either way.
            text: [it.id_at(0, brand), it.id_at(1, relationship), 0, 0, 0, 0],
            t0: t32(started_at),
            expires: ends_at.map_or(0, t32),
            confirmed: informed_at.map_or(0, t32),
            t3: last_purchase_at.map_or(0, t32),
        },
    };
    out.push(rec);
}

/// Folds each number's records, as they stream by in number order, into the number table
/// and the per-tenant lists: memory grows with the events folded, never with brands ×
/// stops.
struct Folder {
    star: u32,
    sms: u32,
    /// String ids of the lasting relationship kinds.
    lasting: Vec<u32>,
    table: NumberTable,
    /// Per-(brand, purpose) consent lists (in bounded memory: runs spill to disk).
    scopes: ConsentLists,
    brand_ix: HashMap<u32, usize>,
    brands: Vec<BrandLists>,
    numbers: u64,
    rel_count: BTreeMap<u32, u64>,
    stop_count: BTreeMap<u32, u64>,
    consent_count: BTreeMap<(u32, u32, u32), u64>,
    // Scratch, reused per number.
    g_stops: Vec<(u32, u32)>,
    g_cons: Vec<((u32, u32), ConsentRec)>,
    g_rels: Vec<(u32, RelRec)>,
}

impl Folder {
    /// A folder writing into `table` and `scopes`, given the string ids of `*`, `sms`
    /// and the lasting relationship kinds.
    fn new(
        star: u32,
        sms: u32,
        lasting: Vec<u32>,
        table: NumberTable,
        scopes: ConsentLists,
    ) -> Folder {
        Folder {
            star,
            sms,
            lasting,
            table,
            scopes,
            brand_ix: HashMap::new(),
            brands: Vec::new(),
            numbers: 0,
            rel_count: BTreeMap::new(),
            stop_count: BTreeMap::new(),
            consent_count: BTreeMap::new(),
            g_stops: Vec::new(),
            g_cons: Vec::new(),
            g_rels: Vec::new(),
        }
    }

    fn brand(&mut self, b: u32) -> &mut BrandLists {
        let i = *self.brand_ix.entry(b).or_insert_with(|| {
            self.brands.push(BrandLists { brand: b, stops: Vec::new(), rels: Vec::new() });
            self.brands.len() - 1
        });
        &mut self.brands[i]
    }

    fn fold(&mut self, group: &[EvidenceRec]) -> Result<(), StoreError> {
        let Some(first) = group.first() else { return Ok(()) };
        let number = first.number;
        self.numbers += 1;
        self.g_stops.clear();
        self.g_cons.clear();
        self.g_rels.clear();
        for r in group {
            if r.kind == KIND_RELATIONSHIP {
                let b = r.brand();
                *self.rel_count.entry(b).or_default() += 1;
                let rel = RelRec {
                    lasting: u32::from(self.lasting.contains(&r.relationship())),
                    started: r.t0,
                    last_purchase: r.t3,
                    ends: r.expires,
                    informed: r.confirmed,
                    seq: r.seq,
                };
                // The newest event (records arrive in seq order) replaces older ones.
                match self.g_rels.iter_mut().find(|x| x.0 == b) {
                    Some(old) => old.1 = rel,
                    None => self.g_rels.push((b, rel)),
                }
                continue;
            }
            // A move away acts as a stop for every brand on the old number.
            let is_barrier = r.kind == KIND_MOVE && r.expires == 0;
            if r.kind == KIND_STOP || is_barrier {
                let b = if is_barrier { self.star } else { r.brand() };
                if !is_barrier {
                    *self.stop_count.entry(b).or_default() += 1;
                }
                match self.g_stops.iter_mut().find(|(x, _)| *x == b) {
                    Some((_, t)) => *t = (*t).max(r.t0),
                    None => self.g_stops.push((b, r.t0)),
                }
            } else if r.kind == KIND_CONSENT {
                let [b, p, c, ..] = r.text;
                *self.consent_count.entry((b, p, c)).or_default() += 1;
                if c != self.sms {
                    continue;
                }
                let s = ConsentRec {
                    granted: r.t0,
                    confirmed: r.confirmed,
                    expires: r.expires,
                    seq: r.seq,
                };
                match self.g_cons.iter_mut().find(|(k, _)| *k == (b, p)) {
                    // Newest by granted_at, ties by sequence (records arrive in seq order).
                    Some((_, old)) if (s.granted, s.seq) > (old.granted, old.seq) => *old = s,
                    Some(_) => {}
                    None => self.g_cons.push(((b, p), s)),
                }
            }
        }
        let id = self.table.insert(number);
        for i in 0..self.g_stops.len() {
            let (b, t) = self.g_stops[i];
            self.brand(b).stops.push((id, t));
        }
        for i in 0..self.g_rels.len() {
            let (b, r) = self.g_rels[i];
            self.brand(b).rels.push((id, r));
        }
        for &((b, p), c) in &self.g_cons {
            self.scopes.push(b, p, id, c.encode())?;
        }
        Ok(())
    }
}

/// Writes a new snapshot to `out` from `old` plus the journal records after its last
/// sequence, with generation `generation`. Does not publish it.
///
/// # Errors
/// Journal or snapshot corruption, I/O errors.
pub fn build<D: AsRef<[u8]>>(
    old: Option<&Snapshot<D>>,
    journal_path: &Path,
    generation: u64,
    out: &Path,
) -> Result<Compacted, StoreError> {
    build_with(old, journal_path, generation, out, &CompactOptions::default())
}

/// What the rights rules dropped from groups, for [`Compacted`].
#[derive(Default)]
struct Dropped {
    erased_numbers: u64,
    erased_events: u64,
    purged_consents: u64,
    purged_corrections: u64,
    purged_relationships: u64,
    purged_numbers: u64,
}

/// String ids a purge needs: `*`, `sms` and the lasting relationship kinds.
#[derive(Clone, Copy)]
struct PurgeIds<'a> {
    star: u32,
    sms: u32,
    lasting: &'a [u32],
}

impl CompactOptions {
    /// The purge's cutoffs: [`CompactOptions::purge_cutoffs`], else
    /// [`CompactOptions::purge_before`] for every brand; `None` for no purge.
    pub fn cutoffs(&self) -> Option<Cutoffs> {
        self.purge_cutoffs.clone().or_else(|| self.purge_before.map(Cutoffs::uniform))
    }
}

/// The consents of one number's `group` that ended (expired or withdrawn) before their
/// brand's consent cutoff and may go without changing any decision, and the customer
/// relationships over before their brand's relationship cutoff (see the module docs);
/// returns their sequences.
fn purgeable(group: &[EvidenceRec], cut: &Cut, ids: PurgeIds<'_>) -> Vec<u64> {
    let PurgeIds { star, sms, lasting } = ids;
    let stops: Vec<(u32, u32)> = group
        .iter()
        .filter_map(|r| match r.kind {
            KIND_STOP => Some((r.brand(), r.t0)),
            KIND_MOVE if r.expires == 0 => Some((star, r.t0)),
            _ => None,
        })
        .collect();
    let ended = |r: &EvidenceRec| -> bool {
        let expired = (r.expires != 0).then_some(r.expires);
        // A stop at or after the grant withdraws it for good (a lift needs a later grant).
        let withdrawn = (r.channel() == sms)
            .then(|| {
                stops
                    .iter()
                    .filter(|&&(b, t)| (b == r.brand() || b == star) && t >= r.t0)
                    .map(|&(_, t)| t)
                    .min()
            })
            .flatten();
        [expired, withdrawn]
            .into_iter()
            .flatten()
            .min()
            .is_some_and(|t| t < cut.consents(r.brand()))
    };
    let consents = || group.iter().filter(|r| r.kind == KIND_CONSENT);
    let mut out = Vec::new();
    for r in consents().filter(|r| ended(r)) {
        if r.channel() == sms {
            // Keep the newest of its (brand, purpose) unless all of them go.
            let same = || consents().filter(|o| o.consent_scope() == r.consent_scope());
            let newest = same().max_by_key(|o| (o.t0, o.seq)).is_some_and(|o| o.seq == r.seq);
            if newest && !same().all(&ended) {
                continue;
            }
        }
        out.push(r.seq);
    }
    let rels = || group.iter().filter(|r| r.kind == KIND_RELATIONSHIP);
    let over = |r: &EvidenceRec| {
        let open = r.expires == 0 && lasting.contains(&r.relationship());
        let cut = cut.relationships(r.brand());
        !open && r.t0 < cut && r.t3 < cut && r.expires < cut
    };
    for r in rels() {
        // The newest record of the brand (records are in sequence order) decides.
        let newest = rels().rfind(|o| o.brand() == r.brand());
        if newest.is_some_and(over) {
            out.push(r.seq);
        }
    }
    out
}

/// Consents in `snap` that a purge with cutoff `purge_before` would still drop: 0 right
/// after such a purge (the proof a purge receipt carries).
///
/// # Errors
/// [`StoreError::SnapshotCorrupt`] if the evidence does not match its checksums.
pub fn purgeable_left<D: AsRef<[u8]>>(
    snap: &Snapshot<D>,
    purge_before: Timestamp,
) -> Result<u64, StoreError> {
    purgeable_left_with(snap, &Cutoffs::uniform(purge_before))
}

/// [`purgeable_left`] with cutoffs per brand and category.
///
/// # Errors
/// As [`purgeable_left`].
pub fn purgeable_left_with<D: AsRef<[u8]>>(
    snap: &Snapshot<D>,
    cutoffs: &Cutoffs,
) -> Result<u64, StoreError> {
    let mut left = 0u64;
    purge_visit(snap, cutoffs, |_, gone| left += gone.len() as u64)?;
    Ok(left)
}

/// Calls `f` with each number's evidence in `snap` (in sequence order) and the sequences
/// of it a purge with `cutoffs` would drop (corrections of dropped consents not
/// included), for numbers that would lose something.
///
/// # Errors
/// [`StoreError::SnapshotCorrupt`] if the evidence does not match its checksums.
pub fn purge_visit<D: AsRef<[u8]>>(
    snap: &Snapshot<D>,
    cutoffs: &Cutoffs,
    mut f: impl FnMut(&[EvidenceRec], &[u64]),
) -> Result<(), StoreError> {
    let (Some(star), Some(sms)) = (snap.string_id(EVERY_BRAND), snap.string_id("sms")) else {
        return Ok(());
    };
    let lasting: Vec<u32> =
        LASTING_RELATIONSHIPS.iter().filter_map(|k| snap.string_id(k)).collect();
    let ids = PurgeIds { star, sms, lasting: &lasting };
    let cut = cutoffs.resolve(|s| snap.string_id(s));
    let mut group: Vec<EvidenceRec> = Vec::new();
    let mut visit = |group: &[EvidenceRec]| {
        let gone = purgeable(group, &cut, ids);
        if !gone.is_empty() {
            f(group, &gone);
        }
    };
    for r in snap.all_evidence()? {
        if group.first().is_some_and(|g| g.number != r.number) {
            visit(&group);
            group.clear();
        }
        group.push(r);
    }
    visit(&group);
    Ok(())
}

/// [`build`] with options: erasures need [`CompactOptions::keyer`]; a retention purge.
///
/// # Errors
/// As [`build`]; [`StoreError::KeyMissing`] when erasures are pending without a key.
pub fn build_with<D: AsRef<[u8]>>(
    old: Option<&Snapshot<D>>,
    journal_path: &Path,
    generation: u64,
    out: &Path,
    opts: &CompactOptions,
) -> Result<Compacted, StoreError> {
    let after = old.map_or(0, Snapshot::last_seq);
    let mut it = Interner::new(old.map_or_else(Vec::new, Snapshot::strings_vec));
    let star = it.id(EVERY_BRAND);
    let sms = it.id("sms");
    let lasting: Vec<u32> = LASTING_RELATIONSHIPS.iter().map(|k| it.id(k)).collect();
    let limit = opts.tail_limit.unwrap_or(sorted_runs::DEFAULT_LIMIT);
    let tail = read_tail(journal_path, after, &mut it, out, limit)?;
    let erase_seq = pending_erasures(&tail.erasures);
    let keyer = erasure_keyer(opts, !erase_seq.is_empty())?;
    let (erased_now, tail_numbers) = erased_in_tail(&tail.runs, keyer, &erase_seq)?;
    let suppressed = suppression_entries(old, &tail.erasures);
    let suppress_count = suppressed.len() as u64;
    let ids = PurgeIds { star, sms, lasting: &lasting };
    let mut rules = GroupRules::new(&it, opts, keyer, erase_seq, erased_now, ids);
    let bound = number_bound(old, tail_numbers, opts);
    let scopes = ConsentLists::new(&consent_runs_base(out), limit);
    let mut f = Folder::new(star, sms, lasting, NumberTable::with_capacity(bound), scopes);
    let mut builder = Builder::create(out)?;
    let old_iter = match old {
        Some(o) => Some(o.all_evidence()?),
        None => None,
    };
    let total = fold_merged(old_iter, &tail.runs, &mut rules, &mut it, &mut f, &mut builder)?;
    drop(tail.runs);
    let strings = kept_strings(&it.strings, &rules.used);
    let stats_json = stats_json(&f, total, suppress_count, &it.strings);
    let last_seq = tail.last_seq.max(after);
    let numbers = f.numbers;
    let bytes = builder.finish(Parts {
        generation,
        last_seq,
        stats_json: &stats_json,
        strings: &strings,
        numbers: f.table,
        brands: f.brands,
        scopes: f.scopes,
        suppressed,
    })?;
    let dropped = &rules.dropped;
    Ok(Compacted {
        generation,
        last_seq,
        new_events: last_seq - after,
        total_events: total,
        bytes,
        numbers,
        erased_numbers: dropped.erased_numbers,
        erased_events: dropped.erased_events,
        suppression_entries: suppress_count,
        purged_consents: dropped.purged_consents,
        purged_corrections: dropped.purged_corrections,
        purged_relationships: dropped.purged_relationships,
        purged_numbers: dropped.purged_numbers,
    })
}

/// The journal tail after the snapshot, as evidence records sorted by (number, seq).
struct Tail {
    /// The records, sorted in bounded memory (runs spilled next to the output beyond the
    /// limit).
    runs: SortedRuns<EvidenceRec>,
    /// The erasures in the tail (sequence, suppression entry): they become no record.
    erasures: Vec<(u64, Entry)>,
    /// The journal's last sequence.
    last_seq: u64,
}

/// Reads the journal records after sequence `after` into sorted runs named after `out`
/// (at most `limit` records in memory), interning their strings into `it`.
fn read_tail(
    journal_path: &Path,
    after: u64,
    it: &mut Interner,
    out: &Path,
    limit: usize,
) -> Result<Tail, StoreError> {
    let mut runs = SortedRuns::new(out, limit);
    let mut scratch = Vec::new();
    let mut erasures: Vec<(u64, Entry)> = Vec::new();
    let scan = journal::scan_file(journal_path, |seq, ev| {
        if seq > after {
            push_recs(seq, ev, it, &mut scratch, &mut erasures);
            for r in scratch.drain(..) {
                runs.push(r)?;
            }
        }
        Ok(())
    })?;
    runs.finish();
    Ok(Tail { runs, erasures, last_seq: scan.last_seq })
}

/// Pending erasures: keyed hash -> the newest erasure's sequence.
fn pending_erasures(erasures: &[(u64, Entry)]) -> HashMap<SubjectKey, u64> {
    let mut erase_seq: HashMap<SubjectKey, u64> = HashMap::new();
    for &(seq, e) in erasures {
        let s = erase_seq.entry(e.key).or_insert(seq);
        *s = (*s).max(seq);
    }
    erase_seq
}

/// The suppression key when erasures are `pending` (an error without one: they cannot be
/// matched to numbers), `None` when none are.
fn erasure_keyer(opts: &CompactOptions, pending: bool) -> Result<Option<&Keyer>, StoreError> {
    match (&opts.keyer, pending) {
        (Some(k), true) => Ok(Some(k)),
        (None, true) => Err(StoreError::KeyMissing { path: opts.key_path.clone() }),
        (_, false) => Ok(None),
    }
}

/// One pass over the sorted tail: the numbers erased now, each with its erasure's
/// sequence (each erasure's bridging stop, see `rights::erase`, puts its number in the
/// tail), and the count of distinct numbers in the tail (a bound for the number table).
fn erased_in_tail(
    tail: &SortedRuns<EvidenceRec>,
    keyer: Option<&Keyer>,
    erase_seq: &HashMap<SubjectKey, u64>,
) -> Result<(Vec<(E164, u64)>, u64), StoreError> {
    let mut erased_now: Vec<(E164, u64)> = Vec::new();
    let mut tail_numbers = 0u64;
    let mut m = tail.iter()?;
    let mut last = None;
    for r in m.by_ref() {
        if last == Some(r.number) {
            continue;
        }
        last = Some(r.number);
        tail_numbers += 1;
        if let Some(k) = keyer
            && let Some(n) = E164::from_u64(r.number)
            && let Some(&s) = erase_seq.get(&k.hash(n))
        {
            erased_now.push((n, s));
        }
    }
    m.take_error().map_or(Ok((erased_now, tail_numbers)), Err)
}

/// The new snapshot's suppression entries: the old snapshot's and the tail's erasures,
/// sorted, one per keyed hash (the newest).
fn suppression_entries<D: AsRef<[u8]>>(
    old: Option<&Snapshot<D>>,
    erasures: &[(u64, Entry)],
) -> Vec<Entry> {
    let mut suppressed: Vec<Entry> = old.map_or_else(Vec::new, Snapshot::suppressed);
    suppressed.extend(erasures.iter().map(|&(_, e)| e));
    suppressed.sort_unstable_by_key(|e| (e.key.lo(), e.key, std::cmp::Reverse(e.seq)));
    suppressed.dedup_by_key(|e| e.key);
    suppressed
}

/// Numbers the new number table is sized for: every number of the old snapshot and of
/// the tail gets an id, at most [`CompactOptions::number_bound`].
fn number_bound<D: AsRef<[u8]>>(
    old: Option<&Snapshot<D>>,
    tail_numbers: u64,
    opts: &CompactOptions,
) -> u64 {
    let old_numbers =
        old.map_or(0, |o| if o.is_legacy() { o.evidence_len() as u64 } else { o.number_count() });
    let all = old_numbers + tail_numbers;
    opts.number_bound.map_or(all, |b| b.min(all))
}

/// Base name of the consent lists' runs: `<out>.runL.run0`, … (removed like the tail's).
fn consent_runs_base(out: &Path) -> PathBuf {
    let mut base = out.as_os_str().to_os_string();
    base.push(format!("{}L", sorted_runs::RUN_SUFFIX));
    PathBuf::from(base)
}

/// The old snapshot's evidence and the sorted journal tail merged in (number, seq)
/// order; on a tie the tail's record comes first.
struct Merged<'a, I: Iterator<Item = EvidenceRec>> {
    old: Option<std::iter::Peekable<I>>,
    tail: sorted_runs::Merge<'a, EvidenceRec>,
    tail_next: Option<EvidenceRec>,
}

impl<'a, I: Iterator<Item = EvidenceRec>> Merged<'a, I> {
    fn new(old: Option<I>, mut tail: sorted_runs::Merge<'a, EvidenceRec>) -> Self {
        let tail_next = tail.next();
        Merged { old: old.map(Iterator::peekable), tail, tail_next }
    }
}

impl<I: Iterator<Item = EvidenceRec>> Iterator for Merged<'_, I> {
    type Item = EvidenceRec;

    fn next(&mut self) -> Option<EvidenceRec> {
        let from_old = self.old.as_mut().and_then(|i| i.peek().copied());
        match (from_old, self.tail_next) {
            (Some(o), Some(t)) if (o.number, o.seq) < (t.number, t.seq) => {
                self.old.as_mut().and_then(Iterator::next);
                Some(o)
            }
            (_, Some(t)) => {
                self.tail_next = self.tail.next();
                Some(t)
            }
            (Some(o), None) => {
                self.old.as_mut().and_then(Iterator::next);
                Some(o)
            }
            (None, None) => None,
        }
    }
}

/// Streams the old evidence and the tail merged, one number's records at a time, through
/// `rules` into `builder` and `f`; returns the records kept.
fn fold_merged<I: Iterator<Item = EvidenceRec>>(
    old: Option<I>,
    tail: &SortedRuns<EvidenceRec>,
    rules: &mut GroupRules<'_>,
    it: &mut Interner,
    f: &mut Folder,
    builder: &mut Builder,
) -> Result<u64, StoreError> {
    let mut merged = Merged::new(old, tail.iter()?);
    let mut group: Vec<EvidenceRec> = Vec::new();
    let mut total = 0u64;
    for next in merged.by_ref() {
        if group.first().is_some_and(|g| g.number != next.number) {
            total += rules.flush(&mut group, it, f, builder)?;
        }
        group.push(next);
    }
    total += rules.flush(&mut group, it, f, builder)?;
    merged.tail.take_error().map_or(Ok(total), Err)
}

/// What happens to one number's records before they are written: erasures, the retention
/// purge, the scope of an extract and the blanking of erased numbers from free text; and
/// which strings the kept records use.
struct GroupRules<'a> {
    /// The suppression key, when erasures are pending.
    keyer: Option<&'a Keyer>,
    /// Pending erasures: keyed hash -> the newest erasure's sequence.
    erase_seq: HashMap<SubjectKey, u64>,
    /// Numbers erased now, each with its erasure's sequence: only what was recorded
    /// before an erasure is blanked (a text recorded after it is new data).
    erased_now: Vec<(E164, u64)>,
    /// `erased_now` as patterns to blank.
    scrub: Patterns,
    /// (free-text string id, numbers applicable) -> the id of its blanked form (itself
    /// when it holds none).
    scrubbed: HashMap<(u32, usize), u32>,
    /// The purge's cutoffs, if purging.
    cut: Option<Cut>,
    /// String ids of `*` and `sms`, for the purge.
    star_sms: (u32, u32),
    /// String ids of the lasting relationship kinds, for the purge.
    lasting: Vec<u32>,
    /// What a scoped compaction keeps, if scoped.
    scope: Option<ScopeKeep>,
    /// Per string id: does a kept record refer to it.
    used: Vec<bool>,
    /// What the rules dropped so far.
    dropped: Dropped,
}

impl<'a> GroupRules<'a> {
    /// Rules for the strings interned in `it` so far; `ids` are those of `*`, `sms` (both
    /// marked used) and the lasting relationship kinds.
    fn new(
        it: &Interner,
        opts: &CompactOptions,
        keyer: Option<&'a Keyer>,
        erase_seq: HashMap<SubjectKey, u64>,
        erased_now: Vec<(E164, u64)>,
        ids: PurgeIds<'_>,
    ) -> Self {
        let PurgeIds { star, sms, lasting } = ids;
        let scrub = Patterns::with_seqs(&erased_now);
        let cut = opts.cutoffs().map(|c| c.resolve(|s| it.ids.get(s).copied()));
        let scope = opts.scope.as_ref().map(|(b, p)| ScopeKeep::new(&it.strings, b, p, star));
        let mut used = vec![false; it.strings.len()];
        used[star as usize] = true;
        used[sms as usize] = true;
        GroupRules {
            keyer,
            erase_seq,
            erased_now,
            scrub,
            scrubbed: HashMap::new(),
            cut,
            star_sms: (star, sms),
            lasting: lasting.to_vec(),
            scope,
            used,
            dropped: Dropped::default(),
        }
    }

    /// Applies the rules to one number's records, then writes and folds what is kept;
    /// empties `group` and returns the records kept.
    fn flush(
        &mut self,
        group: &mut Vec<EvidenceRec>,
        it: &mut Interner,
        f: &mut Folder,
        builder: &mut Builder,
    ) -> Result<u64, StoreError> {
        if group.is_empty() {
            return Ok(0);
        }
        self.erase(group);
        self.purge(group);
        if let Some(keep) = self.scope.as_mut() {
            keep.retain(group);
            if group.is_empty() {
                return Ok(0);
            }
        }
        self.scrub_free_text(group, it);
        for r in group.iter() {
            builder.evidence(r)?;
            self.mark_used(r);
        }
        f.fold(group)?;
        let n = group.len() as u64;
        group.clear();
        Ok(n)
    }

    /// Drops the records of an erased number recorded before its erasure. A number not
    /// found in the tail (no bridging stop) is blanked from free text from here on.
    fn erase(&mut self, group: &mut Vec<EvidenceRec>) {
        let Some(first) = group.first() else { return };
        if let (Some(k), Some(n)) = (self.keyer, E164::from_u64(first.number))
            && let Some(&s) = self.erase_seq.get(&k.hash(n))
        {
            let before = group.len();
            group.retain(|r| r.seq > s);
            self.dropped.erased_numbers += 1;
            if !self.erased_now.iter().any(|&(e, _)| e == n) {
                self.erased_now.push((n, s));
                self.scrub = Patterns::with_seqs(&self.erased_now);
                self.scrubbed.clear();
            }
            self.dropped.erased_events += (before - group.len()) as u64;
        }
    }

    /// Drops what the retention purge may (see [`purgeable`]) with the corrections of
    /// the consents dropped.
    fn purge(&mut self, group: &mut Vec<EvidenceRec>) {
        let Some(cut) = &self.cut else { return };
        let (star, sms) = self.star_sms;
        let ids = PurgeIds { star, sms, lasting: &self.lasting };
        let gone = purgeable(group, cut, ids);
        if gone.is_empty() {
            return;
        }
        let dropped = &mut self.dropped;
        dropped.purged_numbers += 1;
        for r in group.iter().filter(|r| gone.contains(&r.seq)) {
            match r.kind {
                KIND_CONSENT => dropped.purged_consents += 1,
                _ => dropped.purged_relationships += 1,
            }
        }
        let before = group.len();
        group.retain(|r| {
            !(gone.contains(&r.seq) || (r.kind == KIND_CORRECT && gone.contains(&r.corrects())))
        });
        dropped.purged_corrections += (before - group.len() - gone.len()) as u64;
    }

    /// Replaces the free text (method, text_ref, source: it may name someone else) of
    /// consents and corrections by its copy with the numbers erased before them blanked.
    fn scrub_free_text(&mut self, group: &mut [EvidenceRec], it: &mut Interner) {
        if self.scrub.is_empty() {
            return;
        }
        for r in group.iter_mut().filter(|r| matches!(r.kind, KIND_CONSENT | KIND_CORRECT)) {
            let k = self.scrub.applicable(r.seq);
            if k == 0 {
                continue;
            }
            for t in r.free_text_mut() {
                *t = *self.scrubbed.entry((*t, k)).or_insert_with(|| {
                    match it.strings.get(*t as usize).and_then(|s| self.scrub.scrub_first(s, k)) {
                        Some(clean) => it.id(&clean),
                        None => *t,
                    }
                });
            }
        }
        self.used.resize(self.used.len().max(it.strings.len()), false);
    }

    /// Marks the strings a kept record refers to (a move's text holds a number, no ids).
    fn mark_used(&mut self, r: &EvidenceRec) {
        if r.kind == KIND_MOVE {
            return;
        }
        for &t in &r.text {
            if let Some(u) = self.used.get_mut(t as usize) {
                *u = true;
            }
        }
    }
}

/// The strings section: strings no kept record refers to are blanked; ids stay stable.
fn kept_strings(strings: &[String], used: &[bool]) -> Vec<String> {
    strings.iter().zip(used).map(|(s, &u)| if u { s.clone() } else { String::new() }).collect()
}

/// The `info` counts as JSON.
fn stats_json(f: &Folder, total: u64, suppressed: u64, strings: &[String]) -> Vec<u8> {
    let name = |id: u32| strings.get(id as usize).cloned().unwrap_or_default();
    let stats = serde_json::json!({
        "numbers": f.numbers,
        "events": total,
        "suppressed": suppressed,
        "stops_by_brand": f.stop_count.iter().map(|(b, n)| (name(*b), *n)).collect::<BTreeMap<_, _>>(),
        "consents": f.consent_count.iter().map(|((b, p, c), n)| serde_json::json!({
            "brand": name(*b), "purpose": name(*p), "channel": name(*c), "count": n,
        })).collect::<Vec<_>>(),
        "relationships_by_brand": f.rel_count.iter().map(|(b, n)| (name(*b), *n)).collect::<BTreeMap<_, _>>(),
    });
    serde_json::to_vec(&stats).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        let p = CompactPolicy::default();
        assert!(!p.should_compact(0, 10));
        assert!(p.should_compact(0, 100_000));
        assert!(!p.should_compact(10_000_000, 100_000));
        assert!(p.should_compact(10_000_000, 1_000_000));
    }

    fn rec(seq: u64, kind: u32, text: [u32; 6]) -> EvidenceRec {
        EvidenceRec { number: 4791234567, seq, kind, text, t0: 1, expires: 0, confirmed: 0, t3: 0 }
    }

    #[test]
    fn a_scope_keeps_what_its_decisions_read() {
        // 0 `*`, 1 ACME, 2 acme, 3 OTHER, 4 offers, 5 news, 6 sms
        let strings: Vec<String> =
            ["*", "ACME", "acme", "OTHER", "offers", "news", "sms"].map(String::from).to_vec();
        let mut keep = ScopeKeep::new(&strings, "ACME", "offers", 0);
        let mut correct = rec(7, KIND_CORRECT, [u32::MAX; 6]);
        correct.expires = 5; // corrects the consent with sequence 5
        let mut other_correct = correct;
        other_correct.seq = 8;
        other_correct.expires = 6;
        let mut group = vec![
            rec(1, KIND_STOP, [1, 0, 0, 0, 0, 0]),
            rec(2, KIND_STOP, [2, 0, 0, 0, 0, 0]),
            rec(3, KIND_STOP, [0, 0, 0, 0, 0, 0]),
            rec(4, KIND_STOP, [3, 0, 0, 0, 0, 0]),
            rec(5, KIND_CONSENT, [1, 4, 6, 0, 0, 0]),
            rec(6, KIND_CONSENT, [1, 5, 6, 0, 0, 0]),
            correct,
            other_correct,
            rec(9, KIND_RELATIONSHIP, [1, 0, 0, 0, 0, 0]),
            rec(10, KIND_RELATIONSHIP, [3, 0, 0, 0, 0, 0]),
            rec(11, KIND_MOVE, [0; 6]),
            rec(12, KIND_CONSENT, [3, 4, 6, 0, 0, 0]),
        ];
        keep.retain(&mut group);
        let seqs: Vec<u64> = group.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [1, 2, 3, 5, 7, 9, 11]);
        // A number with only another tenant's records is left with nothing.
        let mut other = vec![rec(4, KIND_STOP, [3, 0, 0, 0, 0, 0])];
        keep.retain(&mut other);
        assert!(other.is_empty());
    }
}
