//! The brand registry: which brand answers to which keyword on which short code, the
//! purpose and consent text a `BRAND START` records, the reply language, per-brand reply
//! templates, and the opt-out route per country ([`Route`]: short codes are national, so
//! a Danish number cannot reply to a Norwegian short code).
//!
//! Stored as the file `brands` in the store directory (0600):
//! ```text
//! sendfilter-brands 1
//! {"brands":[{"name":"ACME","shortcode":"2401","keyword":"acme",…}]}
//! check <xxh3-64 of the lines above, hex>
//! ```
//! It is written like the store's other metadata: `brands.tmp`, fsync, rename, directory
//! fsync, and only while holding the store's lock (saving takes an open [`Store`]).
//! Reading ([`Registry::load`]) takes no lock, so `filter` can read it while another
//! process writes: the rename makes every read see one whole version.
//!
//! ```
//! use sendfilter::store::{Store, brands::{Brand, Registry}};
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path())?;
//! let mut reg = Registry::load(dir.path())?;
//! reg.add(Brand::new("ACME", "2401"))?;
//! reg.save(&store)?;
//! let reg = Registry::load(dir.path())?;
//! assert_eq!(reg.get("ACME").unwrap().shortcode, "2401");
//! assert_eq!(reg.on_shortcode("2401").count(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::keyword::{self, MAX_WORDS};
use crate::phone::Region;
use crate::store::error::io;
use crate::store::sealed::{self, Unsealed};
use crate::store::{Store, StoreError, durable};

/// File name of the registry inside the store directory.
pub const FILE: &str = "brands";
const MAGIC_LINE: &str = "sendfilter-brands 1";
/// Longest accepted reply template, in characters.
pub const MAX_TEMPLATE: usize = 640;

/// A reply language.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Norwegian (bokmål).
    #[default]
    No,
    /// Swedish.
    Sv,
    /// Danish.
    Da,
    /// Finnish.
    Fi,
    /// English.
    En,
}

impl Language {
    /// The two-letter code (`no`, `sv`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Language::No => "no",
            Language::Sv => "sv",
            Language::Da => "da",
            Language::Fi => "fi",
            Language::En => "en",
        }
    }

    /// The language of a region's default footer and replies (`NO`→no, `SE`→sv, `DK`→da,
    /// `FI`→fi, anything else en).
    pub fn of_region(region: Region) -> Language {
        match region.as_str() {
            "NO" => Language::No,
            "SE" => Language::Sv,
            "DK" => Language::Da,
            "FI" => Language::Fi,
            _ => Language::En,
        }
    }

    /// The region whose default footer wording is in this language (`en` → `GB`).
    pub fn footer_region(self) -> Region {
        let code = match self {
            Language::No => "NO",
            Language::Sv => "SE",
            Language::Da => "DK",
            Language::Fi => "FI",
            Language::En => "GB",
        };
        // The five codes are fixed, valid ISO codes; fall back to NO defensively.
        code.parse().unwrap_or(Region::NO)
    }
}

impl std::str::FromStr for Language {
    type Err = String;
    fn from_str(s: &str) -> Result<Language, String> {
        match s.to_ascii_lowercase().as_str() {
            "no" | "nb" | "nn" => Ok(Language::No),
            "sv" | "se" => Ok(Language::Sv),
            "da" | "dk" => Ok(Language::Da),
            "fi" => Ok(Language::Fi),
            "en" => Ok(Language::En),
            _ => Err(format!("unknown language {s:?}: use no, sv, da, fi or en")),
        }
    }
}

/// The kinds of automatic reply a brand can override.
pub const REPLY_KINDS: &[&str] = &["stop", "start", "confirm", "help", "unknown", "review"];

/// One registered brand.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Brand {
    /// The brand name as used in events and `filter --brand`.
    pub name: String,
    /// The short code or long number receiving its replies (spaces and dashes removed).
    pub shortcode: String,
    /// The brand word people text (folded, see [`keyword::fold`]); defaults to the name.
    pub keyword: String,
    /// Whether the brand owns the number alone: then a message without a brand word is
    /// about this brand.
    pub dedicated: bool,
    /// The consent purpose a `BRAND START` records.
    pub purpose: String,
    /// The consent text reference a `BRAND START` records, if configured.
    pub consent_text_ref: Option<String>,
    /// Reply and footer language.
    pub language: Language,
    /// Reply template overrides by kind (`stop`, `start`, `confirm`, `help`, `unknown`).
    #[serde(default)]
    pub replies: BTreeMap<String, String>,
    /// Opt-out route per country (ISO code, e.g. `DK`). A country not listed here gets
    /// `shortcode` (in `language`) only when it is the run's first region (see
    /// [`Brand::routes_for`]); registries written before routes existed load unchanged.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub routes: BTreeMap<String, Route>,
}

