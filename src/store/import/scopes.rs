//! The import's cache of resolved (brand, purpose) scopes.
//!
//! Resolving a scope ([`StandingSource::scope`]) looks at every brand name the store holds
//! (other spellings of the brand: `acme`, `" ACME "`), so with many brands it costs
//! microseconds; an import of consents whose rows alternate between purposes, or come
//! from many brands, would resolve one per row. Each (brand, purpose) is resolved once per
//! import instead. The view is fixed for the whole import, so a cached scope never goes
//! stale.

use std::collections::HashMap;

use crate::standing::StandingSource;

/// Scopes kept before the cache is emptied and starts over: bounds memory on input with
/// ever new brand names (a few MB), far above the scopes of any real import.
const MAX_SCOPES: usize = 65_536;

/// Resolved scopes of one view, by brand, then purpose.
pub(super) struct ScopeCache<S> {
    by_brand: HashMap<String, HashMap<String, S>>,
    len: usize,
}

impl<S: Clone> ScopeCache<S> {
    /// An empty cache.
    pub(super) fn new() -> Self {
        ScopeCache { by_brand: HashMap::new(), len: 0 }
    }

    /// The scope of (`brand`, `purpose`) in `view`, resolved on first use.
    pub(super) fn get<V: StandingSource<Scope = S>>(
        &mut self,
        view: &V,
        brand: &str,
        purpose: &str,
    ) -> S {
        if let Some(s) = self.by_brand.get(brand).and_then(|p| p.get(purpose)) {
            return s.clone();
        }
        if self.len >= MAX_SCOPES {
            self.by_brand.clear();
            self.len = 0;
        }
        let s = view.scope(brand, purpose);
        self.by_brand.entry(brand.to_string()).or_default().insert(purpose.to_string(), s.clone());
        self.len += 1;
        s
    }

    /// Number of scopes held.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::phone::E164;
    use crate::standing::Standing;

    /// A source that counts how often a scope is resolved.
    struct Counting {
        resolved: AtomicUsize,
    }

    impl StandingSource for Counting {
        type Scope = (usize, usize);
        type Token = ();

        fn scope(&self, brand: &str, purpose: &str) -> (usize, usize) {
            self.resolved.fetch_add(1, Ordering::Relaxed);
            (brand.len(), purpose.len())
        }

        fn standing(&self, _: &(usize, usize), _: E164) -> Standing {
            Standing::default()
        }

        fn generation(&self) -> u64 {
            0
        }

        fn journal_seq(&self) -> u64 {
            0
        }
    }

    #[test]
    fn each_scope_is_resolved_once() {
        let v = Counting { resolved: AtomicUsize::new(0) };
        let mut c = ScopeCache::new();
        for i in 0..1000 {
            let purpose = if (i / 10) % 2 == 0 { "news" } else { "offers" };
            let brand = format!("BRAND{}", i % 10);
            assert_eq!(c.get(&v, &brand, purpose), (brand.len(), purpose.len()));
        }
        assert_eq!(v.resolved.load(Ordering::Relaxed), 20);
        assert_eq!(c.len(), 20);
    }

    #[test]
    fn memory_stays_bounded() {
        let v = Counting { resolved: AtomicUsize::new(0) };
        let mut c = ScopeCache::new();
        for i in 0..MAX_SCOPES + 10 {
            c.get(&v, &format!("B{i}"), "offers");
        }
        assert!(c.len() <= MAX_SCOPES);
        assert_eq!(c.len(), 10);
    }
}
