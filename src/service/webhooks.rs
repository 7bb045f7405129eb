//! The gateways' inbound webhooks, each parsed into the same [`Incoming`] message and
//! handed to [`super::inbound::Inbound::submit`] (one code path, durable before the 2xx):
//!
//! * `POST /v1/inbound/twilio`: form `From`, `To`, `Body`, `MessageSid` (other fields
//!   ignored), signed: `X-Twilio-Signature` is base64 HMAC-SHA1 under the auth token over
//!   the full URL followed by every POST field's name and value, sorted by name. Answer:
//!   TwiML, `<Response><Message>reply</Message></Response>` (or `<Response/>`).
//! * `POST /v1/inbound/46elks`: form `from`, `to`, `message`, `id`, `created`, basic auth
//!   (in the URL the gateway calls). Answer: 200 with an empty body (46elks would send a
//!   body as an SMS), or the auto-reply text when `auto_reply = true`.
//! * `POST /v1/inbound/sinch`: Sinch's `mo_text` callback, JSON `type`, `from`, `to`,
//!   `body`, `id`, `received_at`; basic auth. Answer: 200, `{"action", "repeat"}`.
//! * `POST /v1/inbound/infobip`: Infobip's `MO_JSON_2`, `{"results": [{messageId, from,
//!   to, text, receivedAt}, …]}`, several messages per request; basic auth. Every message
//!   is checked before any is handed on. Answer: 200, `{"results": [{"action", "repeat"}]}`.
//! * `POST /v1/inbound`: the fields `sendfilter inbound` reads (`from`, `to`, `text`,
//!   `received_at`, `id`), one JSON object or NDJSON lines; the answer is its output line
//!   per message.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State as St;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;

use super::inbound::Incoming;
use super::{ApiError, State};

fn form(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn get(fields: &[(String, String)], name: &str) -> String {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default()
}

fn not_configured(gateway: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("{gateway} is not configured ([gateways.{gateway}] in the config)"),
    )
}

/// The string Twilio signs: the URL, then each field's name and value, sorted by name.
pub fn twilio_payload(url: &str, fields: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = fields.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut s = url.to_string();
    for (k, v) in sorted {
        s.push_str(k);
        s.push_str(v);
    }
    s
}

/// Twilio's signature of `payload` under `auth_token` (base64 HMAC-SHA1).
pub fn twilio_signature(auth_token: &str, payload: &str) -> String {
    let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(auth_token.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(payload.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// True when `signature` (base64) is Twilio's signature of `payload` (compared in
/// constant time).
fn twilio_verify(auth_token: &str, payload: &str, signature: &str) -> bool {
    let Ok(sig) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else {
        return false;
    };
    let Ok(mut mac) = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(auth_token.as_bytes()) else {
        return false;
    };
    mac.update(payload.as_bytes());
    mac.verify_slice(&sig).is_ok()
}

/// The URL a gateway called: `public_url` + path and query, else `http://` + Host + path
/// and query.
fn called_url(state: &State, headers: &HeaderMap, uri: &Uri) -> String {
    let pq = uri.path_and_query().map_or("/", |p| p.as_str());
    match &state.config().public_url {
        Some(base) => format!("{}{pq}", base.trim_end_matches('/')),
        None => {
            let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
            format!("http://{host}{pq}")
        }
    }
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn reply_of(answer: &Value) -> &str {
    answer.get("reply").and_then(Value::as_str).unwrap_or("")
}

fn count(state: &State, gateway: &'static str, answer: &Value) {
    let action = answer.get("action").and_then(Value::as_str).unwrap_or("UNKNOWN");
    state.metrics.inbound(gateway, action);
}

/// `POST /v1/inbound/twilio`.
pub async fn twilio(
    St(state): St<Arc<State>>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let cfg = state.config().gateways.twilio.clone().ok_or_else(|| not_configured("twilio"))?;
    let fields = form(&body);
    let url = called_url(&state, &headers, &uri);
    let signature = headers.get("x-twilio-signature").and_then(|h| h.to_str().ok()).unwrap_or("");
    if !twilio_verify(&cfg.auth_token, &twilio_payload(&url, &fields), signature) {
        super::inbound::log("twilio", &get(&fields, "MessageSid"), "bad signature");
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "twilio: bad or missing X-Twilio-Signature",
        ));
    }
    let sid = get(&fields, "MessageSid");
    if sid.is_empty() {
        return Err(ApiError::bad_request("twilio: MessageSid is missing"));
    }
    let m = Incoming {
        from: get(&fields, "From"),
        to: get(&fields, "To"),
        text: get(&fields, "Body"),
        received_at: String::new(),
        id: Some(sid),
    };
    let answer = state.inbound.submit("twilio", m).await?;
    count(&state, "twilio", &answer);
    let reply = reply_of(&answer);
    let xml = if reply.is_empty() {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>".to_string()
    } else {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>{}</Message></Response>",
            xml_escape(reply)
        )
    };
    let mut r = xml.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    Ok(r)
}

/// True when the request carries basic auth with `user` and `password`.
fn basic_ok(headers: &HeaderMap, user: &str, password: &str) -> bool {
    let Some(v) = headers.get(header::AUTHORIZATION).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let Some(b64) = v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")) else {
        return false;
    };
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64.trim()) else {
        return false;
    };
    same_bytes(&raw, format!("{user}:{password}").as_bytes())
}

