//! Inbound (mobile-originated) replies: `STOP`, `START`, `JA`, `HELP` understood and
//! honoured durably, with an automatic reply for each.
//!
//! ```text
//! text ──keyword::parse──▶ Keyword + brand word ──resolve (registry, evidence)──▶ Plan
//!      Plan.events ──Store batch (fsync)──▶ [START/JA/HELP: standing read back] ──▶
//!      output line (action, brands, reply, standing)
//! ```
//!
//! * [`keyword`] turns a text into a [`Keyword`] and an optional brand word (pure).
//! * [`resolve`] decides, for one message, the action, the brands, the events and the reply
//!   from the brand registry and (for `JA`) the number's evidence. Pure.
//! * [`run`] streams messages (jsonl or csv), appends each message's events and writes its
//!   output line only once they are durable. A reading thread parses records and texts; the
//!   run's thread decides, commits and answers (a burst waits on it).
//! * [`replies`] keeps the replies a run rendered (a burst asks for the same few again and
//!   again); `seen` remembers answered gateway ids for a window ([`IDS_FILE`]).
//! * [`standing`] reads, once a batch is durable, the standing a START, JA or HELP about
//!   one brand leaves (`filter`'s verdict over the store's view), and the reply states it:
//!   subscribed, pending (a required confirmation missing) or unsubscribed. It is the
//!   standing when the reply is written: a later message of the same number in the same
//!   batch (a STOP right after a START) is part of it, so no reply claims a subscription
//!   the store no longer holds.
//!
//! ## Which brand a message concerns
//! * a brand word that is a registered keyword on the receiving number: that brand;
//! * otherwise, on a number dedicated to one brand: that brand;
//! * otherwise (a shared short code, or a brand word nobody registered there):
//!   - a STOP stops **every brand on that number** (fail safe), and a STOP to a number no
//!     brand is registered on stops every brand (`*`): a person who texts STOP must never be
//!     messaged again because we could not tell whom they meant. A STOP naming a brand
//!     registered only on another number stops that brand too (`ACME STOPP` to a number
//!     dedicated to Solo stops ACME and Solo);
//!   - a START is not understood (`UNKNOWN`): consent is never guessed, nor is a brand word
//!     that is not registered on the receiving number read as its owner;
//!   - a JA confirms the newest pending consent among the brands on that number (a brand
//!     word that is not a registered keyword, as in `JA TAKK`, is ignored);
//!   - HELP answers for the brands on that number.
//!
//! ## Confirmation (double opt-in)
//! `JA`/`YES`/`Y`/`OK` looks, for each (brand, purpose) of the candidate brands, at the
//! newest `sms` consent (by `granted_at`, ties by sequence, as the store does). Among those
//! still pending (no `confirmed_at`), granted at or before the reply and not expired, the
//! newest is confirmed: an identical copy with `confirmed_at` = received time is appended.
//! The copy has the same `granted_at` and a later sequence, so it becomes the newest consent
//! everywhere the store picks one (overlay, view, compaction). A JA never creates consent.

pub use crate::keyword::{self, intent};
pub mod replies;
pub mod reply;
mod seen;
pub mod standing;

#[cfg(test)]
mod tests;

use std::io::{Read, Write};

pub use self::keyword::{Keyword, Parsed};
use self::replies::Replies;
use self::reply::Kind;
pub use self::seen::IDS_FILE;
use self::seen::SeenIds;
use crate::phone::{self, E164, Regions};
use crate::standing::Timestamp;
use crate::store::brands::{Brand, Language, Registry, normalize_shortcode};
use crate::store::event::{Consent, EVERY_BRAND, Event, MAX_TEXT, Stop};
use crate::store::{EventRef, Recorded, Store, StoreError};

/// What was done with one inbound message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Opt-out recorded (one stop per brand concerned, or `*`).
    Stop,
    /// Opt-in recorded (a confirmed `sms_keyword` consent).
    Start,
    /// A pending consent confirmed.
    Confirm,
    /// A confirmation with nothing pending to confirm: no event.
    NoPending,
    /// Help requested: no event.
    Help,
    /// Not understood: no event.
    Unknown,
    /// Not understood but not clearly unrelated (it mentions the brand, messages or
    /// stopping, or asks something): no event, queued for a human (`--review`), and the
    /// reply says how to stop.
    Review,
    /// The input record is unusable: no event.
    Error,
}

impl Action {
    /// The name in output lines (`STOP`, `START`, `CONFIRM`, `NO_PENDING`, `HELP`,
    /// `UNKNOWN`, `REVIEW`, `ERROR`).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Stop => "STOP",
            Action::Start => "START",
            Action::Confirm => "CONFIRM",
            Action::NoPending => "NO_PENDING",
            Action::Help => "HELP",
            Action::Unknown => "UNKNOWN",
            Action::Review => "REVIEW",
            Action::Error => "ERROR",
        }
    }

    /// Every action, in output order of summaries.
    pub const ALL: [Action; 8] = [
        Action::Stop,
        Action::Start,
        Action::Confirm,
        Action::NoPending,
        Action::Help,
        Action::Unknown,
        Action::Review,
        Action::Error,
    ];
}

/// One inbound message, its number already normalised.
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    /// The person's number.
    pub from: E164,
    /// The short code or number that received it.
    pub to: &'a str,
    /// The text as received.
    pub text: &'a str,
    /// When it was received.
    pub received_at: Timestamp,
}

/// The decision for one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// What is done.
    pub action: Action,
    /// The brands concerned (`*` for every brand).
    pub brands: Vec<String>,
    /// The events to append (empty for HELP, UNKNOWN, NO_PENDING).
    pub events: Vec<Event>,
    /// The automatic reply to send back.
    pub reply: String,
}

/// Settings of a [`resolve`]/[`run`] that do not come from the registry.
#[derive(Clone, Debug)]
pub struct Options {
    /// Regions for numbers in national form, tried in order (`NO,SE`); the first also picks
    /// the reply language when no brand is concerned.
    pub regions: Regions,
    /// Compact the store (after a commit, before reading on) whenever this policy advises
    /// it (a long-running `inbound` releases the store's lock only while it waits for input,
    /// so a `compact` beside it may have to wait long).
    pub compact: Option<crate::store::CompactPolicy>,
    /// Read the brand registry again from the store directory whenever another process
    /// changed it while the run waited for input (see [`run`]); for a registry that was
    /// loaded from there, as the CLI's is.
    pub reload_registry: bool,
}

fn reply_for(kind: Kind, brands: &[&Brand], to: &str, fallback: Language) -> String {
    let first = brands.first();
    let lang = first.map_or(fallback, |b| b.language);
    if brands.is_empty() && kind == Kind::Help {
        // No registered brand here: a generic sender, and how to stop (every brand).
        let t = reply::unregistered_help_template(lang);
        return bounded(reply::render(kind, lang, Some(t), reply::generic_sender(lang), to));
    }
    // A brand's override speaks for that brand only; help for several brands (or none)
    // names them all and says how to stop.
    let template = if brands.len() == 1 {
        first.and_then(|b| b.replies.get(kind.as_str())).map(String::as_str)
    } else if kind == Kind::Help {
        Some(reply::shared_help_template(lang))
    } else {
        None
    };
    let every = reply::every_brand_word(lang);
    let names = if brands.is_empty() {
        every.to_string()
    } else {
        brands.iter().map(|b| b.name.as_str()).collect::<Vec<_>>().join(", ")
    };
    // The word to send is the brand's keyword, which the parser reads (not its name).
    let keyword = match brands {
        [b] => b.keyword.to_uppercase(),
        _ => names.clone(),
    };
    let r = reply::render_keyword(kind, lang, template, &names, &keyword, to);
    if brands.len() > 1 && crate::sms::count(&r).segments > 1 {
        // Many brands on one number: "every sender" rather than a list that would take
        // several SMS (25 brands made a 589-character STOP reply).
        let short = reply::render_keyword(kind, lang, template, every, every, to);
        if crate::sms::count(&short).segments < crate::sms::count(&r).segments {
            return bounded(short);
        }
    }
    bounded(r)
}

