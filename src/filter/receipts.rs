//! Decision receipts (`filter --receipts FILE`): one compact line per decided record, in
//! input order, so that "why was this message allowed?" can be answered later from the
//! receipt and the store.
//!
//! ```text
//! # sendfilter receipts v2 brand=ACME purpose=offers class=marketing now=2026-01-01T00:00:00Z ... key=5d0c…
//! number_hash,verdict,reason,basis,event_seq,generation,journal_seq
//! 9f1c2a7b3e4d5f60,allow,ALLOWED,consent,1234,3,56789
//! 0c3e5a1d9b7f2e44,reject,NO_CONSENT,-,0,3,56789
//! ,reject,MALFORMED,-,0,3,56789
//! ```
//! * `number_hash`: [`number_hash`] of the E.164 number (16 hex digits), empty when the
//!   record had no valid number: a *keyed* hash (SipHash-2-4 under the store's receipt key,
//!   `DIR/receipt.key`, 32 random bytes created `0600` by the first run that writes
//!   receipts). Without the key a receipt line cannot be linked to a number, not even by
//!   hashing every number of a numbering plan; whoever holds the store's key finds a
//!   person's lines again by computing their hash ([`ReceiptKey::load`] and
//!   [`number_hash`], or `sendfilter subject receipt-hash --store DIR NUMBER`). It is a
//!   pseudonym still (the key holder can test guesses), so the file is created 0600.
//! * Which key: the receipt key, not the suppression key. It exists from the first receipt
//!   (the suppression key only from the first erasure, and a filter must never create
//!   that one) and is kept across erasures: rotating it at an erasure would make every
//!   other person's receipts unfindable. An erasure therefore leaves receipt files as they
//!   are (they hold no number, only the keyed hash); the erasure receipt says so. Delete
//!   receipt files past their retention period. The header's `key=` names the key a file
//!   used (a fingerprint that reveals nothing about the key), so a file written before a
//!   lost key was replaced is recognised as such.
//! * Why SipHash and not a seeded xxh3: on an 8-byte input xxh3 is a fixed bijection
//!   after XOR with a key-derived mask, so a single known (number, hash) pair — a number
//!   the reader knows is in the campaign — would reveal the mask and then every number.
//!   SipHash is a keyed pseudo-random function; it costs ~30 ns per record (measured on
//!   the 2-core development VM, `rustc -O`, while other builds ran), paid only
//!   with `--receipts`.
//! * `basis`/`event_seq`: what allowed the record (`consent`, `soft_opt_in`, `service`) and
//!   the journal sequence number of that consent or relationship event (0 for none); the
//!   store's evidence for the number (`Store::evidence`) holds the event in full.
//! * `generation`/`journal_seq`: the snapshot generation and last journal sequence the
//!   decision read (the same for a whole run; on every line so a line stands alone).
//!
//! Lines are rendered into the worker's per-chunk buffer without allocation and written
//! in input order with the chunk.

use crate::decision::{Basis, Reason};
use crate::phone::E164;

/// The receipts file format version (first line). 2: `number_hash` is keyed.
pub const VERSION: u32 = 2;

/// The CSV header line (second line).
pub const HEADER: &str = "number_hash,verdict,reason,basis,event_seq,generation,journal_seq";

/// The secret key of receipt hashes (see the module docs): the store's `receipt.key`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ReceiptKey {
    k0: u64,
    k1: u64,
}

impl std::fmt::Debug for ReceiptKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReceiptKey(..)") // never print the key
    }
}

impl ReceiptKey {
    /// A key from 32 key bytes (the first 16 key SipHash; the rest is reserved).
    pub fn from_bytes(b: &[u8; 32]) -> ReceiptKey {
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(w)
        };
        ReceiptKey { k0: word(0), k1: word(8) }
    }

    /// The receipt key of the store in `dir`, created (`0600`) when it has none yet.
    ///
    /// # Errors
    /// I/O errors, a damaged key file.
    pub fn load_or_create(dir: &std::path::Path) -> Result<ReceiptKey, crate::StoreError> {
        crate::store::suppress::load_or_create_receipt_key(dir).map(|k| ReceiptKey::from_bytes(&k))
    }

    /// The receipt key of the store in `dir`; `None` when no receipts were written yet.
    ///
    /// # Errors
    /// I/O errors, a damaged key file.
    pub fn load(dir: &std::path::Path) -> Result<Option<ReceiptKey>, crate::StoreError> {
        Ok(crate::store::suppress::load_receipt_key(dir)?.map(|k| ReceiptKey::from_bytes(&k)))
    }

    /// A fingerprint naming the key in receipt headers (16 hex digits; a keyed hash of a
    /// constant, so it reveals nothing about the key).
    pub fn id(&self) -> String {
        format!("{:016x}", crate::store::suppress::sip(self.k0, self.k1, u64::MAX))
    }
}

