//! The opt-out list of one number, as the ip1 `/v2/blacklist` and AWS opted-out-number
//! APIs offer it: `GET /v1/stops/{number}` (its stops per brand) and `PUT
//! /v1/stops/{number}` (record a STOP, fsynced before the 2xx: requests arriving together
//! share one commit, [`super::stop_writer`]). A STOP cannot be deleted
//! (no DELETE: 405); only a consent confirmed after it lifts it, as everywhere else.
//! Both calls are audited with the subject reference.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State as St};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::subjects::{blocking, json, number, open};
use super::{ApiError, State, audit};
use crate::audit::AuditRecord;
use crate::store::access::Action;
use crate::store::event::{EVERY_BRAND, Event};
use crate::timefmt::format_rfc3339;

/// `?brand=`: one brand only.
#[derive(Debug, Default, Deserialize)]
pub(super) struct BrandQuery {
    #[serde(default)]
    brand: Option<String>,
}

/// One brand's standing on the opt-out list.
#[derive(Debug, Serialize)]
struct BrandStop {
    brand: String,
    /// The newest stop for the brand (its own, another spelling's, or `*`'s), RFC 3339.
    stopped_at: Option<String>,
}

/// The answer of `GET /v1/stops/{number}`.
#[derive(Debug, Serialize)]
struct Standing {
    e164: String,
    /// Per brand: the registry's brands and every brand the number has a stop for.
    brands: Vec<BrandStop>,
    /// When the number was erased (a stop for every brand from then on).
    erased_at: Option<String>,
    note: &'static str,
}

const NOTE: &str = "a stop is lifted only by a consent confirmed after it: POST /v1/check \
    gives the verdict for a brand and purpose";

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

fn brand_of(raw: &str) -> Result<String, ApiError> {
    crate::brand::canonical_stop(raw)
        .map(|b| b.into_owned())
        .map_err(|e| ApiError::unprocessable(format!("brand: {e}")))
}

/// `GET /v1/stops/{number}[?brand=B]`.
pub(super) async fn get(
    St(state): St<Arc<State>>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
    Query(q): Query<BrandQuery>,
) -> Result<Response, ApiError> {
    let n = number(&state, &raw)?;
    let only = q.brand.as_deref().map(brand_of).transpose()?;
    let answer = blocking(move || {
        let store = open(&state)?;
        let mut brands: Vec<String> = match &only {
            Some(b) => vec![b.clone()],
            None => {
                let reg = crate::store::brands::Registry::load(&state.store).map_err(internal)?;
                let mut v: Vec<String> = reg.brands().iter().map(|b| b.name.clone()).collect();
                for r in store.evidence(n).map_err(internal)? {
                    if let Event::Stop(s) = r.event {
                        v.push(s.brand);
                    }
                }
                v
            }
        };
        brands.sort();
        brands.dedup();
        let view = store.view().map_err(internal)?;
        let mut out = Vec::with_capacity(brands.len());
        for b in brands {
            let at = view.stopped_at(n, &b).map_err(internal)?;
            out.push(BrandStop { brand: b, stopped_at: at.map(format_rfc3339) });
        }
        let erased = store.erasure(n).map_err(internal)?;
        audit(
            &state.store,
            &caller,
            Action::Stop,
            "GET /v1/stops/{number}",
            Some((&store, n)),
            AuditRecord { brand: only, ..AuditRecord::default() },
        )?;
        Ok(Standing {
            e164: n.to_string(),
            brands: out,
            erased_at: erased.map(|e| format_rfc3339(e.erased_at)),
            note: NOTE,
        })
    })
    .await?;
    Ok(json(&answer, StatusCode::OK))
}

/// The body of `PUT /v1/stops/{number}` (optional: `?brand=` does as well).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PutStop {
    #[serde(default)]
    brand: Option<String>,
    /// RFC 3339 or Unix seconds; default now.
    #[serde(default)]
    stopped_at: Option<String>,
}

/// `PUT /v1/stops/{number}?brand=B` or body `{"brand": B, "stopped_at"?: T}`: records a
/// STOP for B (`*`: every brand); the 2xx goes out once it is fsynced.
pub(super) async fn put(
    St(state): St<Arc<State>>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
    Query(q): Query<BrandQuery>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let n = number(&state, &raw)?;
    let b: PutStop = if body.iter().all(u8::is_ascii_whitespace) {
        PutStop::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!("body: not {{\"brand\", \"stopped_at\"}}: {e}"))
        })?
    };
    let brand = match (q.brand, b.brand) {
        (Some(x), Some(y)) if brand_of(&x)? != brand_of(&y)? => {
            return Err(ApiError::bad_request("two different brands in the query and the body"));
        }
        (Some(x), _) | (None, Some(x)) => brand_of(&x)?,
        (None, None) => {
            return Err(ApiError::bad_request(format!(
                "which brand? ?brand=NAME (or {EVERY_BRAND} for every brand)"
            )));
        }
    };
    let at = match b.stopped_at.as_deref() {
        Some(t) => crate::inbound::parse_time(t)
            .map_err(|e| ApiError::unprocessable(format!("stopped_at: {e}")))?,
        None => crate::timefmt::now(),
    };
    let (reply, answer) = tokio::sync::oneshot::channel();
    let job = super::stop_writer::Job { number: n, brand: brand.clone(), at, caller, reply };
    state.stops.submit(job)?;
    let seq = answer
        .await
        .map_err(|_| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not recorded: retry"))??;
    let answer = serde_json::json!({
        "e164": n.to_string(), "brand": brand, "stopped_at": format_rfc3339(at), "seq": seq,
    });
    Ok(json(&answer, StatusCode::OK))
}