/// True when `a` and `b` are equal, compared in constant time over their length.
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// HMAC-SHA256 of `body` under `secret`.
pub fn body_signature(secret: &str, body: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// The signature in a header value: hex (either case, an optional `sha256=` prefix) or
/// standard base64; `None` when it is neither.
fn decode_signature(v: &str) -> Option<Vec<u8>> {
    let v = v.trim();
    let v = v.strip_prefix("sha256=").unwrap_or(v);
    if v.len() == 64 && v.bytes().all(|c| c.is_ascii_hexdigit()) {
        return (0..32).map(|i| u8::from_str_radix(&v[2 * i..2 * i + 2], 16).ok()).collect();
    }
    base64::engine::general_purpose::STANDARD.decode(v).ok()
}

/// Checks a Sinch or Infobip request against its configuration: basic auth when
/// configured, the body's HMAC-SHA256 in the configured header when a secret is; both
/// when both are. `Err` is the response to send (401 for basic auth, 403 for a
/// signature), logged with the gateway.
fn signed_ok(
    gateway: &'static str,
    cfg: &super::config::Signed,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), Response> {
    if let Some((user, password)) = cfg.basic()
        && !basic_ok(headers, user, password)
    {
        return Err(unauthorized(gateway, "-"));
    }
    if let Some(secret) = cfg.hmac_secret.as_deref() {
        let header = cfg.header();
        let got =
            headers.get(header.as_str()).and_then(|h| h.to_str().ok()).and_then(decode_signature);
        if !got.is_some_and(|g| same_bytes(&g, &body_signature(secret, body))) {
            super::inbound::log(gateway, "-", "bad signature");
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("{gateway}: bad or missing {header} (HMAC-SHA256 of the body)"),
            )
            .into_response());
        }
    }
    Ok(())
}

/// `POST /v1/inbound/46elks`.
pub async fn elks(
    St(state): St<Arc<State>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let cfg = state.config().gateways.elks.clone().ok_or_else(|| not_configured("46elks"))?;
    let fields = form(&body);
    if !basic_ok(&headers, &cfg.username, &cfg.password) {
        super::inbound::log("46elks", &get(&fields, "id"), "bad credentials");
        let mut r = ApiError::new(StatusCode::UNAUTHORIZED, "46elks: bad or missing basic auth")
            .into_response();
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"sendfilter\""),
        );
        return Ok(r);
    }
    let id = get(&fields, "id");
    if id.is_empty() {
        return Err(ApiError::bad_request("46elks: id is missing"));
    }
    let m = Incoming {
        from: get(&fields, "from"),
        to: get(&fields, "to"),
        text: get(&fields, "message"),
        received_at: get(&fields, "created"),
        id: Some(id),
    };
    let answer = state.inbound.submit("46elks", m).await?;
    count(&state, "46elks", &answer);
    let body = if cfg.auto_reply { reply_of(&answer).to_string() } else { String::new() };
    Ok((StatusCode::OK, body).into_response())
}

/// 401 with a basic-auth challenge for `gateway`, logged with the message id.
fn unauthorized(gateway: &'static str, id: &str) -> Response {
    super::inbound::log(gateway, id, "bad credentials");
    let mut r =
        ApiError::new(StatusCode::UNAUTHORIZED, format!("{gateway}: bad or missing basic auth"))
            .into_response();
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"sendfilter\""));
    r
}

