//! Access answers a person can read (GDPR art. 15): an [`Export`] and the brands' records
//! of processing as a letter, in text or HTML, in Norwegian, Swedish, Danish, Finnish or
//! English. It carries every item art. 15 asks for: the data held (numbers, consents with
//! their evidence, stops, customer relationships, corrections, moves), purposes and legal
//! basis, source, recipients, retention per category, the rights (rectification, erasure,
//! objection, withdrawal of consent, complaint to the supervisory authority of the brand's
//! country) and whom to contact. What a brand has not recorded is said to be not recorded.

use std::collections::BTreeSet;

use super::export::{Export, ExportEvent};
use crate::store::processing::{self, BrandRecord, Records};

/// The language of a letter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Norwegian (bokmål).
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

impl Lang {
    /// Every language.
    pub const ALL: [Lang; 5] = [Lang::No, Lang::Sv, Lang::Da, Lang::Fi, Lang::En];

    /// The language of a country (ISO code): the person's default.
    pub fn of_country(country: &str) -> Lang {
        match country.to_ascii_uppercase().as_str() {
            "NO" => Lang::No,
            "SE" => Lang::Sv,
            "DK" => Lang::Da,
            "FI" => Lang::Fi,
            _ => Lang::En,
        }
    }

    /// The ISO 639-1 code (for HTML's `lang`).
    pub fn code(self) -> &'static str {
        match self {
            Lang::No => "nb",
            Lang::Sv => "sv",
            Lang::Da => "da",
            Lang::Fi => "fi",
            Lang::En => "en",
        }
    }
}

/// The letter's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// Plain text.
    Text,
    /// An HTML document.
    Html,
}

