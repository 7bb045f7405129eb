//! Events, the facts the store records, and their binary encoding in journal records.
//!
//! Encoding (little-endian), the payload of one journal record:
//! ```text
//! stop:    1u8 number:u64 stopped_at:i64 brand:str
//! consent: 2u8 number:u64 granted_at:i64 expires_at:i64 confirmed_at:i64
//!          brand:str purpose:str channel:str method:str text_ref:str source:str
//! relationship: 3u8 number:u64 started_at:i64 last_purchase_at:i64 ends_at:i64
//!          informed_at:i64 brand:str relationship:str
//! erase:   4u8 subject:u128 erased_at:i64            (no number: see `suppress`)
//! correct: 5u8 number:u64 corrects:u64 corrected_at:i64 method:str text_ref:str source:str
//! move:    6u8 from:u64 to:u64 moved_at:i64
//! str = len:u16 bytes (UTF-8);  absent optional time = i64::MIN;  "" in a correction =
//! field unchanged
//! ```
//!
//! Tags 4–6 are the data-subject rights (see [`crate::rights`]): an erasure names its
//! number only by keyed hash, a correction amends a consent's evidence by reference (the
//! consent itself is never rewritten), and a move marks that a person's number changed.

use crate::phone::E164;
use crate::standing::Timestamp;
use crate::store::error::{Field, Invalid};
use crate::store::suppress::SubjectKey;

/// Brand name meaning "every brand" in a stop.
pub use crate::brand::EVERY_BRAND;
/// Longest accepted text field, in bytes.
pub use crate::store::error::MAX_TEXT;
/// Earliest storable time (1970-01-01T00:00:01Z): snapshots keep times as `u32`, 0 = none.
pub const MIN_TIME: Timestamp = 1;
/// Latest storable time (2106-02-07T06:28:15Z).
pub const MAX_TIME: Timestamp = u32::MAX as Timestamp;

const TAG_STOP: u8 = 1;
const TAG_CONSENT: u8 = 2;
const TAG_RELATIONSHIP: u8 = 3;
const TAG_ERASE: u8 = 4;
const TAG_CORRECT: u8 = 5;
const TAG_MOVE: u8 = 6;
const NONE_TIME: i64 = i64::MIN;

/// An erasure: the number behind `subject` (a keyed hash, never the digits) is erased.
/// Its earlier events are dropped at the next compaction; a suppression entry
/// `(subject, erased_at)` remains and acts as a stop for every brand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Erase {
    /// Keyed hash of the erased number.
    pub subject: SubjectKey,
    /// When it was erased.
    pub erased_at: Timestamp,
}

/// A rectification of a consent's evidence: the consent recorded under journal sequence
/// `corrects` now reads with these fields (empty = unchanged). Times, brand, purpose and
/// channel are decision inputs and are not corrected: record a new consent or a stop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Correction {
    /// The number (the corrected consent's).
    pub number: E164,
    /// Journal sequence of the corrected consent.
    pub corrects: u64,
    /// When the correction was made.
    pub corrected_at: Timestamp,
    /// Corrected method, or empty.
    pub method: String,
    /// Corrected consent text id/version, or empty.
    pub text_ref: String,
    /// Corrected source, or empty.
    pub source: String,
}

/// A person's number changed from `from` to `to` at `moved_at`. From then on nothing of
/// the old holder's consents applies to `from` (it acts as a stop for every brand there:
/// the number may be reassigned), while their records are copied to `to` by
/// [`crate::rights::rectify_number`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Move {
    /// The old number.
    pub from: E164,
    /// The new number.
    pub to: E164,
    /// When.
    pub moved_at: Timestamp,
}

/// An opt-out: `number` wants no more marketing from `brand` (`*` = every brand).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stop {
    /// The number.
    pub number: E164,
    /// The brand, or `*` for every brand.
    pub brand: String,
    /// When the person stopped.
    pub stopped_at: Timestamp,
}

