//! The access answer for machines (`subject export --format json`): the export with every
//! art. 15 item the letter tells the person, taken from the brands' records of processing
//! (purposes and legal basis, categories, source, recipients, transfers, retention per
//! category, controller, DPO, supervisory authority) and the person's rights in their
//! language.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Export;
use super::letter::{Lang, basis, brands, words};
use crate::store::processing::{self, Authority, Records};

/// A purpose of processing, with its legal basis as a code and in words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PurposeAnswer {
    /// Its name (`offers`).
    pub name: String,
    /// Plain-language description.
    pub description: String,
    /// The legal basis (one of [`processing::LEGAL_BASES`]).
    pub legal_basis: String,
    /// The legal basis in the answer's language.
    pub legal_basis_text: String,
}

/// What one brand's record of processing says, for this person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BrandAnswer {
    /// False when the brand has no record of processing (every item below is then
    /// empty: not recorded).
    pub recorded: bool,
    /// Purposes and legal basis.
    pub purposes: Vec<PurposeAnswer>,
    /// Categories of personal data.
    pub categories: Vec<String>,
    /// Where the data comes from.
    pub source: Option<String>,
    /// Recipients.
    pub recipients: Vec<String>,
    /// Transfers outside the EEA (empty: none).
    pub transfers: Vec<String>,
    /// Retention per category (`consents`: `24mo`).
    pub retention: BTreeMap<String, String>,
    /// The controller and its contact.
    pub controller: Option<String>,
    /// The data-protection officer's contact.
    pub dpo: Option<String>,
    /// The supervisory authority the person may complain to (the brand's country, else
    /// the store's).
    pub supervisory_authority: Option<Authority>,
}

/// The export with the art. 15 items of the records of processing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AccessAnswer<'a> {
    /// The data held.
    #[serde(flatten)]
    pub export: &'a Export,
    /// The language of the texts below (`nb`, `sv`, `da`, `fi`, `en`).
    pub lang: &'static str,
    /// Per brand the person has data with: what its record of processing says.
    pub processing: BTreeMap<String, BrandAnswer>,
    /// The person's rights: access, rectification, erasure, objection, withdrawal of
    /// consent, complaint to the supervisory authority.
    pub rights: Vec<String>,
    /// What retention keeps (stops).
    pub stops_kept: &'static str,
}

fn some(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// The access answer for `e`, from `records`, in `lang`; `country` is the store's (the
/// supervisory authority of brands without a country).
pub fn access_answer<'a>(
    e: &'a Export,
    records: &Records,
    country: &str,
    lang: Lang,
) -> AccessAnswer<'a> {
    let w = words(lang);
    let processing = brands(e)
        .into_iter()
        .map(|b| {
            let r = records.brand(&b).cloned();
            let recorded = r.is_some();
            let r = r.unwrap_or_default();
            let c = if r.country.is_empty() { country } else { r.country.as_str() };
            let a = BrandAnswer {
                recorded,
                purposes: r
                    .purposes
                    .iter()
                    .map(|p| PurposeAnswer {
                        name: p.name.clone(),
                        description: p.description.clone(),
                        legal_basis: p.legal_basis.clone(),
                        legal_basis_text: basis(w, &p.legal_basis),
                    })
                    .collect(),
                categories: r.categories.clone(),
                source: some(&r.source),
                recipients: r.recipients.clone(),
                transfers: r.transfers.clone(),
                retention: r.retention.clone(),
                controller: some(&r.controller),
                dpo: some(&r.dpo),
                supervisory_authority: processing::authority(c),
            };
            (b, a)
        })
        .collect();
    AccessAnswer {
        export: e,
        lang: lang.code(),
        processing,
        rights: [w.r_access, w.r_rectify, w.r_erase, w.r_object, w.r_withdraw, w.r_complain]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        stops_kept: w.stops_kept,
    }
}
