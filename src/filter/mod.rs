//! The filter: one decision per recipient, with its reason.
//!
//! Two ways in:
//!
//! * [`Filter`] for services: `decide` one number (or a batch) against a
//!   [`StandingSource`]; no deduplication, usable from many threads at once.
//! * [`run_with`] for streams (`sendfilter filter`): reads `lines`, `csv` or `jsonl`,
//!   decides every record in parallel, writes allowed records (numbers in E.164, marketing
//!   messages stamped with the opt-out footer) and rejected records with their reason, in
//!   input order, and returns a [`Report`].
//!
//! ```
//! use sendfilter::filter::{Filter, FilterOptions, Format, RunOptions, Sinks, run_with};
//! use sendfilter::sms::Footer;
//! use sendfilter::{ConsentState, E164, MemorySource, Reason};
//!
//! let n = E164::from_u64(4791234567).unwrap();
//! let mut source = MemorySource::default();
//! let consent = ConsentState { granted_at: 0, confirmed_at: None, expires_at: None, event_seq: 1 };
//! source.consents.insert((n, "ACME".into(), "offers".into()), consent);
//!
//! // One decision:
//! let filter = Filter::new(&source, "ACME", "offers", FilterOptions::at(1_000));
//! assert_eq!(filter.decide("+4791234567").reason, Reason::Allowed);
//! assert_eq!(filter.decide("+4740000000").reason, Reason::NoConsent);
//!
//! // A stream, csv with messages:
//! let mut opts = FilterOptions::at(1_000);
//! opts.footer = Some(Footer::new("Svar {brand} STOPP til {shortcode}", "ACME", Some("2401")).unwrap());
//! let run = RunOptions::new("ACME", "offers", opts).with_format(Format::Csv);
//! let input = "number,message\n+4791234567,Hei!\n+4740000000,Hei!\n+4791234567,Igjen\n";
//! let (mut out, mut rejects) = (Vec::new(), Vec::new());
//! let sinks = Sinks { output: &mut out, rejects: Some(&mut rejects), progress: None };
//! let report = run_with(&source, &run, input.as_bytes(), sinks).unwrap();
//! assert_eq!(String::from_utf8(out).unwrap(), "number,message\n+4791234567,Hei! Svar ACME STOPP til 2401\n");
//! assert_eq!(
//!     String::from_utf8(rejects).unwrap(),
//!     "number,message,reason\n+4740000000,Hei!,NO_CONSENT\n+4791234567,Igjen,DUPLICATE\n"
//! );
//! assert_eq!(report.counts.allowed(), 1);
//! ```
//!
//! ## How the stream runs
//! A reader cuts the input into chunks of whole records (CSV chunks never end inside a
//! quoted field), workers decide each chunk (parse and normalise every record, mark
//! duplicates on the run's seen-set in chunk order, then decide and render each record into
//! per-chunk buffers with its store slot prefetched a few records ahead) and the calling
//! thread writes chunks in input order. Duplicates are exact across chunks: see
//! `seen.rs`. Nothing is allocated or formatted per record on the hot path (a message or
//! number with escapes uses a reused scratch buffer).

mod csv;
mod engine;
mod json;
pub mod live_stdout;
mod msgcache;
pub mod receipts;
mod routes;
mod seen;

pub use routes::Routes;

use std::io::{self, Read, Write};
use std::time::Instant;

use crate::decision::{self, Basis, Class, Decision, Reason, Rules, Verdict};
use crate::error::Error;
use crate::phone::{E164, Regions};
use crate::report::Report;
use crate::sms::Footer;
use crate::standing::{StandingSource, Timestamp};
use crate::store::live::StopMap;

/// How many items apart the stages of a batch's store lookups run (see
/// [`Filter::pipelined`]).
pub(crate) const LOOKUP_AHEAD: usize = 16;

