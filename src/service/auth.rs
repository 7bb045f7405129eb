//! Who may call which route: the route table and bearer-token authentication.
//!
//! Every route names what it needs ([`ROUTES`]): nothing (the probes), the gateway's own
//! authentication (webhooks, checked by the webhook), or a store [`Action`], which the
//! caller's role must allow ([`Role::allows`]; the roles are the store's). A caller sends
//! `Authorization: Bearer sft_…` (see [`super::tokens`]); no or an unknown token gets 401,
//! a role that may not gets 403.
//!
//! Authentication is on when the store has tokens, and always when the service listens
//! on a non-loopback address (then, without tokens, nobody gets in: fail closed). On
//! loopback without tokens every caller is `local` with the role `open`, as a store
//! without roles is open to whoever can run `sendfilter` on it.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use axum::http::{HeaderMap, Method, StatusCode, header};

use super::ApiError;
use super::tokens::{self, Tokens};
use crate::store::access::{Action, Role};

/// What a route needs of its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Nothing: health probes.
    Open,
    /// The gateway's own authentication (signature, basic auth), checked by the webhook.
    Gateway,
    /// A token whose role allows the action.
    Role(Action),
}

/// One route: method, path template (also the metrics label) and what it needs.
#[derive(Clone, Debug)]
pub struct Route {
    /// The HTTP method.
    pub method: Method,
    /// The path template.
    pub path: &'static str,
    /// What the caller needs.
    pub need: Need,
}

const fn route(method: Method, path: &'static str, need: Need) -> Route {
    Route { method, path, need }
}

/// Every route of the service (README "Service" has the same table with the roles).
pub const ROUTES: &[Route] = &[
    route(Method::GET, "/livez", Need::Open),
    route(Method::GET, "/readyz", Need::Open),
    route(Method::GET, "/metrics", Need::Role(Action::Inspect)),
    route(Method::POST, "/v1/check", Need::Role(Action::Filter)),
    route(Method::POST, "/v1/inbound", Need::Role(Action::Record)),
    route(Method::POST, "/v1/inbound/twilio", Need::Gateway),
    route(Method::POST, "/v1/inbound/46elks", Need::Gateway),
    route(Method::POST, "/v1/inbound/sinch", Need::Gateway),
    route(Method::GET, "/v1/inbound/vonage", Need::Gateway),
    route(Method::POST, "/v1/inbound/vonage", Need::Gateway),
    route(Method::POST, "/v1/inbound/infobip", Need::Gateway),
    route(Method::POST, "/v1/consents", Need::Role(Action::Record)),
    route(Method::GET, "/v1/stops", Need::Role(Action::Stop)),
    route(Method::GET, "/v1/stops/{number}", Need::Role(Action::Stop)),
    route(Method::PUT, "/v1/stops/{number}", Need::Role(Action::Stop)),
    route(Method::GET, "/v1/subjects/{number}", Need::Role(Action::ExportSubject)),
    route(Method::POST, "/v1/subjects/{number}/erase", Need::Role(Action::ChangeSubject)),
    route(Method::POST, "/v1/subjects/{number}/correct", Need::Role(Action::ChangeSubject)),
    route(Method::POST, "/v1/subjects/{number}/move", Need::Role(Action::ChangeSubject)),
];

/// The route `method` `path` (a matched template), or `Err` with the path's label when
/// the path is known but not for this method (405), or `Err("unmatched")`.
pub fn find(method: &Method, path: Option<&str>) -> Result<&'static Route, &'static str> {
    let Some(path) = path else { return Err("unmatched") };
    let mut label = "unmatched";
    for r in ROUTES {
        if r.path == path {
            if r.method == method {
                return Ok(r);
            }
            label = r.path;
        }
    }
    Err(label)
}

/// Who is calling: the token's name and role (the audit trail's actor and role).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The token's name (`local` without authentication).
    pub name: String,
    /// The token's role (`open` without authentication).
    pub role: String,
}

