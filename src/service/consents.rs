//! `POST /v1/consents`: one JSON consent, or NDJSON lines of them
//! (`application/x-ndjson`), recorded with exactly the rules of `sendfilter import
//! consents`: the objects are written as that import's CSV and handed to
//! [`crate::store::import::import`] in strict mode, so a request with any bad consent
//! records nothing and gets 422 naming each bad line. The 2xx goes out once the batch is
//! fsynced.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State as St;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::auth::Caller;
use super::subjects::{blocking, json, open};
use super::{ApiError, State, audit};
use crate::audit::AuditRecord;
use crate::store::access::Action;
use crate::store::import::{self, ImportOptions, Kind};

/// Most consents in one request.
pub const MAX_CONSENTS: usize = 100_000;

/// One consent: the columns of `import consents` (empty or absent: as an empty cell).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsentIn {
    #[serde(default)]
    number: String,
    #[serde(default)]
    brand: String,
    #[serde(default)]
    purpose: String,
    #[serde(default)]
    channel: String,
    #[serde(default)]
    granted_at: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    text_ref: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    confirmed_at: Option<String>,
}

/// The request body as the import's CSV, with the body line of each CSV record.
fn to_csv(body: &[u8], ndjson: bool) -> Result<(Vec<u8>, Vec<usize>), ApiError> {
    let mut lines = Vec::new();
    let mut w = csv::Writer::from_writer(Vec::with_capacity(body.len() + 128));
    let bad = |e: csv::Error| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    w.write_record(Kind::Consents.header().split(',')).map_err(bad)?;
    let parts: Vec<(usize, &[u8])> = if ndjson {
        body.split(|&c| c == b'\n')
            .enumerate()
            .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
            .map(|(i, l)| (i + 1, l))
            .collect()
    } else {
        vec![(1, body)]
    };
    if parts.is_empty() {
        return Err(ApiError::bad_request("no consent in the body"));
    }
    if parts.len() > MAX_CONSENTS {
        return Err(ApiError::too_large(format!("at most {MAX_CONSENTS} consents per request")));
    }
    for (line, text) in parts {
        let c: ConsentIn = serde_json::from_slice(text).map_err(|e| {
            ApiError::bad_request(format!(
                "line {line}: not a consent object (number, brand, purpose, channel, \
                 granted_at, method, text_ref, source, expires_at?, confirmed_at?): {e}"
            ))
        })?;
        let (expires, confirmed) =
            (c.expires_at.unwrap_or_default(), c.confirmed_at.unwrap_or_default());
        w.write_record([
            &c.number,
            &c.brand,
            &c.purpose,
            &c.channel,
            &c.granted_at,
            &c.method,
            &c.text_ref,
            &c.source,
            &expires,
            &confirmed,
        ])
        .map_err(bad)?;
        lines.push(line);
    }
    let csv = w.into_inner().map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok((csv, lines))
}

/// `POST /v1/consents`.
pub(super) async fn post(
    St(state): St<Arc<State>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let ndjson = super::is_ndjson(&headers);
    if !ndjson && body.len() > super::MAX_BODY {
        return Err(ApiError::too_large("one consent is at most 1 MiB: send batches as NDJSON"));
    }
    let answer = blocking(move || {
        let (csv, lines) = to_csv(&body, ndjson)?;
        let mut store = open(&state)?;
        let opts = ImportOptions { region: state.region.primary(), strict: true, delimiter: b',' };
        let before = store.last_seq();
        let r = import::import(&mut store, Kind::Consents, &csv[..], opts, |_| {})
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        if r.aborted || r.bad > 0 {
            // CSV line k is the (k-1)th consent (line 1 is the header).
            let at = |k: u64| {
                usize::try_from(k).ok().and_then(|k| lines.get(k.wrapping_sub(2))).copied()
            };
            let errors: Vec<String> = r
                .errors
                .iter()
                .map(|e| match at(e.line) {
                    Some(l) => format!("line {l}: {}", e.reason),
                    None => e.to_string(),
                })
                .collect();
            return Err(ApiError::unprocessable(format!(
                "{} bad consent(s), nothing recorded: {}",
                r.bad,
                errors.join("; ")
            )));
        }
        let mut rec = AuditRecord::default();
        rec.counts.insert("imported".into(), r.imported);
        if r.imported > 0 {
            rec.seq_range = Some([before + 1, r.last_seq]);
        }
        audit(&state.store, &caller, Action::Record, "POST /v1/consents", None, rec)?;
        Ok(serde_json::json!({
            "imported": r.imported,
            "not_lifted": r.not_lifted,
            "last_seq": if r.imported > 0 { r.last_seq } else { store.last_seq() },
        }))
    })
    .await?;
    Ok(json(&answer, StatusCode::OK))
}