/// Sinch's `mo_text` callback (other fields ignored).
#[derive(serde::Deserialize)]
struct SinchMo {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    received_at: String,
}

/// `POST /v1/inbound/sinch`: the `mo_text` callback (JSON `type`, `from`, `to`, `body`,
/// `id`, `received_at`), basic auth and/or HMAC as configured. Answer: 200 with the recorded action as JSON.
pub async fn sinch(
    St(state): St<Arc<State>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let cfg = state.config().gateways.sinch.clone().ok_or_else(|| not_configured("sinch"))?;
    if let Err(r) = signed_ok("sinch", &cfg, &headers, &body) {
        return Ok(r);
    }
    let mo: SinchMo = serde_json::from_slice(&body)
        .map_err(|_| ApiError::bad_request("sinch: not an mo_text JSON object"))?;
    if mo.kind != "mo_text" {
        return Err(ApiError::unprocessable(format!(
            "sinch: type {:?} is not mo_text (only text messages are read)",
            mo.kind
        )));
    }
    if mo.id.trim().is_empty() {
        return Err(ApiError::bad_request("sinch: id is missing"));
    }
    let m = Incoming {
        from: mo.from,
        to: mo.to,
        text: mo.body,
        received_at: mo.received_at,
        id: Some(mo.id),
    };
    let answer = state.inbound.submit("sinch", m).await?;
    count(&state, "sinch", &answer);
    Ok(json(action_of(&answer).to_string() + "\n", "application/json"))
}

/// What a gateway that takes any 2xx is answered: the action, never the number.
fn action_of(answer: &Value) -> Value {
    serde_json::json!({
        "action": answer.get("action").cloned().unwrap_or(Value::Null),
        "repeat": answer.get("repeat").cloned().unwrap_or(Value::Bool(false)),
    })
}

/// One message of Infobip's `MO_JSON_2` (other fields ignored).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct InfobipMo {
    #[serde(default)]
    message_id: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    received_at: String,
}

#[derive(serde::Deserialize)]
struct InfobipBody {
    results: Vec<InfobipMo>,
}

/// `POST /v1/inbound/infobip`: `{"results": [{messageId, from, to, text, receivedAt}, …]}`
/// (several messages per request), basic auth and/or HMAC as configured. Every message is checked before any is
/// handed on: a missing field refuses the request (400) with nothing recorded. Answer:
/// 200 once every message is durable.
pub async fn infobip(
    St(state): St<Arc<State>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let cfg = state.config().gateways.infobip.clone().ok_or_else(|| not_configured("infobip"))?;
    if let Err(r) = signed_ok("infobip", &cfg, &headers, &body) {
        return Ok(r);
    }
    let b: InfobipBody = serde_json::from_slice(&body)
        .map_err(|_| ApiError::bad_request("infobip: not a JSON object with results[]"))?;
    if b.results.is_empty() {
        return Err(ApiError::bad_request("infobip: results is empty"));
    }
    for (i, r) in b.results.iter().enumerate() {
        for (name, v) in
            [("messageId", &r.message_id), ("from", &r.from), ("to", &r.to), ("text", &r.text)]
        {
            if v.trim().is_empty() {
                return Err(ApiError::bad_request(format!(
                    "infobip: results[{i}].{name} is missing"
                )));
            }
        }
    }
    let mut tasks = Vec::with_capacity(b.results.len());
    for r in b.results {
        let m = Incoming {
            from: r.from,
            to: r.to,
            text: r.text,
            received_at: r.received_at,
            id: Some(r.message_id),
        };
        let s = Arc::clone(&state);
        tasks.push(tokio::spawn(async move { s.inbound.submit("infobip", m).await }));
    }
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        let a = t
            .await
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
        count(&state, "infobip", &a);
        out.push(action_of(&a));
    }
    Ok(json(serde_json::json!({ "results": out }).to_string() + "\n", "application/json"))
}

/// One generic message (`sendfilter inbound`'s fields).
#[derive(serde::Deserialize)]
struct Generic {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    received_at: Option<Value>,
    #[serde(default, alias = "message_id")]
    id: Option<Value>,
}

