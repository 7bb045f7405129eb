//! [`LenDfa`]: a digit DFA whose answer depends on the input's length, with early exit.
//!
//! The numbering-plan patterns are mostly a few leading digits followed by `\d{k}`: after
//! the first one to three digits the automaton only counts. A [`LenDfa`] marks such
//! *counting* states (every digit leads to the same next state, and so on from there) and
//! stores, per counting state, the answer for every number of remaining digits. A walk then
//! stops at the first counting state and answers with one table load, instead of one
//! dependent load per digit: a valid `+47 9…` number takes two steps, not eight.
//!
//! The answer is a bit set over the input length (`mask >> len & 1`), so one table can
//! answer questions that depend on the length too, such as `is_valid_number`'s per-type
//! possible lengths. Tables are derived by [`LenDfa::build`] from any finite transition
//! system over the ten digits (the compiled metadata DFAs and products of them).

use std::collections::HashMap;
use std::hash::Hash;

/// Longest input a [`LenDfa`] answers (longer inputs answer `false`).
pub(super) const MAX_LEN: usize = 20;

/// Answers stored per counting state: one per number of remaining digits, 0 to `MAX_LEN`.
const TAIL_LEN: usize = MAX_LEN + 1;

/// Set in a transition entry when the target is a counting state; the rest of the entry
/// is then the offset of its row in `tails`.
const COUNTING: u32 = 1 << 31;

/// Row width in `rows`: the length mask, then the ten transitions.
const ROW: usize = 11;

/// A DFA over ASCII digits answering "accepted for this length" with early exit.
pub(super) struct LenDfa {
    /// Rows of [`ROW`] entries: `[mask, next('0'), …, next('9')]`. A transition entry is a
    /// row offset, or [`COUNTING`] | an offset into `tails`.
    rows: Vec<u32>,
    /// For each counting state, [`TAIL_LEN`] masks: the mask of the state reached after
    /// `r` more digits, at index `r`.
    tails: Vec<u32>,
    /// The start entry (encoded like a transition entry).
    start: u32,
    /// The entry after each three-digit start `000`-`999` (by its value).
    head: Vec<u32>,
}