/// What a [`Filter`] decides with (besides the source and scope).
#[derive(Clone, Debug)]
pub struct FilterOptions {
    /// Marketing (default) or service.
    pub class: Class,
    /// The instant decisions are made at (Unix seconds); fixed for a whole run.
    pub now: Timestamp,
    /// Require a confirmed (double opt-in) consent.
    pub require_confirmed: bool,
    /// Region for numbers written in national form, with optional fallbacks.
    pub region: Regions,
    /// The opt-out footer stamped on allowed marketing messages.
    pub footer: Option<Footer>,
    /// The opt-out route per country, with each country's footer: when set, marketing to a
    /// country without a route is [`Reason::NoOptOutRoute`] and allowed messages get their
    /// country's footer (instead of `footer`).
    pub routes: Option<std::sync::Arc<Routes>>,
    /// Reject messages that need more SMS segments than this, after stamping.
    pub max_segments: Option<u32>,
    /// Soft opt-in (existing customers) allowed, with this purchase window in calendar
    /// months; `None` (default): off. Set it only for the brand's own similar products.
    pub soft_opt_in_months: Option<u32>,
    /// Lifetime in calendar months of consents without `expires_at` (store policy).
    pub consent_lifetime_months: Option<u32>,
    /// Soft opt-in: seconds after the relationship began within which the customer must
    /// have been informed (default 7 days; store policy `informed_grace_days`).
    pub informed_grace: Timestamp,
}

impl FilterOptions {
    /// Marketing, region NO, no footer, no limits, deciding at `now`.
    pub fn at(now: Timestamp) -> FilterOptions {
        FilterOptions {
            class: Class::Marketing,
            now,
            require_confirmed: false,
            region: Regions::from(crate::phone::Region::NO),
            footer: None,
            routes: None,
            max_segments: None,
            soft_opt_in_months: None,
            consent_lifetime_months: None,
            informed_grace: decision::DEFAULT_INFORMED_GRACE,
        }
    }

    /// Applies a store policy for the run's brand (see [`crate::store::policy`]): a
    /// required confirmation adds to `require_confirmed` (never removes it), and the
    /// default consent lifetime replaces `consent_lifetime_months`, and an informed grace
    /// replaces the default 7 days.
    ///
    /// ```
    /// use sendfilter::filter::FilterOptions;
    /// use sendfilter::store::policy::BrandPolicy;
    /// let p = BrandPolicy {
    ///     require_confirmed: true, consent_lifetime_months: Some(24), informed_grace_days: Some(3),
    /// };
    /// let o = FilterOptions::at(0).with_policy(p);
    /// assert!(o.require_confirmed);
    /// assert_eq!(o.consent_lifetime_months, Some(24));
    /// assert_eq!(o.informed_grace, 3 * 86_400);
    /// ```
    pub fn with_policy(mut self, policy: crate::store::policy::BrandPolicy) -> FilterOptions {
        self.require_confirmed |= policy.require_confirmed;
        self.consent_lifetime_months = policy.consent_lifetime_months;
        if let Some(days) = policy.informed_grace_days {
            self.informed_grace = Timestamp::from(days) * 86_400;
        }
        self
    }
}

/// Decides recipients against a [`StandingSource`] for one (brand, purpose).
///
/// `Filter` is `Sync`: share one between threads. It keeps no state between calls, so
/// [`Filter::decide`] never answers [`Reason::Duplicate`]; the streaming [`run_with`] does.
pub struct Filter<'s, S: StandingSource> {
    source: &'s S,
    scope: S::Scope,
    opts: FilterOptions,
    rules: Rules,
}