/// A consent with its evidence: when, how, what text, from where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consent {
    /// The number.
    pub number: E164,
    /// The brand the consent is for.
    pub brand: String,
    /// The purpose (e.g. `offers`).
    pub purpose: String,
    /// The channel (`sms`, `email`, …); only `sms` consents allow SMS marketing.
    pub channel: String,
    /// When it was granted.
    pub granted_at: Timestamp,
    /// How it was collected (`web_form`, `sms_keyword`, `double_opt_in`, …).
    pub method: String,
    /// Id/version of the consent text shown.
    pub text_ref: String,
    /// Where it was collected.
    pub source: String,
    /// When it ends, if it does.
    pub expires_at: Option<Timestamp>,
    /// When it was confirmed (double opt-in), if it was.
    pub confirmed_at: Option<Timestamp>,
}

/// A customer relationship with a brand (soft opt-in evidence): the state of one
/// (number, brand) as the brand's customer records hold it. A later event for the same
/// (number, brand) replaces an earlier one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relationship {
    /// The number.
    pub number: E164,
    /// The brand the person is a customer of.
    pub brand: String,
    /// `purchase` (one-off), `subscription`, `membership`, … (lower case). Only
    /// [`LASTING_RELATIONSHIPS`] count as a lasting relationship.
    pub relationship: String,
    /// When the relationship started.
    pub started_at: Timestamp,
    /// The last purchase, if any.
    pub last_purchase_at: Option<Timestamp>,
    /// When a subscription/membership ends or ended; `None` while open-ended.
    pub ends_at: Option<Timestamp>,
    /// When the customer was told how the number is used and offered an opt-out;
    /// `None` = never.
    pub informed_at: Option<Timestamp>,
}

/// Relationship kinds that are lasting customer relationships (live until `ends_at`);
/// every other kind (`purchase`, …) counts only through its last purchase.
pub const LASTING_RELATIONSHIPS: [&str; 2] = ["subscription", "membership"];

/// One event in the journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// An opt-out.
    Stop(Stop),
    /// A consent.
    Consent(Consent),
    /// A customer relationship (soft opt-in).
    Relationship(Relationship),
    /// An erasure (by keyed hash).
    Erase(Erase),
    /// A consent-evidence correction.
    Correct(Correction),
    /// A number change.
    Move(Move),
}

