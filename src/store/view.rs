//! Read views: snapshot + journal-tail overlay, implementing [`StandingSource`].

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use memmap2::Mmap;

use crate::phone::E164;
use crate::standing::{ConsentState, RelationshipState, Standing, StandingSource};
use crate::store::error::StoreError;
use crate::store::event::{
    Consent, Correction, EVERY_BRAND, Event, EventRef, LASTING_RELATIONSHIPS, Move, Relationship,
    Stop,
};
use crate::store::snapshot::format::{
    ConsentRec, EvidenceRec, KIND_CORRECT, KIND_MOVE, KIND_RELATIONSHIP, KIND_STOP, RelRec,
};
use crate::store::snapshot::run::RunIndex;
use crate::store::snapshot::{List, Probe, Snapshot};
use crate::store::suppress::{self, Entry, Suppression};

/// A small multiply-rotate hasher for integer keys (the overlay is keyed by numbers and
/// string ids, never by attacker-chosen text).
#[derive(Default, Clone, Copy)]
pub struct IntHasher(u64);

impl Hasher for IntHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }
}

type IntMap<K, V> = HashMap<K, V, BuildHasherDefault<IntHasher>>;

/// The journal tail (events after the snapshot) folded in memory, consulted after the
/// snapshot by [`StoreView`] when non-empty.
#[derive(Clone, Debug, Default)]
pub struct Overlay {
    names: HashMap<String, u32>,
    stops: IntMap<(u64, u32), i64>,
    consents: IntMap<(u64, u32, u32), ConsentState>,
    rels: IntMap<(u64, u32), RelationshipState>,
    events: u64,
    /// Erasures in the journal tail (keyed hash, time): suppression entries to be.
    erased: Vec<Entry>,
}

impl Overlay {
    /// Erasures in the journal tail.
    pub(crate) fn erasures(&self) -> usize {
        self.erased.len()
    }

    fn name(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.names.get(s) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.insert(s.to_string(), i);
        i
    }

    /// Folds one event with sequence number `seq` (sequence numbers must increase).
    pub fn apply(&mut self, seq: u64, ev: EventRef<'_>) {
        self.events += 1;
        match ev {
            EventRef::Stop { number, brand, stopped_at } => {
                let b = self.name(brand);
                let e = self.stops.entry((number.as_u64(), b)).or_insert(stopped_at);
                *e = (*e).max(stopped_at);
            }
            EventRef::Consent { number, text, granted_at, expires_at, confirmed_at } => {
                let [brand, purpose, channel, ..] = text;
                if channel != "sms" {
                    return;
                }
                let (b, p) = (self.name(brand), self.name(purpose));
                let c = ConsentState { granted_at, confirmed_at, expires_at, event_seq: seq };
                let e = self.consents.entry((number.as_u64(), b, p)).or_insert(c);
                // Newest by granted_at; ties go to the later sequence (this one).
                if granted_at >= e.granted_at {
                    *e = c;
                }
            }
            EventRef::Relationship {
                number,
                text,
                started_at,
                last_purchase_at,
                ends_at,
                informed_at,
            } => {
                let [brand, relationship] = text;
                let b = self.name(brand);
                // The newest event for (number, brand) replaces older ones.
                self.rels.insert(
                    (number.as_u64(), b),
                    RelationshipState {
                        lasting: LASTING_RELATIONSHIPS.contains(&relationship),
                        started_at,
                        last_purchase_at,
                        ends_at,
                        informed_at,
                        event_seq: seq,
                    },
                );
            }
            EventRef::Erase { subject, erased_at } => {
                self.erased.push(Entry { key: subject, erased_at, seq });
            }
            // Evidence only: the decision inputs are never corrected retroactively.
            EventRef::Correct { .. } => {}
            // The old number keeps nothing of its old holder's legal bases: a stop for
            // every brand from the move on (fail safe; the number may be reassigned).
            EventRef::Move { from, moved_at, .. } => {
                let b = self.name(EVERY_BRAND);
                let e = self.stops.entry((from.as_u64(), b)).or_insert(moved_at);
                *e = (*e).max(moved_at);
            }
        }
    }

    /// Events folded in.
    pub fn len(&self) -> u64 {
        self.events
    }

    /// True when no event is folded in.
    pub fn is_empty(&self) -> bool {
        self.events == 0
    }
}