/// The pseudonym of a number in receipts: SipHash-2-4 under the store's receipt key of
/// the E.164 digits as a little-endian `u64` (8 bytes). Hashing the integer, not its
/// text, keeps receipts cheap on the hot path.
///
/// ```
/// use sendfilter::E164;
/// use sendfilter::filter::receipts::{number_hash, ReceiptKey};
/// let n = E164::from_u64(4791234567).unwrap();
/// let (k1, k2) = (ReceiptKey::from_bytes(&[1; 32]), ReceiptKey::from_bytes(&[2; 32]));
/// assert_eq!(number_hash(&k1, n), number_hash(&k1, n));
/// assert_ne!(number_hash(&k1, n), number_hash(&k2, n));
/// ```
#[inline]
pub fn number_hash(key: &ReceiptKey, number: E164) -> u64 {
    crate::store::suppress::sip(key.k0, key.k1, number.as_u64())
}

/// The run-constant end of every line: `,generation,journal_seq\n`.
pub fn line_suffix(generation: u64, journal_seq: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(48);
    v.push(b',');
    push_u64(&mut v, generation);
    v.push(b',');
    push_u64(&mut v, journal_seq);
    v.push(b'\n');
    v
}

/// Appends one receipt line to `out`. `suffix` is [`line_suffix`].
#[inline]
pub fn push(
    out: &mut Vec<u8>,
    key: &ReceiptKey,
    number: Option<E164>,
    reason: Reason,
    basis: Basis,
    suffix: &[u8],
) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    if let Some(n) = number {
        let h = number_hash(key, n);
        let mut b = [0u8; 16];
        for (i, d) in b.iter_mut().enumerate() {
            *d = HEX[((h >> (60 - 4 * i)) & 0xf) as usize];
        }
        out.extend_from_slice(&b);
    }
    out.extend_from_slice(if reason.is_allowed() { b",allow," } else { b",reject," });
    out.extend_from_slice(reason.as_str().as_bytes());
    out.push(b',');
    out.extend_from_slice(basis.as_str().as_bytes());
    out.push(b',');
    push_u64(out, basis.event_seq());
    out.extend_from_slice(suffix);
}

/// Writes `v` in decimal without allocating.
#[inline]
pub fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut b = [0u8; 20];
    let mut i = b.len();
    loop {
        i -= 1;
        b[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&b[i..]);
}