/// A decoded event borrowing its text from the journal or snapshot bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventRef<'a> {
    /// An opt-out.
    Stop {
        /// The number.
        number: E164,
        /// Brand or `*`.
        brand: &'a str,
        /// When.
        stopped_at: Timestamp,
    },
    /// A consent.
    Consent {
        /// The number.
        number: E164,
        /// Brand, purpose, channel, method, text_ref, source.
        text: [&'a str; 6],
        /// When granted.
        granted_at: Timestamp,
        /// When it expires.
        expires_at: Option<Timestamp>,
        /// When confirmed.
        confirmed_at: Option<Timestamp>,
    },
    /// A customer relationship.
    Relationship {
        /// The number.
        number: E164,
        /// Brand, relationship kind.
        text: [&'a str; 2],
        /// When it started.
        started_at: Timestamp,
        /// The last purchase.
        last_purchase_at: Option<Timestamp>,
        /// When it ends or ended.
        ends_at: Option<Timestamp>,
        /// When the customer was informed and offered an opt-out.
        informed_at: Option<Timestamp>,
    },
    /// An erasure.
    Erase {
        /// Keyed hash of the number.
        subject: SubjectKey,
        /// When.
        erased_at: Timestamp,
    },
    /// A consent-evidence correction.
    Correct {
        /// The number.
        number: E164,
        /// Sequence of the corrected consent.
        corrects: u64,
        /// When.
        corrected_at: Timestamp,
        /// Method, text_ref, source (empty = unchanged).
        text: [&'a str; 3],
    },
    /// A number change.
    Move {
        /// Old number.
        from: E164,
        /// New number.
        to: E164,
        /// When.
        moved_at: Timestamp,
    },
}

fn check_text(s: &str, field: Field, required: bool) -> Result<(), Invalid> {
    if s.is_empty() && required {
        return Err(Invalid::Empty(field));
    }
    if s.len() > MAX_TEXT {
        return Err(Invalid::TooLong(field));
    }
    if s.chars().any(char::is_control) {
        return Err(Invalid::ControlChar(field));
    }
    Ok(())
}

/// Checks that a brand name is in its canonical form ([`crate::brand::canonical`]):
/// the store holds one spelling per brand.
fn check_canonical(brand: &str) -> Result<(), Invalid> {
    if crate::brand::is_canonical(brand) { Ok(()) } else { Err(Invalid::BrandNotCanonical) }
}

/// Checks that a time fits the stored range.
///
/// # Errors
/// [`Invalid::TimeOutOfRange`] naming `field`.
pub fn check_time(t: Timestamp, field: Field) -> Result<(), Invalid> {
    if (MIN_TIME..=MAX_TIME).contains(&t) { Ok(()) } else { Err(Invalid::TimeOutOfRange(field)) }
}

impl Event {
    /// The number the event is about (a move's old number); `None` for an erasure, which
    /// names its number only by keyed hash.
    pub fn number(&self) -> Option<E164> {
        self.as_ref().number()
    }

    /// Checks every field: text non-empty where required, bounded, no control characters;
    /// times within the stored range; no `*` brand on a consent; a consent not confirmed
    /// before it was granted.
    ///
    /// # Errors
    /// The first problem found, as an [`Invalid`] code.
    pub fn validate(&self) -> Result<(), Invalid> {
        self.as_ref().validate()
    }

    /// Appends the binary encoding to `out`. The event must be valid (text ≤ `MAX_TEXT`).
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.as_ref().encode(out)
    }

    /// A borrowed view of this event.
    pub fn as_ref(&self) -> EventRef<'_> {
        match self {
            Event::Stop(s) => {
                EventRef::Stop { number: s.number, brand: &s.brand, stopped_at: s.stopped_at }
            }
            Event::Consent(c) => EventRef::Consent {
                number: c.number,
                text: [&c.brand, &c.purpose, &c.channel, &c.method, &c.text_ref, &c.source],
                granted_at: c.granted_at,
                expires_at: c.expires_at,
                confirmed_at: c.confirmed_at,
            },
            Event::Relationship(r) => EventRef::Relationship {
                number: r.number,
                text: [&r.brand, &r.relationship],
                started_at: r.started_at,
                last_purchase_at: r.last_purchase_at,
                ends_at: r.ends_at,
                informed_at: r.informed_at,
            },
            Event::Erase(e) => EventRef::Erase { subject: e.subject, erased_at: e.erased_at },
            Event::Correct(c) => EventRef::Correct {
                number: c.number,
                corrects: c.corrects,
                corrected_at: c.corrected_at,
                text: [&c.method, &c.text_ref, &c.source],
            },
            Event::Move(m) => EventRef::Move { from: m.from, to: m.to, moved_at: m.moved_at },
        }
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    // Validation bounds text to MAX_TEXT (< u16::MAX); clamp defensively anyway.
    let b = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
    out.extend_from_slice(&(b.len() as u16).to_le_bytes());
    out.extend_from_slice(b);
}

fn opt(t: Option<Timestamp>) -> i64 {
    t.unwrap_or(NONE_TIME)
}

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.b.len() < n {
            return None;
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Some(h)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes)
    }
    fn i64(&mut self) -> Option<i64> {
        self.u64().map(|v| v as i64)
    }
    fn str(&mut self) -> Option<&'a str> {
        let n = self.take(2).and_then(|b| b.try_into().ok()).map(u16::from_le_bytes)?;
        let b = self.take(n as usize)?;
        if b.is_ascii() {
            // SAFETY: ASCII is valid UTF-8. Most fields are short ASCII words, for which
            // this check costs a fraction of `from_utf8`'s (measured: opening a journal of
            // 5 M consents spends half its time in `from_utf8`).
            return Some(unsafe { std::str::from_utf8_unchecked(b) });
        }
        std::str::from_utf8(b).ok()
    }
}

