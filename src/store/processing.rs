//! Records of processing per brand (GDPR art. 30): purposes with a plain description and
//! their legal basis, categories of data, recipients, retention per category, transfers
//! outside the EEA, the controller and the DPO, and the country whose supervisory
//! authority a person may complain to (`sendfilter processing`).
//!
//! Stored like the policy: the file `processing` in the store directory, 0600, one JSON
//! line sealed with a checksum ([`crate::store::sealed`]), replaced atomically under the
//! store's lock; a damaged file is an error (fail closed). `subject export` takes what it
//! tells a person from here, and `purge` without a period applies the retention.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::store::durable;
use crate::store::error::{StoreError, io};
use crate::store::sealed::{self, Unsealed};

/// The file name in the store directory.
pub const FILE: &str = "processing";
const MAGIC_LINE: &str = "sendfilter-processing 1";

/// Legal bases a purpose may name (art. 6(1); `soft_opt_in` is the marketing-law
/// exemption for existing customers, resting on legitimate interest).
pub const LEGAL_BASES: [&str; 5] =
    ["consent", "soft_opt_in", "contract", "legal_obligation", "legitimate_interest"];

/// Retention categories `purge` applies (others are documentation).
pub const PURGED_CATEGORIES: [&str; 2] = ["consents", "relationships"];

/// One purpose of processing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Purpose {
    /// Its name as campaigns use it (`offers`).
    pub name: String,
    /// Plain-language description for the person.
    pub description: String,
    /// One of [`LEGAL_BASES`].
    pub legal_basis: String,
}

/// The record of processing of one brand.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrandRecord {
    /// The controller: name and contact.
    #[serde(default)]
    pub controller: String,
    /// The data-protection officer's contact.
    #[serde(default)]
    pub dpo: String,
    /// Country of the brand (NO, SE, DK, FI): whose supervisory authority.
    #[serde(default)]
    pub country: String,
    /// Purposes.
    #[serde(default)]
    pub purposes: Vec<Purpose>,
    /// Categories of personal data.
    #[serde(default)]
    pub categories: Vec<String>,
    /// Recipients (the SMS gateway, …).
    #[serde(default)]
    pub recipients: Vec<String>,
    /// Retention per category (`consents`, `relationships`, …) as a duration (`24mo`).
    #[serde(default)]
    pub retention: BTreeMap<String, String>,
    /// Transfers outside the EEA (empty: none).
    #[serde(default)]
    pub transfers: Vec<String>,
    /// Where the data comes from.
    #[serde(default)]
    pub source: String,
}

/// A supervisory authority.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Authority {
    /// Its name.
    pub name: &'static str,
    /// Its web site.
    pub web: &'static str,
}

/// The supervisory authority of `country` (ISO code), for the four Nordic countries the
/// product serves.
pub fn authority(country: &str) -> Option<Authority> {
    Some(match country.to_ascii_uppercase().as_str() {
        "NO" => Authority { name: "Datatilsynet (Norway)", web: "https://www.datatilsynet.no" },
        "DK" => Authority { name: "Datatilsynet (Denmark)", web: "https://www.datatilsynet.dk" },
        "SE" => Authority { name: "Integritetsskyddsmyndigheten (IMY)", web: "https://www.imy.se" },
        "FI" => Authority {
            name: "Tietosuojavaltuutetun toimisto (Data Protection Ombudsman)",
            web: "https://tietosuoja.fi",
        },
        _ => return None,
    })
}

impl BrandRecord {
    /// What is wrong with the record (a bad legal basis, country or retention), if
    /// anything.
    pub fn problem(&self) -> Option<String> {
        if !self.country.is_empty() && authority(&self.country).is_none() {
            return Some(format!("country {:?}: expected NO, SE, DK or FI", self.country));
        }
        if let Some(p) =
            self.purposes.iter().find(|p| !LEGAL_BASES.contains(&p.legal_basis.as_str()))
        {
            return Some(format!(
                "purpose {:?}: legal basis {:?} is not one of {}",
                p.name,
                p.legal_basis,
                LEGAL_BASES.join(", ")
            ));
        }
        for (cat, d) in &self.retention {
            if let Err(e) = d.parse::<crate::duration::Duration>() {
                return Some(format!("retention of {cat}: {e}"));
            }
        }
        None
    }

    /// The record as a document a person (or the DPO) reads.
    pub fn to_text(&self, brand: &str) -> String {
        let or_none = |s: &str| if s.is_empty() { "(not set)".to_string() } else { s.to_string() };
        let list = |v: &[String]| if v.is_empty() { "none".to_string() } else { v.join("; ") };
        let mut t = format!("Record of processing: {brand}\n\n");
        t += &format!("Controller: {}\n", or_none(&self.controller));
        t += &format!("Data-protection officer: {}\n", or_none(&self.dpo));
        t += &format!("Country: {}", or_none(&self.country));
        if let Some(a) = authority(&self.country) {
            t += &format!(" (supervisory authority: {}, {})", a.name, a.web);
        }
        t += "\n\nPurposes:\n";
        if self.purposes.is_empty() {
            t += "  (none set)\n";
        }
        for p in &self.purposes {
            t += &format!("  {} ({}): {}\n", p.name, p.legal_basis, p.description);
        }
        t += &format!("\nCategories of data: {}\n", list(&self.categories));
        t += &format!("Source of the data: {}\n", or_none(&self.source));
        t += &format!("Recipients: {}\n", list(&self.recipients));
        t += "Retention:\n";
        if self.retention.is_empty() {
            t += "  (none set)\n";
        }
        for (c, d) in &self.retention {
            t += &format!("  {c}: {d}\n");
        }
        t += &format!("Transfers outside the EEA: {}\n", list(&self.transfers));
        t
    }
}

