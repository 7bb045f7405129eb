//! Opt-out intent in free text, for replies the keyword grammar ([`crate::keyword`]) does
//! not read: "STOPP. Jeg vil ikke ha flere meldinger", "Meld meg av", "sluta skicka",
//! "älä lähetä", "please remove me". Pure and table-driven: the words and phrases are data,
//! one file per language (`src/keyword/intent/{no,sv,da,fi,en}.txt`, compiled in), read once
//! into one [`Lexicon`] for all five languages.
//!
//! ## Data files
//! One entry per line, `#` starts a comment; text is [`fold`]ed on load, so it is written
//! as people write it (`ønsker`, `älä`). Sections:
//!
//! * `lead: w w …` — words that may open a reply before its stop keyword (`Hei, STOPP`);
//! * `not: w w …` — negations: a stop keyword or phrase right after one (within two words)
//!   is not an opt-out but unclear (`ikke stopp`, `don't unsubscribe me`);
//! * `real: w w …` — real words one letter from a stop word, never read as its typo
//!   (`slott` is not `slutt`);
//! * `notbrand: w w …` — words that are never a brand word before a stop keyword (`the end`,
//!   `bus stop`);
//! * `phrase: t t …` — an opt-out phrase, matched anywhere in the reply;
//! * `unclear: t t …` — a phrase that makes a reply worth a human look (`sms*`, `nei takk`).
//!
//! Phrase tokens: `word`; `stem*` (the stem and any ending: `avmeld*` is `avmelde`,
//! `avmelding`, …); `a|b|c` (any of them, each may be a stem); a trailing `?` makes a token
//! optional; `..` skips up to three other words.
//!
//! ## Rules ([`classify`], on a folded text)
//! 1. **First word.** After up to three lead words, a reply whose first word is a stop
//!    keyword ([`STOP_WORDS`]), or whose second is and whose first (the brand word) is not
//!    a negation or `notbrand`, is a STOP whatever follows (`STOPP. Jeg vil ikke…`,
//!    `Acme stopp nå`) — unless a negation follows the keyword (`avsluta inte`). Words that
//!    only start like one stay what they are (`stoppeklokke`, `STOPPER DU?`).
//! 2. **Phrases.** Any opt-out phrase not preceded within two words, nor directly followed,
//!    by a negation is a STOP (a `..` gap never skips a negation).
//! 3. **Unclear.** Otherwise a reply with a negated stop, a stop keyword elsewhere, an
//!    unclear phrase, a question mark or more than [`MAX_WORDS`] words is
//!    [`Intent::Unclear`]; the rest [`Intent::Unrelated`].
//!
//! Words of five letters or more also match at edit distance 1 (one letter wrong, missing,
//! added, or two neighbours swapped) — a word that is itself five letters or more and not
//! listed as `real`. Confusable Cyrillic and Greek letters are folded by [`fold`]
//! (`СТОП`, `ЅТОР` are `stop`).
//!
//! Cost: one walk of a byte trie per word (exact words and stems), and for an unknown word
//! of five letters or more one walk per one-letter deletion in a trie of the vocabulary's
//! deletions; no allocation.
//!
//! ```
//! use sendfilter::inbound::intent::{Intent, classify};
//! use sendfilter::inbound::keyword::fold;
//! let c = |t: &str| classify(&fold(t), t.contains('?'));
//! assert_eq!(c("Stopp å sende meg SMS"), Intent::Stop { brand: None });
//! assert_eq!(c("Acme stopp nå takk"), Intent::Stop { brand: Some(0) });
//! assert_eq!(c("stoppeklokke til salgs"), Intent::Unclear);
//! assert_eq!(c("Takk for sist!"), Intent::Unrelated);
//! ```

use std::sync::OnceLock;

use super::{STOP_WORDS, fold};

/// The data files, by language code.
pub const DATA: [(&str, &str); 5] = [
    ("no", include_str!("intent/no.txt")),
    ("sv", include_str!("intent/sv.txt")),
    ("da", include_str!("intent/da.txt")),
    ("fi", include_str!("intent/fi.txt")),
    ("en", include_str!("intent/en.txt")),
];