/// `reply` cut (at a character boundary, with `...`) to [`reply::MAX_REPLY_SEGMENTS`].
fn bounded(mut reply: String) -> String {
    while crate::sms::count(&reply).segments > reply::MAX_REPLY_SEGMENTS {
        let keep = reply.char_indices().rev().nth(8).map_or(0, |(i, _)| i);
        reply.truncate(keep);
        reply.push_str("...");
    }
    reply
}

/// The consent source recorded for a keyword opt-in: where and what was texted, made
/// storable (control characters become spaces, at most [`MAX_TEXT`] bytes).
fn source_of(to: &str, text: &str) -> String {
    let clean: String = text.trim().chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let mut s = format!("sms to {to}: {clean}");
    if s.len() > MAX_TEXT {
        let mut cut = MAX_TEXT;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// The consent a confirmation should confirm among `brands`, from the number's evidence
/// (see the module docs), or `None`.
pub fn pending_consent<'e>(
    evidence: &'e [Recorded],
    brands: &[&Brand],
    at: Timestamp,
) -> Option<&'e Consent> {
    // Newest consent per (brand, purpose): by granted_at, ties by sequence.
    let mut newest: Vec<(&Consent, u64)> = Vec::new();
    for r in evidence {
        let Event::Consent(c) = &r.event else { continue };
        if c.channel != "sms" || !brands.iter().any(|b| b.name == c.brand) {
            continue;
        }
        match newest.iter_mut().find(|(o, _)| o.brand == c.brand && o.purpose == c.purpose) {
            Some(slot) => {
                if (c.granted_at, r.seq) > (slot.0.granted_at, slot.1) {
                    *slot = (c, r.seq);
                }
            }
            None => newest.push((c, r.seq)),
        }
    }
    newest
        .into_iter()
        .filter(|(c, _)| {
            c.confirmed_at.is_none() && c.granted_at <= at && c.expires_at.is_none_or(|e| e > at)
        })
        .max_by_key(|(c, seq)| (c.granted_at, *seq))
        .map(|(c, _)| c)
}

/// Decides what to do with one message (see the module docs). `evidence` is the number's
/// recorded events, needed only for [`Keyword::Confirm`] ([`needs_evidence`]).
pub fn resolve(
    parsed: &Parsed,
    msg: &Message<'_>,
    registry: &Registry,
    evidence: &[Recorded],
    opts: &Options,
) -> Plan {
    resolve_with(parsed, msg, registry, evidence, opts, &Replies::new())
}

/// [`resolve`], with replies rendered once per run ([`Replies`], for `registry`).
fn resolve_with(
    parsed: &Parsed,
    msg: &Message<'_>,
    registry: &Registry,
    evidence: &[Recorded],
    opts: &Options,
    replies: &Replies,
) -> Plan {
    let m = Resolving::new(parsed, msg, registry, opts, replies);
    match parsed.keyword {
        Keyword::Stop => m.stop(),
        Keyword::Start => m.start(),
        Keyword::Confirm => m.confirm(evidence),
        Keyword::Help => m.plan(Action::Help, &m.named_or_on_number(), Kind::Help, Vec::new()),
        Keyword::Unknown => m.unclear(),
    }
}

/// One message being resolved: the brands it may concern, and how a plan's reply is
/// rendered.
struct Resolving<'a> {
    parsed: &'a Parsed,
    msg: &'a Message<'a>,
    registry: &'a Registry,
    replies: &'a Replies,
    /// The receiving number (see [`receiving_number`]).
    to: String,
    /// The brands registered on it.
    on_number: Vec<&'a Brand>,
    /// The brand the message names by a keyword registered on this number.
    named: Option<&'a Brand>,
    /// The brand this number belongs to alone.
    dedicated: Option<&'a Brand>,
    /// Replies concerning no brand speak the number's language, else the region's.
    fallback: Language,
}

impl<'a> Resolving<'a> {
    /// Looks up the receiving number and the brands on it.
    fn new(
        parsed: &'a Parsed,
        msg: &'a Message<'a>,
        registry: &'a Registry,
        opts: &Options,
        replies: &'a Replies,
    ) -> Self {
        let to = receiving_number(msg.to, registry, &opts.regions);
        let on_number: Vec<&Brand> = registry.on_shortcode(&to).collect();
        let named = parsed.brand.as_deref().and_then(|w| registry.by_keyword(&to, w));
        let dedicated = on_number.iter().copied().find(|b| b.dedicated);
        let fallback =
            on_number.first().map_or(Language::of_region(opts.regions.primary()), |b| b.language);
        Resolving { parsed, msg, registry, replies, to, on_number, named, dedicated, fallback }
    }

    /// A plan concerning `brands`, with its reply of `kind`.
    fn plan(&self, action: Action, brands: &[&Brand], kind: Kind, events: Vec<Event>) -> Plan {
        let (to, fallback) = (&self.to, self.fallback);
        Plan {
            action,
            brands: brands.iter().map(|b| b.name.clone()).collect(),
            events,
            reply: self
                .replies
                .get(kind, brands, to, fallback, || reply_for(kind, brands, to, fallback)),
        }
    }

    /// Nothing done, the UNKNOWN reply.
    fn unknown(&self) -> Plan {
        self.plan(Action::Unknown, &[], Kind::Unknown, Vec::new())
    }