impl<'s, S: StandingSource> Filter<'s, S> {
    /// A filter for `brand` and `purpose` (resolved once, here). The brand is taken in its
    /// canonical form (trimmed, NFC: [`crate::brand::canonical`]), as the store holds it; a
    /// name that cannot be canonical (empty, `*`, control characters) matches no consent,
    /// so every marketing record is refused (fail closed). Check a name taken from a user
    /// with [`crate::brand::canonical`] first to tell them why; [`run_with`] does.
    ///
    /// Resolving is cheap; for more than a few thousand decisions call
    /// [`prepared`](Self::prepared) once, which builds the source's per-run index.
    pub fn new(source: &'s S, brand: &str, purpose: &str, opts: FilterOptions) -> Filter<'s, S> {
        let brand = crate::brand::normalize(brand);
        // Never the every-brand name: its stops apply to every scope already.
        let brand: &str = if brand == crate::brand::EVERY_BRAND { "" } else { &brand };
        let rules = Rules {
            require_confirmed: opts.require_confirmed,
            consent_lifetime_months: opts.consent_lifetime_months,
            soft_opt_in_months: opts.soft_opt_in_months,
            informed_grace: opts.informed_grace,
            ..Rules::new(opts.class, opts.now)
        };
        Filter { scope: source.scope(brand, purpose), source, opts, rules }
    }

    /// Prepares the filter for many decisions (see [`StandingSource::prepare`]): a run
    /// over a campaign calls it once; a filter for a handful of numbers need not.
    #[must_use]
    pub fn prepared(mut self) -> Self {
        self.scope = self.source.prepare(self.scope);
        self
    }

    /// The options this filter decides with.
    pub fn options(&self) -> &FilterOptions {
        &self.opts
    }

    /// The source this filter reads.
    pub fn source(&self) -> &'s S {
        self.source
    }

    /// Normalises a written number: rule 2.
    #[inline]
    pub fn normalize(&self, number: &[u8]) -> Result<E164, Reason> {
        self.opts.region.normalize(number).map_err(|_| Reason::InvalidNumber)
    }

    /// Rules 4–8a for a number already normalised (no duplicate check, no message).
    #[inline]
    pub fn decide_e164(&self, number: E164) -> Reason {
        self.decide_basis(number).reason
    }

    /// Rules 4–8a with the basis that allowed the number (for receipts and the report).
    /// The customer relationship is looked up only when soft opt-in may decide.
    #[inline]
    pub fn decide_basis(&self, number: E164) -> Decision {
        self.decide_looked_up(number, self.lookup_next(number, self.lookup_start(number)))
    }

    /// Hints that `number` is about to be decided (a software prefetch in the store).
    #[inline]
    pub fn prefetch(&self, number: E164) {
        if self.opts.class == Class::Marketing {
            self.source.prefetch(&self.scope, number);
            if self.rules.soft_opt_in_months.is_some() {
                self.source.prefetch_relationship(&self.scope, number);
            }
        }
    }

    /// Stage 1 of deciding numbers in a batch (see [`StandingSource::lookup_start`]):
    /// starts the store's first read for `number`; its token goes to
    /// [`Filter::lookup_next`] a few numbers later.
    #[inline]
    pub fn lookup_start(&self, number: E164) -> S::Token {
        if self.opts.class != Class::Marketing {
            return S::Token::default();
        }
        if self.rules.soft_opt_in_months.is_some() {
            self.source.prefetch_relationship(&self.scope, number);
        }
        self.source.lookup_start(&self.scope, number)
    }

    /// Stage 2: starts the store's next read for `number`; its token goes to
    /// [`Filter::decide_looked_up`] a few numbers later.
    #[inline]
    pub fn lookup_next(&self, number: E164, token: S::Token) -> S::Token {
        if self.opts.class != Class::Marketing {
            return token;
        }
        self.source.lookup_next(&self.scope, number, token)
    }