fn text_of(v: Option<Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn parse_generic(line: &[u8]) -> Result<Incoming, ApiError> {
    let g: Generic = serde_json::from_slice(line)
        .map_err(|_| ApiError::bad_request("not an object with from, to, text, received_at, id"))?;
    Ok(Incoming {
        from: g.from,
        to: g.to,
        text: g.text,
        received_at: text_of(g.received_at).unwrap_or_default(),
        id: text_of(g.id),
    })
}

/// `POST /v1/inbound`: one JSON object (answer: its line, or a 4xx) or NDJSON (answer:
/// one line per message in order; a refused one is `{"line":N,"error":…,"status":4xx}`).
pub async fn generic(
    St(state): St<Arc<State>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    if !super::is_ndjson(&headers) {
        let answer = state.inbound.submit("generic", parse_generic(&body)?).await?;
        count(&state, "generic", &answer);
        return Ok(json(answer.to_string() + "\n", "application/json"));
    }
    let mut tasks = Vec::new();
    for (i, l) in body.split(|&c| c == b'\n').enumerate() {
        if l.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed = parse_generic(l);
        let s = Arc::clone(&state);
        tasks
            .push((i + 1, tokio::spawn(async move { s.inbound.submit("generic", parsed?).await })));
    }
    let mut out = String::new();
    for (line, t) in tasks {
        let v = match t.await {
            Ok(Ok(mut a)) => {
                count(&state, "generic", &a);
                a["line"] = Value::from(line);
                a
            }
            Ok(Err(e)) => {
                serde_json::json!({"line": line, "status": e.status.as_u16(), "error": e.message})
            }
            Err(e) => serde_json::json!({"line": line, "status": 500, "error": e.to_string()}),
        };
        out.push_str(&v.to_string());
        out.push('\n');
    }
    Ok(json(out, "application/x-ndjson"))
}

fn json(body: String, ct: &'static str) -> Response {
    let mut r = body.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Twilio's documented example (the "Validating requests" page): this URL, fields and
    /// auth token give this signature.
    #[test]
    fn twilio_signature_matches_the_documented_example() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let fields: Vec<(String, String)> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let payload = twilio_payload(url, &fields);
        assert_eq!(twilio_signature("12345", &payload), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
        assert!(twilio_verify("12345", &payload, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
        assert!(!twilio_verify("12345", &payload, "1/KCTR6DLpKmkAf8muzZqo1nDgQ="));
        assert!(!twilio_verify("54321", &payload, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
    }

    #[test]
    fn basic_auth_and_xml_escaping() {
        let mut h = HeaderMap::new();
        let v = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("u:p"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(&v).unwrap());
        assert!(basic_ok(&h, "u", "p"));
        assert!(!basic_ok(&h, "u", "q"));
        assert!(!basic_ok(&HeaderMap::new(), "u", "p"));
        assert_eq!(xml_escape("a<b & 'c'"), "a&lt;b &amp; &apos;c&apos;");
    }

    #[test]
    fn body_signature_hex_or_base64_with_basic_auth_when_both_are_configured() {
        let cfg: super::super::config::Signed = toml::from_str(
            "username = \"u\"\npassword = \"p\"\nhmac_secret = \"k\"\nsignature_header = \"X-Sig\"\n",
        )
        .unwrap();
        let body = br#"{"id":"1"}"#;
        let sig = body_signature("k", body);
        let hex: String = sig.iter().map(|b| format!("{b:02X}")).collect();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&sig);
        let auth = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("u:p"));
        for value in [hex.clone(), format!("sha256={}", hex.to_lowercase()), b64.clone()] {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(&auth).unwrap());
            h.insert("x-sig", HeaderValue::from_str(&value).unwrap());
            assert!(signed_ok("sinch", &cfg, &h, body).is_ok(), "{value}");
            assert_eq!(
                signed_ok("sinch", &cfg, &h, br#"{"id":"2"}"#).unwrap_err().status(),
                StatusCode::FORBIDDEN
            );
            h.remove(header::AUTHORIZATION);
            assert_eq!(
                signed_ok("sinch", &cfg, &h, body).unwrap_err().status(),
                StatusCode::UNAUTHORIZED
            );
        }
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(&auth).unwrap());
        assert_eq!(signed_ok("sinch", &cfg, &h, body).unwrap_err().status(), StatusCode::FORBIDDEN);
    }
}
