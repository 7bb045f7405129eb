//! The service's configuration file (`sendfilter serve --config serve.toml`).
//!
//! ```toml
//! public_url = "https://sms.example.com"   # optional: the base URL gateways call
//! max_in_flight = 4096                      # optional: requests at once before 503
//! [gateways.twilio]
//! auth_token = "…"
//! [gateways.46elks]
//! username = "…"
//! password = "…"
//! ```

use std::path::Path;

use serde::Deserialize;

/// The whole configuration; every field is optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The base URL gateways call (Twilio signs it); without it the signed URL is
    /// `http://` + the request's Host header + path and query.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Region for numbers in national form (default NO), with optional fallbacks (`NO,SE`).
    #[serde(default)]
    pub region: Option<String>,
    /// Requests handled at once; more get 503 with `Retry-After` (default 4096).
    #[serde(default)]
    pub max_in_flight: Option<usize>,
    /// Seconds a request may take, body included, before it gets 408 (default 30).
    #[serde(default)]
    pub request_timeout_secs: Option<u64>,
    /// Per-gateway webhook credentials.
    #[serde(default)]
    pub gateways: Gateways,
    /// Authenticate every API call even when the store has no tokens (set by `serve` for a
    /// non-loopback listener; not read from the file).
    #[serde(skip)]
    pub require_tokens: bool,
}

/// Webhook credentials per gateway: a gateway without a section is not accepted.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gateways {
    /// Twilio: the account's auth token (signs every webhook).
    #[serde(default)]
    pub twilio: Option<Twilio>,
    /// 46elks: basic auth in the webhook URL.
    #[serde(default, rename = "46elks")]
    pub elks: Option<Elks>,
    /// Vonage SMS API: the signature secret (`sig`).
    #[serde(default)]
    pub vonage: Option<Vonage>,
    /// Sinch: basic auth and/or an HMAC secret.
    #[serde(default)]
    pub sinch: Option<Signed>,
    /// Infobip: basic auth and/or an HMAC secret.
    #[serde(default)]
    pub infobip: Option<Signed>,
}

/// 46elks' settings.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Elks {
    /// User name of the basic auth in the webhook URL.
    pub username: String,
    /// Its password.
    pub password: String,
    /// Answer with the auto-reply text (46elks sends a 200's body to the person as an
    /// SMS); default false: an empty body, nothing sent.
    #[serde(default)]
    pub auto_reply: bool,
}

impl std::fmt::Debug for Elks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Elks {{ username: {:?}, password: <hidden>, auto_reply: {} }}",
            self.username, self.auto_reply
        )
    }
}

/// Vonage's settings: without a signature secret, requests are not checked (use a
/// secret: anyone who knows the URL could otherwise record stops).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vonage {
    /// The signature secret (`sig` is checked when set).
    #[serde(default)]
    pub signature_secret: Option<String>,
    /// The signing method chosen in Vonage's dashboard: `sha256` (default), `sha1`,
    /// `sha512` or `md5` (HMAC), or `md5hash` (the legacy method: MD5 of the parameters
    /// with the secret appended; weaker, prefer an HMAC method).
    #[serde(default)]
    pub signature_method: Option<String>,
}

impl Vonage {
    /// The signing method (`sha256` unless configured).
    pub fn method(&self) -> &str {
        self.signature_method.as_deref().unwrap_or("sha256")
    }
}

impl std::fmt::Debug for Vonage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Vonage {{ signature_secret: <hidden>, signature_method: {:?} }}", self.method())
    }
}

/// Twilio's credentials.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Twilio {
    /// The auth token.
    pub auth_token: String,
}

/// A gateway that authenticates with basic auth, an HMAC-SHA256 signature of the raw
/// body, or both (then both must hold).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signed {
    /// Basic-auth user name (with `password`).
    #[serde(default)]
    pub username: Option<String>,
    /// Basic-auth password (with `username`).
    #[serde(default)]
    pub password: Option<String>,
    /// Secret of the HMAC-SHA256 over the raw request body.
    #[serde(default)]
    pub hmac_secret: Option<String>,
    /// Header carrying that HMAC, hex or base64 (default [`Signed::DEFAULT_HEADER`]).
    #[serde(default)]
    pub signature_header: Option<String>,
}

impl Signed {
    /// The signature header used when none is configured.
    pub const DEFAULT_HEADER: &'static str = "x-signature-sha256";

    /// The basic-auth pair, when configured.
    pub fn basic(&self) -> Option<(&str, &str)> {
        Some((self.username.as_deref()?, self.password.as_deref()?))
    }

    /// The signature header's name (lower case).
    pub fn header(&self) -> String {
        self.signature_header.as_deref().unwrap_or(Self::DEFAULT_HEADER).to_ascii_lowercase()
    }