/// A resolved (brand, purpose) for a [`StoreView`]: the snapshot lists it reads, located
/// and verified once, and after [`StandingSource::prepare`] a dense per-run index of them.
#[derive(Clone, Debug)]
pub struct ViewScope {
    brand: Option<u32>,
    consents: Option<List>,
    brand_stops: Option<List>,
    star_stops: Option<List>,
    variant_stops: Vec<List>,
    rels: Option<List>,
    /// The dense index of a prepared scope.
    run: Option<Arc<RunIndex>>,
    /// A list this scope needs failed its checksum: every lookup answers stopped (fail
    /// closed). [`StoreView::check_scope`] reports the error itself.
    damaged: bool,
    ov_brand: Option<u32>,
    ov_purpose: Option<u32>,
    ov_star: Option<u32>,
    /// Overlay name ids of other spellings of the brand (`acme` or `" ACME "` for `ACME`;
    /// [`NO_ID`] = none): their stops apply too, their consents do not (fail safe: a stop
    /// typed in the wrong case, or recorded untrimmed or decomposed by an older version,
    /// still stops). The snapshot's are in `variant_stops`.
    ov_variants: [u32; VARIANTS],
}

impl ViewScope {
    /// Bytes of memory the scope's per-run index holds (0 before
    /// [`StandingSource::prepare`]).
    pub fn index_bytes(&self) -> usize {
        self.run.as_ref().map_or(0, |r| r.heap_bytes())
    }
}

/// The stop lists that apply to one brand, resolved by [`StoreView::brand_stops`].
#[derive(Clone, Debug, Default)]
pub struct BrandStops {
    snap: Vec<u32>,
    tail: Vec<u32>,
}

/// Most other spellings of one brand a scope honours the stops of.
const VARIANTS: usize = 4;
/// No id (an unused variant slot).
const NO_ID: u32 = u32::MAX;

/// True when `a` and `b` are different spellings of one brand name (`acme`, `" ACME "`,
/// a decomposed `Café`: see [`crate::brand::same_name`]): a stop recorded under one
/// applies to the other.
pub fn other_spelling(a: &str, b: &str) -> bool {
    crate::brand::same_name(a, b)
}

/// The ids of up to [`VARIANTS`] names in `names` that are other spellings of `brand`.
fn variant_ids<'a>(brand: &str, names: impl Iterator<Item = (&'a str, u32)>) -> [u32; VARIANTS] {
    let mut out = [NO_ID; VARIANTS];
    // A cheap test first: ASCII spellings of one name have the same trimmed length (most
    // names differ).
    let candidates =
        names.filter(|(s, _)| crate::brand::may_be_same_name(s, brand) && other_spelling(s, brand));
    for (slot, (_, id)) in out.iter_mut().zip(candidates) {
        *slot = id;
    }
    out
}

/// A consistent read view of a store: one snapshot generation plus the journal tail as of
/// the moment it was taken. Cheap to clone; `Send + Sync`.
///
/// The hot loop resolves the scope once, then prefetches a few recipients ahead (16–32
/// measured best) and asks for each one's standing:
///
/// ```
/// use sendfilter::{E164, StandingSource};
/// # let dir = tempfile::tempdir()?;
/// # let mut store = sendfilter::Store::open(dir.path())?;
/// # store.append_stop(E164::from_u64(4791234567).unwrap(), "ACME", 1_700_000_000)?;
/// # store.compact()?;
/// let view = sendfilter::store::open_view(dir.path())?;
/// let scope = view.scope("ACME", "offers");
/// let recipients: Vec<E164> = (0..100).filter_map(|i| E164::from_u64(4791234500 + i)).collect();
/// let mut stopped = 0;
/// for (i, n) in recipients.iter().enumerate() {
///     if let Some(ahead) = recipients.get(i + 16) {
///         view.prefetch(&scope, *ahead);
///     }
///     stopped += view.standing(&scope, *n).stopped_at.is_some() as usize;
/// }
/// assert_eq!(stopped, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct StoreView {
    snap: Option<Arc<Snapshot<Mmap>>>,
    overlay: Arc<Overlay>,
    seq: u64,
    suppress: Arc<Suppression>,
}

fn nz(t: u32) -> Option<i64> {
    (t != 0).then_some(i64::from(t))
}

impl StoreView {
    pub(crate) fn new(snap: Option<Arc<Snapshot<Mmap>>>, overlay: Arc<Overlay>, seq: u64) -> Self {
        StoreView { snap, overlay, seq, suppress: Arc::default() }
    }