impl LenDfa {
    /// Explores the states reachable from `start` by `step` (digit 0-9) and tabulates
    /// `mask` (bit `len` set: an input of `len` digits ending in that state is accepted).
    ///
    /// Returns `None` when more than `max_states` states are reachable.
    pub(super) fn build<S: Clone + Eq + Hash>(
        start: S,
        step: impl Fn(&S, u8) -> S,
        mask: impl Fn(&S) -> u32,
        max_states: usize,
    ) -> Option<LenDfa> {
        let mut states = vec![start.clone()];
        let mut index: HashMap<S, u32> = HashMap::from([(start, 0)]);
        let mut next: Vec<[u32; 10]> = Vec::new();
        let mut masks: Vec<u32> = Vec::new();
        let mut i = 0;
        while i < states.len() {
            let s = states[i].clone();
            let mut row = [0u32; 10];
            for (d, slot) in row.iter_mut().enumerate() {
                let t = step(&s, d as u8);
                let id = match index.get(&t) {
                    Some(&id) => id,
                    None => {
                        if states.len() >= max_states {
                            return None;
                        }
                        let id = states.len() as u32;
                        index.insert(t.clone(), id);
                        states.push(t);
                        id
                    }
                };
                *slot = id;
            }
            next.push(row);
            masks.push(mask(&s));
            i += 1;
        }
        // Counting states: the greatest set where every digit leads to one state that is
        // itself counting (a dead state and `\d*` loops qualify).
        let n = states.len();
        let mut counting: Vec<bool> = next.iter().map(|r| r.iter().all(|&t| t == r[0])).collect();
        loop {
            let mut changed = false;
            for s in 0..n {
                if counting[s] && !counting[next[s][0] as usize] {
                    counting[s] = false;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        let mut tail_of = vec![0u32; n];
        let mut tails = Vec::new();
        for s in 0..n {
            if counting[s] {
                tail_of[s] = tails.len() as u32;
                let mut t = s;
                for _ in 0..TAIL_LEN {
                    tails.push(masks[t]);
                    t = next[t][0] as usize;
                }
            }
        }
        let enc = |t: usize| if counting[t] { COUNTING | tail_of[t] } else { (t * ROW) as u32 };
        let mut rows = Vec::with_capacity(n * ROW);
        for s in 0..n {
            rows.push(masks[s]);
            rows.extend(next[s].iter().map(|&t| enc(t as usize)));
        }
        let head = (0..1000)
            .map(|k: usize| {
                enc([k / 100, k / 10 % 10, k % 10].iter().fold(0, |s, &d| next[s][d] as usize))
            })
            .collect();
        Some(LenDfa { rows, tails, start: enc(0), head })
    }

    /// Whether `digits` (ASCII digits, at most [`MAX_LEN`]) is accepted; longer inputs
    /// answer `false`.
    ///
    /// The input is trusted to be digits (the fast path's digit strings are, by
    /// construction): a counting state answers for the digits it skips without looking at
    /// them. Other bytes give an unspecified answer, never a panic.
    #[inline]
    pub(super) fn accepts_digits(&self, digits: &[u8]) -> bool {
        let n = digits.len();
        if n > MAX_LEN {
            return false;
        }
        let (mut s, mut i) = match *digits {
            // The first three digits by one lookup: no loop for the common numbers.
            [a, b, c, ..] => {
                let k = usize::from(a.wrapping_sub(b'0')) * 100
                    + usize::from(b.wrapping_sub(b'0')) * 10
                    + usize::from(c.wrapping_sub(b'0'));
                (self.head.get(k).copied().unwrap_or(COUNTING), 3)
            }
            _ => (self.start, 0),
        };
        while s & COUNTING == 0 {
            let Some(&b) = digits.get(i) else {
                return self.rows.get(s as usize).is_some_and(|m| m >> n & 1 != 0);
            };
            let d = usize::from(b.wrapping_sub(b'0')).min(9);
            // Offsets come from `build`, so this is always in bounds; `get` keeps it
            // panic-free at the cost of a predictable branch.
            s = self.rows.get(s as usize + 1 + d).copied().unwrap_or(COUNTING);
            i += 1;
        }
        self.tails.get((s & !COUNTING) as usize + (n - i)).is_some_and(|m| m >> n & 1 != 0)
    }

    /// Number of states (for tests and sizing).
    #[cfg(test)]
    pub(super) fn states(&self) -> usize {
        self.rows.len() / ROW
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A toy system: states count digits seen so far up to 6, and remember whether the first
    /// digit was 9. Accepted: first digit 9, length 4 or 6 exactly.
    fn toy() -> LenDfa {
        LenDfa::build(
            (0u8, false),
            |&(n, nine), d| if n == 0 { (1, d == 9) } else { ((n + 1).min(7), nine) },
            |&(n, nine)| if nine && (n == 4 || n == 6) { 1 << n } else { 0 },
            100,
        )
        .expect("small")
    }

    fn model(s: &[u8]) -> bool {
        s.first() == Some(&b'9') && (s.len() == 4 || s.len() == 6)
    }

    #[test]
    fn counting_states_answer_like_a_full_walk() {
        let t = toy();
        for s in ["9123", "912345", "91234", "8123", "9", "", "9123456", "91234567890123456789"] {
            assert_eq!(t.accepts_digits(s.as_bytes()), model(s.as_bytes()), "{s}");
        }
    }

    #[test]
    fn overlong_inputs_are_rejected_and_bytes_never_panic() {
        let t = toy();
        assert!(!t.accepts_digits(b"912345678901234567890"));
        for b in 0..=255u8 {
            let _ = t.accepts_digits(&[b, b'9', b, b, b]);
            let _ = t.accepts_digits(&[b]);
        }
    }

    #[test]
    fn state_cap_is_respected() {
        assert!(LenDfa::build(0u32, |&s, d| s * 10 + u32::from(d), |_| 0, 50).is_none());
    }

    proptest! {
        #[test]
        fn agrees_with_model(s in "[0-9]{0,22}") {
            let want = model(s.as_bytes()) && s.len() <= MAX_LEN;
            prop_assert_eq!(toy().accepts_digits(s.as_bytes()), want);
        }
    }
}
