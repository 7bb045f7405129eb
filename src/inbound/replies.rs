//! Replies rendered once per run: a burst asks for the same few replies (a STOP to
//! 2401 about ACME and Beta, a START for ACME, ...) over and over, and rendering one
//! (templates, brand names, segment counting) costs more than deciding the message.
//!
//! ```text
//! (kind, brands, receiving number, fallback language) ──hit──▶ the reply rendered before
//!                                                     ──miss──▶ render, keep (bounded)
//! ```
//!
//! A reply depends only on these and on the brands' registry entries (language, keyword,
//! overrides), so the cache is tied to one registry: brands are told apart by their place
//! in memory, and [`Replies::clear`] must be called whenever the registry is replaced.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use super::reply::Kind;
use crate::store::brands::{Brand, Language};

/// Most replies kept; past this the cache starts over (a run with this many distinct
/// replies gains little from it).
const MAX_ENTRIES: usize = 1024;

/// One rendered reply and what it was rendered for.
struct Entry {
    kind: Kind,
    /// Addresses of the brands (their registry entries), in order.
    brands: Vec<usize>,
    to: String,
    fallback: Language,
    reply: String,
}

impl Entry {
    fn is(&self, kind: Kind, brands: &[&Brand], to: &str, fallback: Language) -> bool {
        self.kind == kind
            && self.fallback == fallback
            && self.to == to
            && self.brands.len() == brands.len()
            && self.brands.iter().zip(brands).all(|(&a, &b)| a == address(b))
    }
}

fn address(b: &Brand) -> usize {
    std::ptr::from_ref(b) as usize
}

/// Rendered replies of one run, for one registry (see the module docs). Not `Sync`: one
/// per run loop.
#[derive(Default)]
pub struct Replies {
    /// By a hash of the key; entries compared in full (no collision is trusted).
    map: RefCell<HashMap<u64, Vec<Entry>>>,
    len: RefCell<usize>,
}

impl Replies {
    /// An empty cache.
    pub fn new() -> Replies {
        Replies::default()
    }

    /// The reply `render` makes for (`kind`, `brands`, `to`, `fallback`): rendered the
    /// first time, a copy of it afterwards. `render` must depend on nothing else (and on
    /// the brands only through their registry entries).
    pub fn get(
        &self,
        kind: Kind,
        brands: &[&Brand],
        to: &str,
        fallback: Language,
        render: impl FnOnce() -> String,
    ) -> String {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (kind, to, fallback).hash(&mut h);
        for b in brands {
            address(b).hash(&mut h);
        }
        let key = h.finish();
        if let Some(e) = self
            .map
            .borrow()
            .get(&key)
            .and_then(|v| v.iter().find(|e| e.is(kind, brands, to, fallback)))
        {
            return e.reply.clone();
        }
        let reply = render();
        let mut len = self.len.borrow_mut();
        let mut map = self.map.borrow_mut();
        if *len >= MAX_ENTRIES {
            map.clear();
            *len = 0;
        }
        map.entry(key).or_default().push(Entry {
            kind,
            brands: brands.iter().map(|b| address(b)).collect(),
            to: to.to_string(),
            fallback,
            reply: reply.clone(),
        });
        *len += 1;
        reply
    }

    /// Forgets every reply: call it when the registry the brands come from is replaced
    /// (a reloaded registry may place other brands where these were).
    pub fn clear(&self) {
        self.map.borrow_mut().clear();
        *self.len.borrow_mut() = 0;
    }

    /// Replies kept.
    pub fn len(&self) -> usize {
        *self.len.borrow()
    }

    /// True when no reply is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn brand(name: &str) -> Brand {
        Brand {
            name: name.into(),
            shortcode: "2401".into(),
            keyword: name.to_lowercase(),
            dedicated: false,
            purpose: "offers".into(),
            consent_text_ref: None,
            language: Language::default(),
            replies: Default::default(),
            routes: Default::default(),
        }
    }

    #[test]
    fn renders_once_per_key_and_tells_keys_apart() {
        let (a, b) = (brand("ACME"), brand("Beta"));
        let r = Replies::new();
        let calls = Cell::new(0);
        let render = |s: &str| {
            calls.set(calls.get() + 1);
            s.to_string()
        };
        let nb = Language::default();
        assert_eq!(r.get(Kind::Stop, &[&a], "2401", nb, || render("a")), "a");
        assert_eq!(r.get(Kind::Stop, &[&a], "2401", nb, || render("x")), "a");
        assert_eq!(calls.get(), 1);
        // Every part of the key counts: brand, their order, kind, number.
        assert_eq!(r.get(Kind::Stop, &[&b], "2401", nb, || render("b")), "b");
        assert_eq!(r.get(Kind::Stop, &[&a, &b], "2401", nb, || render("ab")), "ab");
        assert_eq!(r.get(Kind::Stop, &[&b, &a], "2401", nb, || render("ba")), "ba");
        assert_eq!(r.get(Kind::Help, &[&a], "2401", nb, || render("h")), "h");
        assert_eq!(r.get(Kind::Stop, &[&a], "2402", nb, || render("2")), "2");
        assert_eq!(r.get(Kind::Stop, &[], "2401", nb, || render("none")), "none");
        assert_eq!(calls.get(), 7);
        assert_eq!(r.len(), 7);
        r.clear();
        assert!(r.is_empty());
        assert_eq!(r.get(Kind::Stop, &[&a], "2401", nb, || render("again")), "again");
    }

    #[test]
    fn stays_bounded() {
        let a = brand("ACME");
        let r = Replies::new();
        for i in 0..(MAX_ENTRIES + 10) {
            let to = i.to_string();
            assert_eq!(r.get(Kind::Stop, &[&a], &to, Language::default(), || to.clone()), to);
        }
        assert!(r.len() <= MAX_ENTRIES);
    }
}