    /// The one prefetch pipeline of batch deciding: calls `each(items, i, token)` for every
    /// `i` in `0..n`, in order, with `token` the finished first two stages of the lookup of
    /// `number(items, i)` (`None`: an item with nothing to look up, whose token is a
    /// default). Stage 1 runs [`LOOKUP_AHEAD`] items before stage 2 and stage 2 as many
    /// before `each`, so that each stage's reads have arrived when the next needs them
    /// (measured in BENCHMARKS.md: a decision is bound by memory, not instructions).
    #[inline]
    pub(crate) fn pipelined<C: ?Sized>(
        &self,
        items: &mut C,
        n: usize,
        number: impl Fn(&C, usize) -> Option<E164>,
        mut each: impl FnMut(&mut C, usize, S::Token),
    ) {
        const AHEAD: usize = LOOKUP_AHEAD;
        /// Tokens in flight, by index (a power of two above `2 * AHEAD`).
        const TOKENS: usize = 64;
        const _: () = assert!(TOKENS.is_power_of_two() && TOKENS > 2 * AHEAD);
        let mut tokens = [S::Token::default(); TOKENS];
        // The first items' earlier stages (the loop runs them for the items after).
        for i in 0..n.min(2 * AHEAD) {
            if let Some(e) = number(items, i) {
                tokens[i % TOKENS] = self.lookup_start(e);
            }
        }
        for i in 0..n.min(AHEAD) {
            if let Some(e) = number(items, i) {
                tokens[i % TOKENS] = self.lookup_next(e, tokens[i % TOKENS]);
            }
        }
        for i in 0..n {
            if i + 2 * AHEAD < n
                && let Some(e) = number(items, i + 2 * AHEAD)
            {
                tokens[(i + 2 * AHEAD) % TOKENS] = self.lookup_start(e);
            }
            if i + AHEAD < n
                && let Some(e) = number(items, i + AHEAD)
            {
                let t = &mut tokens[(i + AHEAD) % TOKENS];
                *t = self.lookup_next(e, *t);
            }
            each(items, i, tokens[i % TOKENS]);
        }
    }

    /// Stage 3: what [`Filter::decide_basis`] answers.
    #[inline]
    pub fn decide_looked_up(&self, number: E164, token: S::Token) -> Decision {
        self.decide_looked_up_by(&self.rules, number, token)
    }

    /// Stage 3 as of `now` instead of the filter's fixed instant (a long-lived caller that
    /// reads the clock per decision: [`crate::handle::Handle`]).
    #[inline]
    pub fn decide_looked_up_at(&self, number: E164, token: S::Token, now: Timestamp) -> Decision {
        self.decide_looked_up_by(&Rules { now, ..self.rules }, number, token)
    }

    /// This filter's rules as of `now` (for [`Filter::decide_looked_up_by`] and
    /// [`Filter::with_live_by`] over many numbers decided at one instant).
    #[inline]
    pub fn rules_at(&self, now: Timestamp) -> Rules {
        Rules { now, ..self.rules }
    }

    /// Stage 3 under `rules` ([`Filter::rules_at`]).
    #[inline]
    pub fn decide_looked_up_by(&self, rules: &Rules, number: E164, token: S::Token) -> Decision {
        if self.opts.class == Class::Service {
            return Decision { reason: Reason::Allowed, basis: Basis::Service };
        }
        let st = self.source.lookup_finish(&self.scope, number, token);
        let d = decision::decide_full(rules, &st, || self.source.relationship(&self.scope, number));
        self.route_checked(number, d)
    }

    /// `d` (decided from the source) with the stops, moves and erasures that arrived after
    /// the source was opened folded in ([`crate::store::live`]): an erased number is
    /// stopped for good; a live stop counts as the number's newest stop, so only a consent
    /// granted and confirmed after it lifts it. Cheap when `live` is empty or does not
    /// hold the number. `run_with` and [`crate::handle::Handle`] both decide through it.
    #[inline]
    pub fn with_live(&self, number: E164, d: Decision, live: &StopMap) -> Decision {
        self.with_live_by(&self.rules, number, d, live)
    }

    /// [`Filter::with_live`] as of `now` instead of the filter's fixed instant.
    #[inline]
    pub fn with_live_at(
        &self,
        number: E164,
        d: Decision,
        live: &StopMap,
        now: Timestamp,
    ) -> Decision {
        self.with_live_by(&Rules { now, ..self.rules }, number, d, live)
    }

