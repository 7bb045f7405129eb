//! `GET`/`POST /v1/inbound/vonage`: the Vonage SMS API's inbound webhook (query string or
//! form: `msisdn`, `to`, `text`, `messageId`, `message-timestamp`; other fields ignored),
//! through the one inbound path ([`super::inbound::Inbound::submit`]).
//!
//! * **Signature**: with `signature_secret` configured, `sig` must be the signature of the
//!   other parameters: sorted by name, each as `&name=value` with `&` and `=` in values
//!   replaced by `_`, signed with HMAC (`signature_method` `sha256` (default), `sha1`,
//!   `sha512` or `md5`) under the secret, or with the legacy `md5hash` (MD5 of that string
//!   with the secret appended), hex (either case), compared in constant time.
//! * **Concatenated messages** (`concat=true`, `concat-ref`, `concat-total`,
//!   `concat-part`) are reassembled before they are read: each part's request waits until
//!   every part is here and the whole message is durable, and then all get their 200 (so
//!   no part is acknowledged before the STOP it carries is recorded). A part that waits
//!   longer than the request time limit gets 408 and Vonage sends it again; a part of a
//!   message already recorded gets 200 at once. The whole message takes the first part's
//!   `messageId` (idempotent as every gateway's id).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State as St;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, KeyInit, Mac};

use super::inbound::Incoming;
use super::{ApiError, State};

/// Parts waiting for the rest of their message, and messages recently completed.
#[derive(Debug, Default)]
pub struct Concat {
    pending: Mutex<HashMap<(String, String), Pending>>,
}

#[derive(Debug)]
struct Pending {
    started: Instant,
    total: u32,
    parts: BTreeMap<u32, (String, String)>,
    waiters: Vec<tokio::sync::oneshot::Sender<Answer>>,
    done: bool,
}

/// How long parts and completed messages are remembered.
const KEEP: Duration = Duration::from_secs(3600);
/// Most parts of one message.
const MAX_PARTS: u32 = 255;

/// The string Vonage signs: every parameter but `sig`, sorted by name, as `&name=value`
/// with `&` and `=` in values replaced by `_`.
pub fn vonage_payload(fields: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = fields.iter().filter(|(k, _)| k != "sig").collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut s = String::new();
    for (k, v) in sorted {
        s.push('&');
        s.push_str(k);
        s.push('=');
        s.push_str(&v.replace(['&', '='], "_"));
    }
    s
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Vonage's signature (lower-case hex) of `payload` under `secret` with `method`: HMAC
/// for `sha1`, `sha256`, `sha512` and `md5`; for the legacy `md5hash`, MD5 of `payload`
/// followed by the secret. `None` for another method.
pub fn vonage_signature(method: &str, secret: &str, payload: &str) -> Option<String> {
    macro_rules! mac {
        ($h:ty) => {{
            let mut m = <Hmac<$h> as KeyInit>::new_from_slice(secret.as_bytes()).ok()?;
            m.update(payload.as_bytes());
            Some(hex(&m.finalize().into_bytes()))
        }};
    }
    match method {
        "sha1" => mac!(sha1::Sha1),
        "sha256" => mac!(sha2::Sha256),
        "sha512" => mac!(sha2::Sha512),
        "md5" => mac!(md5::Md5),
        "md5hash" => {
            use md5::Digest;
            let mut h = md5::Md5::new();
            h.update(payload.as_bytes());
            h.update(secret.as_bytes());
            Some(hex(&h.finalize()))
        }
        _ => None,
    }
}

fn get(fields: &[(String, String)], name: &str) -> String {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default()
}

/// `YYYY-MM-DD HH:MM:SS` (UTC, Vonage's form) as RFC 3339; anything else as it is.
fn timestamp(s: &str) -> String {
    let b = s.as_bytes();
    if b.len() == 19 && b[10] == b' ' {
        format!("{}T{}Z", &s[..10], &s[11..])
    } else {
        s.to_string()
    }
}

/// `GET` or `POST /v1/inbound/vonage`.
pub async fn vonage(
    St(state): St<Arc<State>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let cfg = state.config().gateways.vonage.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "vonage is not configured ([gateways.vonage] in the config)",
        )
    })?;
    let fields = parameters(&method, &uri, &headers, &body)?;
    let id = get(&fields, "messageId");
    check_signature(&cfg, &fields, &id)?;
    for (name, v) in [("messageId", &id), ("msisdn", &get(&fields, "msisdn"))] {
        if v.trim().is_empty() {
            return Err(ApiError::bad_request(format!("vonage: {name} is missing")));
        }
    }
    let text = get(&fields, "text");
    if get(&fields, "concat") != "true" {
        state.inbound.submit("vonage", incoming(&fields, text, id)).await?;
        return Ok(StatusCode::OK.into_response());
    }
    let part = Part::of(&fields)?;
    let key = (get(&fields, "msisdn"), part.cref.clone());
    let (tx, rx) = tokio::sync::oneshot::channel();
    match state.concat.arrive(&key, &part, (id, text), tx)? {
        Arrival::Recorded => return Ok(StatusCode::OK.into_response()),
        Arrival::Waiting => {}
        Arrival::Whole { id, text } => {
            let r = state.inbound.submit("vonage", incoming(&fields, text, id)).await;
            state
                .concat
                .settle(&key, r.as_ref().map(|_| ()).map_err(|e| (e.status, e.message.clone())));
        }
    }
    match rx.await {
        Ok(Ok(())) => Ok(StatusCode::OK.into_response()),
        Ok(Err((status, message))) => Err(ApiError::new(status, message)),
        Err(_) => Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not recorded: retry")),
    }
}

