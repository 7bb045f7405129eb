//! Store policy: per-brand legal settings kept in the store, so that callers do not each
//! have to remember them (`sendfilter policy`).
//!
//! * `require_confirmed`: double opt-in; a filter run for the brand rejects unconfirmed
//!   consents (`CONSENT_UNCONFIRMED`) whether or not it passes `--require-confirmed`.
//! * `consent_lifetime_months`: a consent without `expires_at` ends this many calendar
//!   months after it was granted (`CONSENT_EXPIRED` from then on).
//! * `informed_grace_days`: soft opt-in needs the customer informed at collection; informed
//!   more than this many days after the relationship began is `SOFT_OPT_IN_NOT_INFORMED`
//!   (default 7, see [`crate::decision::DEFAULT_INFORMED_GRACE`]).
//!
//! The file `policy` in the store directory, 0600:
//! ```text
//! sendfilter-policy 1
//! {"brands":{"ACME":{"require_confirmed":true,"consent_lifetime_months":24}}}
//! check 0123456789abcdef
//! ```
//! `check` is the xxh3 of the lines before it. A missing file is the empty policy; a
//! damaged one is an error (fail closed: a run never silently drops a policy). Writes go
//! to `policy.tmp`, fsync, rename, directory fsync, under the store's lock (a [`Store`]).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::store::error::{StoreError, io};
use crate::store::sealed::{self, Unsealed};
use crate::store::{Store, durable};

/// The file name in the store directory.
pub const FILE: &str = "policy";
const MAGIC_LINE: &str = "sendfilter-policy 1";
/// Longest accepted lifetime (100 years).
pub const MAX_MONTHS: u32 = 1200;
/// Longest accepted informed grace, in days.
pub const MAX_GRACE_DAYS: u32 = 365;

/// The policy of one brand.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrandPolicy {
    /// Require a confirmed (double opt-in) consent.
    #[serde(default)]
    pub require_confirmed: bool,
    /// Lifetime of consents without `expires_at`, in calendar months.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_lifetime_months: Option<u32>,
    /// Soft opt-in: days after the relationship began within which the customer must have
    /// been informed; `None`: the default (7 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub informed_grace_days: Option<u32>,
}

/// Every brand's policy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// By brand name.
    pub brands: BTreeMap<String, BrandPolicy>,
}

impl Policy {
    /// The policy of `brand` (the default, nothing required, when it has none). The name
    /// is compared in canonical form ([`crate::brand::normalize`]), also against entries
    /// written before names were canonical (`" ACME "`).
    pub fn brand(&self, brand: &str) -> BrandPolicy {
        let brand = crate::brand::normalize(brand);
        self.brands
            .get(&*brand)
            .or_else(|| {
                self.brands.iter().find(|(k, _)| crate::brand::normalize(k) == brand).map(|e| e.1)
            })
            .copied()
            .unwrap_or_default()
    }

    /// The file's text.
    pub fn to_text(&self) -> String {
        // Serialising plain maps of strings, bools and integers cannot fail.
        let json = serde_json::to_string(self).unwrap_or_else(|_| "{\"brands\":{}}".into());
        sealed::seal(MAGIC_LINE, &json)
    }

    /// Parses the file's text; `path` names it in errors.
    ///
    /// # Errors
    /// [`StoreError::Config`] for a wrong magic line, checksum or content.
    pub fn from_text(text: &str, path: &Path) -> Result<Policy, StoreError> {
        let bad = |reason: &str| StoreError::Config { path: path.into(), reason: reason.into() };
        let json = sealed::unseal(text, MAGIC_LINE).map_err(|e| match e {
            Unsealed::Magic => bad("not a sendfilter policy file (or a newer format)"),
            Unsealed::Damaged => bad("checksum or format mismatch; set the policy again"),
        })?;
        let p: Policy = serde_json::from_str(json).map_err(|_| bad("unreadable content"))?;
        if p.brands
            .values()
            .any(|b| b.consent_lifetime_months.is_some_and(|m| m == 0 || m > MAX_MONTHS))
        {
            return Err(bad("consent lifetime out of range"));
        }
        if p.brands.values().any(|b| b.informed_grace_days.is_some_and(|d| d > MAX_GRACE_DAYS)) {
            return Err(bad("informed grace out of range"));
        }
        Ok(p)
    }
}