/// The words of a letter in one language.
#[allow(missing_docs)] // each field is the label its name says
pub struct Words {
    pub title: &'static str,
    pub intro: &'static str,
    pub made: &'static str,
    pub data: &'static str,
    pub numbers: &'static str,
    pub consents: &'static str,
    pub stops: &'static str,
    pub relationships: &'static str,
    pub corrections: &'static str,
    pub moves: &'static str,
    pub none: &'static str,
    pub granted: &'static str,
    pub confirmed: &'static str,
    pub expires: &'static str,
    pub method: &'static str,
    pub text_ref: &'static str,
    pub source: &'static str,
    pub every_brand: &'static str,
    pub purposes: &'static str,
    pub basis: &'static str,
    pub origin: &'static str,
    pub recipients: &'static str,
    pub retention: &'static str,
    pub stops_kept: &'static str,
    pub transfers: &'static str,
    pub rights: &'static str,
    pub r_access: &'static str,
    pub r_rectify: &'static str,
    pub r_erase: &'static str,
    pub r_object: &'static str,
    pub r_withdraw: &'static str,
    pub r_complain: &'static str,
    pub contact: &'static str,
    pub controller: &'static str,
    pub dpo: &'static str,
    pub not_recorded: &'static str,
    pub erased: &'static str,
    pub kept: &'static str,
    pub bases: [&'static str; 5],
}

const NO: Words = Words {
    title: "Innsyn: personopplysninger vi har om deg",
    intro: "Dette er svar på din forespørsel om innsyn (personvernforordningen artikkel 15).",
    made: "Laget",
    data: "Opplysninger vi har",
    numbers: "Telefonnumre",
    consents: "Samtykker",
    stops: "Reservasjoner (STOPP)",
    relationships: "Kundeforhold",
    corrections: "Rettelser",
    moves: "Nummerbytter",
    none: "ingen",
    granted: "gitt",
    confirmed: "bekreftet",
    expires: "utløper",
    method: "måte",
    text_ref: "samtykketekst",
    source: "kilde",
    every_brand: "alle avsendere",
    purposes: "Formål og rettslig grunnlag",
    basis: "rettslig grunnlag",
    origin: "Hvor opplysningene kommer fra",
    recipients: "Mottakere",
    retention: "Hvor lenge opplysningene lagres",
    stops_kept: "Reservasjoner lagres så lenge registeret finnes, slik at du ikke kontaktes igjen.",
    transfers: "Overføring utenfor EØS",
    rights: "Dine rettigheter",
    r_access: "Du har rett til innsyn i opplysningene (dette brevet).",
    r_rectify: "Du kan kreve uriktige opplysninger rettet.",
    r_erase: "Du kan kreve opplysningene slettet.",
    r_object: "Du kan når som helst protestere mot direkte markedsføring.",
    r_withdraw: "Du kan trekke tilbake samtykket når som helst, f.eks. ved å svare STOPP på en SMS.",
    r_complain: "Du kan klage til tilsynsmyndigheten",
    contact: "Kontakt",
    controller: "Behandlingsansvarlig",
    dpo: "Personvernombud",
    not_recorded: "ikke oppgitt",
    erased: "Nummeret ble slettet",
    kept: "Etter sletting beholder vi kun en nøkkelhash av nummeret, slik at reservasjonen gjelder for alltid.",
    bases: [
        "samtykke",
        "eksisterende kundeforhold",
        "avtale",
        "rettslig forpliktelse",
        "berettiget interesse",
    ],
};

const SV: Words = Words {
    title: "Registerutdrag: personuppgifter vi har om dig",
    intro: "Detta är svaret på din begäran om tillgång (dataskyddsförordningen artikel 15).",
    made: "Skapat",
    data: "Uppgifter vi har",
    numbers: "Telefonnummer",
    consents: "Samtycken",
    stops: "Avregistreringar (STOPP)",
    relationships: "Kundrelationer",
    corrections: "Rättelser",
    moves: "Nummerbyten",
    none: "inga",
    granted: "lämnat",
    confirmed: "bekräftat",
    expires: "upphör",
    method: "sätt",
    text_ref: "samtyckestext",
    source: "källa",
    every_brand: "alla avsändare",
    purposes: "Ändamål och rättslig grund",
    basis: "rättslig grund",
    origin: "Varifrån uppgifterna kommer",
    recipients: "Mottagare",
    retention: "Hur länge uppgifterna sparas",
    stops_kept: "Avregistreringar sparas så länge registret finns, så att du inte kontaktas igen.",
    transfers: "Överföring utanför EES",
    rights: "Dina rättigheter",
    r_access: "Du har rätt att få tillgång till uppgifterna (detta brev).",
    r_rectify: "Du kan begära att felaktiga uppgifter rättas.",
    r_erase: "Du kan begära att uppgifterna raderas.",
    r_object: "Du kan när som helst invända mot direktmarknadsföring.",
    r_withdraw: "Du kan när som helst återkalla ditt samtycke, t.ex. genom att svara STOPP på ett sms.",
    r_complain: "Du kan klaga till tillsynsmyndigheten",
    contact: "Kontakt",
    controller: "Personuppgiftsansvarig",
    dpo: "Dataskyddsombud",
    not_recorded: "inte angivet",
    erased: "Numret raderades",
    kept: "Efter radering behåller vi endast en nyckelhash av numret, så att avregistreringen gäller för alltid.",
    bases: [
        "samtycke",
        "befintlig kundrelation",
        "avtal",
        "rättslig förpliktelse",
        "berättigat intresse",
    ],
};

const DA: Words = Words {
    title: "Indsigt: personoplysninger vi har om dig",
    intro: "Dette er svaret på din anmodning om indsigt (databeskyttelsesforordningen artikel 15).",
    made: "Udarbejdet",
    data: "Oplysninger vi har",
    numbers: "Telefonnumre",
    consents: "Samtykker",
    stops: "Afmeldinger (STOP)",
    relationships: "Kundeforhold",
    corrections: "Rettelser",
    moves: "Nummerskift",
    none: "ingen",
    granted: "givet",
    confirmed: "bekræftet",
    expires: "udløber",
    method: "måde",
    text_ref: "samtykketekst",
    source: "kilde",
    every_brand: "alle afsendere",
    purposes: "Formål og retsgrundlag",
    basis: "retsgrundlag",
    origin: "Hvor oplysningerne kommer fra",
    recipients: "Modtagere",
    retention: "Hvor længe oplysningerne opbevares",
    stops_kept: "Afmeldinger opbevares, så længe registret findes, så du ikke kontaktes igen.",
    transfers: "Overførsel uden for EØS",
    rights: "Dine rettigheder",
    r_access: "Du har ret til indsigt i oplysningerne (dette brev).",
    r_rectify: "Du kan kræve forkerte oplysninger berigtiget.",
    r_erase: "Du kan kræve oplysningerne slettet.",
    r_object: "Du kan til enhver tid gøre indsigelse mod direkte markedsføring.",
    r_withdraw: "Du kan til enhver tid trække dit samtykke tilbage, f.eks. ved at svare STOP på en sms.",
    r_complain: "Du kan klage til tilsynsmyndigheden",
    contact: "Kontakt",
    controller: "Dataansvarlig",
    dpo: "Databeskyttelsesrådgiver",
    not_recorded: "ikke oplyst",
    erased: "Nummeret blev slettet",
    kept: "Efter sletning beholder vi kun en nøglehash af nummeret, så afmeldingen gælder for altid.",
    bases: [
        "samtykke",
        "eksisterende kundeforhold",
        "kontrakt",
        "retlig forpligtelse",
        "legitim interesse",
    ],
};

const FI: Words = Words {
    title: "Tarkastusoikeus: sinusta käsittelemämme henkilötiedot",
    intro: "Tämä on vastaus pyyntöösi saada pääsy tietoihisi (tietosuoja-asetuksen 15 artikla).",
    made: "Laadittu",
    data: "Tiedot, joita meillä on",
    numbers: "Puhelinnumerot",
    consents: "Suostumukset",
    stops: "Kiellot (LOPETA)",
    relationships: "Asiakassuhteet",
    corrections: "Oikaisut",
    moves: "Numeron vaihdot",
    none: "ei ole",
    granted: "annettu",
    confirmed: "vahvistettu",
    expires: "päättyy",
    method: "tapa",
    text_ref: "suostumusteksti",
    source: "lähde",
    every_brand: "kaikki lähettäjät",
    purposes: "Käsittelyn tarkoitukset ja oikeusperuste",
    basis: "oikeusperuste",
    origin: "Mistä tiedot ovat peräisin",
    recipients: "Vastaanottajat",
    retention: "Kuinka kauan tietoja säilytetään",
    stops_kept: "Kiellot säilytetään niin kauan kuin rekisteri on olemassa, jotta sinuun ei oteta uudelleen yhteyttä.",
    transfers: "Siirrot ETA-alueen ulkopuolelle",
    rights: "Oikeutesi",
    r_access: "Sinulla on oikeus saada pääsy tietoihisi (tämä kirje).",
    r_rectify: "Voit vaatia virheellisten tietojen oikaisemista.",
    r_erase: "Voit vaatia tietojen poistamista.",
    r_object: "Voit milloin tahansa vastustaa suoramarkkinointia.",
    r_withdraw: "Voit peruuttaa suostumuksesi milloin tahansa, esimerkiksi vastaamalla tekstiviestiin LOPETA.",
    r_complain: "Voit tehdä valituksen valvontaviranomaiselle",
    contact: "Yhteystiedot",
    controller: "Rekisterinpitäjä",
    dpo: "Tietosuojavastaava",
    not_recorded: "ei ilmoitettu",
    erased: "Numero poistettiin",
    kept: "Poistamisen jälkeen säilytämme vain numeron avaintiivisteen, jotta kielto on voimassa pysyvästi.",
    bases: [
        "suostumus",
        "olemassa oleva asiakassuhde",
        "sopimus",
        "lakisääteinen velvoite",
        "oikeutettu etu",
    ],
};

const EN: Words = Words {
    title: "Access request: the personal data we hold about you",
    intro: "This answers your request for access (GDPR article 15).",
    made: "Made",
    data: "The data we hold",
    numbers: "Phone numbers",
    consents: "Consents",
    stops: "Opt-outs (STOP)",
    relationships: "Customer relationships",
    corrections: "Corrections",
    moves: "Number changes",
    none: "none",
    granted: "given",
    confirmed: "confirmed",
    expires: "ends",
    method: "how",
    text_ref: "consent text",
    source: "source",
    every_brand: "every sender",
    purposes: "Purposes and legal basis",
    basis: "legal basis",
    origin: "Where the data comes from",
    recipients: "Recipients",
    retention: "How long the data is kept",
    stops_kept: "Opt-outs are kept while the register exists, so that you are not contacted again.",
    transfers: "Transfers outside the EEA",
    rights: "Your rights",
    r_access: "You have the right of access to the data (this letter).",
    r_rectify: "You may have wrong data corrected (rectification).",
    r_erase: "You may have the data erased.",
    r_object: "You may object to direct marketing at any time.",
    r_withdraw: "You may withdraw your consent at any time, for instance by replying STOP to a message.",
    r_complain: "You may complain to the supervisory authority",
    contact: "Contact",
    controller: "Controller",
    dpo: "Data-protection officer",
    not_recorded: "not recorded",
    erased: "The number was erased",
    kept: "After erasure we keep only a keyed hash of the number, so that the opt-out holds forever.",
    bases: [
        "consent",
        "existing customer relationship",
        "contract",
        "legal obligation",
        "legitimate interest",
    ],
};

/// The words of `lang`.
pub fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::No => &NO,
        Lang::Sv => &SV,
        Lang::Da => &DA,
        Lang::Fi => &FI,
        Lang::En => &EN,
    }
}

