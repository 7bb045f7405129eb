//! A small per-worker cache of the messages a run has already checked and measured.
//!
//! A campaign sends one text, or a few variants of it, to many recipients, so most records
//! carry a message the worker has seen a moment before. Checking its UTF-8, looking for the
//! footer and counting its segments (GSM 03.38 or UCS-2) took a quarter of a csv run's CPU
//! on the benchmark data (measured by skipping them); the cache answers a repeated message
//! with one hash and one comparison of its bytes instead, and measuring it later in the
//! same chunk with a [`Ticket`] from the check, without either.
//!
//! The cache is direct-mapped ([`ENTRIES`] entries, keyed by xxh3 of the bytes) and holds
//! messages of up to [`MAX_LEN`] bytes inline, so it never allocates after it is made.
//! An entry is only ever used after comparing its bytes with the message: a hash collision
//! costs a miss, never a wrong answer. Personalised messages (every one different) miss
//! every time and are checked and measured as without the cache.

use crate::sms::{Footer, Stamp};

/// Entries (a power of two).
const ENTRIES: usize = 256;
/// Longest message cached, in bytes (longer ones are checked and measured every time).
const MAX_LEN: usize = 200;
const EMPTY: u32 = u32::MAX;
/// Footers (opt-out routes by country) whose plans an entry keeps; a run with more
/// countries measures the others every time.
pub(crate) const FOOTERS: usize = 4;

/// What stamping a message does: the footer plan and the segments before and after.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stamped {
    /// Whether (and how) the footer is appended.
    pub plan: Stamp,
    /// Segments of the message as it came.
    pub before: usize,
    /// Segments after stamping.
    pub after: usize,
}

impl Stamped {
    /// Plans and counts `message` with `footer`, without the cache.
    pub(crate) fn compute(footer: &Footer, message: &str) -> Stamped {
        let plan = footer.plan(message);
        let (b, a) = footer.count_stamped(message, plan);
        Stamped { plan, before: b.segments, after: a.segments }
    }
}

/// Where [`MessageCache::is_utf8`] left a message: its entry, while the entry still holds
/// it (a later message may take the entry; the ticket then no longer matches). Lets
/// [`MessageCache::stamped`] find the message again without hashing and comparing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ticket {
    index: u32,
    /// The entry's fill count when the message went in; 0 = no ticket.
    fill: u32,
}

impl Ticket {
    /// The ticket of a message the cache does not hold.
    pub(crate) const NONE: Ticket = Ticket { index: 0, fill: 0 };

    /// As two words (to keep in a record), and back.
    pub(crate) fn to_parts(self) -> (u32, u32) {
        (self.index, self.fill)
    }

    /// See [`to_parts`](Self::to_parts).
    pub(crate) fn from_parts(index: u32, fill: u32) -> Ticket {
        Ticket { index, fill }
    }
}

#[derive(Clone, Copy)]
struct Entry {
    /// Message length in bytes; [`EMPTY`] = none. Only messages found to be valid UTF-8
    /// go in.
    len: u32,
    /// Its footer plan and segment counts per footer (the run's route index), once
    /// computed.
    stamped: [Option<Stamped>; FOOTERS],
    /// The cache's fill count when this message went in (0 = never filled).
    fill: u32,
    bytes: [u8; MAX_LEN],
}

const VACANT: Entry = Entry { len: EMPTY, stamped: [None; FOOTERS], fill: 0, bytes: [0; MAX_LEN] };

/// Messages known to be valid UTF-8, with their footer plan and segment counts once
/// computed.
pub(crate) struct MessageCache {
    entries: Box<[Entry]>,
    /// Counts calls (wrapping, never 0); an entry keeps the count it was filled at, which
    /// tells a ticket's message from a later one in the same entry. A ticket lives for one
    /// chunk (at most a few hundred thousand calls), far less than a wrap.
    fills: u32,
}

impl Default for MessageCache {
    fn default() -> MessageCache {
        MessageCache { entries: vec![VACANT; ENTRIES].into_boxed_slice(), fills: 0 }
    }
}

impl MessageCache {
    #[inline]
    fn index(message: &[u8]) -> usize {
        xxhash_rust::xxh3::xxh3_64(message) as usize & (ENTRIES - 1)
    }

    /// The entry `message` maps to, its index and whether it holds exactly `message`;
    /// `None` for a message too long to cache.
    #[inline]
    fn entry(&mut self, message: &[u8]) -> Option<(&mut Entry, usize, bool)> {
        if message.len() > MAX_LEN {
            return None;
        }
        let i = Self::index(message);
        let e = self.entries.get_mut(i)?;
        let hit = e.len as usize == message.len() && e.bytes.get(..message.len()) == Some(message);
        Some((e, i, hit))
    }

    /// The next fill count (never 0).
    #[inline]
    fn next_fill(&mut self) -> u32 {
        self.fills = self.fills.wrapping_add(1).max(1);
        self.fills
    }

    /// Whether `message` is valid UTF-8 (`Some`, with the message's ticket, or
    /// [`Ticket::NONE`] when it is too long to cache): from the cache when it holds the
    /// message, else checked (and a valid message cached).
    #[inline]
    pub(crate) fn is_utf8(&mut self, message: &[u8]) -> Option<Ticket> {
        let fill = self.next_fill();
        match self.entry(message) {
            Some((e, i, true)) => Some(Ticket { index: i as u32, fill: e.fill }),
            Some((e, i, false)) => {
                simdutf8::basic::from_utf8(message).ok()?;
                e.fill(message, fill);
                Some(Ticket { index: i as u32, fill })
            }
            None => simdutf8::basic::from_utf8(message).ok().map(|_| Ticket::NONE),
        }
    }