/// Reads the policy of the store in `dir` (no lock needed: the file is replaced by
/// rename). A missing file is the empty policy.
///
/// # Errors
/// [`StoreError::Config`] for a damaged file, I/O errors.
pub fn read(dir: &Path) -> Result<Policy, StoreError> {
    let path = dir.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Policy::from_text(&text, &path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Policy::default()),
        Err(e) => Err(io("reading", &path)(e)),
    }
}

/// Replaces the policy of `store` (whose lock the caller holds): temp file, fsync,
/// rename, directory fsync.
///
/// # Errors
/// [`StoreError::Config`] for a lifetime out of range (nothing written), I/O errors.
pub fn write(store: &Store, policy: &Policy) -> Result<(), StoreError> {
    let dir = store.dir();
    let path = dir.join(FILE);
    let text = policy.to_text();
    // Validate what we write by the reader's rules.
    Policy::from_text(&text, &path)?;
    durable::replace_file(&path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Policy {
        let mut p = Policy::default();
        p.brands.insert(
            "ACME".into(),
            BrandPolicy {
                require_confirmed: true,
                consent_lifetime_months: Some(24),
                informed_grace_days: Some(14),
            },
        );
        p.brands.insert("Brand with space".into(), BrandPolicy::default());
        p
    }

    #[test]
    fn round_trip_and_defaults() {
        let p = sample();
        let text = p.to_text();
        assert_eq!(Policy::from_text(&text, Path::new("policy")).unwrap(), p);
        assert_eq!(p.brand("OTHER"), BrandPolicy::default());
        assert!(p.brand("ACME").require_confirmed);
    }

    #[test]
    fn damaged_files_are_refused() {
        let text = sample().to_text();
        let path = Path::new("policy");
        let flipped = text.replacen("true", "fals", 1);
        for bad in [
            "",
            "sendfilter-policy 2\n{}\ncheck 0\n",
            &text[..text.len() - 1],
            &text[..text.len() / 2],
            &flipped,
            &format!("{text}extra\n"),
        ] {
            assert!(Policy::from_text(bad, path).is_err(), "{bad:?}");
        }
        let mut p = sample();
        p.brands.get_mut("ACME").unwrap().consent_lifetime_months = Some(0);
        assert!(Policy::from_text(&p.to_text(), path).is_err());
        let mut p = sample();
        p.brands.get_mut("ACME").unwrap().informed_grace_days = Some(MAX_GRACE_DAYS + 1);
        assert!(Policy::from_text(&p.to_text(), path).is_err());
    }

    /// A policy file written before the informed grace existed still loads.
    #[test]
    fn older_files_load() {
        let old = sealed::seal(
            MAGIC_LINE,
            r#"{"brands":{"ACME":{"require_confirmed":true,"consent_lifetime_months":24}}}"#,
        );
        let p = Policy::from_text(&old, Path::new("policy")).unwrap();
        assert_eq!(p.brand("ACME").informed_grace_days, None);
    }

    #[test]
    fn write_then_read_in_a_store() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(d.path().join("s")).unwrap();
        assert_eq!(read(store.dir()).unwrap(), Policy::default());
        write(&store, &sample()).unwrap();
        assert_eq!(read(store.dir()).unwrap(), sample());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(store.dir().join(FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!store.dir().join("policy.tmp").exists());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(text in ".{0,200}") {
            let _ = Policy::from_text(&text, Path::new("p"));
        }
    }
}