/// A legal basis in `w`'s language.
pub(super) fn basis(w: &Words, b: &str) -> String {
    processing::LEGAL_BASES
        .iter()
        .position(|x| *x == b)
        .map_or_else(|| b.to_string(), |i| w.bases[i].to_string())
}

/// A simple document: headings, paragraphs, lists; rendered as text or HTML.
struct Doc {
    form: Form,
    out: String,
}

impl Doc {
    /// A new document in `form`; an HTML one is started in `lang`, titled `title`.
    fn open(form: Form, lang: Lang, title: &str) -> Doc {
        let mut d = Doc { form, out: String::new() };
        if form == Form::Html {
            d.out += &format!(
                "<!DOCTYPE html>\n<html lang=\"{}\">\n<head><meta charset=\"utf-8\"><title>{}</title></head>\n<body>\n",
                lang.code(),
                d.esc(title)
            );
        }
        d
    }

    /// Ends the document (closes an HTML one) and returns its text.
    fn close(mut self) -> String {
        if self.form == Form::Html {
            self.out += "</body>\n</html>\n";
        }
        self.out
    }

    fn esc(&self, s: &str) -> String {
        match self.form {
            Form::Text => s.to_string(),
            Form::Html => s
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;"),
        }
    }

    fn h(&mut self, level: u8, s: &str) {
        let e = self.esc(s);
        match self.form {
            Form::Text => {
                let u = if level == 1 { '=' } else { '-' };
                self.out += &format!("\n{e}\n{}\n", u.to_string().repeat(s.chars().count()));
            }
            Form::Html => self.out += &format!("<h{level}>{e}</h{level}>\n"),
        }
    }