    /// The brand named, else the number's owner.
    fn brand_or_owner(&self) -> Option<&'a Brand> {
        self.named.or(self.dedicated)
    }

    /// The brand named or the number's owner, else every brand on the number.
    fn named_or_on_number(&self) -> Vec<&'a Brand> {
        match self.brand_or_owner() {
            Some(b) => vec![b],
            None => self.on_number.clone(),
        }
    }

    /// STOP: a stop for each brand concerned, or for every brand (`*`) when none is.
    fn stop(&self) -> Plan {
        let brands = self.stopped_brands();
        let stop = |brand: &str| {
            Event::Stop(Stop {
                number: self.msg.from,
                brand: brand.to_string(),
                stopped_at: self.msg.received_at,
            })
        };
        if brands.is_empty() {
            let mut p = self.plan(Action::Stop, &[], Kind::Stop, vec![stop(EVERY_BRAND)]);
            p.brands = vec![EVERY_BRAND.to_string()];
            return p;
        }
        let events = brands.iter().map(|b| stop(&b.name)).collect();
        self.plan(Action::Stop, &brands, Kind::Stop, events)
    }

    /// The brands a STOP concerns: the brand named on this number; else, fail safe, the
    /// brand named (registered on another number) and whoever this number belongs to
    /// (its owner, or every brand sharing it).
    fn stopped_brands(&self) -> Vec<&'a Brand> {
        let mut brands: Vec<&Brand> = Vec::new();
        if let Some(b) = self.named {
            brands.push(b);
            return brands;
        }
        if let Some(w) = self.parsed.brand.as_deref() {
            brands.extend(self.registry.by_keyword_anywhere(w));
        }
        for b in self.dedicated.map_or(self.on_number.clone(), |d| vec![d]) {
            if !brands.iter().any(|x| x.name == b.name) {
                brands.push(b);
            }
        }
        brands
    }

    /// START: a confirmed sms consent for the brand named or the number's owner.
    fn start(&self) -> Plan {
        // A brand word that is not registered here is never read as the owner's.
        if self.parsed.brand.is_some() && self.named.is_none() {
            return self.unknown();
        }
        let Some(b) = self.brand_or_owner() else { return self.unknown() };
        let msg = self.msg;
        let consent = Consent {
            number: msg.from,
            brand: b.name.clone(),
            purpose: b.purpose.clone(),
            channel: "sms".into(),
            granted_at: msg.received_at,
            method: "sms_keyword".into(),
            text_ref: b.consent_text_ref.clone().unwrap_or_else(|| "sms-keyword".into()),
            source: source_of(&self.to, msg.text),
            expires_at: None,
            // Texted from the person's own phone: confirmed by its nature.
            confirmed_at: Some(msg.received_at),
        };
        self.plan(Action::Start, &[b], Kind::Start, vec![Event::Consent(consent)])
    }

    /// Confirmation: confirms the pending consent (see [`pending_consent`]) among the
    /// brands concerned, from the number's `evidence`.
    fn confirm(&self, evidence: &[Recorded]) -> Plan {
        let brands = self.named_or_on_number();
        if brands.is_empty() {
            return self.unknown();
        }
        match pending_consent(evidence, &brands, self.msg.received_at) {
            Some(c) => {
                let b = brands.iter().copied().find(|b| b.name == c.brand);
                let confirmed = Consent { confirmed_at: Some(self.msg.received_at), ..c.clone() };
                let shown: Vec<&Brand> = b.into_iter().collect();
                self.plan(Action::Confirm, &shown, Kind::Confirm, vec![Event::Consent(confirmed)])
            }
            None => self.plan(Action::NoPending, &brands, Kind::Help, Vec::new()),
        }
    }

    /// No keyword: for review when unclear or naming a brand on this number, else UNKNOWN.
    fn unclear(&self) -> Plan {
        if self.parsed.unclear || mentions_brand(self.msg.text, &self.on_number) {
            self.plan(Action::Review, &[], Kind::Review, Vec::new())
        } else {
            self.unknown()
        }
    }
}

/// A receiving long number (7 digits or more, `to` or a registered one) as international
/// digits: a valid number by the usual rules, else by its spelling alone (dedicated
/// numbers are not always valid for subscribers: `+4759440000`): `+` or `00` then the
/// digits, ten digits or more without a leading `0` as international digits, or else a
/// national form of the first region (its trunk `0` dropped).
fn long_number(s: &str, regions: &Regions) -> Option<u64> {
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 7 || digits.len() > 17 {
        return None;
    }
    if let Ok(e) = read_from(s, regions) {
        return Some(e.as_u64());
    }
    let intl = if s.starts_with('+') || (digits.len() >= 10 && !digits.starts_with('0')) {
        digits
    } else if let Some(d) = digits.strip_prefix("00") {
        d.to_string()
    } else {
        let cc = match regions.primary().as_str() {
            "NO" => "47",
            "SE" => "46",
            "DK" => "45",
            "FI" => "358",
            "IS" => "354",
            _ => return None,
        };
        format!("{cc}{}", digits.strip_prefix('0').unwrap_or(&digits))
    };
    intl.parse().ok()
}

/// Calling codes a short code may be written behind (`+472401`, `00462401`).
const SHORT_CODE_PREFIXES: [&str; 5] = ["47", "46", "45", "358", "354"];

/// The receiving number `to` as the registry spells it: a long number in any spelling
/// (`+4759440000`, `4759440000`, `004759440000`, national `59440000`, spaced) is the
/// registered long number that is the same E.164 number; a short code behind a Nordic
/// calling code (`+472401`, `00472401`) is the registered short code; anything else is
/// `to` without spaces, dashes, dots and brackets.
pub fn receiving_number(to: &str, registry: &Registry, regions: &Regions) -> String {
    let direct = normalize_shortcode(to);
    if registry.on_shortcode(&direct).next().is_some() {
        return direct;
    }
    if let Some(e) = long_number(&direct, regions)
        && let Some(b) =
            registry.brands().iter().find(|b| long_number(&b.shortcode, regions) == Some(e))
    {
        return b.shortcode.clone();
    }
    if let Some(d) = direct.strip_prefix('+').or_else(|| direct.strip_prefix("00")) {
        for cc in SHORT_CODE_PREFIXES {
            if let Some(rest) = d.strip_prefix(cc)
                && (3..=6).contains(&rest.len())
                && registry.on_shortcode(rest).next().is_some()
            {
                return rest.to_string();
            }
        }
    }
    direct
}

/// Whether `text` names (as whole words) the keyword of one of `brands`.
fn mentions_brand(text: &str, brands: &[&Brand]) -> bool {
    if brands.is_empty() {
        return false;
    }
    let folded = format!(" {} ", keyword::fold(text));
    brands.iter().any(|b| {
        !b.keyword.is_empty()
            && folded.match_indices(b.keyword.as_str()).any(|(i, _)| {
                folded[..i].ends_with(' ') && folded[i + b.keyword.len()..].starts_with(' ')
            })
    })
}

/// Whether resolving `parsed` reads the number's evidence (a confirmation does).
pub fn needs_evidence(parsed: &Parsed) -> bool {
    parsed.keyword == Keyword::Confirm
}

/// Input format of [`run`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line: `from`, `to`, `text`, `received_at`.
    #[default]
    Jsonl,
    /// CSV with a header naming `from,to,text,received_at` (any order, extra columns ignored).
    Csv,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "jsonl" | "json" => Ok(Format::Jsonl),
            "csv" => Ok(Format::Csv),
            _ => Err(format!("unknown format {s:?}: use jsonl or csv")),
        }
    }
}

/// One input record as read, before validation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawMessage {
    /// The person's number as written.
    pub from: String,
    /// Receiving short code / number.
    pub to: String,
    /// Text.
    pub text: String,
    /// RFC 3339 time, or Unix seconds.
    pub received_at: String,
    /// The gateway's message id (`id` or `message_id`), if it sent one.
    pub id: Option<String>,
}

fn json_field(v: serde_json::Value, name: &str) -> Result<String, String> {
    match v {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        serde_json::Value::Null => Err(format!("{name} is missing")),
        _ => Err(format!("{name} must be a string")),
    }
}

/// A JSON object's top-level members, and the first key that appeared twice (if one did).
/// serde_json's own `Map` keeps the last value of a repeated key silently; for an inbound
/// record that would be a guess at which `from` (or `text`) the sender meant.
struct Members {
    map: serde_json::Map<String, serde_json::Value>,
    repeated: Option<String>,
}

impl<'de> serde::Deserialize<'de> for Members {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Members, D::Error> {
        d.deserialize_map(MembersVisitor)
    }
}

struct MembersVisitor;

impl<'de> serde::de::Visitor<'de> for MembersVisitor {
    type Value = Members;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Members, A::Error> {
        let mut m = Members { map: serde_json::Map::new(), repeated: None };
        // Read to the end either way, so bad JSON later in the line is reported as such.
        while let Some((k, v)) = a.next_entry::<String, serde_json::Value>()? {
            if m.map.contains_key(&k) {
                m.repeated.get_or_insert(k);
            } else {
                m.map.insert(k, v);
            }
        }
        Ok(m)
    }
}