/// How often the token file is looked at for changes (a revoked token stops working
/// within this time).
const RECHECK: Duration = Duration::from_secs(1);

/// The store's tokens, read again when the file changes.
#[derive(Debug)]
pub struct Keys {
    required: bool,
    cache: Mutex<Cache>,
}

#[derive(Debug)]
struct Cache {
    checked: Option<Instant>,
    modified: Option<SystemTime>,
    tokens: Result<Tokens, String>,
}

impl Keys {
    /// The tokens of the store in `dir`; `required`: authentication even without tokens
    /// (a non-loopback listener).
    pub fn new(required: bool) -> Keys {
        Keys {
            required,
            cache: Mutex::new(Cache {
                checked: None,
                modified: None,
                tokens: Ok(Tokens::default()),
            }),
        }
    }

    /// Authenticates the request with `headers` for `action`.
    ///
    /// # Errors
    /// 401 without a known token, 403 when its role may not do `action`, 503 when the
    /// token file cannot be read.
    pub fn authorize(
        &self,
        dir: &Path,
        headers: &HeaderMap,
        action: Action,
    ) -> Result<Caller, ApiError> {
        let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if c.checked.is_none_or(|t| t.elapsed() >= RECHECK) {
            let path = dir.join(tokens::FILE);
            let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
            if c.checked.is_none() || modified != c.modified {
                c.tokens = tokens::read(dir).map_err(|e| e.to_string());
                c.modified = modified;
            }
            c.checked = Some(Instant::now());
        }
        let tokens = c.tokens.as_ref().map_err(|e| {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("tokens unreadable: {e}"))
        })?;
        if tokens.is_empty() && !self.required {
            return Ok(Caller { name: "local".into(), role: "open".into() });
        }
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let Some(bearer) = bearer else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing Authorization: Bearer token (sendfilter token create)",
            ));
        };
        let Some(e) = tokens.find(bearer) else {
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "unknown or revoked token"));
        };
        if !e.role.allows(action) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "role {} may not {action} (allowed: {})",
                    e.role,
                    roles_for(action).join(", ")
                ),
            ));
        }
        Ok(Caller { name: e.name.clone(), role: e.role.to_string() })
    }
}

/// The roles that may do `action`.
pub fn roles_for(action: Action) -> Vec<&'static str> {
    Role::ALL.iter().filter(|r| r.allows(action)).map(|r| r.as_str()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_found_by_method_and_template() {
        assert_eq!(
            find(&Method::POST, Some("/v1/check")).map(|r| r.need).ok(),
            Some(Need::Role(Action::Filter))
        );
        assert_eq!(find(&Method::GET, Some("/v1/check")).err(), Some("/v1/check"));
        assert_eq!(find(&Method::GET, None).err(), Some("unmatched"));
    }

    #[test]
    fn tokens_roles_and_the_open_loopback() {
        let dir = tempfile::tempdir().unwrap();
        crate::store::Store::open(dir.path()).unwrap();
        let h = HeaderMap::new();
        let open = Keys::new(false).authorize(dir.path(), &h, Action::Filter).unwrap();
        assert_eq!(open.role, "open");
        let err = Keys::new(true).authorize(dir.path(), &h, Action::Filter).unwrap_err();
        assert_eq!(err.status, StatusCode::UNAUTHORIZED);
        let (tok, _) = tokens::create(dir.path(), Role::Campaign, Some("cmp")).unwrap();
        let keys = Keys::new(false);
        assert_eq!(
            keys.authorize(dir.path(), &h, Action::Filter).unwrap_err().status,
            StatusCode::UNAUTHORIZED
        );
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, format!("Bearer {tok}").parse().unwrap());
        assert_eq!(keys.authorize(dir.path(), &h, Action::Filter).unwrap().name, "cmp");
        let e = keys.authorize(dir.path(), &h, Action::ExportSubject).unwrap_err();
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        assert!(e.message.contains("admin, privacy, auditor"), "{}", e.message);
    }
}