    /// The footer plan and segment counts of `message`: from the cache when it holds
    /// them, else computed (and cached). `ticket` is what [`is_utf8`](Self::is_utf8) gave
    /// for this very message (or [`Ticket::NONE`]): while it matches, the message is not
    /// hashed or compared again. `footer` must be the same for every call on one cache
    /// with the same `index` (the run's footer for one route, see [`super::Routes`]).
    #[inline]
    pub(crate) fn stamped(
        &mut self,
        footer: &Footer,
        index: usize,
        message: &str,
        ticket: Ticket,
    ) -> Stamped {
        if index >= FOOTERS {
            return Stamped::compute(footer, message);
        }
        let bytes = message.as_bytes();
        let fill = self.next_fill();
        let e = match self.entries.get_mut(ticket.index as usize) {
            Some(e) if ticket.fill != 0 && e.fill == ticket.fill => e,
            _ => {
                let Some((e, _, hit)) = self.entry(bytes) else {
                    return Stamped::compute(footer, message);
                };
                if !hit {
                    e.fill(bytes, fill);
                }
                e
            }
        };
        match e.stamped[index] {
            Some(s) => s,
            None => {
                let s = Stamped::compute(footer, message);
                e.stamped[index] = Some(s);
                s
            }
        }
    }
}

impl Entry {
    /// Makes this entry hold `message` (valid UTF-8, at most [`MAX_LEN`] bytes), as fill
    /// number `fill`.
    #[inline]
    fn fill(&mut self, message: &[u8], fill: u32) {
        if let Some(b) = self.bytes.get_mut(..message.len()) {
            b.copy_from_slice(message);
            self.len = message.len() as u32;
            self.stamped = [None; FOOTERS];
            self.fill = fill;
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn footer() -> Footer {
        Footer::new("Svar {brand} STOPP til {shortcode}", "ACME", Some("2401")).expect("valid")
    }

    #[test]
    fn invalid_utf8_is_never_cached() {
        let mut c = MessageCache::default();
        assert_eq!(c.is_utf8(b"bad \xc3"), None);
        assert_eq!(c.is_utf8(b"bad \xc3"), None);
        let t = c.is_utf8("Hei på deg".as_bytes()).expect("valid");
        assert_ne!(t, Ticket::NONE);
        assert_eq!(c.is_utf8("Hei på deg".as_bytes()), Some(t), "a hit keeps the ticket");
    }

    #[test]
    fn long_messages_are_measured_every_time() {
        let f = footer();
        let mut c = MessageCache::default();
        let long = "Tilbud på alt! ".repeat(20);
        assert!(long.len() > MAX_LEN);
        assert_eq!(c.stamped(&f, 0, &long, Ticket::NONE), Stamped::compute(&f, &long));
        assert_eq!(c.is_utf8(long.as_bytes()), Some(Ticket::NONE));
        assert_eq!(c.stamped(&f, 0, &long, Ticket::NONE), Stamped::compute(&f, &long));
    }

    fn message() -> impl Strategy<Value = Vec<u8>> {
        // Few distinct texts (so entries are hit, replaced and collide), some invalid,
        // some carrying the footer, some GSM extension characters, emoji and long ones.
        prop_oneof![
            Just(b"Hei".to_vec()),
            Just(b"Hei ".to_vec()),
            Just("Hei på deg".as_bytes().to_vec()),
            Just(b"bad \xc3".to_vec()),
            Just(b"Tilbud [{}] svar acme stopp til 2401".to_vec()),
            Just("Hei 🎉".as_bytes().to_vec()),
            Just(vec![b'x'; MAX_LEN]),
            Just(vec![b'x'; MAX_LEN + 1]),
            proptest::collection::vec(any::<u8>(), 0..40),
            "[a-zæøå €{}]{0,170}".prop_map(String::into_bytes),
        ]
    }

    proptest! {
        /// Whatever the sequence, the cache answers what checking and measuring each
        /// message afresh answers, used as the engine uses it: a chunk's messages are all
        /// checked first, then the allowed ones measured with their tickets (entries may
        /// have been taken by later messages in between).
        #[test]
        fn answers_as_without_the_cache(
            msgs in proptest::collection::vec(message(), 0..400),
            chunk in 1usize..64,
        ) {
            // Two routes' footers (and one past the cached ones), as a mixed run uses them.
            let fs = [
                footer(),
                Footer::new("Send {brand} STOP til {shortcode}", "ACME", Some("+4570202020")).expect("valid"),
            ];
            let mut c = MessageCache::default();
            for (k, part) in msgs.chunks(chunk).enumerate() {
                let tickets: Vec<Option<Ticket>> = part.iter().map(|m| c.is_utf8(m)).collect();
                for (m, t) in part.iter().zip(tickets) {
                    let valid = std::str::from_utf8(m);
                    prop_assert_eq!(t.is_some(), valid.is_ok());
                    if let (Ok(text), Some(t)) = (valid, t) {
                        let i = (k + text.len()) % 2;
                        let f = &fs[i];
                        prop_assert_eq!(c.stamped(f, i, text, t), Stamped::compute(f, text));
                        // Without its ticket too, and under an index past the cached ones.
                        prop_assert_eq!(c.stamped(f, i, text, Ticket::NONE), Stamped::compute(f, text));
                        prop_assert_eq!(c.stamped(f, FOOTERS, text, t), Stamped::compute(f, text));
                    }
                }
            }
        }
    }
}