/// Where a person in one country sends an opt-out: a short code of that country (3 to 8
/// digits) or an international number in E.164 (`+4570202020`) that any network reaches,
/// with the footer language used there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// The short code or E.164 number.
    pub number: String,
    /// The footer (and reply) language in that country.
    pub language: Language,
}

/// Checks and normalises an opt-out route number: a short code of 3 to 8 digits, or an
/// E.164 number (`+` and a number valid by the numbering plan). Spaces, dashes, dots and
/// brackets are removed first (`24 01` → `2401`).
///
/// # Errors
/// [`BrandError::Invalid`] saying what a route must be.
///
/// ```
/// use sendfilter::store::brands::check_route_number;
/// assert_eq!(check_route_number("24 01").unwrap(), "2401");
/// assert_eq!(check_route_number("+45 70 20 20 20").unwrap(), "+4570202020");
/// assert!(check_route_number("abc def").is_err());
/// assert!(check_route_number("123456789").is_err());
/// ```
pub fn check_route_number(s: &str) -> Result<String, BrandError> {
    let n = normalize_shortcode(s);
    let bad = || {
        BrandError::Invalid(format!(
            "{s:?} is not an opt-out route: give a short code of 3 to 8 digits (2401) or an \
             international number in E.164 (+4570202020)"
        ))
    };
    match n.strip_prefix('+') {
        Some(digits) => {
            let e = crate::phone::normalize(n.as_bytes(), Region::NO).map_err(|_| bad())?;
            (e.as_u64().to_string() == digits).then_some(n).ok_or_else(bad)
        }
        None if (3..=8).contains(&n.len()) && n.bytes().all(|c| c.is_ascii_digit()) => Ok(n),
        None => Err(bad()),
    }
}

impl Brand {
    /// The brand's opt-out routes for a run whose first region is `first`: every country
    /// in [`Brand::routes`], and `first` with the brand's `shortcode` (in its `language`)
    /// when no route names it (how a registry from before routes reads).
    pub fn routes_for(&self, first: Region) -> Vec<(Region, Route)> {
        let mut out: Vec<(Region, Route)> =
            self.routes.iter().filter_map(|(c, r)| Some((c.parse().ok()?, r.clone()))).collect();
        if !out.iter().any(|(c, _)| *c == first) {
            out.insert(
                0,
                (first, Route { number: self.shortcode.clone(), language: self.language }),
            );
        }
        out
    }
}

impl Brand {
    /// A brand with defaults: keyword = name, shared number, purpose `offers`, no consent
    /// text reference, Norwegian.
    pub fn new(name: &str, shortcode: &str) -> Brand {
        Brand {
            name: name.to_string(),
            shortcode: normalize_shortcode(shortcode),
            keyword: keyword::fold(name),
            dedicated: false,
            purpose: "offers".to_string(),
            consent_text_ref: None,
            language: Language::No,
            replies: BTreeMap::new(),
            routes: BTreeMap::new(),
        }
    }
}

/// Why a registry change or file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrandError {
    /// Reading or writing the file failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The file is damaged or not a registry.
    #[error("brand registry {} is invalid: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A brand or change that cannot be accepted.
    #[error("{0}")]
    Invalid(String),
}

/// Removes spaces, dashes and dots from a short code or number (`24 01` → `2401`).
pub fn normalize_shortcode(s: &str) -> String {
    s.chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '\t' | '(' | ')')).collect()
}

fn check_text(what: &str, s: &str, max: usize) -> Result<(), BrandError> {
    if s.trim().is_empty() {
        return Err(BrandError::Invalid(format!("{what} is empty")));
    }
    if s.chars().count() > max || s.chars().any(char::is_control) {
        return Err(BrandError::Invalid(format!(
            "{what} must be at most {max} characters without control characters"
        )));
    }
    Ok(())
}