/// The two header lines for a run: a `#` comment with the run's parameters and the
/// receipt key's fingerprint ([`ReceiptKey::id`]), then [`HEADER`].
pub fn header(
    run: &super::RunOptions,
    key: &ReceiptKey,
    generation: u64,
    journal_seq: u64,
) -> String {
    let f = &run.filter;
    let opt = |m: Option<u32>| m.map_or("off".to_string(), |m| format!("{m}m"));
    format!(
        "# sendfilter receipts v{VERSION} brand={} purpose={} class={} now={} \
         require_confirmed={} consent_lifetime={} soft_opt_in={} generation={generation} \
         journal_seq={journal_seq} key={}\n{HEADER}\n",
        run.brand.escape_debug(),
        run.purpose.escape_debug(),
        f.class.as_str(),
        crate::timefmt::format_rfc3339(f.now),
        f.require_confirmed,
        opt(f.consent_lifetime_months),
        opt(f.soft_opt_in_months),
        key.id(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let n = E164::from_u64(4791234567).unwrap();
        let suffix = line_suffix(3, 56789);
        let key = ReceiptKey::from_bytes(&[9; 32]);
        let mut out = Vec::new();
        push(&mut out, &key, Some(n), Reason::Allowed, Basis::Consent(1234), &suffix);
        push(&mut out, &key, None, Reason::Malformed, Basis::None, &suffix);
        push(&mut out, &key, Some(n), Reason::Allowed, Basis::SoftOptIn(7), &suffix);
        let text = String::from_utf8(out).unwrap();
        let h = format!("{:016x}", number_hash(&key, n));
        assert_eq!(
            text,
            format!(
                "{h},allow,ALLOWED,consent,1234,3,56789\n,reject,MALFORMED,-,0,3,56789\n\
                 {h},allow,ALLOWED,soft_opt_in,7,3,56789\n"
            )
        );
        assert!(!text.contains("4791234567"));
    }

    /// The hash is keyed: not the unkeyed xxh3 of the number (which anyone could compute
    /// for every number of a numbering plan), different under another key.
    #[test]
    fn number_hash_is_keyed() {
        let n = E164::from_u64(4791234567).unwrap();
        let (a, b) = (ReceiptKey::from_bytes(&[1; 32]), ReceiptKey::from_bytes(&[2; 32]));
        let unkeyed = xxhash_rust::xxh3::xxh3_64(&n.as_u64().to_le_bytes());
        assert_ne!(number_hash(&a, n), unkeyed);
        assert_ne!(number_hash(&a, n), number_hash(&b, n));
        assert_ne!(a.id(), b.id());
        assert_eq!(format!("{a:?}"), "ReceiptKey(..)");
    }

    #[test]
    fn decimal() {
        for v in [0u64, 7, 10, 99, 1234567890, u64::MAX] {
            let mut o = Vec::new();
            push_u64(&mut o, v);
            assert_eq!(String::from_utf8(o).unwrap(), v.to_string());
        }
    }

    /// Receipts of a parallel run with duplicates racing across tiny chunks equal those of a sequential run, one per record, with bases counted.
    #[test]
    fn parallel_receipts_equal_sequential() {
        use crate::filter::{FilterOptions, Format, RunOptions, Sinks, run_with_receipts};
        use crate::standing::{ConsentState, MemorySource, RelationshipState};
        let mut src = MemorySource::default();
        for i in 0..400u64 {
            let n = E164::from_u64(4791000000 + i).unwrap();
            if i % 3 == 0 {
                let c = ConsentState {
                    granted_at: 1,
                    confirmed_at: None,
                    expires_at: None,
                    event_seq: i,
                };
                src.consents.insert((n, "ACME".into(), "offers".into()), c);
            } else if i % 3 == 1 {
                let r = RelationshipState {
                    lasting: true,
                    started_at: 1,
                    last_purchase_at: None,
                    ends_at: None,
                    informed_at: (i % 2 == 0).then_some(1),
                    event_seq: 10_000 + i,
                };
                src.relationships.insert((n, "ACME".into()), r);
            }
        }
        let mut input = String::new();
        for i in 0..6_000u64 {
            input.push_str(&format!("+4791{:06}\n", (i + (i * 7919) % 29) / 15));
        }
        input.push_str("garbage\n");
        let mut f = FilterOptions::at(1_000);
        f.soft_opt_in_months = Some(12);
        let run = |threads: usize, chunk: usize| {
            let mut o = RunOptions::new("ACME", "offers", f.clone()).with_format(Format::Lines);
            o.receipt_key = Some(ReceiptKey::from_bytes(&[5; 32]));
            (o.threads, o.chunk_bytes) = (threads, chunk);
            let (mut out, mut rec) = (Vec::new(), Vec::new());
            let sinks = Sinks { output: &mut out, rejects: None, progress: None };
            let report =
                run_with_receipts(&src, &o, input.as_bytes(), sinks, Some(&mut rec)).unwrap();
            (String::from_utf8(rec).unwrap(), report)
        };
        let (want, wr) = run(1, 1 << 30);
        assert_eq!(want.lines().count(), 2 + 6_001);
        assert!(wr.counts.allowed_by_consent > 0 && wr.counts.allowed_by_soft_opt_in > 0);
        assert_eq!(
            wr.counts.allowed_by_consent + wr.counts.allowed_by_soft_opt_in,
            wr.counts.allowed()
        );
        assert_eq!(
            want.lines().filter(|l| l.contains(",soft_opt_in,")).count() as u64,
            wr.counts.allowed_by_soft_opt_in
        );
        for _ in 0..5 {
            let (got, gr) = run(4, 64);
            assert!(got == want, "parallel receipts differ from sequential ones");
            assert_eq!(gr.counts, wr.counts);
        }
    }
}