/// Parses one jsonl input line.
///
/// # Errors
/// A short reason (bad JSON, a repeated key, a missing or non-string field); never the
/// number itself.
pub fn parse_json_line(line: &str) -> Result<RawMessage, String> {
    let Members { map: mut m, repeated } = serde_json::from_str(line).map_err(|e| {
        if e.is_data() {
            // serde's message may quote a value (a number): say what is wanted instead.
            "bad record: not an object with from, to, text, received_at".to_string()
        } else {
            format!("bad JSON at column {}", e.column())
        }
    })?;
    if let Some(k) = repeated {
        // Only our own field names are echoed: any other key is the sender's text.
        return Err(match k.as_str() {
            "from" | "to" | "text" | "received_at" => format!("bad record: {k} appears twice"),
            _ => "bad record: a key appears twice".to_string(),
        });
    }
    let id = match (m.remove("id"), m.remove("message_id")) {
        (Some(_), Some(_)) => return Err("bad record: both id and message_id are given".into()),
        (Some(v), None) | (None, Some(v)) if !v.is_null() => Some(json_field(v, "id")?),
        _ => None,
    };
    // A missing received_at is read as the receipt time (see `message_time`).
    let received_at = match m.remove("received_at") {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(v) => json_field(v, "received_at")?,
    };
    let mut field = |name: &str| json_field(m.remove(name).unwrap_or_default(), name);
    Ok(RawMessage { from: field("from")?, to: field("to")?, text: field("text")?, received_at, id })
}

/// Parses `received_at`: RFC 3339, Unix seconds, or Unix milliseconds (13 digits or more:
/// `1780000000000`).
///
/// # Errors
/// A short reason.
pub fn parse_time(s: &str) -> Result<Timestamp, String> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        let v: Timestamp = t.parse().map_err(|_| "received_at is out of range".to_string())?;
        // Seconds from 1e11 on would be past the year 5000: those are milliseconds.
        return Ok(if v >= 100_000_000_000 { v / 1000 } else { v });
    }
    crate::timefmt::parse_rfc3339(t).map_err(|_| "received_at is not an RFC 3339 time".into())
}

/// Where a message's time came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeSource {
    /// The gateway's `received_at`.
    Gateway,
    /// The time `inbound` read the message: `received_at` was missing, unreadable, `0` or
    /// otherwise before 2001, or more than [`MAX_FUTURE`] seconds in the future.
    Received,
}

/// How far (seconds) a gateway's `received_at` may lie in the future (clock skew).
pub const MAX_FUTURE: Timestamp = 300;
/// Earliest plausible `received_at` (2001-09-09): anything before is a gateway's default.
pub const MIN_RECEIVED: Timestamp = 1_000_000_000;

/// The time of a message: the gateway's `received_at` when it is usable, else `now` (the
/// receipt time; see [`TimeSource::Received`]).
pub fn message_time(received_at: &str, now: Timestamp) -> (Timestamp, TimeSource) {
    match parse_time(received_at) {
        Ok(t)
            if (MIN_RECEIVED..=now.saturating_add(MAX_FUTURE)).contains(&t)
                && crate::store::event::check_time(t, crate::store::Field::ReceivedAt).is_ok() =>
        {
            (t, TimeSource::Gateway)
        }
        _ => (now, TimeSource::Received),
    }
}

/// Reads the sender's number: digits only, ten or more, without a leading `0`, valid as an
/// international number (`46701234567`, `4791234567`, as several gateways send them) are
/// read as E.164 with the `+` left out; anything else in national form by `regions`.
fn read_from(raw: &str, regions: &Regions) -> Result<E164, phone::PhoneError> {
    let t = raw.trim();
    if (10..=15).contains(&t.len()) && !t.starts_with('0') && t.bytes().all(|b| b.is_ascii_digit())
    {
        let mut buf = [0u8; 16];
        buf[0] = b'+';
        buf[1..=t.len()].copy_from_slice(t.as_bytes());
        if let Ok(e) = phone::normalize(&buf[..=t.len()], regions.primary()) {
            return Ok(e);
        }
    }
    regions.normalize(t.as_bytes())
}

/// One input record with its 1-based line (CSV: the record's first line), or why it could
/// not be read.
type Item = (u64, Result<Received, String>);

/// A record prepared on the reading thread: its text parsed and its id's key computed
/// there, off the thread that decides and commits (the one a burst waits on).
struct Received {
    raw: RawMessage,
    parsed: Parsed,
    /// [`SeenIds::key`].
    key: Option<u64>,
}

/// The [`Item`] of input line `line`.
fn prepared(line: u64, raw: Result<RawMessage, String>) -> Item {
    let received = raw.map(|raw| {
        let (parsed, key) = (keyword::parse(&raw.text), SeenIds::key(&raw));
        Received { raw, parsed, key }
    });
    (line, received)
}

fn read_jsonl<R: Read>(input: R, tx: &crossbeam_channel::Sender<Item>) -> std::io::Result<()> {
    let mut r = std::io::BufReader::with_capacity(1 << 16, input);
    let mut buf = Vec::new();
    let mut line = 0u64;
    loop {
        buf.clear();
        line += 1;
        if crate::bounded::read_line_bounded(&mut r, &mut buf, line)? == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&buf);
        let text = text.trim_start_matches('\u{feff}').trim();
        if text.is_empty() {
            continue;
        }
        if tx.send(prepared(line, parse_json_line(text))).is_err() {
            return Ok(());
        }
    }
}

fn read_csv<R: Read>(
    input: R,
    tx: &crossbeam_channel::Sender<Item>,
) -> Result<(), crate::error::Error> {
    let limit = crate::bounded::RecordLimit::new(input, 4 * crate::bounded::MAX_RECORD);
    let mut r = csv::ReaderBuilder::new().flexible(true).from_reader(limit);
    let headers = r.headers().map_err(|e| crate::error::Error::Csv {
        line: 1,
        detail: format!("cannot read the header ({e})"),
    })?;
    let names: Vec<&[u8]> =
        headers.iter().map(|h| crate::csv_header::strip_bom(h.trim().as_bytes())).collect();
    // A repeated column would leave us to guess which of the two is meant (as in jsonl).
    let col = |want: &str| {
        crate::csv_header::find_column(&names, want)
            .map_err(|e| crate::error::Error::Csv { line: 1, detail: e.to_string() })
    };
    let id_col = col("id")?.or(col("message_id")?);
    let cols = [col("from")?, col("to")?, col("text")?];
    let [Some(f), Some(t), Some(x)] = cols else {
        return Err(crate::error::Error::Csv {
            line: 1,
            detail: "the header must name the columns from,to,text (and received_at)".into(),
        });
    };
    // Without a received_at column every message gets its receipt time.
    let a = col("received_at")?;
    r.get_mut().reset();
    let mut rec = csv::StringRecord::new();
    loop {
        let line = r.position().line();
        let read = r.read_record(&mut rec);
        r.get_mut().reset();
        let item = match read {
            Ok(false) => return Ok(()),
            Ok(true) => {
                let line = rec.position().map_or(line, |p| p.line());
                let get = |i: usize, name: &str| {
                    rec.get(i).map(str::to_string).ok_or_else(|| format!("{name} is missing"))
                };
                let raw = (|| {
                    Ok(RawMessage {
                        from: get(f, "from")?,
                        to: get(t, "to")?,
                        text: get(x, "text")?,
                        received_at: a.and_then(|i| rec.get(i)).unwrap_or("").to_string(),
                        id: id_col.and_then(|i| rec.get(i)).map(str::to_string),
                    })
                })();
                (line, raw)
            }
            // An I/O error ends the input; a bad record (invalid UTF-8) is reported and skipped.
            Err(e) if e.is_io_error() => {
                if let csv::ErrorKind::Io(io) = e.kind()
                    && io.kind() == std::io::ErrorKind::InvalidData
                {
                    return Err(crate::error::Error::Csv { line, detail: io.to_string() });
                }
                return Err(crate::error::Error::Io(e.into()));
            }
            Err(_) => (line, Err("bad CSV record (not UTF-8)".to_string())),
        };
        if tx.send(prepared(item.0, item.1)).is_err() {
            return Ok(());
        }
    }
}