    fn p(&mut self, s: &str) {
        let e = self.esc(s);
        match self.form {
            Form::Text => self.out += &format!("{e}\n"),
            Form::Html => self.out += &format!("<p>{e}</p>\n"),
        }
    }

    fn list(&mut self, items: &[String], none: &str) {
        if items.is_empty() {
            self.p(&format!("({none})"));
            return;
        }
        match self.form {
            Form::Text => {
                for i in items {
                    self.out += &format!("  * {i}\n");
                }
            }
            Form::Html => {
                self.out += "<ul>\n";
                for i in items {
                    self.out += &format!("<li>{}</li>\n", self.esc(i));
                }
                self.out += "</ul>\n";
            }
        }
    }
}

/// The brands the export names (a stop for every brand names none).
pub(super) fn brands(e: &Export) -> BTreeSet<String> {
    e.events
        .iter()
        .filter_map(|ev| match ev {
            ExportEvent::Stop { brand, .. } if brand != "*" => Some(brand.clone()),
            ExportEvent::Consent { brand, .. } | ExportEvent::Relationship { brand, .. } => {
                Some(brand.clone())
            }
            _ => None,
        })
        .collect()
}

/// The letter for `e` in `lang` and `form`, with what the brands' `records` say
/// (the store's region `country` names the authority when a brand records none).
pub fn letter(e: &Export, records: &Records, country: &str, lang: Lang, form: Form) -> String {
    let l = Letter { w: words(lang), e, records, brands: brands(e) };
    let mut d = Doc::open(form, lang, l.w.title);
    l.intro(&mut d);
    l.data_held(&mut d);
    l.purposes(&mut d);
    l.origin(&mut d);
    l.recipients(&mut d);
    l.retention(&mut d);
    l.rights(&mut d, country);
    l.contact(&mut d);
    d.close()
}

/// What every section of a letter reads: its words, the export, and the brands the export
/// names with their records of processing.
struct Letter<'a> {
    w: &'static Words,
    e: &'a Export,
    records: &'a Records,
    brands: BTreeSet<String>,
}

