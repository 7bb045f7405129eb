//! Data-subject routes over [`crate::rights`], with the CLI's rules (`sendfilter subject
//! …`): `GET /v1/subjects/{number}` (the access export), `POST …/erase` (`{"at"?,
//! "compact"?}`), `POST …/correct` (`{"seq", "method"?, "text_ref"?, "source"?, "at"?}`),
//! `POST …/move` (`{"new", "at"?}`). Each call is audited with the subject reference
//! before it is answered; a change is durable before its 2xx.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State as St};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::auth::Caller;
use super::{ApiError, State, audit};
use crate::audit::AuditRecord;
use crate::rights::{EvidenceFix, RightsError};
use crate::store::access::Action;
use crate::store::{Store, StoreOptions};

/// The number in a path, in E.164 (national numbers in the service's region).
pub(super) fn number(state: &State, s: &str) -> Result<crate::E164, ApiError> {
    state
        .region
        .normalize(s.as_bytes())
        .map_err(|e| ApiError::unprocessable(format!("not a phone number: {e}")))
}

/// Opens the store for one call (waiting for its lock, which the inbound run releases
/// between batches).
pub(super) fn open(state: &State) -> Result<Store, ApiError> {
    Store::open_with(&state.store, StoreOptions { create: false, region: None, wait: true })
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))
}

/// Runs `f` on a blocking thread (store I/O, fsyncs).
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
}

/// `serde_json` value as a JSON response.
pub(super) fn json(v: &impl serde::Serialize, status: StatusCode) -> Response {
    let body = serde_json::to_string_pretty(v).unwrap_or_default() + "\n";
    let mut r = (status, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// `GET /v1/subjects/{number}`: everything held for the number (as `subject export`).
pub(super) async fn export(
    St(state): St<Arc<State>>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let n = number(&state, &raw)?;
    let e = blocking(move || {
        let store = open(&state)?;
        let e = crate::rights::export(&store, n, crate::timefmt::now())
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        let rec = AuditRecord { seqs: e.seqs(), ..AuditRecord::default() };
        audit(
            &state.store,
            &caller,
            Action::ExportSubject,
            "GET /v1/subjects/{number}",
            Some((&store, n)),
            rec,
        )?;
        Ok(e)
    })
    .await?;
    Ok(json(&e, StatusCode::OK))
}

/// A rights function's error as an answer: a refusal by the rules is 422, the rest 500.
fn refused(e: RightsError) -> ApiError {
    match e {
        RightsError::Store(e) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        other => ApiError::unprocessable(other.to_string()),
    }
}

/// The JSON body of a change (an empty body is `{}`).
fn body<T: serde::de::DeserializeOwned + Default>(b: &[u8], what: &str) -> Result<T, ApiError> {
    if b.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(b).map_err(|e| ApiError::bad_request(format!("{what}: {e}")))
}

/// A time in a body (RFC 3339 or Unix seconds), or now.
fn time(t: Option<&str>, what: &str) -> Result<crate::Timestamp, ApiError> {
    match t {
        Some(t) => crate::inbound::parse_time(t).map_err(|e| {
            ApiError::unprocessable(format!("{what}: {}", e.replace("received_at", what)))
        }),
        None => Ok(crate::timefmt::now()),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EraseBody {
    #[serde(default)]
    at: Option<String>,
    /// Run the compaction that removes the data now (default true).
    #[serde(default)]
    compact: Option<bool>,
}

/// `POST /v1/subjects/{number}/erase`: as `subject erase`; answers the erasure receipt.
pub(super) async fn erase(
    St(state): St<Arc<State>>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
    b: Bytes,
) -> Result<Response, ApiError> {
    let n = number(&state, &raw)?;
    let b: EraseBody = body(&b, "body: not {\"at\", \"compact\"}")?;
    let at = time(b.at.as_deref(), "at")?;
    let r = blocking(move || {
        let mut store = open(&state)?;
        // The reference first: the erasure may create the key it is made with.
        let subject = crate::audit::subject_ref(&store, n)
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        let r =
            crate::rights::erase(&mut store, n, at, b.compact.unwrap_or(true)).map_err(refused)?;
        let mut rec = AuditRecord { subject: Some(subject), ..AuditRecord::default() };
        rec.seqs.extend(r.erased.iter().map(|e| e.erase_seq));
        rec.counts.insert("numbers_erased".into(), r.erased.len() as u64);
        rec.counts.insert("events_dropped".into(), r.events_dropped);
        audit(
            &state.store,
            &caller,
            Action::ChangeSubject,
            "POST /v1/subjects/{number}/erase",
            None,
            rec,
        )?;
        Ok(r)
    })
    .await?;
    Ok(json(&r, StatusCode::OK))
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CorrectBody {
    #[serde(default)]
    seq: Option<u64>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    text_ref: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    at: Option<String>,
}

/// `POST /v1/subjects/{number}/correct`: as `subject correct`.
pub(super) async fn correct(
    St(state): St<Arc<State>>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
    b: Bytes,
) -> Result<Response, ApiError> {
    let n = number(&state, &raw)?;
    let b: CorrectBody =
        body(&b, "body: not {\"seq\", \"method\", \"text_ref\", \"source\", \"at\"}")?;
    let seq = b.seq.ok_or_else(|| {
        ApiError::bad_request("seq is missing: the consent's journal sequence (see the export)")
    })?;
    let at = time(b.at.as_deref(), "at")?;
    let fix = EvidenceFix { method: b.method, text_ref: b.text_ref, source: b.source };
    let r = blocking(move || {
        let mut store = open(&state)?;
        let subject = crate::audit::subject_ref(&store, n)
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        let r = crate::rights::rectify_consent(&mut store, n, seq, fix, at).map_err(refused)?;
        let rec = AuditRecord {
            subject: Some(subject),
            seqs: vec![r.seq, r.corrects],
            detail: Some(
                if r.unchanged { "identical repeat: nothing recorded" } else { "corrected" }.into(),
            ),
            ..AuditRecord::default()
        };
        audit(
            &state.store,
            &caller,
            Action::ChangeSubject,
            "POST /v1/subjects/{number}/correct",
            None,
            rec,
        )?;
        Ok(r)
    })
    .await?;
    Ok(json(&r, StatusCode::OK))
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveBody {
    #[serde(default)]
    new: Option<String>,
    #[serde(default)]
    at: Option<String>,
}

/// `POST /v1/subjects/{number}/move`: as `subject move`.
pub(super) async fn move_to(
    St(state): St<Arc<State>>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
    b: Bytes,
) -> Result<Response, ApiError> {
    let n = number(&state, &raw)?;
    let b: MoveBody = body(&b, "body: not {\"new\", \"at\"}")?;
    let to = number(
        &state,
        b.new.as_deref().ok_or_else(|| ApiError::bad_request("new is missing: the new number"))?,
    )?;
    let at = time(b.at.as_deref(), "at")?;
    let r = blocking(move || {
        let mut store = open(&state)?;
        let subject = crate::audit::subject_ref(&store, n)
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        let first = store.last_seq() + 1;
        let m = crate::rights::rectify_number(&mut store, n, to, at).map_err(refused)?;
        let rec = AuditRecord {
            subject: Some(subject),
            seqs: vec![m.seq],
            seq_range: Some([first, store.last_seq()]),
            ..AuditRecord::default()
        };
        audit(
            &state.store,
            &caller,
            Action::ChangeSubject,
            "POST /v1/subjects/{number}/move",
            None,
            rec,
        )?;
        Ok(m)
    })
    .await?;
    Ok(json(&r, StatusCode::OK))
}
