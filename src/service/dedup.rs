//! The numbers a check batch has already decided, per handle (`DUPLICATE`: the first
//! occurrence in the request wins). The numbers are the caller's, so the set's hash is
//! keyed with a random seed per request (xxh3 with a seed from the standard library's
//! `RandomState`): a caller cannot choose numbers that collide and make its own batch
//! quadratic. One xxh3 of 16 bytes costs a few nanoseconds where SipHash of the same
//! pair costs several times that (measured with the NDJSON load in BENCHMARKS.md).

use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};

/// Numbers seen per handle index.
#[derive(Debug)]
pub struct Seen(HashSet<(usize, u64), Keyed>);

impl Seen {
    /// An empty set with a fresh random key.
    pub fn new() -> Seen {
        let seed = std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64);
        Seen(HashSet::with_hasher(Keyed { seed }))
    }

    /// Room for `n` more numbers.
    pub fn reserve(&mut self, n: usize) {
        self.0.reserve(n);
    }

    /// Adds `number` for handle `h`; true when it was not seen for `h` before.
    pub fn insert(&mut self, h: usize, number: u64) -> bool {
        self.0.insert((h, number))
    }
}

impl Default for Seen {
    fn default() -> Seen {
        Seen::new()
    }
}

/// The set's hasher factory: the request's seed.
#[derive(Debug, Clone, Copy)]
struct Keyed {
    seed: u64,
}

impl BuildHasher for Keyed {
    type Hasher = Pair;
    fn build_hasher(&self) -> Pair {
        Pair { seed: self.seed, words: [0; 2], n: 0 }
    }
}

/// Hashes the two words of a `(usize, u64)` key as one 16-byte xxh3 input; any other
/// writes (none in this module) are folded in by hashing them first.
struct Pair {
    seed: u64,
    words: [u64; 2],
    n: usize,
}

impl Pair {
    fn word(&mut self, v: u64) {
        if self.n < 2 {
            self.words[self.n] = v;
        } else {
            self.words[1] =
                xxhash_rust::xxh3::xxh3_64_with_seed(&(self.words[1] ^ v).to_le_bytes(), self.seed);
        }
        self.n += 1;
    }
}

impl Hasher for Pair {
    fn write(&mut self, bytes: &[u8]) {
        self.word(xxhash_rust::xxh3::xxh3_64_with_seed(bytes, self.seed));
    }
    fn write_u64(&mut self, v: u64) {
        self.word(v);
    }
    fn write_usize(&mut self, v: usize) {
        self.word(v as u64);
    }
    fn finish(&self) -> u64 {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.words[0].to_le_bytes());
        b[8..].copy_from_slice(&self.words[1].to_le_bytes());
        xxhash_rust::xxh3::xxh3_64_with_seed(&b, self.seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_occurrence_per_handle_is_new_and_repeats_are_not() {
        let mut s = Seen::new();
        assert!(s.insert(0, 4791234567));
        assert!(!s.insert(0, 4791234567));
        assert!(s.insert(1, 4791234567), "another handle's number is its own");
        assert!(s.insert(0, 4791234568));
        assert!(!s.insert(1, 4791234567));
    }

    #[test]
    fn two_requests_hash_with_different_keys() {
        let (a, b) = (Seen::new(), Seen::new());
        let h = |s: &Seen| s.0.hasher().hash_one((0usize, 4791234567u64));
        assert_ne!(h(&a), h(&b), "each request draws its own key");
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_a_plain_set(keys in proptest::collection::vec((0usize..3, 0u64..50), 0..200)) {
            let mut s = Seen::new();
            let mut model = std::collections::HashSet::new();
            for (h, n) in keys {
                proptest::prop_assert_eq!(s.insert(h, n), model.insert((h, n)));
            }
        }
    }
}