impl Letter<'_> {
    /// Brand `b`'s record of processing (an empty one when it has none).
    fn rec(&self, b: &str) -> BrandRecord {
        self.records.brand(b).cloned().unwrap_or_else(BrandRecord::default)
    }

    /// `s`, or "not recorded" when it is empty.
    fn or_not_recorded(&self, s: String) -> String {
        if s.is_empty() { self.w.not_recorded.to_string() } else { s }
    }

    /// The title, what the letter answers and when it was made.
    fn intro(&self, d: &mut Doc) {
        d.h(1, self.w.title);
        d.p(self.w.intro);
        d.p(&format!("{}: {}", self.w.made, self.e.generated_at));
    }

    /// The data held: numbers, consents, stops, relationships, corrections and moves, one
    /// list each, and the erasure when the number was erased.
    fn data_held(&self, d: &mut Doc) {
        let w = self.w;
        d.h(2, w.data);
        let held = Held::of(w, self.e);
        let consents = self.consents();
        for (label, items) in [
            (w.numbers, &held.numbers),
            (w.consents, &consents),
            (w.stops, &held.stops),
            (w.relationships, &held.rels),
            (w.corrections, &held.corrs),
            (w.moves, &held.moves),
        ] {
            d.h(3, label);
            d.list(items, w.none);
        }
        if let Some(t) = &self.e.erased_at {
            d.p(&format!("{}: {t}. {}", w.erased, w.kept));
        }
    }

    /// Each consent held, with its times and its evidence as it reads now.
    fn consents(&self) -> Vec<String> {
        let w = self.w;
        let opt = |s: &Option<String>| s.clone().unwrap_or_else(|| w.not_recorded.to_string());
        self.e
            .consents
            .iter()
            .map(|c| {
                format!(
                    "{} / {} ({}): {} {}, {} {}, {} {}; {} {}, {} {}, {} {}",
                    c.brand,
                    c.purpose,
                    c.channel,
                    w.granted,
                    c.granted_at,
                    w.confirmed,
                    opt(&c.confirmed_at),
                    w.expires,
                    opt(&c.expires_at),
                    w.method,
                    c.evidence.method,
                    w.text_ref,
                    c.evidence.text_ref,
                    w.source,
                    c.evidence.source
                )
            })
            .collect()
    }

    /// Purposes and legal basis: each brand's purposes, or "not recorded".
    fn purposes(&self, d: &mut Doc) {
        let w = self.w;
        d.h(2, w.purposes);
        let mut items = Vec::new();
        for b in &self.brands {
            let r = self.rec(b);
            if r.purposes.is_empty() {
                items.push(format!("{b}: {}", w.not_recorded));
            }
            for p in &r.purposes {
                items.push(format!(
                    "{b} – {}: {} ({}: {})",
                    p.name,
                    p.description,
                    w.basis,
                    basis(w, &p.legal_basis)
                ));
            }
        }
        d.list(&items, w.none);
    }

    /// Where the data comes from: each brand's recorded source, then each consent's.
    fn origin(&self, d: &mut Doc) {
        d.h(2, self.w.origin);
        let mut items: Vec<String> = self
            .brands
            .iter()
            .map(|b| format!("{b}: {}", self.or_not_recorded(self.rec(b).source)))
            .collect();
        items.extend(
            self.e
                .consents
                .iter()
                .map(|c| format!("{} / {}: {}", c.brand, c.purpose, c.evidence.source)),
        );
        items.dedup();
        d.list(&items, self.w.none);
    }

    /// The recipients of each brand, then its transfers outside the EEA.
    fn recipients(&self, d: &mut Doc) {
        let w = self.w;
        d.h(2, w.recipients);
        let items: Vec<String> = self
            .brands
            .iter()
            .map(|b| {
                let r = self.rec(b).recipients;
                let r = if r.is_empty() { w.not_recorded.to_string() } else { r.join("; ") };
                format!("{b}: {r}")
            })
            .collect();
        d.list(&items, w.none);
        let items: Vec<String> = self
            .brands
            .iter()
            .map(|b| {
                let t = self.rec(b).transfers;
                format!("{b}: {}", if t.is_empty() { w.none.to_string() } else { t.join("; ") })
            })
            .collect();
        d.h(3, w.transfers);
        d.list(&items, w.none);
    }

    /// How long each category is kept per brand, and that stops are kept for good.
    fn retention(&self, d: &mut Doc) {
        let w = self.w;
        d.h(2, w.retention);
        let mut items = Vec::new();
        for b in &self.brands {
            let r = self.rec(b);
            if r.retention.is_empty() {
                items.push(format!("{b}: {}", w.not_recorded));
            }
            for (c, p) in &r.retention {
                items.push(format!("{b} – {c}: {p}"));
            }
        }
        d.list(&items, w.none);
        d.p(w.stops_kept);
    }

    /// The person's rights, ending with the supervisory authorities to complain to: each
    /// brand's country's, or the store's region `country`'s.
    fn rights(&self, d: &mut Doc, country: &str) {
        let w = self.w;
        d.h(2, w.rights);
        let mut authorities: Vec<String> = self
            .brands
            .iter()
            .map(|b| self.rec(b).country)
            .chain([country.to_string()])
            .filter_map(|c| processing::authority(&c))
            .map(|a| format!("{} ({})", a.name, a.web))
            .collect();
        authorities.dedup();
        authorities.truncate(self.brands.len().max(1));
        let complain = format!("{}: {}.", w.r_complain, authorities.join("; "));
        let items: Vec<String> = [w.r_access, w.r_rectify, w.r_erase, w.r_object, w.r_withdraw]
            .iter()
            .map(|s| s.to_string())
            .chain([complain])
            .collect();
        d.list(&items, w.none);
    }

    /// Whom to contact: each brand's controller and data-protection officer.
    fn contact(&self, d: &mut Doc) {
        let w = self.w;
        d.h(2, w.contact);
        let mut items = Vec::new();
        for b in &self.brands {
            let r = self.rec(b);
            items.push(format!("{b} – {}: {}", w.controller, self.or_not_recorded(r.controller)));
            items.push(format!("{b} – {}: {}", w.dpo, self.or_not_recorded(r.dpo)));
        }
        d.list(&items, w.none);
    }
}

