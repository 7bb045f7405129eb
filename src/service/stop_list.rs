//! `GET /v1/stops?brand=B[&after=CURSOR][&limit=N]`: the opt-out list of one brand, paged,
//! as the ip1 `/v2/blacklist` and AWS opted-out-number list APIs offer it.
//!
//! A page holds every number with a stop that applies to the brand: its own, another
//! spelling's (`acme` for `ACME`) and the every-brand stops (`*`, and the old number of a
//! move), from the snapshot and the journal tail (a STOP recorded a moment ago is listed).
//! Numbers come in ascending E.164 order, each once, with its newest applicable stop and
//! the brand that stop was recorded for (`*` for an every-brand stop: that is how they
//! show in every brand's list). `after` is the `next` cursor of the previous page (the
//! last number listed, digits of its E.164 with or without `+`). Erased numbers are not
//! listed: the store no longer holds them (they stay stopped for every brand).
//!
//! Each page is a scan of the brand's stop lists (`O(stops)`, no index by number): meant
//! for synchronising a list now and then, not for one number (`GET /v1/stops/{number}`).
//! The call is audited (it reveals personal data) with the brand and how many it listed.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Extension;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State as St};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::subjects::{blocking, json, open};
use super::{ApiError, State, audit};
use crate::audit::AuditRecord;
use crate::store::access::Action;
use crate::store::event::{EVERY_BRAND, EventRef};
use crate::timefmt::format_rfc3339;
use crate::{E164, StandingSource};

/// Numbers per page without `limit`.
pub const DEFAULT_LIMIT: usize = 1000;
/// Most numbers per page.
pub const MAX_LIMIT: usize = 10_000;

/// The query of `GET /v1/stops`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    #[serde(default)]
    brand: Option<String>,
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    limit: Option<String>,
}

/// One listed number.
#[derive(Debug, Serialize)]
struct Listed {
    e164: String,
    /// Its newest stop that applies to the brand, RFC 3339.
    stopped_at: String,
    /// The brand that stop was recorded for: the brand, another spelling of it, or `*`.
    brand: String,
}

/// One page.
#[derive(Debug, Serialize)]
struct Page {
    brand: String,
    stops: Vec<Listed>,
    /// The `after` of the next page; `null` on the last.
    next: Option<String>,
}

/// A stop found for a number: when, and which of the sources it came from.
#[derive(Clone, Copy, Debug)]
struct Found {
    number: u64,
    at: i64,
    source: u32,
}

/// The parsed, checked query.
#[derive(Debug)]
struct Asked {
    brand: String,
    after: u64,
    limit: usize,
}

fn parse(q: ListQuery) -> Result<Asked, ApiError> {
    let raw = q.brand.ok_or_else(|| {
        ApiError::bad_request(format!("which brand? ?brand=NAME (or {EVERY_BRAND})"))
    })?;
    let brand = crate::brand::canonical_stop(&raw)
        .map(|b| b.into_owned())
        .map_err(|e| ApiError::bad_request(format!("brand: {e}")))?;
    let after = match q.after.as_deref().map(str::trim) {
        None | Some("") => 0,
        Some(a) => parse_cursor(a).ok_or_else(|| {
            ApiError::bad_request("after: not a cursor (the E.164 digits a page's `next` gave)")
        })?,
    };
    let limit = match q.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(l) => l
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| ApiError::bad_request(format!("limit: a number 1 to {MAX_LIMIT}")))?,
    };
    Ok(Asked { brand, after, limit })
}

/// A cursor: E.164 digits with or without `+` (a `+` unescaped in a query arrives as a
/// space, trimmed before).
fn parse_cursor(s: &str) -> Option<u64> {
    let d = s.strip_prefix('+').unwrap_or(s);
    if d.is_empty() || !d.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    E164::from_u64(d.parse().ok()?).map(E164::as_u64)
}