/// Counts per action of a [`run`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Messages per action.
    pub actions: std::collections::BTreeMap<Action, u64>,
    /// Events appended.
    pub events: u64,
    /// Journal commits (fsyncs) made.
    pub commits: u64,
    /// Compactions run ([`Options::compact`]).
    pub compactions: u64,
    /// Messages whose gateway id was seen before: answered as the first time, no event.
    pub repeats: u64,
}

impl Summary {
    /// Messages of `action`.
    pub fn count(&self, action: Action) -> u64 {
        self.actions.get(&action).copied().unwrap_or(0)
    }

    /// One line for stderr: `12 messages: 5 STOP, 2 START, … (7 events, 3 commits)`.
    pub fn line(&self) -> String {
        let total: u64 = self.actions.values().sum();
        let parts: Vec<String> = Action::ALL
            .iter()
            .filter(|a| self.count(**a) > 0)
            .map(|a| format!("{} {}", self.count(*a), a.as_str()))
            .collect();
        let mut compactions = match self.compactions {
            0 => String::new(),
            n => format!(", {n} compactions"),
        };
        if self.repeats > 0 {
            compactions.push_str(&format!(", {} repeated message ids", self.repeats));
        }
        format!(
            "{total} messages: {} ({} events, {} commits{compactions})",
            if parts.is_empty() { "none".into() } else { parts.join(", ") },
            self.events,
            self.commits
        )
    }
}

/// The consents a confirmation looks at, kept in memory for one run so that a `JA` does
/// not re-read the journal: the snapshot's evidence per number (read on demand, an index
/// lookup), the journal tail as of the run's start (scanned once, at the first `JA`; consent
/// events only), and every consent this run decided, with the sequence number it gets.
struct ConsentCache {
    /// Last sequence acknowledged when the run started.
    start_seq: u64,
    /// Journal-tail consents up to `start_seq`, by number (loaded at the first use).
    tail: Option<std::collections::HashMap<u64, Vec<Recorded>>>,
    /// Consents decided during this run, by number.
    added: std::collections::HashMap<u64, Vec<Recorded>>,
}

impl ConsentCache {
    fn new(store: &Store) -> ConsentCache {
        ConsentCache { start_seq: store.last_seq(), tail: None, added: Default::default() }
    }

    /// The consent evidence of `number`, in sequence order.
    fn evidence(&mut self, store: &Store, number: E164) -> Result<Vec<Recorded>, StoreError> {
        let snap = store.snapshot();
        if self.tail.is_none() {
            let mut tail: std::collections::HashMap<u64, Vec<Recorded>> = Default::default();
            store.scan_tail(self.start_seq, |seq, ev| {
                if let EventRef::Consent { number, .. } = ev {
                    let r = Recorded { seq, event: ev.to_owned() };
                    tail.entry(number.as_u64()).or_default().push(r);
                }
                Ok(())
            })?;
            self.tail = Some(tail);
        }
        let mut out = Vec::new();
        if let Some(s) = &snap {
            for r in s.evidence(number.as_u64())? {
                out.push(Recorded { seq: r.seq, event: crate::store::event_of(s, &r, number) });
            }
        }
        let n = number.as_u64();
        for m in
            [self.tail.as_ref().and_then(|t| t.get(&n)), self.added.get(&n)].into_iter().flatten()
        {
            out.extend(m.iter().cloned());
        }
        Ok(out)
    }

    /// Notes an event that will be appended with sequence `seq`.
    fn add(&mut self, seq: u64, event: &Event) {
        if let Event::Consent(c) = event {
            let r = Recorded { seq, event: event.clone() };
            self.added.entry(c.number.as_u64()).or_default().push(r);
        }
    }
}

/// Most messages made durable by one journal commit.
pub const MAX_BATCH: usize = 1024;

/// Messages decided but not yet durable, with their output lines.
#[derive(Default)]
struct Pending {
    events: Vec<Event>,
    lines: Vec<String>,
    /// Review queue lines (`--review`).
    reviews: Vec<String>,
    /// Messages whose reply states the standing: rendered once the events are durable.
    drafts: Vec<Draft>,
    /// Keys ([`SeenIds::key`]) of the drafts' gateway ids.
    draft_ids: std::collections::HashSet<u64>,
}

/// A message whose reply (START, JA, HELP about one brand) states the person's standing
/// after the event, read back from the store ([`standing`]) once the batch is durable.
struct Draft {
    /// Its place in [`Pending::lines`].
    slot: usize,
    line: u64,
    /// The plan, its events already moved to [`Pending::events`].
    plan: Plan,
    events: usize,
    from: E164,
    to: String,
    id: Option<String>,
    /// [`SeenIds::key`] of the message, when it has a gateway id.
    key: Option<u64>,
    source: TimeSource,
    received_at: Timestamp,
}

/// Whether the reply to `plan` states the standing (read only for these: a STOP's reply
/// needs no read, and the per-message path stays cheap).
fn states_standing(plan: &Plan) -> bool {
    matches!(plan.action, Action::Start | Action::Confirm | Action::NoPending | Action::Help)
        && plan.brands.len() == 1
}

/// The reply to a drafted `plan` given the standing `sub` read after its events: a START
/// or JA that subscribed keeps its reply (and a brand's override), a brand's own `help`
/// override is kept; otherwise the built-in reply that states `sub`.
fn standing_reply(
    plan: &Plan,
    sub: standing::Subscription,
    brand: &Brand,
    to: &str,
    replies: &Replies,
) -> String {
    let keep = match plan.action {
        Action::Start | Action::Confirm => sub == standing::Subscription::Subscribed,
        Action::Help => brand.replies.contains_key(Kind::Help.as_str()),
        _ => false,
    };
    if keep {
        return plan.reply.clone();
    }
    let (kind, lang) = (sub.reply_kind(), brand.language);
    replies.get(kind, &[brand], to, lang, || reply_for(kind, &[brand], to, lang))
}