/// The data held as the export's events tell it, one list of items per kind (consents
/// come from the export's current consents, see [`Letter::consents`]).
#[derive(Default)]
struct Held {
    /// The number asked about and every number a move names, sorted.
    numbers: Vec<String>,
    /// Stops: brand (or every brand) and when.
    stops: Vec<String>,
    /// Customer relationships: brand, kind and period.
    rels: Vec<String>,
    /// Corrections of consent evidence: which consent, when, what changed.
    corrs: Vec<String>,
    /// Number moves: from, to, when.
    moves: Vec<String>,
}

impl Held {
    /// Sorts `e`'s events into lists, labelled in `w`'s language.
    fn of(w: &Words, e: &Export) -> Held {
        let mut numbers: BTreeSet<String> = BTreeSet::from([e.number.clone()]);
        let mut held = Held::default();
        for ev in &e.events {
            match ev {
                ExportEvent::Stop { brand, stopped_at, .. } => {
                    let b = if brand == "*" { w.every_brand } else { brand };
                    held.stops.push(format!("{b}: {stopped_at}"));
                }
                ExportEvent::Consent { .. } | ExportEvent::Other { .. } => {}
                ExportEvent::Relationship {
                    brand,
                    relationship,
                    started_at,
                    last_purchase_at,
                    ends_at,
                    ..
                } => held.rels.push(format!(
                    "{brand}: {relationship}, {started_at}{}{}",
                    last_purchase_at.as_ref().map_or(String::new(), |t| format!(", {t}")),
                    ends_at.as_ref().map_or(String::new(), |t| format!(" – {t}"))
                )),
                ExportEvent::Correction {
                    corrects,
                    corrected_at,
                    method,
                    text_ref,
                    source,
                    ..
                } => {
                    let changed: Vec<String> =
                        [(w.method, method), (w.text_ref, text_ref), (w.source, source)]
                            .into_iter()
                            .filter_map(|(l, v)| v.as_ref().map(|v| format!("{l}: {v}")))
                            .collect();
                    held.corrs
                        .push(format!("#{corrects} ({corrected_at}): {}", changed.join(", ")));
                }
                ExportEvent::Move { from, to, moved_at, .. } => {
                    numbers.insert(from.clone());
                    numbers.insert(to.clone());
                    held.moves.push(format!("{from} → {to} ({moved_at})"));
                }
            }
        }
        held.numbers = numbers.into_iter().collect();
        held
    }
}