/// `GET /v1/stops?brand=B&after=C&limit=N`.
pub(super) async fn list(
    St(state): St<Arc<State>>,
    Extension(caller): Extension<Caller>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|e| {
        ApiError::bad_request(format!("query: {} (brand, after, limit)", e.body_text()))
    })?;
    let asked = parse(q)?;
    let page = blocking(move || {
        let store = open(&state)?;
        let page = page(&store, &asked)?;
        let mut counts = BTreeMap::new();
        counts.insert("listed".to_string(), page.stops.len() as u64);
        audit(
            &state.store,
            &caller,
            Action::Stop,
            "GET /v1/stops",
            None,
            AuditRecord { brand: Some(asked.brand.clone()), counts, ..AuditRecord::default() },
        )?;
        Ok(page)
    })
    .await?;
    Ok(json(&page, StatusCode::OK))
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// The page `asked` of the store's stops.
fn page(store: &crate::store::Store, asked: &Asked) -> Result<Page, ApiError> {
    let view = store.view().map_err(internal)?;
    // A snapshot to migrate or a damaged stop list: refuse rather than list too little.
    view.check_scope(&asked.brand, "").map_err(internal)?;
    // The brand names the found stops were recorded for (index = `Found::source`).
    let mut names: Vec<String> = Vec::new();
    let mut found: Vec<Found> = Vec::new();
    if let Some(s) = view.snapshot().filter(|s| !s.is_legacy()) {
        let mut ids: Vec<u32> = s.string_id(&asked.brand).into_iter().collect();
        ids.extend(s.string_id(EVERY_BRAND));
        ids.extend(s.brand_variants(&asked.brand));
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            let Some(l) = s.stop_list(id).map_err(internal)? else { continue };
            let source = names.len() as u32;
            names.push(s.string(id).to_string());
            for i in 0..l.len() {
                let number = s.number_at(s.list_id(&l, i));
                if number > asked.after
                    && let Some(at) = s.stop_at(&l, i)
                {
                    found.push(Found { number, at: i64::from(at), source });
                }
            }
        }
    }
    // The journal tail up to the view's sequence, newest stop per (number, source).
    let mut tail: HashMap<(u64, u32), i64> = HashMap::new();
    let source_of = |names: &mut Vec<String>, brand: &str| -> u32 {
        match names.iter().position(|n| n == brand) {
            Some(i) => i as u32,
            None => {
                names.push(brand.to_string());
                (names.len() - 1) as u32
            }
        }
    };
    let applies =
        |b: &str| b == asked.brand || b == EVERY_BRAND || crate::brand::same_name(b, &asked.brand);
    store
        .scan_tail(view.journal_seq(), |_, ev| {
            let (number, brand, at) = match ev {
                EventRef::Stop { number, brand, stopped_at } if applies(brand) => {
                    (number, brand, stopped_at)
                }
                EventRef::Move { from, moved_at, .. } => (from, EVERY_BRAND, moved_at),
                _ => return Ok(()),
            };
            if number.as_u64() > asked.after {
                let s = source_of(&mut names, brand);
                let e = tail.entry((number.as_u64(), s)).or_insert(at);
                *e = (*e).max(at);
            }
            Ok(())
        })
        .map_err(internal)?;
    found.extend(tail.into_iter().map(|((number, source), at)| Found { number, at, source }));
    // Each number is found at most once per source: the first (limit + 1) × sources by
    // number hold the first limit + 1 distinct numbers.
    let keep = (asked.limit + 1).saturating_mul(names.len().max(1));
    if found.len() > keep {
        found.select_nth_unstable_by_key(keep, |f| f.number);
        found.truncate(keep);
    }
    found.sort_unstable_by_key(|f| f.number);
    let mut stops: Vec<Listed> = Vec::with_capacity(asked.limit.min(found.len()));
    let mut more = false;
    for same in found.chunk_by(|a, b| a.number == b.number) {
        // The newest stop; a tie goes to `*` (it applies to every brand).
        let star = names.iter().position(|n| n == EVERY_BRAND).map(|i| i as u32);
        let Some(best) = same.iter().max_by_key(|f| (f.at, Some(f.source) == star)) else {
            continue;
        };
        let Some(n) = E164::from_u64(best.number) else { continue };
        if stops.len() == asked.limit {
            more = true;
            break;
        }
        stops.push(Listed {
            e164: n.to_string(),
            stopped_at: format_rfc3339(best.at),
            brand: names.get(best.source as usize).cloned().unwrap_or_default(),
        });
    }
    let next = if more { stops.last().map(|l| l.e164.clone()) } else { None };
    Ok(Page { brand: asked.brand.clone(), stops, next })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(brand: Option<&str>, after: Option<&str>, limit: Option<&str>) -> ListQuery {
        ListQuery {
            brand: brand.map(String::from),
            after: after.map(String::from),
            limit: limit.map(String::from),
        }
    }

    #[test]
    fn the_query_is_checked() {
        assert!(parse(q(None, None, None)).is_err());
        let a = parse(q(Some("ACME"), None, None)).expect("ok");
        assert_eq!((a.after, a.limit), (0, DEFAULT_LIMIT));
        let a = parse(q(Some("*"), Some(" 4791000001"), Some("5"))).expect("ok");
        assert_eq!((a.brand.as_str(), a.after, a.limit), ("*", 4_791_000_001, 5));
        assert_eq!(parse(q(Some("A"), Some("+4791000001"), None)).expect("ok").after, 4791000001);
        for bad in ["x", "+", "12a", "-1"] {
            assert!(parse(q(Some("A"), Some(bad), None)).is_err(), "{bad}");
        }
        for bad in ["0", "10001", "many", "-3"] {
            assert!(parse(q(Some("A"), None, Some(bad))).is_err(), "{bad}");
        }
        assert!(parse(q(Some(""), None, None)).is_err());
    }
}