/// Renders the drafts' replies and output lines from the store as it is now (their events
/// durable): one view for the batch, `filter`'s rules per brand under the store's policy,
/// at the newest of now and the drafts' times. Notes their ids.
fn render_drafts(
    pending: &mut Pending,
    store: &Store,
    registry: &Registry,
    ids: &mut SeenIds,
    opts: &Options,
    replies: &Replies,
    policy: &mut PolicyCache,
) -> Result<(), crate::error::Error> {
    pending.draft_ids.clear();
    if pending.drafts.is_empty() {
        return Ok(());
    }
    let view = store.view()?;
    let policy = policy.get(store.dir())?;
    let newest = pending.drafts.iter().map(|d| d.received_at).max().unwrap_or(0);
    let mut reader = standing::Reader::new(&view, policy, newest.max(crate::timefmt::now()));
    for mut d in pending.drafts.drain(..) {
        let mut sub = None;
        if let Some(b) = d.plan.brands.first().and_then(|name| registry.get(name)) {
            let s = reader.subscription(b, d.from);
            let to = receiving_number(&d.to, registry, &opts.regions);
            d.plan.reply = standing_reply(&d.plan, s, b, &to, replies);
            sub = Some(s);
        }
        let mut l =
            output_line(d.line, &d.plan, d.events, sub, Some(d.from), &d.to, d.id.as_deref(), None);
        mark_time_source(&mut l, d.source);
        if let Some(k) = d.key {
            ids.note(k, &l, crate::timefmt::now());
        }
        if let Some(slot) = pending.lines.get_mut(d.slot) {
            *slot = l;
        }
    }
    Ok(())
}

/// The store's policy ([`crate::store::policy`]) kept between batches: read again only
/// when its file was replaced or changed (`policy set` writes it by rename, with the
/// store's lock, so only while a run has let go of it).
#[derive(Default)]
struct PolicyCache {
    /// The file's identity ([`file_identity`], `None`: no file) and what it held.
    read: Option<(Option<FileIdentity>, crate::store::policy::Policy)>,
}

impl PolicyCache {
    /// The policy of the store in `dir` as its file is now.
    fn get(&mut self, dir: &std::path::Path) -> Result<&crate::store::policy::Policy, StoreError> {
        let id = file_identity(&dir.join(crate::store::policy::FILE));
        let fresh = match self.read.take() {
            Some((old, p)) if old == id => (old, p),
            _ => (id, crate::store::policy::read(dir)?),
        };
        Ok(&self.read.insert(fresh).1)
    }
}

/// Adds `"time_source":"received"` to an output record whose time is ours, not the
/// gateway's.
fn mark_time_source(line: &mut String, source: TimeSource) {
    if source == TimeSource::Received {
        line.truncate(line.len().saturating_sub(1));
        line.push_str(r#","time_source":"received"}"#);
    }
}

/// The review queue (`inbound --review FILE`): one JSON object per REVIEW message, with the
/// number masked, appended and synced before the message's output line is written.
///
/// ```text
/// {"line":3,"id":"m-17","from":"+47*****567","to":"2401","received_at":"2026-06-01T10:00:00Z","text":"Hvem er dette?"}
/// ```
pub struct ReviewQueue {
    file: std::fs::File,
}

impl ReviewQueue {
    /// Opens (creates, mode 0600, or appends to) the queue file at `path`.
    ///
    /// # Errors
    /// The file cannot be opened for appending.
    pub fn open(path: &std::path::Path) -> std::io::Result<ReviewQueue> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path)?;
        Ok(ReviewQueue { file })
    }

    /// A queue over a file already opened for appending (as `sendfilter::outfile::Paths::
    /// append` opens a caller-named path: never into a store, never through a link).
    pub fn from_file(file: std::fs::File) -> ReviewQueue {
        ReviewQueue { file }
    }

    fn commit(&mut self, lines: &mut Vec<String>) -> std::io::Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::new();
        for l in lines.drain(..) {
            buf.extend_from_slice(l.as_bytes());
            buf.push(b'\n');
        }
        self.file.write_all(&buf)?;
        self.file.sync_data()
    }
}

/// One review queue line.
#[derive(serde::Serialize)]
struct ReviewLine<'a> {
    line: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    from: String,
    to: &'a str,
    received_at: &'a str,
    text: &'a str,
}

/// A received message as its answer names it.
struct Answering<'a> {
    /// Its input line.
    line: u64,
    /// Its fields as received (empty when the record could not be read).
    raw: &'a RawMessage,
    /// [`SeenIds::key`].
    key: Option<u64>,
}

impl Pending {
    /// Queues the answer to one decided message: its output line (or, for a reply that
    /// states the standing, a draft rendered after the commit), its events (noted in
    /// `cache` at the sequence numbers the commit gives them after `last_seq`) and its
    /// review line; counts it in `summary`.
    fn queue(
        &mut self,
        Answering { line, raw: r, key }: Answering<'_>,
        decided: Result<Decided, (String, Option<E164>)>,
        last_seq: u64,
        cache: &mut ConsentCache,
        ids: &mut SeenIds,
        summary: &mut Summary,
    ) {
        let (to, id) = (r.to.as_str(), r.id.as_deref());
        let text = match decided {
            Ok((mut plan, from, source, received_at)) => {
                *summary.actions.entry(plan.action).or_default() += 1;
                let events = plan.events.len();
                let l = if states_standing(&plan) {
                    // Rendered once the events are durable (render_drafts).
                    if let Some(k) = key {
                        self.draft_ids.insert(k);
                    }
                    self.drafts.push(Draft {
                        slot: self.lines.len(),
                        line,
                        plan: Plan {
                            events: Vec::new(),
                            brands: std::mem::take(&mut plan.brands),
                            reply: std::mem::take(&mut plan.reply),
                            ..plan
                        },
                        events,
                        from,
                        to: to.to_string(),
                        id: id.map(str::to_string),
                        key,
                        source,
                        received_at,
                    });
                    String::new()
                } else {
                    let mut l = output_line(line, &plan, events, None, Some(from), to, id, None);
                    // Said in the record itself: the time is ours, not the gateway's.
                    mark_time_source(&mut l, source);
                    if let Some(k) = key {
                        ids.note(k, &l, crate::timefmt::now());
                    }
                    l
                };
                if plan.action == Action::Review {
                    let q = ReviewLine {
                        line,
                        id,
                        from: from.masked(),
                        to,
                        received_at: &r.received_at,
                        text: &r.text,
                    };
                    if let Ok(s) = serde_json::to_string(&q) {
                        self.reviews.push(s);
                    }
                }
                for e in plan.events {
                    // The batch appends pending events in order after last_seq.
                    let seq = last_seq + self.events.len() as u64 + 1;
                    cache.add(seq, &e);
                    self.events.push(e);
                }
                l
            }
            Err((reason, from)) => {
                *summary.actions.entry(Action::Error).or_default() += 1;
                let plan = Plan {
                    action: Action::Error,
                    brands: Vec::new(),
                    events: Vec::new(),
                    reply: String::new(),
                };
                output_line(line, &plan, 0, None, from, to, id, Some(&reason))
            }
        };
        self.lines.push(text);
    }

    /// Makes the review queue and the events durable (one fsync); the output lines stay
    /// in `self.lines` for [`render_drafts`] and [`write_lines`] (a line is never visible
    /// before its events are on disk), the message ids are committed after the drafts.
    fn commit(
        &mut self,
        store: &mut Store,
        review: Option<&mut ReviewQueue>,
        summary: &mut Summary,
    ) -> Result<(), crate::error::Error> {
        if let Some(q) = review {
            q.commit(&mut self.reviews)?;
        }
        self.reviews.clear();
        if !self.events.is_empty() {
            let mut b = store.batch();
            for e in &self.events {
                b.push(e)?;
            }
            b.commit()?;
            summary.events += self.events.len() as u64;
            summary.commits += 1;
            self.events.clear();
        }
        Ok(())
    }
}