/// Every brand's record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Records {
    /// By brand name (canonical form).
    pub brands: BTreeMap<String, BrandRecord>,
}

impl Records {
    /// The record of `brand` (canonical comparison), if set.
    pub fn brand(&self, brand: &str) -> Option<&BrandRecord> {
        let b = crate::brand::normalize(brand);
        self.brands.get(&*b)
    }

    /// The file's text.
    pub fn to_text(&self) -> String {
        // Maps and vectors of strings always serialise.
        let json = serde_json::to_string(self).unwrap_or_else(|_| "{\"brands\":{}}".into());
        sealed::seal(MAGIC_LINE, &json)
    }

    /// Parses the file's text; `path` names it in errors.
    ///
    /// # Errors
    /// [`StoreError::Config`] for a wrong magic line, checksum or content.
    pub fn from_text(text: &str, path: &Path) -> Result<Records, StoreError> {
        let bad = |reason: String| StoreError::Config { path: path.into(), reason };
        let json = sealed::unseal(text, MAGIC_LINE).map_err(|e| match e {
            Unsealed::Magic => bad("not a sendfilter processing file (or a newer format)".into()),
            Unsealed::Damaged => {
                bad("checksum or format mismatch; set the records of processing again".into())
            }
        })?;
        let r: Records =
            serde_json::from_str(json).map_err(|_| bad("unreadable content".into()))?;
        if let Some((b, p)) = r.brands.iter().find_map(|(b, r)| r.problem().map(|p| (b, p))) {
            return Err(bad(format!("brand {b:?}: {p}")));
        }
        Ok(r)
    }
}

/// Reads the records of the store in `dir`; a missing file is none.
///
/// # Errors
/// [`StoreError::Config`] for a damaged file, I/O errors.
pub fn read(dir: &Path) -> Result<Records, StoreError> {
    let path = dir.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Records::from_text(&text, &path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Records::default()),
        Err(e) => Err(io("reading", &path)(e)),
    }
}

/// Replaces the records of the store in `dir` (whose lock the caller holds: see
/// [`crate::store::Store::set_processing`]): temp file, fsync, rename, directory fsync.
///
/// # Errors
/// [`StoreError::Config`] for an invalid record (nothing written), I/O errors.
pub(crate) fn write(dir: &Path, records: &Records) -> Result<(), StoreError> {
    let path = dir.join(FILE);
    let text = records.to_text();
    Records::from_text(&text, &path)?;
    durable::replace_file(&path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Records {
        let mut r = Records::default();
        r.brands.insert(
            "ACME".into(),
            BrandRecord {
                controller: "ACME AS, Oslo, privacy@acme.example".into(),
                dpo: "dpo@acme.example".into(),
                country: "NO".into(),
                purposes: vec![Purpose {
                    name: "offers".into(),
                    description: "Offers of our own products by SMS".into(),
                    legal_basis: "consent".into(),
                }],
                categories: vec!["phone number".into(), "consents".into()],
                recipients: vec!["SMS gateway (Example Gateway AS)".into()],
                retention: [
                    ("consents".into(), "24mo".into()),
                    ("relationships".into(), "3y".into()),
                ]
                .into(),
                transfers: vec![],
                source: "web shop sign-up".into(),
            },
        );
        r
    }

    #[test]
    fn round_trip_damage_validation_and_retention() {
        let r = sample();
        let path = Path::new("processing");
        assert_eq!(Records::from_text(&r.to_text(), path).unwrap(), r);
        let text = r.to_text();
        assert!(Records::from_text(&text.replacen("24mo", "25mo", 1), path).is_err());
        let mut bad = sample();
        bad.brands.get_mut("ACME").unwrap().purposes[0].legal_basis = "because".into();
        assert!(Records::from_text(&bad.to_text(), path).is_err());
        let mut bad = sample();
        bad.brands.get_mut("ACME").unwrap().country = "DE".into();
        assert!(Records::from_text(&bad.to_text(), path).is_err());
        let mut bad = sample();
        bad.brands.get_mut("ACME").unwrap().retention.insert("consents".into(), "24m".into());
        assert!(Records::from_text(&bad.to_text(), path).is_err());
        let doc = r.brand("ACME").unwrap().to_text("ACME");
        assert!(doc.contains("supervisory authority: Datatilsynet (Norway)"), "{doc}");
        assert!(doc.contains("offers (consent): Offers of our own products by SMS"), "{doc}");
        assert!(doc.contains("Transfers outside the EEA: none"), "{doc}");
    }

    #[test]
    fn authorities_per_country() {
        assert_eq!(authority("no").unwrap().name, "Datatilsynet (Norway)");
        assert_eq!(authority("DK").unwrap().name, "Datatilsynet (Denmark)");
        assert!(authority("SE").unwrap().name.contains("IMY"));
        assert!(authority("FI").unwrap().name.contains("Data Protection Ombudsman"));
        assert!(authority("DE").is_none());
    }
}