/// Checks a reply template: bounded, no control characters, only `{brand}` and
/// `{shortcode}` placeholders.
///
/// # Errors
/// [`BrandError::Invalid`] saying what is wrong.
pub fn check_template(t: &str) -> Result<(), BrandError> {
    check_text("reply template", t, MAX_TEMPLATE)?;
    let mut rest = t;
    while let Some(i) = rest.find('{') {
        rest = &rest[i + 1..];
        let end = rest.find('}').unwrap_or(rest.len());
        let name = &rest[..end];
        if name != "brand" && name != "shortcode" {
            return Err(BrandError::Invalid(format!(
                "reply template has {{{name}}}: only {{brand}} and {{shortcode}} are filled in"
            )));
        }
    }
    Ok(())
}

/// The brand registry (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registry {
    brands: Vec<Brand>,
}

impl Registry {
    /// Reads the registry of the store in `dir` without taking the store's lock; an absent
    /// file is an empty registry.
    ///
    /// # Errors
    /// [`BrandError::Corrupt`] for a damaged file, I/O errors.
    pub fn load(dir: impl AsRef<Path>) -> Result<Registry, BrandError> {
        let path = dir.as_ref().join(FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Registry::default()),
            Err(e) => return Err(io("reading", &path)(e).into()),
        };
        let bad = |reason: &str| BrandError::Corrupt { path: path.clone(), reason: reason.into() };
        let json = sealed::unseal(&text, MAGIC_LINE).map_err(|e| match e {
            Unsealed::Magic => bad("not a sendfilter brand registry (version 1)"),
            Unsealed::Damaged => {
                bad("checksum mismatch; restore it from a backup or re-add the brands")
            }
        })?;
        let mut reg: Registry =
            serde_json::from_str(json).map_err(|e| bad(&format!("bad JSON ({e})")))?;
        // Names saved before they were canonical (" ACME ") are read in canonical form, so
        // that inbound records events under the one spelling the store holds.
        for b in &mut reg.brands {
            if let Ok(c) = crate::brand::canonical(&b.name) {
                b.name = c.into_owned();
            }
        }
        for b in &reg.brands {
            reg.check(b, Some(&b.name)).map_err(|e| bad(&e.to_string()))?;
        }
        Ok(reg)
    }

    /// Writes the registry into `store`'s directory atomically (temp file, fsync, rename,
    /// directory fsync). Holding the open store proves the caller has its lock.
    ///
    /// # Errors
    /// I/O errors; the old file then stays.
    pub fn save(&self, store: &Store) -> Result<(), BrandError> {
        let json = serde_json::to_string(self)
            .map_err(|e| BrandError::Invalid(format!("cannot encode registry ({e})")))?;
        let text = sealed::seal(MAGIC_LINE, &json);
        durable::replace_file(&store.dir().join(FILE), text.as_bytes())?;
        Ok(())
    }

    /// Every brand, in the order added.
    pub fn brands(&self) -> &[Brand] {
        &self.brands
    }

    /// The brand named `name` (exact).
    pub fn get(&self, name: &str) -> Option<&Brand> {
        let name = crate::brand::normalize(name);
        self.brands.iter().find(|b| b.name == name)
    }

    /// The brand named `name`, mutable.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Brand> {
        let name = crate::brand::normalize(name);
        self.brands.iter_mut().find(|b| b.name == name)
    }

    /// The brands receiving replies on `shortcode` (normalised before comparing).
    pub fn on_shortcode<'a>(&'a self, shortcode: &str) -> impl Iterator<Item = &'a Brand> + 'a {
        let sc = normalize_shortcode(shortcode);
        self.brands.iter().filter(move |b| b.shortcode == sc)
    }

    /// The brand whose keyword is `word` (folded) on `shortcode`, if any.
    pub fn by_keyword(&self, shortcode: &str, word: &str) -> Option<&Brand> {
        let w = keyword::fold(word);
        self.on_shortcode(shortcode).find(|b| b.keyword == w)
    }

    /// Brands (on any number) whose keyword is `word` (folded).
    pub fn by_keyword_anywhere<'a>(&'a self, word: &str) -> impl Iterator<Item = &'a Brand> + 'a {
        let w = keyword::fold(word);
        self.brands.iter().filter(move |b| b.keyword == w)
    }

    fn check(&self, b: &Brand, replacing: Option<&str>) -> Result<(), BrandError> {
        check_text("brand name", &b.name, 64)?;
        if b.name == crate::store::event::EVERY_BRAND {
            return Err(BrandError::Invalid(
                "`*` means every brand; it cannot be registered".into(),
            ));
        }
        let sc = b.shortcode.strip_prefix('+').unwrap_or(&b.shortcode);
        if !(3..=15).contains(&sc.len()) || !sc.bytes().all(|c| c.is_ascii_digit()) {
            return Err(BrandError::Invalid(format!(
                "short code {:?} must be 3 to 15 digits (a long number may start with +)",
                b.shortcode
            )));
        }
        let words: Vec<&str> = b.keyword.split(' ').collect();
        if b.keyword.is_empty() || b.keyword != keyword::fold(&b.keyword) {
            return Err(BrandError::Invalid(format!(
                "keyword {:?} must be letters or digits (it is compared folded)",
                b.keyword
            )));
        }
        if words.len() >= MAX_WORDS
            || words.iter().any(|w| keyword::keyword_of(w).is_some())
            || keyword::keyword_of(&words.concat()).is_some()
        {
            return Err(BrandError::Invalid(format!(
                "keyword {:?} is reserved or too long: it must not contain STOP/START/JA/HELP \
                 words and have at most {} words",
                b.keyword,
                MAX_WORDS - 1
            )));
        }
        check_text("purpose", &b.purpose, 1024)?;
        if let Some(r) = &b.consent_text_ref {
            check_text("consent text reference", r, 1024)?;
        }
        for (country, r) in &b.routes {
            if country.parse::<Region>().map(|c| c.as_str() != country).unwrap_or(true) {
                return Err(BrandError::Invalid(format!(
                    "route country {country:?} must be an ISO code such as DK"
                )));
            }
            if check_route_number(&r.number).ok().as_deref() != Some(r.number.as_str()) {
                return Err(BrandError::Invalid(format!(
                    "route {:?} for {country} must be a short code of 3 to 8 digits or an \
                     E.164 number",
                    r.number
                )));
            }
        }
        for (kind, t) in &b.replies {
            if !REPLY_KINDS.contains(&kind.as_str()) {
                return Err(BrandError::Invalid(format!(
                    "reply kind {kind:?}: use one of {}",
                    REPLY_KINDS.join(", ")
                )));
            }
            check_template(t)?;
        }
        for o in self.brands.iter().filter(|o| Some(o.name.as_str()) != replacing) {
            if o.name == b.name {
                return Err(BrandError::Invalid(format!("brand {} is already registered", b.name)));
            }
            if o.shortcode != b.shortcode {
                continue;
            }
            if o.keyword == b.keyword {
                return Err(BrandError::Invalid(format!(
                    "keyword {:?} is already used by {} on {}",
                    b.keyword, o.name, b.shortcode
                )));
            }
            if o.dedicated || b.dedicated {
                let owner = if o.dedicated { &o.name } else { &b.name };
                return Err(BrandError::Invalid(format!(
                    "{} is dedicated to {owner}: a dedicated number has one brand",
                    b.shortcode
                )));
            }
        }
        Ok(())
    }

    /// Adds a brand after checking it: a name that can be canonical (stored in canonical
    /// form, see [`crate::brand::canonical`]), short code and keyword (not a STOP/
    /// START/JA/HELP word), unique name, unique keyword per short code, a dedicated number
    /// holds one brand only, valid reply templates.
    ///
    /// # Errors
    /// [`BrandError::Invalid`] saying what is wrong; the registry is unchanged.
    pub fn add(&mut self, mut brand: Brand) -> Result<(), BrandError> {
        brand.name = crate::brand::canonical(&brand.name)
            .map_err(|e| BrandError::Invalid(e.to_string()))?
            .into_owned();
        brand.shortcode = normalize_shortcode(&brand.shortcode);
        brand.keyword = keyword::fold(&brand.keyword);
        self.check(&brand, None)?;
        self.brands.push(brand);
        Ok(())
    }

    /// Sets (or, with `None`, removes) the reply template of `kind` for brand `name`.
    ///
    /// # Errors
    /// [`BrandError::Invalid`] for an unknown brand or kind, or a bad template.
    pub fn set_reply(
        &mut self,
        name: &str,
        kind: &str,
        template: Option<&str>,
    ) -> Result<(), BrandError> {
        let mut b = self
            .get(name)
            .cloned()
            .ok_or_else(|| BrandError::Invalid(format!("no brand named {name}")))?;
        match template {
            Some(t) => b.replies.insert(kind.to_string(), t.to_string()),
            None => b.replies.remove(kind),
        };
        let name = b.name.clone();
        self.check(&b, Some(&name))?;
        if let Some(slot) = self.get_mut(&name) {
            *slot = b;
        }
        Ok(())
    }

    /// Changes brand `name` with `change` (its reply overrides and routes stay unless
    /// `change` touches them), then checks it as [`Registry::add`] does.
    ///
    /// # Errors
    /// [`BrandError::Invalid`] for an unknown brand or a change that cannot be accepted;
    /// the registry is then unchanged.
    pub fn update(
        &mut self,
        name: &str,
        change: impl FnOnce(&mut Brand),
    ) -> Result<(), BrandError> {
        let mut b = self
            .get(name)
            .cloned()
            .ok_or_else(|| BrandError::Invalid(format!("no brand named {name}")))?;
        let stored = b.name.clone();
        change(&mut b);
        b.name = stored; // a change never renames
        b.shortcode = normalize_shortcode(&b.shortcode);
        b.keyword = keyword::fold(&b.keyword);
        self.check(&b, Some(&b.name))?;
        if let Some(slot) = self.get_mut(name) {
            *slot = b;
        }
        Ok(())
    }

    /// Sets (or, with `None`, removes) brand `name`'s opt-out route for `country`:
    /// `number` is checked by [`check_route_number`]; `language` defaults to the country's.
    ///
    /// # Errors
    /// [`BrandError::Invalid`] for an unknown brand or a bad number.
    pub fn set_route(
        &mut self,
        name: &str,
        country: Region,
        route: Option<(&str, Option<Language>)>,
    ) -> Result<(), BrandError> {
        let route = match route {
            Some((n, lang)) => Some(Route {
                number: check_route_number(n)?,
                language: lang.unwrap_or(Language::of_region(country)),
            }),
            None => None,
        };
        self.update(name, |b| match route {
            Some(r) => {
                b.routes.insert(country.as_str().to_string(), r);
            }
            None => {
                b.routes.remove(country.as_str());
            }
        })
    }

    /// Removes brand `name`; returns whether it was there.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.brands.len();
        let name = crate::brand::normalize(name);
        self.brands.retain(|b| b.name != name);
        before != self.brands.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg() -> Registry {
        let mut r = Registry::default();
        r.add(Brand::new("ACME", "24 01")).unwrap();
        r.add(Brand::new("Beta", "2401")).unwrap();
        r
    }

    #[test]
    fn lookups_fold_and_normalize() {
        let r = reg();
        assert_eq!(r.on_shortcode("2401").count(), 2);
        assert_eq!(r.by_keyword("24-01", "ACME").unwrap().name, "ACME");
        assert_eq!(r.by_keyword("2401", "béta").unwrap().name, "Beta");
        assert!(r.by_keyword("2402", "acme").is_none());
    }

    #[test]
    fn refuses_bad_brands() {
        let mut r = reg();
        let cases = [
            Brand::new("ACME", "2402"),
            Brand::new("*", "2402"),
            Brand::new("", "2402"),
            Brand::new("Stop", "2402"),
            Brand::new("Acme Stop", "2402"),
            Brand::new("X", "24"),
            Brand::new("X", "24a1"),
            Brand { keyword: "acme".into(), ..Brand::new("Other", "2401") },
            Brand { dedicated: true, ..Brand::new("Gamma", "2401") },
            Brand { purpose: " ".into(), ..Brand::new("Gamma", "2409") },
        ];
        for b in cases {
            let name = b.name.clone();
            assert!(r.add(b).is_err(), "{name}");
        }
        r.add(Brand { dedicated: true, ..Brand::new("Solo", "+4790000000") }).unwrap();
        assert!(r.add(Brand::new("Second", "+47 900 00 000")).is_err());
        assert_eq!(r.brands().len(), 3);
    }

    #[test]
    fn templates_are_checked() {
        let mut r = reg();
        assert!(r.set_reply("ACME", "stop", Some("Bye from {brand} ({shortcode})")).is_ok());
        assert!(r.set_reply("ACME", "stop", Some("Bye {name}")).is_err());
        assert!(r.set_reply("ACME", "nope", Some("x")).is_err());
        // The REVIEW reply (free text queued for a human) can be worded by the brand too.
        assert!(
            r.set_reply("ACME", "review", Some("{brand}: takk! Svar STOPP til {shortcode}"))
                .is_ok()
        );
        assert!(r.set_reply("Nobody", "stop", Some("x")).is_err());
        assert!(r.set_reply("ACME", "stop", Some("a\nb")).is_err());
        assert_eq!(r.get("ACME").unwrap().replies["stop"], "Bye from {brand} ({shortcode})");
        r.set_reply("ACME", "stop", None).unwrap();
        r.set_reply("ACME", "review", None).unwrap();
        assert!(r.get("ACME").unwrap().replies.is_empty());
    }

    #[test]
    fn save_load_round_trip_private_and_checksummed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(Registry::load(dir.path()).unwrap(), Registry::default());
        let mut r = reg();
        r.set_reply("Beta", "help", Some("Hjelp: {brand}")).unwrap();
        r.save(&store).unwrap();
        assert_eq!(Registry::load(dir.path()).unwrap(), r);
        let path = dir.path().join(FILE);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(!dir.path().join("brands.tmp").exists());
        // Any flipped byte is caught.
        let bytes = std::fs::read(&path).unwrap();
        for i in [0, 5, 25, bytes.len() / 2, bytes.len() - 3] {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            std::fs::write(&path, &b).unwrap();
            assert!(Registry::load(dir.path()).is_err(), "flip at {i}");
        }
        std::fs::write(&path, b"").unwrap();
        assert!(Registry::load(dir.path()).is_err());
    }

    #[test]
    fn routes_per_country_and_old_files() {
        let mut r = reg();
        let dk: Region = "DK".parse().unwrap();
        r.set_route("ACME", dk, Some(("+45 70 20 20 20", None))).unwrap();
        assert!(r.set_route("ACME", dk, Some(("abc def", None))).is_err());
        assert!(r.set_route("ACME", dk, Some(("123456789", None))).is_err());
        assert!(r.set_route("Nobody", dk, Some(("2401", None))).is_err());
        let b = r.get("ACME").unwrap();
        let routes = b.routes_for(Region::NO);
        assert_eq!(routes.len(), 2);
        assert_eq!((routes[0].0, routes[0].1.number.as_str()), (Region::NO, "2401"));
        assert_eq!((routes[1].0, routes[1].1.number.as_str()), (dk, "+4570202020"));
        assert_eq!(routes[1].1.language, Language::Da);
        // A route for the first region wins over the brand's short code.
        let routes = b.routes_for(dk);
        assert_eq!(routes.len(), 1);
        // A file written before routes existed loads, with the short code as the route.
        let old = r#"{"brands":[{"name":"ACME","shortcode":"2401","keyword":"acme","dedicated":false,"purpose":"offers","consent_text_ref":null,"language":"no","replies":{"stop":"Bye"}}]}"#;
        let reg: Registry = serde_json::from_str(old).unwrap();
        let b = reg.get("ACME").unwrap();
        assert!(b.routes.is_empty());
        assert_eq!(b.routes_for(Region::NO)[0].1.number, "2401");
    }

    #[test]
    fn update_keeps_replies_and_checks() {
        let mut r = reg();
        r.set_reply("ACME", "stop", Some("Bye {brand}")).unwrap();
        r.update("ACME", |b| {
            b.shortcode = "2402".into();
            b.language = Language::Sv;
        })
        .unwrap();
        let b = r.get("ACME").unwrap();
        assert_eq!((b.shortcode.as_str(), b.language), ("2402", Language::Sv));
        assert_eq!(b.replies["stop"], "Bye {brand}");
        // Checked like add: Beta's keyword on Beta's number is taken.
        assert!(
            r.update("ACME", |b| {
                b.shortcode = "2401".into();
                b.keyword = "beta".into();
            })
            .is_err()
        );
        assert_eq!(r.get("ACME").unwrap().shortcode, "2402");
        assert!(r.update("Nobody", |_| {}).is_err());
    }

    #[test]
    fn languages_parse() {
        assert_eq!("SV".parse::<Language>().unwrap(), Language::Sv);
        assert!("de".parse::<Language>().is_err());
        assert_eq!(Language::of_region(Region::NO), Language::No);
        assert_eq!(Language::Sv.footer_region().as_str(), "SE");
        assert_eq!(Language::En.footer_region().as_str(), "GB");
    }
}