/// Writes and flushes output lines (called with the store's lock released: a reader that
/// stops reading blocks this write, and must not block other writers with it).
fn write_lines(out: &mut dyn Write, lines: &[String]) -> std::io::Result<()> {
    for l in lines {
        out.write_all(l.as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// One output line (field order fixed for readers that eyeball it).
#[derive(serde::Serialize)]
struct OutputLine<'a> {
    line: u64,
    action: &'static str,
    brands: &'a [String],
    reply: &'a str,
    reply_encoding: &'static str,
    reply_segments: usize,
    from: Option<String>,
    to: &'a str,
    events: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    standing: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

/// One output record as JSON. `events` is the number of events the message appended
/// (its plan's, which the caller may have moved out already); `standing` the standing its
/// reply states, when it was read back ([`standing`]).
#[allow(clippy::too_many_arguments)]
fn output_line(
    line: u64,
    plan: &Plan,
    events: usize,
    standing: Option<standing::Subscription>,
    from: Option<E164>,
    to: &str,
    id: Option<&str>,
    reason: Option<&str>,
) -> String {
    let count = crate::sms::count(&plan.reply);
    let l = OutputLine {
        line,
        action: plan.action.as_str(),
        brands: &plan.brands,
        reply: &plan.reply,
        reply_encoding: match count.encoding {
            crate::sms::Encoding::Gsm7 => "gsm7",
            crate::sms::Encoding::Ucs2 => "ucs2",
        },
        reply_segments: if plan.reply.is_empty() { 0 } else { count.segments },
        from: from.map(E164::masked),
        to,
        events,
        standing: standing.map(standing::Subscription::as_str),
        id,
        reason,
    };
    // One allocation of about the line's size (a growing buffer cost more than writing).
    let mut buf = Vec::with_capacity(192 + plan.reply.len() + to.len());
    // Serialising plain strings and numbers cannot fail, and serde_json writes UTF-8; fall
    // back to a minimal line anyway.
    match serde_json::to_writer(&mut buf, &l).map(|()| String::from_utf8(buf)) {
        Ok(Ok(s)) => s,
        _ => format!("{{\"line\":{line},\"action\":\"ERROR\"}}"),
    }
}

/// A decided message: its plan, the sender, where its time came from, and that time.
type Decided = (Plan, E164, TimeSource, Timestamp);

/// Decides one record (its text parsed on the reading thread): normalise, resolve,
/// validate the events.
fn decide(
    raw: &RawMessage,
    parsed: &Parsed,
    store: &Store,
    cache: &mut ConsentCache,
    registry: &Registry,
    opts: &Options,
    replies: &Replies,
) -> Result<Decided, (String, Option<E164>)> {
    let from = read_from(&raw.from, &opts.regions)
        .map_err(|e| (format!("from is not a valid phone number ({e})"), None))?;
    let fail = |r: String| (r, Some(from));
    if normalize_shortcode(&raw.to).is_empty() {
        return Err(fail("to is empty".into()));
    }
    let (received_at, source) = message_time(&raw.received_at, crate::timefmt::now());
    let evidence = if needs_evidence(parsed) {
        let read = |e: StoreError| fail(format!("reading evidence failed: {e}"));
        let mut ev = cache.evidence(store, from).map_err(read)?;
        // Consents recorded before an erasure of the number are erased data (gone at the
        // next compaction): a JA must not confirm, and so copy, one of them.
        if let Some(e) = store.erasure(from).map_err(read)? {
            ev.retain(|r| r.seq > e.seq);
        }
        ev
    } else {
        Vec::new()
    };
    let msg = Message { from, to: &raw.to, text: &raw.text, received_at };
    let plan = resolve_with(parsed, &msg, registry, &evidence, opts, replies);
    for e in &plan.events {
        e.validate().map_err(|r| fail(format!("event refused: {r}")))?;
    }
    Ok((plan, from, source, received_at))
}

/// A busy run (one that never waits for input) releases the store's lock at least this
/// often, for [`HOLD_GAP`], so that other writers are not shut out.
pub const MAX_HOLD: std::time::Duration = std::time::Duration::from_secs(1);
/// See [`MAX_HOLD`].
pub const HOLD_GAP: std::time::Duration = std::time::Duration::from_millis(5);

/// Runs `f` with the store's lock released ([`Store::unlocked`]); then, if other writers
/// changed the store, drops the consent cache, and with [`Options::reload_registry`] reads
/// the brand registry again if its file changed.
fn with_lock_released<T>(
    store: &mut Store,
    cache: &mut ConsentCache,
    reloaded: &mut Option<Registry>,
    replies: &Replies,
    opts: &Options,
    f: impl FnOnce() -> T,
) -> Result<T, crate::error::Error> {
    let brands = store.dir().join(crate::store::brands::FILE);
    let before = file_identity(&brands);
    let (t, changed) = store.unlocked(f)?;
    if changed {
        // Their events may bear on a JA: read the store afresh.
        *cache = ConsentCache::new(store);
    }
    if opts.reload_registry && file_identity(&brands) != before {
        // A brand added meanwhile must be honoured by the next STOP.
        *reloaded = Some(Registry::load(store.dir())?);
        // Its brands are other entries: replies rendered for the old ones do not apply.
        replies.clear();
    }
    Ok(t)
}

/// (device, inode, length, modification time in seconds and nanoseconds) of a file.
type FileIdentity = (u64, u64, u64, i64, i64);

/// (device, inode, length, modification time) of a file, `None` when it cannot be read:
/// enough to tell that another process replaced or rewrote it.
fn file_identity(path: &std::path::Path) -> Option<FileIdentity> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.dev(), m.ino(), m.len(), m.mtime(), m.mtime_nsec()))
}

/// Reads inbound messages from `input` and honours them: for each, the events are appended
/// to `store` and fsynced, and only then is its output line written to `out` (one JSON
/// object per message, see `sendfilter inbound --help`).
///
/// Messages that arrive together (up to [`MAX_BATCH`] already read) share one journal
/// commit; `out` is flushed after every commit, so a slow trickle gets one line per message
/// as soon as it is durable. Confirmations read consents from a per-run cache (the journal
/// tail is scanned once, at the first `JA`; its consents stay in memory for the run), which
/// also holds the consents decided earlier in the same batch. Bad records get an `ERROR`
/// line with a reason and no event.
///
/// While it waits for input (everything read so far decided and durable), and for
/// [`HOLD_GAP`] after every [`MAX_HOLD`] of holding it, the store's lock is released
/// ([`Store::unlocked`]): other writers (`import`, `stop`, `compact`, an
/// erasure) run meanwhile, and when they changed the store it is read afresh before the
/// next message is decided (and, with [`Options::reload_registry`], the brand registry
/// when it changed).
///
/// # Errors
/// I/O errors on input, output or the store (then nothing after the last flushed line is
/// acknowledged); a CSV header without the required columns.
pub fn run<R: Read + Send + 'static>(
    store: &mut Store,
    registry: &Registry,
    input: R,
    format: Format,
    out: &mut dyn Write,
    opts: &Options,
) -> Result<Summary, crate::error::Error> {
    run_queued(store, registry, input, format, out, None, opts)
}