/// The request's parameters: the query string's, then a `POST` body's (the members of a
/// JSON object, other values than strings as JSON text, or a form's fields).
fn parameters(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Vec<(String, String)>, ApiError> {
    let mut fields: Vec<(String, String)> =
        form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()).into_owned().collect();
    let is_json = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if method == Method::POST && is_json {
        let v: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(body)
            .map_err(|_| ApiError::bad_request("vonage: not a JSON object"))?;
        for (k, v) in v {
            let s = match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            fields.push((k, s));
        }
    } else if method == Method::POST {
        fields.extend(form_urlencoded::parse(body).into_owned());
    }
    Ok(fields)
}

/// With a `signature_secret` configured: `sig` must be the signature of the other
/// parameters (else 403, logged under the message's `id`).
fn check_signature(
    cfg: &super::config::Vonage,
    fields: &[(String, String)],
    id: &str,
) -> Result<(), ApiError> {
    let Some(secret) = cfg.signature_secret.as_deref() else {
        return Ok(());
    };
    let want = vonage_signature(cfg.method(), secret, &vonage_payload(fields));
    let got = get(fields, "sig").to_ascii_lowercase();
    let ok = want.is_some_and(|w| {
        w.len() == got.len() && super::webhooks::same_bytes(w.as_bytes(), got.as_bytes())
    });
    if !ok {
        super::inbound::log("vonage", id, "bad signature");
        return Err(ApiError::new(StatusCode::FORBIDDEN, "vonage: bad or missing sig"));
    }
    Ok(())
}

/// The message to submit: `text` with id `id`, from the request's sender, number and time.
fn incoming(fields: &[(String, String)], text: String, id: String) -> Incoming {
    Incoming {
        from: get(fields, "msisdn"),
        to: get(fields, "to"),
        text,
        received_at: timestamp(&get(fields, "message-timestamp")),
        id: Some(id),
    }
}

/// Where a part of a concatenated message belongs.
struct Part {
    /// `concat-ref`: the message's reference (per sender).
    cref: String,
    /// `concat-total`: how many parts the message has.
    total: u32,
    /// `concat-part`: this part's place, from 1.
    part: u32,
}

impl Part {
    /// The part the request's `concat-*` parameters name (400 when one is missing or out
    /// of range).
    fn of(fields: &[(String, String)]) -> Result<Part, ApiError> {
        let num = |n: &str| get(fields, n).trim().parse::<u32>().ok();
        let (Some(total), Some(part)) = (num("concat-total"), num("concat-part")) else {
            return Err(ApiError::bad_request("vonage: concat-total or concat-part is missing"));
        };
        let cref = get(fields, "concat-ref");
        if cref.is_empty() || part == 0 || part > total || total > MAX_PARTS {
            return Err(ApiError::bad_request(
                "vonage: bad concat-ref, concat-total or concat-part",
            ));
        }
        Ok(Part { cref, total, part })
    }
}