    /// [`Filter::with_live`] under `rules` ([`Filter::rules_at`]).
    #[inline]
    pub fn with_live_by(
        &self,
        rules: &Rules,
        number: E164,
        d: Decision,
        live: &StopMap,
    ) -> Decision {
        if d.reason == Reason::Stopped || live.is_empty() {
            return d;
        }
        let Some(t) = live.get(number) else { return d };
        if live.erased(number) {
            return Decision { reason: Reason::Stopped, basis: Basis::None };
        }
        let mut st = self.source.standing(&self.scope, number);
        st.stopped_at = st.stopped_at.max(Some(t));
        let d = decision::decide_full(rules, &st, || self.source.relationship(&self.scope, number));
        self.route_checked(number, d)
    }

    /// Rule 8b: an allowed marketing decision for a country without an opt-out route
    /// becomes [`Reason::NoOptOutRoute`] (when the run has routes).
    #[inline]
    pub fn route_checked(&self, number: E164, d: Decision) -> Decision {
        match &self.opts.routes {
            Some(r) if d.reason.is_allowed() && self.opts.class == Class::Marketing => {
                match r.check(number, d.reason) {
                    Reason::Allowed => d,
                    reason => Decision { reason, basis: Basis::None },
                }
            }
            _ => d,
        }
    }

    /// The footer for `number`: its country's with routes, else the run's.
    #[inline]
    pub fn footer_for(&self, number: E164) -> Option<&Footer> {
        match &self.opts.routes {
            Some(r) => r.footer(number),
            None => self.opts.footer.as_ref(),
        }
    }

    /// Decides one written number (rules 2 and 4–8).
    ///
    /// ```
    /// use sendfilter::filter::{Filter, FilterOptions};
    /// use sendfilter::{MemorySource, Reason};
    /// let source = MemorySource::default();
    /// let f = Filter::new(&source, "ACME", "offers", FilterOptions::at(0));
    /// assert_eq!(f.decide("hello").reason, Reason::InvalidNumber);
    /// assert_eq!(f.decide(b"+4791234567").e164.unwrap().as_u64(), 4791234567);
    /// ```
    pub fn decide(&self, number: impl AsRef<[u8]>) -> Verdict {
        match self.normalize(number.as_ref()) {
            Ok(e) => Verdict { e164: Some(e), reason: self.decide_e164(e) },
            Err(reason) => Verdict { e164: None, reason },
        }
    }

    /// Decides many numbers, appending one verdict per number to `out`, in order. Faster
    /// than calling [`Filter::decide`] in a loop: lookups are prefetched a batch ahead.
    pub fn decide_batch<T: AsRef<[u8]>>(&self, numbers: &[T], out: &mut Vec<Verdict>) {
        self.decide_batch_by(numbers, out, |e, token| self.decide_looked_up(e, token).reason);
    }

    /// [`decide_batch`](Self::decide_batch) with the last stage given: `finish` turns a
    /// normalised number and its finished lookup token into the reason (a caller that folds
    /// more in, such as live stops, decides with it).
    pub fn decide_batch_by<T: AsRef<[u8]>>(
        &self,
        numbers: &[T],
        out: &mut Vec<Verdict>,
        mut finish: impl FnMut(E164, S::Token) -> Reason,
    ) {
        let start = out.len();
        out.extend(numbers.iter().map(|n| match self.normalize(n.as_ref()) {
            Ok(e) => Verdict { e164: Some(e), reason: Reason::Allowed },
            Err(reason) => Verdict { e164: None, reason },
        }));
        let batch = &mut out[start..];
        let n = batch.len();
        self.pipelined(
            batch,
            n,
            |b, i| b[i].e164,
            |b, i, token| {
                if let Some(e) = b[i].e164 {
                    b[i].reason = finish(e, token);
                }
            },
        );
    }

    /// Decides one recipient with a message (rules 2, 4–9) and writes the message to send
    /// into `stamped` (with the opt-out footer for marketing).
    ///
    /// # Errors
    /// [`Error::Footer`] for a marketing filter without a footer.
    pub fn decide_message(
        &self,
        number: impl AsRef<[u8]>,
        message: &str,
        stamped: &mut String,
    ) -> Result<Verdict, Error> {
        self.stamp(self.decide(number), message, stamped)
    }