/// Most words of a reply that are read; a longer reply is at best [`Intent::Unclear`].
pub const MAX_WORDS: usize = 64;
/// Shortest word (in bytes, folded) that matches at edit distance 1.
pub const MIN_TYPO_LEN: usize = 5;
/// Most lead words skipped before a stop keyword.
const MAX_LEADS: usize = 3;
/// Most words skipped by `..` in a phrase.
const MAX_GAP: usize = 3;
/// Most vocabulary entries one word can match (exact, stems, typos).
const MAX_IDS: usize = 8;

/// What a reply means, as far as opting out is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intent {
    /// An opt-out; `brand` is the index (in words) of the brand word before the stop
    /// keyword, if there was one.
    Stop {
        /// Index of the brand word.
        brand: Option<usize>,
    },
    /// Not an opt-out that can be recorded, but related to messages or stopping, or a
    /// question: a human should look.
    Unclear,
    /// Nothing to do with opting out.
    Unrelated,
}

/// Errors in a data file (found by the tests; the compiled-in files have none).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DataError {
    /// A line that is not `section: …`, or an unknown section.
    #[error("{lang}.txt line {line}: {what}")]
    Bad {
        /// Language of the file.
        lang: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        what: String,
    },
}

const STOPWORD: u8 = 1;
const LEAD: u8 = 2;
const NEG: u8 = 4;
const REAL: u8 = 8;
/// May be matched at edit distance 1.
const TYPO: u8 = 16;
/// Never the brand word before a stop keyword (`the end`, `bus stop`).
const NOT_BRAND: u8 = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok {
    /// Any of `alts` (a range into [`Lexicon::alts`]); optional or not.
    Words { start: u32, len: u16, optional: bool },
    /// Up to [`MAX_GAP`] other words.
    Gap,
}

#[derive(Default)]
struct Node {
    edges: Vec<(u8, u32)>,
    exact: Option<u16>,
    stem: Option<u16>,
}

#[derive(Default)]
struct Trie {
    nodes: Vec<Node>,
}

impl Trie {
    fn new() -> Trie {
        Trie { nodes: vec![Node::default()] }
    }

    fn child(&self, node: u32, b: u8) -> Option<u32> {
        self.nodes[node as usize].edges.iter().find(|e| e.0 == b).map(|e| e.1)
    }

    fn insert(&mut self, key: &[u8]) -> usize {
        let mut n = 0u32;
        for &b in key {
            n = match self.child(n, b) {
                Some(c) => c,
                None => {
                    let c = self.nodes.len() as u32;
                    self.nodes.push(Node::default());
                    self.nodes[n as usize].edges.push((b, c));
                    c
                }
            };
        }
        n as usize
    }

    fn find(&self, key: &[u8]) -> Option<&Node> {
        let mut n = 0u32;
        for &b in key {
            n = self.child(n, b)?;
        }
        Some(&self.nodes[n as usize])
    }
}

/// The compiled data files: vocabulary, phrases and the tries to look words up.
pub struct Lexicon {
    /// Text and flags of each vocabulary entry (exact words and stems).
    entries: Vec<(Box<[u8]>, u8)>,
    /// Exact words and stems.
    trie: Trie,
    /// Typo-eligible entries and each of their one-byte deletions; `exact` is an index into
    /// `dels`.
    del_trie: Trie,
    /// Per `del_trie` terminal: the entries it came from.
    dels: Vec<Vec<u16>>,
    /// Phrase token alternatives (entry ids).
    alts: Vec<u16>,
    /// Opt-out phrases, unclear phrases.
    phrases: Vec<Vec<Tok>>,
    unclear: Vec<Vec<Tok>>,
    /// Phrases (opt-out, unclear) by the entry ids of their first token.
    index: Vec<Vec<u32>>,
    index_unclear: Vec<Vec<u32>>,
}

/// The entries one word matches.
#[derive(Clone, Copy, Default)]
struct WordIds {
    ids: [u16; MAX_IDS],
    n: u8,
    flags: u8,
    /// Bit `i`: `ids[i]` was matched as a typo.
    typo: u8,
}

impl WordIds {
    fn push(&mut self, id: u16, flags: u8) {
        if (self.n as usize) < MAX_IDS && !self.ids[..self.n as usize].contains(&id) {
            self.ids[self.n as usize] = id;
            self.n += 1;
            self.flags |= flags;
        }
    }
    fn ids(&self) -> &[u16] {
        &self.ids[..self.n as usize]
    }
    /// The ids matched exactly or as stems.
    fn exact_ids(&self) -> impl Iterator<Item = u16> + '_ {
        self.ids().iter().enumerate().filter(|(i, _)| self.typo >> i & 1 == 0).map(|(_, &id)| id)
    }
}