/// What a part's arrival makes of its message.
enum Arrival {
    /// The message is already recorded: the part gets 200 at once.
    Recorded,
    /// Parts are missing: this one waits for them.
    Waiting,
    /// This part completed the message: the first part's id and the whole text.
    Whole { id: String, text: String },
}

/// A waiting part's answer: 200, or the status and message of the failed submission.
type Answer = Result<(), (StatusCode, String)>;

impl Concat {
    /// Keeps `part` (its `(id, text)`) of the message `key` (sender, reference), whose
    /// request waits on `tx`; forgets messages older than [`KEEP`] first.
    fn arrive(
        &self,
        key: &(String, String),
        part: &Part,
        (id, text): (String, String),
        tx: tokio::sync::oneshot::Sender<Answer>,
    ) -> Result<Arrival, ApiError> {
        let mut map = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, p| p.started.elapsed() < KEEP);
        let p = map.entry(key.clone()).or_insert_with(|| Pending {
            started: Instant::now(),
            total: part.total,
            parts: BTreeMap::new(),
            waiters: Vec::new(),
            done: false,
        });
        if p.done {
            return Ok(Arrival::Recorded);
        }
        if p.total != part.total {
            return Err(ApiError::bad_request("vonage: concat-total differs between parts"));
        }
        p.parts.insert(part.part, (id, text));
        p.waiters.push(tx);
        if p.parts.len() as u32 != p.total {
            return Ok(Arrival::Waiting);
        }
        let id = p.parts.values().next().map(|(i, _)| i.clone()).unwrap_or_default();
        let text: String = p.parts.values().map(|(_, t)| t.as_str()).collect();
        Ok(Arrival::Whole { id, text })
    }

    /// Answers every part of the message `key` with `result` of submitting it whole:
    /// recorded, it is remembered as done; not recorded, its parts are forgotten and every
    /// one is sent again.
    fn settle(&self, key: &(String, String), result: Answer) {
        let mut map = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let Some(p) = map.get_mut(key) else {
            return;
        };
        p.parts.clear();
        if result.is_ok() {
            p.done = true;
        }
        for w in p.waiters.drain(..) {
            let _ = w.send(result.clone());
        }
        if result.is_err() {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_sorts_skips_sig_and_escapes_values() {
        let f: Vec<(String, String)> =
            [("to", "2401"), ("sig", "x"), ("text", "a=b&c"), ("msisdn", "47")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        assert_eq!(vonage_payload(&f), "&msisdn=47&text=a_b_c&to=2401");
        // HMAC-SHA256 of RFC 4231's test case 2 ("Jefe", "what do ya want for nothing?").
        assert_eq!(
            vonage_signature("sha256", "Jefe", "what do ya want for nothing?").as_deref(),
            Some("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        );
        assert_eq!(timestamp("2026-06-01 10:00:00"), "2026-06-01T10:00:00Z");
    }

    /// `md5hash` is plain MD5 of the sorted `&name=value` string with the secret appended
    /// (checked against `printf '&a=1&b=x_ysecret' | md5sum`); the HMAC methods differ.
    #[test]
    fn md5hash_is_md5_of_the_parameters_with_the_secret_appended() {
        let fields: Vec<(String, String)> = [("b", "x&y"), ("a", "1"), ("sig", "zz")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let payload = vonage_payload(&fields);
        assert_eq!(payload, "&a=1&b=x_y");
        let md5hash = vonage_signature("md5hash", "secret", &payload).unwrap();
        assert_eq!(md5hash, "0e8b0835d0b0239a0747a5ff5c5e8f26");
        let hmac_md5 = vonage_signature("md5", "secret", &payload).unwrap();
        assert_eq!(hmac_md5, "5a81820f39331bbe2156fac09812b661");
        assert_ne!(hmac_md5, md5hash);
        assert!(vonage_signature("crc32", "secret", &payload).is_none());
    }
}