    /// The message to send for a verdict already made: `message` into `stamped`, with the
    /// opt-out footer of the number's country for an allowed marketing message; an allowed
    /// verdict becomes [`Reason::TooLong`] past `max_segments`.
    ///
    /// # Errors
    /// [`Error::Footer`] for a marketing filter without a footer.
    pub fn stamp(
        &self,
        mut v: Verdict,
        message: &str,
        stamped: &mut String,
    ) -> Result<Verdict, Error> {
        stamped.clear();
        stamped.push_str(message);
        if !v.is_allowed() || self.opts.class == Class::Service {
            return Ok(v);
        }
        let e = v.e164.ok_or_else(no_footer)?; // allowed implies a number
        let footer = self.footer_for(e).ok_or_else(no_footer)?;
        let plan = footer.stamp(message, stamped);
        let (_, after) = footer.count_stamped(message, plan);
        if self.opts.max_segments.is_some_and(|m| after.segments > m as usize) {
            v.reason = Reason::TooLong;
        }
        Ok(v)
    }
}

fn no_footer() -> Error {
    Error::Footer(crate::sms::FooterError(
        "marketing messages need an opt-out footer: give --shortcode N (default template for the region) or --footer TEMPLATE".into(),
    ))
}

/// The record format of a stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// One number per line; allowed numbers out in E.164.
    #[default]
    Lines,
    /// RFC 4180 CSV with a header.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "lines" => Ok(Format::Lines),
            "csv" => Ok(Format::Csv),
            "jsonl" => Ok(Format::Jsonl),
            _ => Err(format!("unknown format {s:?}: use lines, csv or jsonl")),
        }
    }
}

/// Everything a streaming run needs besides the source and the streams.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The brand whose stops and consents apply.
    pub brand: String,
    /// The consent purpose.
    pub purpose: String,
    /// The decision options.
    pub filter: FilterOptions,
    /// The record format.
    pub format: Format,
    /// CSV: the column holding the number.
    pub number_column: String,
    /// CSV: the column holding the message.
    pub message_column: String,
    /// JSONL: the field holding the number.
    pub number_field: String,
    /// JSONL: the field holding the message.
    pub message_field: String,
    /// The message for records without one (a missing column or field, or an empty one).
    pub message: Option<String>,
    /// CSV: the field separator (`,`; or `;`, tab, `|`: see
    /// [`crate::spreadsheet::parse_delimiter`]). Output keeps the input's separator.
    pub delimiter: u8,
    /// Worker threads.
    pub threads: usize,
    /// Target chunk size in bytes (default 256 KiB: a chunk's parsed records then stay in
    /// L2 between parsing and deciding; measured 8–10 % faster than 1 MiB).
    pub chunk_bytes: usize,
    /// Stops arriving during the run (from [`crate::store::live::watch`]): folded into
    /// every decision, and records decided before a stop arrived are decided again before
    /// they are written. `None`: the run sees only its source.
    pub live: Option<std::sync::Arc<crate::store::live::LiveStops>>,
    /// The key of receipt hashes ([`receipts::ReceiptKey::load_or_create`] for a store):
    /// required when receipts are written.
    pub receipt_key: Option<receipts::ReceiptKey>,
}

impl RunOptions {
    /// Defaults: `lines`, columns `number`/`message`, fields `to`/`body`, all cores.
    pub fn new(brand: &str, purpose: &str, filter: FilterOptions) -> RunOptions {
        RunOptions {
            brand: brand.into(),
            purpose: purpose.into(),
            filter,
            format: Format::Lines,
            number_column: "number".into(),
            message_column: "message".into(),
            number_field: "to".into(),
            message_field: "body".into(),
            message: None,
            delimiter: b',',
            threads: crate::pipeline::default_threads(),
            chunk_bytes: 256 << 10,
            live: None,
            receipt_key: None,
        }
    }

    /// The same options with another format.
    pub fn with_format(mut self, format: Format) -> RunOptions {
        self.format = format;
        self
    }