    /// Why this section cannot be used, if it cannot.
    fn problem(&self) -> Option<&'static str> {
        if self.username.is_some() != self.password.is_some() {
            return Some("give both username and password, or neither");
        }
        if self.basic().is_none() && self.hmac_secret.is_none() {
            return Some("give username and password (basic auth), hmac_secret, or both");
        }
        if self.hmac_secret.as_deref().is_some_and(str::is_empty) {
            return Some("hmac_secret is empty");
        }
        if self
            .signature_header
            .as_deref()
            .is_some_and(|h| axum::http::HeaderName::from_bytes(h.as_bytes()).is_err())
        {
            return Some("signature_header is not a valid header name");
        }
        None
    }
}

impl std::fmt::Debug for Signed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Signed {{ username: {:?}, password: <hidden>, hmac_secret: <hidden>, \
             signature_header: {:?} }}",
            self.username,
            self.header()
        )
    }
}

impl std::fmt::Debug for Twilio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Twilio { auth_token: <hidden> }")
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this configuration.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong, with its place.
        message: String,
    },
}

impl Config {
    /// Reads and checks a configuration file.
    ///
    /// # Errors
    /// [`ConfigError`] for an unreadable file, bad TOML or unknown keys.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        Config::parse(&text, path)
    }

    /// Parses configuration text (`path` only names it in errors).
    ///
    /// # Errors
    /// [`ConfigError::Parse`].
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let c: Config = toml::from_str(text)
            .map_err(|e| ConfigError::Parse { path: path.to_path_buf(), message: e.to_string() })?;
        if let Some(v) = &c.gateways.vonage
            && !matches!(v.method(), "sha1" | "sha256" | "sha512" | "md5" | "md5hash")
        {
            return Err(ConfigError::Parse {
                path: path.to_path_buf(),
                message: format!(
                    "gateways.vonage.signature_method {:?}: use sha256, sha1, sha512 or md5 \
                     (HMAC) or md5hash (legacy), as chosen in Vonage's dashboard",
                    v.method()
                ),
            });
        }
        for (name, g) in [("sinch", &c.gateways.sinch), ("infobip", &c.gateways.infobip)] {
            if let Some(p) = g.as_ref().and_then(Signed::problem) {
                return Err(ConfigError::Parse {
                    path: path.to_path_buf(),
                    message: format!("gateways.{name}: {p}"),
                });
            }
        }
        if let Some(r) = &c.region {
            r.parse::<crate::phone::Regions>().map_err(|e| ConfigError::Parse {
                path: path.to_path_buf(),
                message: format!("region: {e}"),
            })?;
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_documented_example_and_refuses_unknown_keys() {
        let text = "public_url = \"https://sms.example.com\"\n[gateways.twilio]\nauth_token = \"t\"\n\
                    [gateways.46elks]\nusername = \"u\"\npassword = \"p\"\n";
        let c = Config::parse(text, Path::new("serve.toml")).unwrap();
        assert_eq!(c.public_url.as_deref(), Some("https://sms.example.com"));
        assert_eq!(c.gateways.twilio.unwrap().auth_token, "t");
        assert_eq!(c.gateways.elks.unwrap().password, "p");
        let e = Config::parse("publik_url = 1\n", Path::new("serve.toml")).unwrap_err();
        assert!(e.to_string().contains("publik_url"), "{e}");
        assert!(Config::parse("region = \"XX\"\n", Path::new("s")).is_err());
    }

    #[test]
    fn vonage_methods_and_sinch_infobip_auth_are_checked() {
        let p = Path::new("serve.toml");
        let v =
            |m: &str| Config::parse(&format!("[gateways.vonage]\nsignature_method = \"{m}\"\n"), p);
        for m in ["sha1", "sha256", "sha512", "md5", "md5hash"] {
            assert_eq!(v(m).unwrap().gateways.vonage.unwrap().method(), m);
        }
        assert!(v("crc32").unwrap_err().to_string().contains("md5hash"));
        let c = Config::parse(
            "[gateways.sinch]\nhmac_secret = \"s\"\n[gateways.infobip]\nusername = \"u\"\n\
             password = \"p\"\nhmac_secret = \"k\"\nsignature_header = \"X-Sig\"\n",
            p,
        )
        .unwrap();
        let sinch = c.gateways.sinch.unwrap();
        assert_eq!((sinch.basic(), sinch.header().as_str()), (None, Signed::DEFAULT_HEADER));
        let infobip = c.gateways.infobip.unwrap();
        assert_eq!(infobip.basic(), Some(("u", "p")));
        assert_eq!(infobip.header(), "x-sig");
        assert!(format!("{infobip:?}").contains("hmac_secret: <hidden>"));
        for bad in [
            "[gateways.sinch]\n",
            "[gateways.sinch]\nusername = \"u\"\n",
            "[gateways.infobip]\nhmac_secret = \"\"\n",
            "[gateways.infobip]\nhmac_secret = \"s\"\nsignature_header = \"a b\"\n",
        ] {
            assert!(Config::parse(bad, p).is_err(), "{bad}");
        }
    }
}