impl<'a> EventRef<'a> {
    /// The brand a stop (perhaps `*`), consent or customer relationship is for; `None`
    /// for the other events.
    pub fn brand(&self) -> Option<&'a str> {
        match *self {
            EventRef::Stop { brand, .. } => Some(brand),
            EventRef::Consent { text: [brand, ..], .. } => Some(brand),
            EventRef::Relationship { text: [brand, _], .. } => Some(brand),
            _ => None,
        }
    }

    /// Checks every field (see [`Event::validate`]).
    ///
    /// # Errors
    /// The first problem found, as an [`Invalid`] code.
    pub fn validate(&self) -> Result<(), Invalid> {
        match *self {
            EventRef::Stop { brand, stopped_at, .. } => {
                check_text(brand, Field::Brand, true)?;
                if brand != EVERY_BRAND {
                    check_canonical(brand)?;
                }
                check_time(stopped_at, Field::StoppedAt)
            }
            EventRef::Consent { text, granted_at, expires_at, confirmed_at, .. } => {
                let [brand, ..] = text;
                check_text(brand, Field::Brand, true)?;
                if brand == EVERY_BRAND {
                    return Err(Invalid::StarBrandInConsent);
                }
                check_canonical(brand)?;
                let fields =
                    [Field::Purpose, Field::Channel, Field::Method, Field::TextRef, Field::Source];
                for (t, f) in text[1..].iter().zip(fields) {
                    check_text(t, f, true)?;
                }
                check_time(granted_at, Field::GrantedAt)?;
                if let Some(t) = expires_at {
                    check_time(t, Field::ExpiresAt)?;
                }
                if let Some(t) = confirmed_at {
                    check_time(t, Field::ConfirmedAt)?;
                    // A consent cannot be confirmed before it was given.
                    if t < granted_at {
                        return Err(Invalid::ConfirmedBeforeGranted);
                    }
                }
                Ok(())
            }
            EventRef::Relationship {
                text,
                started_at,
                last_purchase_at,
                ends_at,
                informed_at,
                ..
            } => {
                let [brand, relationship] = text;
                check_text(brand, Field::Brand, true)?;
                if brand == EVERY_BRAND {
                    return Err(Invalid::StarBrandInConsent);
                }
                check_canonical(brand)?;
                check_text(relationship, Field::Relationship, true)?;
                check_time(started_at, Field::StartedAt)?;
                let opts = [
                    (last_purchase_at, Field::LastPurchaseAt),
                    (ends_at, Field::EndsAt),
                    (informed_at, Field::InformedAt),
                ];
                for (t, f) in opts {
                    if let Some(t) = t {
                        check_time(t, f)?;
                    }
                }
                Ok(())
            }
            EventRef::Erase { erased_at, .. } => check_time(erased_at, Field::ErasedAt),
            EventRef::Correct { corrects, corrected_at, text, .. } => {
                if corrects == 0 {
                    return Err(Invalid::NoCorrectedSeq);
                }
                if text.iter().all(|t| t.is_empty()) {
                    return Err(Invalid::NothingToCorrect);
                }
                for (t, f) in text.iter().zip([Field::Method, Field::TextRef, Field::Source]) {
                    check_text(t, f, false)?;
                }
                check_time(corrected_at, Field::CorrectedAt)
            }
            EventRef::Move { from, to, moved_at } => {
                if from == to {
                    return Err(Invalid::MoveToSelf);
                }
                check_time(moved_at, Field::MovedAt)
            }
        }
    }

    /// The number the event is about (a move's old number); `None` for an erasure.
    pub fn number(&self) -> Option<E164> {
        match self {
            EventRef::Stop { number, .. }
            | EventRef::Consent { number, .. }
            | EventRef::Relationship { number, .. }
            | EventRef::Correct { number, .. } => Some(*number),
            EventRef::Move { from, .. } => Some(*from),
            EventRef::Erase { .. } => None,
        }
    }

    /// True when the event is about `n`, including as a move's new number.
    pub fn mentions(&self, n: E164) -> bool {
        match self {
            EventRef::Move { from, to, .. } => *from == n || *to == n,
            _ => self.number() == Some(n),
        }
    }

    /// Appends the binary encoding to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match *self {
            EventRef::Stop { number, brand, stopped_at } => {
                out.push(TAG_STOP);
                out.extend_from_slice(&number.as_u64().to_le_bytes());
                out.extend_from_slice(&stopped_at.to_le_bytes());
                put_str(out, brand);
            }
            EventRef::Consent { number, text, granted_at, expires_at, confirmed_at } => {
                out.push(TAG_CONSENT);
                out.extend_from_slice(&number.as_u64().to_le_bytes());
                out.extend_from_slice(&granted_at.to_le_bytes());
                out.extend_from_slice(&opt(expires_at).to_le_bytes());
                out.extend_from_slice(&opt(confirmed_at).to_le_bytes());
                for s in text {
                    put_str(out, s);
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
                out.push(TAG_RELATIONSHIP);
                out.extend_from_slice(&number.as_u64().to_le_bytes());
                out.extend_from_slice(&started_at.to_le_bytes());
                for t in [last_purchase_at, ends_at, informed_at] {
                    out.extend_from_slice(&opt(t).to_le_bytes());
                }
                for s in text {
                    put_str(out, s);
                }
            }
            EventRef::Erase { subject, erased_at } => {
                out.push(TAG_ERASE);
                out.extend_from_slice(&subject.0.to_le_bytes());
                out.extend_from_slice(&erased_at.to_le_bytes());
            }
            EventRef::Correct { number, corrects, corrected_at, text } => {
                out.push(TAG_CORRECT);
                out.extend_from_slice(&number.as_u64().to_le_bytes());
                out.extend_from_slice(&corrects.to_le_bytes());
                out.extend_from_slice(&corrected_at.to_le_bytes());
                for s in text {
                    put_str(out, s);
                }
            }
            EventRef::Move { from, to, moved_at } => {
                out.push(TAG_MOVE);
                out.extend_from_slice(&from.as_u64().to_le_bytes());
                out.extend_from_slice(&to.as_u64().to_le_bytes());
                out.extend_from_slice(&moved_at.to_le_bytes());
            }
        }
    }

    /// Decodes one payload; `None` when the bytes are not exactly one encoded event.
    pub fn decode(bytes: &'a [u8]) -> Option<EventRef<'a>> {
        let mut r = Reader { b: bytes };
        let tag = r.u8()?;
        if tag == TAG_ERASE {
            let subject = SubjectKey(u128::from_le_bytes(r.take(16)?.try_into().ok()?));
            let ev = EventRef::Erase { subject, erased_at: r.i64()? };
            return r.b.is_empty().then_some(ev);
        }
        let number = E164::from_u64(r.u64()?)?;
        let ev = match tag {
            TAG_STOP => {
                let stopped_at = r.i64()?;
                EventRef::Stop { number, brand: r.str()?, stopped_at }
            }
            TAG_CONSENT => {
                let granted_at = r.i64()?;
                let e = r.i64()?;
                let c = r.i64()?;
                let text = [r.str()?, r.str()?, r.str()?, r.str()?, r.str()?, r.str()?];
                let some = |t: i64| (t != NONE_TIME).then_some(t);
                EventRef::Consent {
                    number,
                    text,
                    granted_at,
                    expires_at: some(e),
                    confirmed_at: some(c),
                }
            }
            TAG_RELATIONSHIP => {
                let started_at = r.i64()?;
                let (l, e, i) = (r.i64()?, r.i64()?, r.i64()?);
                let text = [r.str()?, r.str()?];
                let some = |t: i64| (t != NONE_TIME).then_some(t);
                EventRef::Relationship {
                    number,
                    text,
                    started_at,
                    last_purchase_at: some(l),
                    ends_at: some(e),
                    informed_at: some(i),
                }
            }
            TAG_CORRECT => {
                let corrects = r.u64()?;
                let corrected_at = r.i64()?;
                let text = [r.str()?, r.str()?, r.str()?];
                EventRef::Correct { number, corrects, corrected_at, text }
            }
            TAG_MOVE => {
                let to = E164::from_u64(r.u64()?)?;
                EventRef::Move { from: number, to, moved_at: r.i64()? }
            }
            _ => return None,
        };
        r.b.is_empty().then_some(ev)
    }

    /// An owned copy.
    pub fn to_owned(&self) -> Event {
        match *self {
            EventRef::Stop { number, brand, stopped_at } => {
                Event::Stop(Stop { number, brand: brand.to_string(), stopped_at })
            }
            EventRef::Consent { number, text, granted_at, expires_at, confirmed_at } => {
                let [brand, purpose, channel, method, text_ref, source] = text.map(str::to_string);
                Event::Consent(Consent {
                    number,
                    brand,
                    purpose,
                    channel,
                    granted_at,
                    method,
                    text_ref,
                    source,
                    expires_at,
                    confirmed_at,
                })
            }
            EventRef::Relationship {
                number,
                text: [brand, relationship],
                started_at,
                last_purchase_at,
                ends_at,
                informed_at,
            } => Event::Relationship(Relationship {
                number,
                brand: brand.to_string(),
                relationship: relationship.to_string(),
                started_at,
                last_purchase_at,
                ends_at,
                informed_at,
            }),
            EventRef::Erase { subject, erased_at } => Event::Erase(Erase { subject, erased_at }),
            EventRef::Correct { number, corrects, corrected_at, text } => {
                let [method, text_ref, source] = text.map(str::to_string);
                Event::Correct(Correction {
                    number,
                    corrects,
                    corrected_at,
                    method,
                    text_ref,
                    source,
                })
            }
            EventRef::Move { from, to, moved_at } => Event::Move(Move { from, to, moved_at }),
        }
    }
}