    /// True when this run can carry messages and so needs the opt-out footer: marketing in
    /// `csv` or `jsonl`, or with `--message`. (A `lines` run without `--message` outputs
    /// numbers only; there is nothing to stamp.)
    pub fn needs_footer(&self) -> bool {
        self.filter.class == Class::Marketing
            && (self.format != Format::Lines || self.message.is_some())
    }
}

/// Where a run writes.
pub struct Sinks<'a> {
    /// Allowed records.
    pub output: &'a mut dyn Write,
    /// Rejected records with their reason (skipped when `None`).
    pub rejects: Option<&'a mut dyn Write>,
    /// Called from time to time with the number of records decided so far.
    pub progress: Option<&'a mut dyn FnMut(u64)>,
}

/// Filters a stream: reads records from `input`, writes allowed ones to `sinks.output`
/// and rejected ones (the original record plus its reason) to `sinks.rejects`, both in
/// input order, and returns the counts.
///
/// Every record gets exactly one reason; a record that cannot be read is `MALFORMED` and
/// the run goes on. Nothing is written before the options and (for CSV) the header are
/// checked.
///
/// # Errors
/// [`Error::Brand`] for a brand name that cannot be canonical (empty, `*`, control
/// characters); [`Error::Footer`] when marketing messages have no footer, [`Error::Options`] for
/// contradictory options, [`Error::Csv`] for a missing or unreadable header or column,
/// [`Error::Io`] for read and write errors.
pub fn run_with<S: StandingSource, R: Read + Send>(
    source: &S,
    opts: &RunOptions,
    input: R,
    sinks: Sinks<'_>,
) -> Result<Report, Error> {
    run_with_receipts(source, opts, input, sinks, None)
}

/// [`run_with`], also writing one decision receipt per record to `receipts` (see
/// [`receipts`]), in input order, hashing numbers under `opts.receipt_key`.
///
/// # Errors
/// As [`run_with`]; write errors on `receipts` too; [`Error::Options`] when receipts are
/// asked for without a receipt key.
pub fn run_with_receipts<S: StandingSource, R: Read + Send>(
    source: &S,
    opts: &RunOptions,
    input: R,
    sinks: Sinks<'_>,
    receipts: Option<&mut dyn Write>,
) -> Result<Report, Error> {
    let started = Instant::now();
    if opts.needs_footer() && opts.filter.footer.is_none() && opts.filter.routes.is_none() {
        return Err(no_footer());
    }
    let same = match opts.format {
        Format::Csv => opts.number_column == opts.message_column,
        Format::Jsonl => opts.number_field == opts.message_field,
        Format::Lines => false,
    };
    if same {
        return Err(Error::Options(
            "the number and the message must be different columns/fields".into(),
        ));
    }
    if receipts.is_some() && opts.receipt_key.is_none() {
        return Err(Error::Options(
            "receipts need the store's receipt key (RunOptions::receipt_key): numbers are \
             never written under an unkeyed hash"
                .into(),
        ));
    }
    let brand = crate::brand::canonical(&opts.brand).map_err(Error::Brand)?;
    let filter = Filter::new(source, &brand, &opts.purpose, opts.filter.clone()).prepared();
    let counts = engine::run(&filter, opts, input, sinks, receipts)?;
    Ok(Report {
        counts: counts.0,
        malformed_lines: counts.1,
        not_utf8: counts.2,
        generation: source.generation(),
        journal_seq: source.journal_seq(),
        now: opts.filter.now,
        now_overridden: false,
        elapsed_seconds: started.elapsed().as_secs_f64(),
    })
}

/// Reads up to `want` bytes (fewer only at end of input).
fn read_some<R: Read>(input: &mut R, buf: &mut Vec<u8>, want: usize) -> io::Result<bool> {
    let start = buf.len();
    buf.resize(start + want, 0);
    let mut filled = start;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => {
                buf.truncate(filled);
                return Ok(false);
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                buf.truncate(filled);
                return Err(e);
            }
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests;