/// [`run`], with REVIEW messages also appended to `review` (synced before their output
/// lines are written).
///
/// # Errors
/// As [`run`], and I/O errors on the review queue.
pub fn run_queued<R: Read + Send + 'static>(
    store: &mut Store,
    registry: &Registry,
    input: R,
    format: Format,
    out: &mut dyn Write,
    review: Option<&mut ReviewQueue>,
    opts: &Options,
) -> Result<Summary, crate::error::Error> {
    let (tx, rx) = crossbeam_channel::bounded::<Item>(MAX_BATCH * 2);
    let reader = std::thread::spawn(move || match format {
        Format::Jsonl => read_jsonl(input, &tx).map_err(crate::error::Error::from),
        Format::Csv => read_csv(input, &tx),
    });
    let mut run = QueuedRun::new(store, registry, opts)?;
    let result = run.serve(&rx, out, review);
    // On an error the reader may be blocked reading input: leave it (it ends with the
    // process, or on its next send to the closed channel).
    drop(rx);
    result?;
    reader.join().unwrap_or_else(|_| {
        Err(crate::error::Error::Options("input reader thread panicked".into()))
    })?;
    Ok(run.summary)
}

/// The state of one [`run_queued`] between batches.
struct QueuedRun<'a> {
    store: &'a mut Store,
    registry: &'a Registry,
    opts: &'a Options,
    summary: Summary,
    pending: Pending,
    cache: ConsentCache,
    ids: SeenIds,
    /// The registry as reloaded during the run, if it was.
    reloaded: Option<Registry>,
    /// Replies rendered so far (for the registry in use: cleared when it is reloaded).
    replies: Replies,
    /// The store's policy, read again only when its file changed.
    policy: PolicyCache,
    /// Since when the run holds the store's lock without a break.
    held: std::time::Instant,
    /// Messages left for the next batch (a repeat of an id whose first answer is a
    /// draft of this batch waits for that answer).
    carried: Vec<Item>,
}

impl<'a> QueuedRun<'a> {
    /// A run over `store`, its seen gateway ids opened.
    fn new(
        store: &'a mut Store,
        registry: &'a Registry,
        opts: &'a Options,
    ) -> Result<Self, crate::error::Error> {
        let cache = ConsentCache::new(store);
        let ids = SeenIds::open(store.dir(), crate::timefmt::now())?;
        Ok(QueuedRun {
            store,
            registry,
            opts,
            summary: Summary::default(),
            pending: Pending::default(),
            cache,
            ids,
            reloaded: None,
            replies: Replies::new(),
            policy: PolicyCache::default(),
            held: std::time::Instant::now(),
            carried: Vec::new(),
        })
    }

    /// Decides, commits and answers batch after batch until the input ends.
    fn serve(
        &mut self,
        rx: &crossbeam_channel::Receiver<Item>,
        out: &mut dyn Write,
        mut review: Option<&mut ReviewQueue>,
    ) -> Result<(), crate::error::Error> {
        while let Some(first) = self.first_item(rx)? {
            let batch = self.batch(first, rx);
            self.decide_batch(batch);
            self.commit_and_answer(out, review.as_deref_mut())?;
            if let Some(policy) = self.opts.compact
                && self.store.compaction_advised_by(&policy)
            {
                // The cache stays valid: what it holds is now also in the snapshot,
                // and a duplicate record changes no "newest consent" answer.
                self.store.compact()?;
                self.summary.compactions += 1;
            }
            if self.held.elapsed() >= MAX_HOLD {
                // A busy run seldom waits for input: let waiting writers in now and then.
                self.with_lock_released(|| std::thread::sleep(HOLD_GAP))?;
            }
        }
        Ok(())
    }

    /// Runs `f` with the store's lock released (see [`with_lock_released`]); the lock is
    /// then held afresh.
    fn with_lock_released<T>(&mut self, f: impl FnOnce() -> T) -> Result<T, crate::error::Error> {
        let (cache, reloaded) = (&mut self.cache, &mut self.reloaded);
        let got = with_lock_released(self.store, cache, reloaded, &self.replies, self.opts, f)?;
        self.held = std::time::Instant::now();
        Ok(got)
    }

    /// The next batch's first message: one carried over, one read already, or else the
    /// next to arrive; `None` when the input ended.
    fn first_item(
        &mut self,
        rx: &crossbeam_channel::Receiver<Item>,
    ) -> Result<Option<Item>, crate::error::Error> {
        if !self.carried.is_empty() {
            return Ok(Some(self.carried.remove(0)));
        }
        match rx.try_recv() {
            Ok(item) => Ok(Some(item)),
            Err(crossbeam_channel::TryRecvError::Disconnected) => Ok(None),
            Err(crossbeam_channel::TryRecvError::Empty) => {
                // Nothing to decide until the next message (everything decided is
                // durable): let other writers (import, stop, compact) in meanwhile.
                Ok(self.with_lock_released(|| rx.recv())?.ok())
            }
        }
    }

    /// `first`, the messages carried over, and those read already, up to [`MAX_BATCH`].
    fn batch(&mut self, first: Item, rx: &crossbeam_channel::Receiver<Item>) -> Vec<Item> {
        let mut group = Vec::with_capacity(MAX_BATCH);
        group.push(first);
        group.append(&mut self.carried);
        while group.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(item) => group.push(item),
                Err(_) => break,
            }
        }
        group
    }

    /// Decides each message of `batch` and queues its events and line; from a repeat of
    /// an id whose first answer is a draft of this batch on, the rest is carried over.
    fn decide_batch(&mut self, batch: Vec<Item>) {
        let mut items = batch.into_iter();
        while let Some((line, got)) = items.next() {
            let empty = RawMessage::default();
            let r = got.as_ref().map_or(&empty, |g| &g.raw);
            let key = got.as_ref().ok().and_then(|g| g.key);
            if key.is_some_and(|k| self.pending.draft_ids.contains(&k)) {
                // Its first answer is rendered after this batch's commit.
                self.carried.push((line, got));
                self.carried.extend(items);
                break;
            }
            if let Some(again) = key.and_then(|k| self.ids.repeat(k, line)) {
                self.summary.repeats += 1;
                self.pending.lines.push(again);
                continue;
            }
            let decided = match &got {
                Ok(g) => decide(
                    &g.raw,
                    &g.parsed,
                    self.store,
                    &mut self.cache,
                    self.reloaded.as_ref().unwrap_or(self.registry),
                    self.opts,
                    &self.replies,
                ),
                Err(reason) => Err((reason.clone(), None)),
            };
            let message = Answering { line, raw: r, key };
            let last_seq = self.store.last_seq();
            let (cache, ids, summary) = (&mut self.cache, &mut self.ids, &mut self.summary);
            self.pending.queue(message, decided, last_seq, cache, ids, summary);
        }
    }

    /// Commits the batch's events, renders the replies that state the standing (read
    /// back from the store), then writes the lines with the lock released, so that a
    /// stalled reader of `out` never holds other writers (stop, compact, an erasure)
    /// behind it.
    fn commit_and_answer(
        &mut self,
        out: &mut dyn Write,
        review: Option<&mut ReviewQueue>,
    ) -> Result<(), crate::error::Error> {
        self.pending.commit(self.store, review, &mut self.summary)?;
        let reg = self.reloaded.as_ref().unwrap_or(self.registry);
        let (ids, policy) = (&mut self.ids, &mut self.policy);
        render_drafts(&mut self.pending, self.store, reg, ids, self.opts, &self.replies, policy)?;
        self.ids.commit(crate::timefmt::now())?;
        let lines = std::mem::take(&mut self.pending.lines);
        self.with_lock_released(|| write_lines(out, &lines))??;
        Ok(())
    }
}