/// One event with the journal sequence number it was recorded under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// Journal sequence number (1-based, consecutive).
    pub seq: u64,
    /// The event.
    pub event: Event,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(v: u64) -> E164 {
        E164::from_u64(v).unwrap()
    }

    #[test]
    fn round_trip() {
        let evs = [
            Event::Stop(Stop { number: n(4791234567), brand: "*".into(), stopped_at: 5 }),
            Event::Consent(Consent {
                number: n(46701234567),
                brand: "ACME".into(),
                purpose: "offers".into(),
                channel: "sms".into(),
                granted_at: 100,
                method: "web_form".into(),
                text_ref: "v3".into(),
                source: "checkout".into(),
                expires_at: None,
                confirmed_at: Some(200),
            }),
            Event::Relationship(Relationship {
                number: n(4791234567),
                brand: "ACME".into(),
                relationship: "membership".into(),
                started_at: 10,
                last_purchase_at: None,
                ends_at: Some(500),
                informed_at: Some(11),
            }),
            Event::Erase(Erase { subject: SubjectKey(u128::MAX - 7), erased_at: 9 }),
            Event::Correct(Correction {
                number: n(4791234567),
                corrects: 3,
                corrected_at: 11,
                method: String::new(),
                text_ref: "v4".into(),
                source: "shop".into(),
            }),
            Event::Move(Move { from: n(4791234567), to: n(4798765432), moved_at: 12 }),
        ];
        for e in evs {
            let mut b = Vec::new();
            e.encode(&mut b);
            assert_eq!(EventRef::decode(&b).unwrap().to_owned(), e);
            for cut in 0..b.len() {
                assert!(EventRef::decode(&b[..cut]).is_none());
            }
        }
    }

    #[test]
    fn validation() {
        let mut c = Consent {
            number: n(4791234567),
            brand: "*".into(),
            purpose: "offers".into(),
            channel: "sms".into(),
            granted_at: 100,
            method: "m".into(),
            text_ref: "t".into(),
            source: "s".into(),
            expires_at: None,
            confirmed_at: None,
        };
        assert_eq!(Event::Consent(c.clone()).validate(), Err(Invalid::StarBrandInConsent));
        c.brand = "A".into();
        c.granted_at = 0;
        assert_eq!(
            Event::Consent(c.clone()).validate(),
            Err(Invalid::TimeOutOfRange(Field::GrantedAt))
        );
        // Confirmed before granted: refused; confirmed at or after: fine.
        c.granted_at = 100;
        c.confirmed_at = Some(99);
        assert_eq!(Event::Consent(c.clone()).validate(), Err(Invalid::ConfirmedBeforeGranted));
        c.confirmed_at = Some(100);
        assert_eq!(Event::Consent(c.clone()).validate(), Ok(()));
        c.confirmed_at = Some(101);
        assert_eq!(Event::Consent(c.clone()).validate(), Ok(()));
        c.method = "a\nb".into();
        assert_eq!(Event::Consent(c).validate(), Err(Invalid::ControlChar(Field::Method)));
        let mut r = Relationship {
            number: n(4791234567),
            brand: "A".into(),
            relationship: "purchase".into(),
            started_at: 5,
            last_purchase_at: Some(0),
            ends_at: None,
            informed_at: None,
        };
        assert_eq!(
            Event::Relationship(r.clone()).validate(),
            Err(Invalid::TimeOutOfRange(Field::LastPurchaseAt))
        );
        r.last_purchase_at = Some(6);
        assert_eq!(Event::Relationship(r.clone()).validate(), Ok(()));
        r.relationship = String::new();
        assert_eq!(Event::Relationship(r).validate(), Err(Invalid::Empty(Field::Relationship)));
        let mut k = Correction {
            number: n(4791234567),
            corrects: 0,
            corrected_at: 5,
            method: String::new(),
            text_ref: String::new(),
            source: "x".into(),
        };
        assert_eq!(Event::Correct(k.clone()).validate(), Err(Invalid::NoCorrectedSeq));
        k.corrects = 1;
        assert_eq!(Event::Correct(k.clone()).validate(), Ok(()));
        let at_zero = Correction { corrected_at: 0, ..k.clone() };
        let err = Event::Correct(at_zero).validate();
        assert_eq!(err, Err(Invalid::TimeOutOfRange(Field::CorrectedAt)));
        k.source = String::new();
        assert_eq!(Event::Correct(k.clone()).validate(), Err(Invalid::NothingToCorrect));
        k.source = "a\tb".into();
        assert_eq!(Event::Correct(k).validate(), Err(Invalid::ControlChar(Field::Source)));
        let m = Move { from: n(4791234567), to: n(4791234567), moved_at: 5 };
        assert_eq!(Event::Move(m).validate(), Err(Invalid::MoveToSelf));
        let e = Erase { subject: SubjectKey(1), erased_at: 0 };
        assert_eq!(Event::Erase(e).validate(), Err(Invalid::TimeOutOfRange(Field::ErasedAt)));
        let m = Move { from: n(4791234567), to: n(4791234568), moved_at: 0 };
        let err = Event::Move(m).validate().unwrap_err();
        assert_eq!(err, Invalid::TimeOutOfRange(Field::MovedAt));
        assert!(err.to_string().starts_with("moved_at is outside the supported range"), "{err}");
    }

    #[test]
    fn text_fields_decode_as_utf8_and_bad_bytes_are_refused() {
        let stop = |brand: &str| {
            Event::Stop(Stop { number: n(4791234567), brand: brand.into(), stopped_at: 5 })
        };
        for brand in ["ACME", "Bønder & Co", "Ålands 🐟", ""] {
            let mut b = Vec::new();
            stop(brand).encode(&mut b);
            assert_eq!(EventRef::decode(&b).map(|e| e.to_owned()), Some(stop(brand)), "{brand}");
        }
        // The brand's bytes are the payload's last ones: make them invalid UTF-8.
        for bad in [&[0xC3u8][..], &[0xFF, b'A'], &[b'A', 0xED, 0xA0, 0x80], &[0x80]] {
            let mut b = Vec::new();
            stop(&"x".repeat(bad.len())).encode(&mut b);
            let at = b.len() - bad.len();
            b[at..].copy_from_slice(bad);
            assert_eq!(EventRef::decode(&b), None, "{bad:?}");
        }
    }

    #[test]
    fn erase_never_holds_digits_and_bad_payloads_are_refused() {
        let number = 4791234567u64;
        let mut b = Vec::new();
        Event::Erase(Erase { subject: SubjectKey(0xabcdef), erased_at: 5 }).encode(&mut b);
        assert!(!b.windows(8).any(|w| w == number.to_le_bytes()));
        assert_eq!(EventRef::decode(&[9, 0, 0]), None);
        assert_eq!(EventRef::decode(&[]), None);
        let mut long = b.clone();
        long.push(0);
        assert_eq!(EventRef::decode(&long), None);
        // A move to an invalid (zero) number does not decode.
        let mut m = vec![6u8];
        m.extend_from_slice(&number.to_le_bytes());
        m.extend_from_slice(&0u64.to_le_bytes());
        m.extend_from_slice(&5i64.to_le_bytes());
        assert_eq!(EventRef::decode(&m), None);
    }
}