/// Whether `a` and `b` are at most one edit apart (substitution, insertion, deletion, or
/// swap of two neighbours).
fn within_one(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if b.len() - a.len() > 1 {
        return false;
    }
    let p = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    if p == a.len() {
        return true;
    }
    if a.len() == b.len() {
        (a[p + 1..] == b[p + 1..])
            || (p + 1 < a.len() && a[p] == b[p + 1] && a[p + 1] == b[p] && a[p + 2..] == b[p + 2..])
    } else {
        a[p..] == b[p + 1..]
    }
}

impl Lexicon {
    /// The lexicon of the compiled-in data files (built once).
    pub fn get() -> &'static Lexicon {
        static LEX: OnceLock<Lexicon> = OnceLock::new();
        LEX.get_or_init(|| match Lexicon::build(&DATA) {
            Ok(l) => l,
            // The files are compiled in and checked by the tests: fail safe with the stop
            // keywords alone rather than panic.
            Err(_) => Lexicon::build(&[]).unwrap_or_else(|_| Lexicon::empty()),
        })
    }

    fn empty() -> Lexicon {
        Lexicon {
            entries: Vec::new(),
            trie: Trie::new(),
            del_trie: Trie::new(),
            dels: Vec::new(),
            alts: Vec::new(),
            phrases: Vec::new(),
            unclear: Vec::new(),
            index: Vec::new(),
            index_unclear: Vec::new(),
        }
    }

    fn entry(&mut self, word: &str, stem: bool, flags: u8) -> u16 {
        let key = word.as_bytes();
        let at = self.trie.insert(key);
        let node = &mut self.trie.nodes[at];
        let slot = if stem { &mut node.stem } else { &mut node.exact };
        let id = match *slot {
            Some(id) => id,
            None => {
                let id = self.entries.len() as u16;
                *slot = Some(id);
                self.entries.push((key.into(), 0));
                id
            }
        };
        self.entries[id as usize].1 |= flags;
        id
    }

    fn phrase(&mut self, text: &str, flags: u8) -> Result<Vec<Tok>, String> {
        let mut toks = Vec::new();
        for raw in text.split_whitespace() {
            if raw == ".." {
                toks.push(Tok::Gap);
                continue;
            }
            let (raw, optional) = match raw.strip_suffix('?') {
                Some(r) => (r, true),
                None => (raw, false),
            };
            let start = self.alts.len() as u32;
            for alt in raw.split('|') {
                let (alt, stem) = match alt.strip_suffix('*') {
                    Some(a) => (a, true),
                    None => (alt, false),
                };
                let f = fold(alt);
                if f.is_empty() || f.contains(' ') {
                    return Err(format!("bad token {alt:?}"));
                }
                let id = self.entry(&f, stem, flags);
                self.alts.push(id);
            }
            let len = (self.alts.len() as u32 - start) as u16;
            toks.push(Tok::Words { start, len, optional });
        }
        match toks.first() {
            Some(Tok::Words { optional: false, .. }) => Ok(toks),
            _ => Err("a phrase starts with a word that is not optional".into()),
        }
    }

    /// Compiles data files (`(language, text)`); [`STOP_WORDS`] are always stop keywords.
    ///
    /// # Errors
    /// A line that cannot be read, with its file and line.
    pub fn build(files: &[(&str, &str)]) -> Result<Lexicon, DataError> {
        let mut lx = Lexicon::empty();
        for w in STOP_WORDS {
            lx.entry(w, false, STOPWORD | TYPO);
        }
        for (lang, text) in files {
            for (i, line) in text.lines().enumerate() {
                let bad =
                    |what: String| DataError::Bad { lang: lang.to_string(), line: i + 1, what };
                let line = line.split('#').next().unwrap_or("").trim();
                if line.is_empty() {
                    continue;
                }
                let Some((section, body)) = line.split_once(':') else {
                    return Err(bad("not `section: …`".into()));
                };
                let words = || fold(body);
                match section.trim() {
                    "lead" => words().split(' ').filter(|w| !w.is_empty()).for_each(|w| {
                        lx.entry(w, false, LEAD);
                    }),
                    "not" => words().split(' ').filter(|w| !w.is_empty()).for_each(|w| {
                        lx.entry(w, false, NEG);
                    }),
                    "real" => words().split(' ').filter(|w| !w.is_empty()).for_each(|w| {
                        lx.entry(w, false, REAL);
                    }),
                    "notbrand" => words().split(' ').filter(|w| !w.is_empty()).for_each(|w| {
                        lx.entry(w, false, NOT_BRAND);
                    }),
                    "phrase" => {
                        let p = lx.phrase(body, TYPO).map_err(bad)?;
                        lx.phrases.push(p);
                    }
                    "unclear" => {
                        let p = lx.phrase(body, 0).map_err(bad)?;
                        lx.unclear.push(p);
                    }
                    other => return Err(bad(format!("unknown section {other:?}"))),
                }
            }
        }
        lx.index = lx.index_of(&lx.phrases);
        lx.index_unclear = lx.index_of(&lx.unclear);
        lx.build_dels();
        Ok(lx)
    }

    fn index_of(&self, phrases: &[Vec<Tok>]) -> Vec<Vec<u32>> {
        let mut index = vec![Vec::new(); self.entries.len()];
        for (p, toks) in phrases.iter().enumerate() {
            if let Some(Tok::Words { start, len, .. }) = toks.first() {
                for &id in &self.alts[*start as usize..*start as usize + *len as usize] {
                    index[id as usize].push(p as u32);
                }
            }
        }
        index
    }

    fn build_dels(&mut self) {
        let mut del_trie = Trie::new();
        let mut dels: Vec<Vec<u16>> = Vec::new();
        let mut add = |key: &[u8], id: u16| {
            let at = del_trie.insert(key);
            let slot = match del_trie.nodes[at].exact {
                Some(s) => s as usize,
                None => {
                    del_trie.nodes[at].exact = Some(dels.len() as u16);
                    dels.push(Vec::new());
                    dels.len() - 1
                }
            };
            if !dels[slot].contains(&id) {
                dels[slot].push(id);
            }
        };
        for (id, (text, flags)) in self.entries.iter().enumerate() {
            if flags & TYPO == 0 || flags & REAL != 0 || text.len() < MIN_TYPO_LEN {
                continue;
            }
            add(text, id as u16);
            let mut buf = Vec::with_capacity(text.len());
            for i in 0..text.len() {
                buf.clear();
                buf.extend_from_slice(&text[..i]);
                buf.extend_from_slice(&text[i + 1..]);
                add(&buf, id as u16);
            }
        }
        self.del_trie = del_trie;
        self.dels = dels;
    }

    /// The entries `word` (folded) matches: exactly, as a stem, or (five letters or more,
    /// no exact match, not a `real` word) at edit distance 1.
    fn lookup(&self, word: &[u8]) -> WordIds {
        let mut out = WordIds::default();
        let mut n = 0u32;
        let mut walked = true;
        for &b in word {
            if let Some(s) = self.trie.nodes[n as usize].stem {
                out.push(s, self.entries[s as usize].1);
            }
            match self.trie.child(n, b) {
                Some(c) => n = c,
                None => {
                    walked = false;
                    break;
                }
            }
        }
        let mut exact = false;
        if walked {
            let node = &self.trie.nodes[n as usize];
            if let Some(s) = node.stem {
                out.push(s, self.entries[s as usize].1);
            }
            if let Some(e) = node.exact {
                out.push(e, self.entries[e as usize].1);
                exact = true;
            }
        }
        if !exact && word.len() >= MIN_TYPO_LEN && word.len() < 64 {
            self.typos(word, &mut out);
        }
        out
    }

    fn typos(&self, word: &[u8], out: &mut WordIds) {
        let mut cand = |key: &[u8]| {
            if let Some(slot) = self.del_trie.find(key).and_then(|n| n.exact) {
                for &id in &self.dels[slot as usize] {
                    let (text, flags) = &self.entries[id as usize];
                    if within_one(word, text) {
                        // A typo of a stem reads as the stem; of a word, as the word.
                        let before = out.n;
                        out.push(id, flags & (STOPWORD | TYPO));
                        if out.n > before {
                            out.typo |= 1 << before;
                        }
                    }
                }
            }
        };
        cand(word);
        let mut buf = [0u8; 64];
        for i in 0..word.len() {
            let k = word.len() - 1;
            buf[..i].copy_from_slice(&word[..i]);
            buf[i..k].copy_from_slice(&word[i + 1..]);
            cand(&buf[..k]);
        }
    }

    fn tok_matches(&self, start: u32, len: u16, w: &WordIds, typos: bool) -> bool {
        let alts = &self.alts[start as usize..start as usize + len as usize];
        if typos {
            w.ids().iter().any(|id| alts.contains(id))
        } else {
            w.exact_ids().any(|id| alts.contains(&id))
        }
    }

    /// Where `toks` match `words` from `i` on: the index after the match.
    /// (`typos`: also words matched as typos; not for unclear phrases.)
    fn matches(&self, toks: &[Tok], words: &[WordIds], i: usize, typos: bool) -> Option<usize> {
        match toks.split_first() {
            None => Some(i),
            // A gap never skips a negation: `sluta inte skicka` is not `sluta skicka`.
            Some((Tok::Gap, rest)) => (0..=MAX_GAP).find_map(|k| {
                if i + k <= words.len() && words[i..i + k].iter().all(|w| w.flags & NEG == 0) {
                    self.matches(rest, words, i + k, typos)
                } else {
                    None
                }
            }),
            Some((Tok::Words { start, len, optional }, rest)) => {
                let here = if i < words.len() && self.tok_matches(*start, *len, &words[i], typos) {
                    self.matches(rest, words, i + 1, typos)
                } else {
                    None
                };
                here.or_else(|| if *optional { self.matches(rest, words, i, typos) } else { None })
            }
        }
    }

    /// Whether `word` (folded) is a negation in any language (`ikke`, `inte`, `not`).
    pub fn is_negation(&self, word: &str) -> bool {
        self.trie
            .find(word.as_bytes())
            .and_then(|n| n.exact)
            .is_some_and(|e| self.entries[e as usize].1 & NEG != 0)
    }

    /// See [`classify`].
    pub fn classify(&self, folded: &str, question: bool) -> Intent {
        let mut words = [WordIds::default(); MAX_WORDS];
        let mut n = 0;
        let mut long = false;
        for w in folded.split(' ').filter(|w| !w.is_empty()) {
            if n == MAX_WORDS {
                long = true;
                break;
            }
            words[n] = self.lookup(w.as_bytes());
            n += 1;
        }
        let words = &words[..n];
        let is = |i: usize, f: u8| words.get(i).is_some_and(|w| w.flags & f != 0);
        // 1. First word, after leads, or second after a brand word; not when a negation
        //    follows (`avsluta inte`, `stopp ikke`: the phrases decide).
        let mut i = 0;
        while i < MAX_LEADS && is(i, LEAD) && !is(i, STOPWORD) {
            i += 1;
        }
        if is(i, STOPWORD) && !is(i + 1, NEG) {
            return Intent::Stop { brand: None };
        }
        if is(i + 1, STOPWORD) && !is(i, NEG | NOT_BRAND) && !is(i + 2, NEG) {
            return Intent::Stop { brand: Some(i) };
        }
        // 2. Phrases, unless a negation comes just before (within two words) or just after.
        let negated = |s: usize, end: usize| {
            (!is(s, NEG) && ((s >= 1 && is(s - 1, NEG)) || (s >= 2 && is(s - 2, NEG))))
                || is(end, NEG)
        };
        let mut unclear = question || long;
        for s in 0..words.len() {
            for &id in words[s].ids() {
                for &p in &self.index[id as usize] {
                    let rest = &self.phrases[p as usize][1..];
                    if let Some(end) = self.matches(rest, words, s + 1, true) {
                        if negated(s, end) {
                            unclear = true;
                        } else {
                            return Intent::Stop { brand: None };
                        }
                    }
                }
            }
            if is(s, STOPWORD) {
                unclear = true;
            }
        }
        if unclear {
            return Intent::Unclear;
        }
        // 3. Unclear phrases.
        for s in 0..words.len() {
            for id in words[s].exact_ids() {
                for &p in &self.index_unclear[id as usize] {
                    if self.matches(&self.unclear[p as usize][1..], words, s + 1, false).is_some() {
                        return Intent::Unclear;
                    }
                }
            }
        }
        Intent::Unrelated
    }
}

/// The intent of a folded reply ([`fold`]; `question`: the raw text has a question mark),
/// by the compiled-in data (see the module docs).
pub fn classify(folded: &str, question: bool) -> Intent {
    Lexicon::get().classify(folded, question)
}

#[cfg(test)]
mod tests;