    /// Loads the suppression set (snapshot section + journal-tail erasures) and, when it is
    /// non-empty, the store's key from `dir`.
    ///
    /// # Errors
    /// [`crate::StoreError::KeyMissing`] with erasures but no key file; a damaged key file.
    pub(crate) fn with_suppression(mut self, dir: &std::path::Path) -> Result<Self, StoreError> {
        let mut entries = self.snap.as_ref().map_or_else(Vec::new, |s| s.suppressed());
        entries.extend_from_slice(&self.overlay.erased);
        if !entries.is_empty() {
            let keyer = suppress::load_key(dir)?;
            let path = dir.join(suppress::KEY_FILE);
            self.suppress = Arc::new(Suppression::new(keyer, entries, &path)?);
        }
        Ok(self)
    }

    /// The erased numbers this view honours as stops for every brand.
    pub fn suppression(&self) -> &Suppression {
        &self.suppress
    }

    /// The snapshot this view reads, if any.
    pub fn snapshot(&self) -> Option<&Arc<Snapshot<Mmap>>> {
        self.snap.as_ref()
    }

    /// Events from the journal tail folded into this view.
    pub fn overlay_len(&self) -> u64 {
        self.overlay.len()
    }

    /// Every (number, purpose) with an `sms` consent for `brand`, from the snapshot's
    /// lists and the journal tail, sorted and without repeats: a full scan, for
    /// `expiring`, never for the hot path.
    ///
    /// # Errors
    /// [`StoreError::SnapshotCorrupt`] if a list of the brand is damaged.
    pub fn consent_keys(&self, brand: &str) -> Result<Vec<(E164, String)>, StoreError> {
        let mut out: Vec<(u64, String)> = Vec::new();
        if let Some(s) = self.snap.as_ref().filter(|s| !s.is_legacy())
            && let Some(b) = s.string_id(brand)
        {
            for (table, purpose) in s.scopes_of_brand(b) {
                let p = s.string(purpose);
                out.extend(s.scope_consents(table)?.into_iter().map(|(n, _)| (n, p.to_string())));
            }
        }
        let o = &self.overlay;
        if let Some(&b) = o.names.get(brand) {
            let name = |id: u32| o.names.iter().find(|(_, v)| **v == id).map(|(k, _)| k.clone());
            for &(n, ob, p) in o.consents.keys() {
                if ob == b
                    && let Some(p) = name(p)
                {
                    out.push((n, p));
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        Ok(out.into_iter().filter_map(|(n, p)| Some((E164::from_u64(n)?, p))).collect())
    }

    /// Checks that this view can decide for (`brand`, `purpose`): the snapshot is not a
    /// version-3 file waiting for migration, and every list the scope reads matches its
    /// checksums. A run calls it before its first decision, so damage stops it before
    /// any output (a scope built anyway answers every number stopped: fail closed).
    ///
    /// # Errors
    /// [`StoreError::Version`] for a snapshot to migrate (`sendfilter compact` does);
    /// [`StoreError::SnapshotCorrupt`] naming the damaged block.
    pub fn check_scope(&self, brand: &str, purpose: &str) -> Result<(), StoreError> {
        let Some(s) = &self.snap else { return Ok(()) };
        if s.is_legacy() {
            return Err(StoreError::Version {
                path: s.path().to_path_buf(),
                found: s.version(),
                supported: crate::store::snapshot::format::VERSION,
            });
        }
        let b = s.string_id(brand);
        if let (Some(bi), Some(pi)) = (b, s.string_id(purpose))
            && let Some(t) = s.scope_of(bi, pi)
        {
            s.consent_list(t)?;
        }
        let star = s.string_id(EVERY_BRAND);
        for id in b.into_iter().chain(star).chain(s.brand_variants(brand)) {
            s.stop_list(id)?;
            s.rel_list(id)?;
        }
        Ok(())
    }

    /// The newest stop of `number` for `brand` (any spelling of it) or `*`, from the
    /// snapshot and the journal tail: for callers that ask about many brands one number at
    /// a time (an import), without building a scope per brand. Erasures are not folded
    /// in (see [`StandingSource::standing`]). Resolve the brand once with
    /// [`brand_stops`](Self::brand_stops) and ask with
    /// [`stopped_at_in`](Self::stopped_at_in) when asking many times.
    ///
    /// # Errors
    /// [`StoreError::SnapshotCorrupt`] if a stop list it reads is damaged.
    pub fn stopped_at(&self, number: E164, brand: &str) -> Result<Option<i64>, StoreError> {
        self.stopped_at_in(&self.brand_stops(brand), number)
    }

    /// The stop lists that apply to `brand` (its own, its other spellings', `*`'s), resolved
    /// once for [`stopped_at_in`](Self::stopped_at_in).
    pub fn brand_stops(&self, brand: &str) -> BrandStops {
        let mut snap = Vec::new();
        if let Some(s) = self.snap.as_ref().filter(|s| !s.is_legacy()) {
            let ids = s.string_id(brand).into_iter().chain(s.string_id(EVERY_BRAND));
            snap.extend(ids.chain(s.brand_variants(brand)));
        }
        let o = &self.overlay;
        let mut tail: Vec<u32> =
            [brand, EVERY_BRAND].into_iter().filter_map(|b| o.names.get(b).copied()).collect();
        let variants = variant_ids(brand, o.names.iter().map(|(k, &v)| (k.as_str(), v)));
        tail.extend(variants.into_iter().filter(|&v| v != NO_ID));
        BrandStops { snap, tail }
    }

    /// [`stopped_at`](Self::stopped_at) for a brand resolved by
    /// [`brand_stops`](Self::brand_stops).
    ///
    /// # Errors
    /// [`StoreError::SnapshotCorrupt`] if a stop list it reads is damaged.
    pub fn stopped_at_in(&self, b: &BrandStops, number: E164) -> Result<Option<i64>, StoreError> {
        let n = number.as_u64();
        let mut at: Option<i64> = None;
        if let Some(s) = self.snap.as_ref().filter(|s| !b.snap.is_empty() && !s.is_legacy())
            && let Some(id) = s.id_of(n)
        {
            for &brand in &b.snap {
                if let Some(l) = s.stop_list(brand)?
                    && let Some(i) = s.list_find(&l, id)
                {
                    at = at.max(s.stop_at(&l, i).map(i64::from));
                }
            }
        }
        let o = &self.overlay;
        for &t in &b.tail {
            at = at.max(o.stops.get(&(n, t)).copied());
        }
        Ok(at)
    }

    /// The other spellings of `brand` (case, white space around it, Unicode composition)
    /// that the store holds: their stops apply to `brand`'s runs, their consents do not.
    /// For a run to say so.
    pub fn brand_variants(&self, brand: &str) -> Vec<String> {
        let snap = self.snap.as_ref().filter(|s| !s.is_legacy());
        let mut out: Vec<String> = snap
            .map(|s| s.brand_variants(brand).into_iter().map(|i| s.string(i).to_string()))
            .into_iter()
            .flatten()
            .chain(
                self.overlay
                    .names
                    .keys()
                    .filter(|s| {
                        crate::brand::may_be_same_name(s, brand) && other_spelling(s, brand)
                    })
                    .cloned(),
            )
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The snapshot's standing of the number with id `id` (if it is in the number table).
    #[inline]
    fn snap_standing(&self, scope: &ViewScope, id: Option<u32>) -> Standing {
        if scope.damaged {
            return DAMAGED;
        }
        let (Some(s), Some(id)) = (&self.snap, id) else { return Standing::default() };
        if let Some(run) = &scope.run {
            let consent = run.consent_index(id).and_then(|i| run.consent(s, i));
            return standing_of(run.stop(id), consent);
        }
        let stop_in = |l: &Option<List>| {
            l.as_ref().and_then(|l| s.list_find(l, id).and_then(|i| s.stop_at(l, i)))
        };
        let mut stop = stop_in(&scope.brand_stops).max(stop_in(&scope.star_stops));
        for l in &scope.variant_stops {
            stop = stop.max(s.list_find(l, id).and_then(|i| s.stop_at(l, i)));
        }
        let consent = scope
            .consents
            .as_ref()
            .and_then(|l| s.list_find(l, id).and_then(|i| s.consent_at(l, i)));
        standing_of(stop, consent)
    }

    /// The newest stop of `n` under another spelling of the scope's brand in the journal
    /// tail (rare: only asked when the tail holds one).
    #[cold]
    fn variant_stop(&self, scope: &ViewScope, n: u64) -> Option<i64> {
        let o = &self.overlay;
        scope
            .ov_variants
            .iter()
            .filter(|&&i| i != NO_ID)
            .filter_map(|&b| o.stops.get(&(n, b)).copied())
            .max()
    }

    /// The snapshot's standing `st` of `number` with the journal tail and the erasures
    /// folded in.
    #[inline]
    fn fold(&self, scope: &ViewScope, number: E164, mut st: Standing) -> Standing {
        let n = number.as_u64();
        if !self.overlay.is_empty() {
            if scope.ov_variants[0] != NO_ID {
                st.stopped_at = st.stopped_at.max(self.variant_stop(scope, n));
            }
            let o = &self.overlay;
            let stop = |b: Option<u32>| b.and_then(|b| o.stops.get(&(n, b)).copied());
            st.stopped_at = st.stopped_at.max(stop(scope.ov_brand)).max(stop(scope.ov_star));
            if let (Some(b), Some(p)) = (scope.ov_brand, scope.ov_purpose)
                && let Some(c) = o.consents.get(&(n, b, p))
            {
                // Overlay events are all later in sequence than the snapshot's.
                if st.consent.is_none_or(|old| c.granted_at >= old.granted_at) {
                    st.consent = Some(*c);
                }
            }
        }
        // An erased number is stopped for every brand from its erasure on; a consent
        // recorded before the erasure never lifts it, whatever its times (the stop is
        // moved to its grant). Checked only when something could allow (the set is
        // small, usually empty).
        if let Some(c) = st.consent
            && !self.suppress.is_empty()
            && let Some(e) = self.suppress.lookup(number)
        {
            let at = if c.event_seq < e.seq { e.erased_at.max(c.granted_at) } else { e.erased_at };
            st.stopped_at = st.stopped_at.max(Some(at));
        }
        st
    }
}

/// The standing of a scope whose lists are damaged: stopped (fail closed), at a time no
/// consent can be newer than.
const DAMAGED: Standing = Standing { stopped_at: Some(u32::MAX as i64), consent: None };

/// The relationship a relationship record encodes.
pub fn relationship_of(r: &RelRec) -> RelationshipState {
    RelationshipState {
        lasting: r.lasting != 0,
        started_at: i64::from(r.started),
        last_purchase_at: nz(r.last_purchase),
        ends_at: nz(r.ends),
        informed_at: nz(r.informed),
        event_seq: r.seq,
    }
}

/// The standing a stop time and a consent record encode.
#[inline]
pub fn standing_of(stop: Option<u32>, consent: Option<ConsentRec>) -> Standing {
    Standing {
        stopped_at: stop.filter(|&t| t != 0).map(i64::from),
        consent: consent.filter(|c| c.granted != 0).map(|c| ConsentState {
            granted_at: i64::from(c.granted),
            confirmed_at: nz(c.confirmed),
            expires_at: nz(c.expires),
            event_seq: c.seq,
        }),
    }
}

impl StandingSource for StoreView {
    type Scope = ViewScope;
    type Token = Probe;

    fn scope(&self, brand: &str, purpose: &str) -> ViewScope {
        let o = &self.overlay;
        let mut sc = ViewScope {
            brand: None,
            consents: None,
            brand_stops: None,
            star_stops: None,
            variant_stops: Vec::new(),
            rels: None,
            run: None,
            damaged: false,
            ov_brand: o.names.get(brand).copied(),
            ov_purpose: o.names.get(purpose).copied(),
            ov_star: o.names.get(EVERY_BRAND).copied(),
            ov_variants: variant_ids(brand, o.names.iter().map(|(k, &v)| (k.as_str(), v))),
        };
        let Some(s) = &self.snap else { return sc };
        if s.is_legacy() {
            // A version-3 snapshot decides nothing until compacted (fail closed).
            sc.damaged = true;
            return sc;
        }
        let mut damaged = false;
        let mut ok = |r: Result<Option<List>, StoreError>| {
            r.unwrap_or_else(|_| {
                damaged = true;
                None
            })
        };
        let b = s.string_id(brand);
        sc.brand = b;
        if let (Some(bi), Some(pi)) = (b, s.string_id(purpose))
            && let Some(t) = s.scope_of(bi, pi)
        {
            sc.consents = ok(s.consent_list(t));
        }
        sc.brand_stops = b.and_then(|b| ok(s.stop_list(b)));
        sc.star_stops = s.string_id(EVERY_BRAND).and_then(|b| ok(s.stop_list(b)));
        sc.rels = b.and_then(|b| ok(s.rel_list(b)));
        for v in s.brand_variants(brand) {
            if let Some(l) = ok(s.stop_list(v)) {
                sc.variant_stops.push(l);
            }
        }
        sc.damaged = damaged;
        sc
    }

    fn prepare(&self, mut scope: ViewScope) -> ViewScope {
        if let Some(s) = &self.snap
            && !scope.damaged
            && !s.is_legacy()
        {
            let stops: Vec<List> = scope
                .brand_stops
                .iter()
                .chain(&scope.star_stops)
                .chain(&scope.variant_stops)
                .copied()
                .collect();
            scope.run = Some(Arc::new(RunIndex::build(s, scope.consents, &stops)));
        }
        scope
    }

    #[inline]
    fn standing(&self, scope: &ViewScope, number: E164) -> Standing {
        let probe = self.lookup_next(scope, number, self.lookup_start(scope, number));
        self.lookup_finish(scope, number, probe)
    }

    #[inline]
    fn prefetch(&self, scope: &ViewScope, number: E164) {
        self.lookup_start(scope, number);
    }

    #[inline]
    fn lookup_start(&self, scope: &ViewScope, number: E164) -> Probe {
        let Some(s) = &self.snap else { return Probe::default() };
        let probe = s.id_start(number.as_u64());
        if let (Some(run), Some(home)) = (&scope.run, probe.candidate()) {
            run.prefetch_word(home);
        }
        probe
    }

    #[inline]
    fn lookup_next(&self, scope: &ViewScope, _: E164, token: Probe) -> Probe {
        let Some(s) = &self.snap else { return token };
        let probe = s.id_next(token);
        if let (Some(run), Some(id)) = (&scope.run, probe.candidate()) {
            run.prefetch_consent(s, id);
        }
        probe
    }

    #[inline]
    fn lookup_finish(&self, scope: &ViewScope, number: E164, token: Probe) -> Standing {
        let n = number.as_u64();
        let id = self.snap.as_ref().and_then(|s| s.id_finish(n, token));
        let st = self.snap_standing(scope, id);
        self.fold(scope, number, st)
    }

    fn relationship(&self, scope: &ViewScope, number: E164) -> Option<RelationshipState> {
        let n = number.as_u64();
        if scope.damaged {
            return None;
        }
        // Overlay events are all later than the snapshot's: the newest one wins.
        let rel = match scope.ov_brand.and_then(|b| self.overlay.rels.get(&(n, b))) {
            Some(r) => Some(*r),
            None => {
                let s = self.snap.as_ref()?;
                let l = scope.rels.as_ref()?;
                let i = s.list_find(l, s.id_of(n)?)?;
                RelRec::decode(s.list_rec(l, i)).map(|r| relationship_of(&r))
            }
        };
        // An erased number is stopped for good, and soft opt-in never survives a stop:
        // a relationship still held until the next compaction must not allow.
        if rel.is_some() && !self.suppress.is_empty() && self.suppress.lookup(number).is_some() {
            return None;
        }
        rel
    }

    fn generation(&self) -> u64 {
        self.snap.as_ref().map_or(0, |s| s.generation())
    }

    fn journal_seq(&self) -> u64 {
        self.seq
    }
}

/// Rebuilds the event an evidence record encodes.
pub(crate) fn event_of<D: AsRef<[u8]>>(s: &Snapshot<D>, r: &EvidenceRec, number: E164) -> Event {
    let t = |i: usize| s.string(r.text[i]).to_string();
    if r.kind == KIND_CORRECT {
        let t = |i: usize| {
            if r.text[i] == u32::MAX { String::new() } else { s.string(r.text[i]).to_string() }
        };
        return Event::Correct(Correction {
            number,
            corrects: r.corrects(),
            corrected_at: i64::from(r.t0),
            method: t(0),
            text_ref: t(1),
            source: t(2),
        });
    }
    if r.kind == KIND_MOVE {
        let other = E164::from_u64(r.moved_other()).unwrap_or(number);
        let (from, to) = if r.expires == 0 { (number, other) } else { (other, number) };
        return Event::Move(Move { from, to, moved_at: i64::from(r.t0) });
    }
    if r.kind == KIND_STOP {
        Event::Stop(Stop { number, brand: t(0), stopped_at: i64::from(r.t0) })
    } else if r.kind == KIND_RELATIONSHIP {
        Event::Relationship(Relationship {
            number,
            brand: t(0),
            relationship: t(1),
            started_at: i64::from(r.t0),
            last_purchase_at: nz(r.t3),
            ends_at: nz(r.expires),
            informed_at: nz(r.confirmed),
        })
    } else {
        Event::Consent(Consent {
            number,
            brand: t(0),
            purpose: t(1),
            channel: t(2),
            granted_at: i64::from(r.t0),
            method: t(3),
            text_ref: t(4),
            source: t(5),
            expires_at: nz(r.expires),
            confirmed_at: nz(r.confirmed),
        })
    }
}
