//! Automatic replies: built-in templates per language, per-brand overrides from the
//! registry, `{brand}` and `{shortcode}` filled in.
//!
//! ```
//! use sendfilter::inbound::reply::{Kind, render};
//! use sendfilter::store::brands::Language;
//! let text = render(Kind::Stop, Language::En, None, "ACME", "2401");
//! assert!(text.contains("ACME"));
//! ```

use crate::store::brands::Language;

/// Which reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// After an opt-out.
    Stop,
    /// After an opt-in (`BRAND START`).
    Start,
    /// After a confirmed double opt-in (`JA`).
    Confirm,
    /// On `HELP` (and on a `JA` with nothing to confirm).
    Help,
    /// On anything not understood.
    Unknown,
    /// On a reply queued for a human (`REVIEW`): received, and how to stop.
    Review,
    /// The standing after a `HELP` or a `JA` with nothing pending, when `filter` allows
    /// the number: subscribed, and how to stop. Built-in only (no registry override).
    Subscribed,
    /// The standing after a `START`, `JA` or `HELP` when `filter` does not allow the
    /// number (never subscribed, stopped, a `START` that does not lift a newer stop,
    /// expired): not subscribed, and how to subscribe. Built-in only.
    Unsubscribed,
    /// The standing when the only thing missing is a confirmation the store's policy
    /// requires (double opt-in): pending, how to confirm and how to stop. Built-in only.
    Pending,
}

impl Kind {
    /// The name used in the registry (`stop`, `start`, `confirm`, `help`, `unknown`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Stop => "stop",
            Kind::Start => "start",
            Kind::Confirm => "confirm",
            Kind::Help => "help",
            Kind::Unknown => "unknown",
            Kind::Review => "review",
            Kind::Subscribed => "subscribed",
            Kind::Unsubscribed => "unsubscribed",
            Kind::Pending => "pending",
        }
    }
}

/// The built-in template for `kind` in `lang`. Every opt-in reply says how to leave, as
/// the sources require; the stop reply confirms and is free of any marketing.
pub fn default_template(kind: Kind, lang: Language) -> &'static str {
    use Kind::*;
    use Language::*;
    match (lang, kind) {
        (No, Subscribed) => {
            "{brand}: Du får SMS-tilbud. Svar {keyword} STOPP til {shortcode} for å melde deg av. \
             Gratis."
        }
        (No, Unsubscribed) => {
            "{brand}: Du er ikke påmeldt og får ingen SMS-tilbud. Svar {keyword} START til \
             {shortcode} for å melde deg på. Gratis."
        }
        (No, Pending) => {
            "{brand}: Påmeldingen venter på bekreftelse. Svar JA til {shortcode} for å bekrefte, \
             {keyword} STOPP for å melde deg av. Gratis."
        }
        (Sv, Subscribed) => {
            "{brand}: Du får SMS-erbjudanden. Svara {keyword} STOPP till {shortcode} för att \
             avsluta. Gratis."
        }
        (Sv, Unsubscribed) => {
            "{brand}: Du är inte registrerad och får inga SMS-erbjudanden. Svara {keyword} START \
             till {shortcode} för att registrera dig. Gratis."
        }
        (Sv, Pending) => {
            "{brand}: Din registrering väntar på bekräftelse. Svara JA till {shortcode} för att \
             bekräfta, {keyword} STOPP för att avsluta. Gratis."
        }
        (Da, Subscribed) => {
            "{brand}: Du modtager SMS-tilbud. Send {keyword} STOP til {shortcode} for at afmelde. \
             Gratis."
        }
        (Da, Unsubscribed) => {
            "{brand}: Du er ikke tilmeldt og modtager ingen SMS-tilbud. Send {keyword} START til \
             {shortcode} for at tilmelde dig. Gratis."
        }
        (Da, Pending) => {
            "{brand}: Din tilmelding afventer bekræftelse. Send JA til {shortcode} for at \
             bekræfte, {keyword} STOP for at afmelde. Gratis."
        }
        (Fi, Subscribed) => {
            "{brand}: Saat tekstiviestitarjouksia. Lopeta vastaamalla {keyword} LOPETA numeroon \
             {shortcode}. Maksuton."
        }
        (Fi, Unsubscribed) => {
            "{brand}: Et ole tilaaja etkä saa tekstiviestitarjouksia. Tilaa vastaamalla {keyword} \
             START numeroon {shortcode}. Maksuton."
        }
        (Fi, Pending) => {
            "{brand}: Tilaus odottaa vahvistusta. Vahvista vastaamalla KYLLÄ numeroon \
             {shortcode}, lopeta vastaamalla {keyword} LOPETA. Maksuton."
        }
        (En, Subscribed) => {
            "{brand}: You get SMS offers. Reply {keyword} STOP to {shortcode} to opt out. Free."
        }
        (En, Unsubscribed) => {
            "{brand}: You are not subscribed and get no SMS offers. Reply {keyword} START to \
             {shortcode} to subscribe. Free."
        }
        (En, Pending) => {
            "{brand}: Your subscription awaits confirmation. Reply YES to {shortcode} to \
             confirm, {keyword} STOP to opt out. Free."
        }
        (No, Stop) => "Du er meldt av og får ingen flere SMS-tilbud fra {brand}.",
        (No, Start) => {
            "Takk! Du får nå SMS-tilbud fra {brand}. Svar {keyword} STOPP til {shortcode} for å \
             melde deg av. Gratis."
        }
        (No, Confirm) => {
            "Takk, påmeldingen til {brand} er bekreftet. Svar {keyword} STOPP til {shortcode} for \
             å melde deg av. Gratis."
        }
        (No, Help) => {
            "{brand}: Svar {keyword} STOPP til {shortcode} for å melde deg av, {keyword} START for å \
             melde deg på. Gratis."
        }
        (No, Unknown) => {
            "Vi forstod ikke meldingen. Svar STOPP til {shortcode} for å melde deg av, HJELP \
             for hjelp."
        }
        (No, Review) => {
            "Takk, vi har mottatt meldingen din. Svar STOPP til {shortcode} for å melde deg av. \
             Gratis."
        }
        (Sv, Stop) => "Du är avregistrerad och får inga fler SMS-erbjudanden från {brand}.",
        (Sv, Start) => {
            "Tack! Du får nu SMS-erbjudanden från {brand}. Svara {keyword} STOPP till {shortcode} \
             för att avsluta. Gratis."
        }
        (Sv, Confirm) => {
            "Tack, din registrering hos {brand} är bekräftad. Svara {keyword} STOPP till \
             {shortcode} för att avsluta. Gratis."
        }
        (Sv, Help) => {
            "{brand}: Svara {keyword} STOPP till {shortcode} för att avsluta, {keyword} START för att \
             registrera dig. Gratis."
        }
        (Sv, Unknown) => {
            "Vi förstod inte meddelandet. Svara STOPP till {shortcode} för att avsluta, HJÄLP \
             för hjälp."
        }
        (Sv, Review) => {
            "Tack, vi har tagit emot ditt meddelande. Svara STOPP till {shortcode} för att \
             avsluta. Gratis."
        }
        (Da, Stop) => "Du er afmeldt og modtager ikke flere SMS-tilbud fra {brand}.",
        (Da, Start) => {
            "Tak! Du modtager nu SMS-tilbud fra {brand}. Send {keyword} STOP til {shortcode} for \
             at afmelde. Gratis."
        }
        (Da, Confirm) => {
            "Tak, din tilmelding hos {brand} er bekræftet. Send {keyword} STOP til {shortcode} for \
             at afmelde. Gratis."
        }
        (Da, Help) => {
            "{brand}: Send {keyword} STOP til {shortcode} for at afmelde, {keyword} START for at \
             tilmelde dig. Gratis."
        }
        (Da, Unknown) => {
            "Vi forstod ikke beskeden. Send STOP til {shortcode} for at afmelde, HJÆLP for \
             hjælp."
        }
        (Da, Review) => {
            "Tak, vi har modtaget din besked. Send STOP til {shortcode} for at afmelde. Gratis."
        }
        (Fi, Stop) => "Tilaus on peruttu, etkä saa enää tekstiviestitarjouksia: {brand}.",
        (Fi, Start) => {
            "Kiitos! Saat nyt tekstiviestitarjouksia: {brand}. Lopeta vastaamalla {keyword} LOPETA \
             numeroon {shortcode}. Maksuton."
        }
        (Fi, Confirm) => {
            "Kiitos, tilaus on vahvistettu: {brand}. Lopeta vastaamalla {keyword} LOPETA numeroon \
             {shortcode}. Maksuton."
        }
        (Fi, Help) => {
            "{brand}: Lopeta vastaamalla {keyword} LOPETA numeroon {shortcode}, tilaa vastaamalla \
             {keyword} START. Maksuton."
        }
        (Fi, Unknown) => {
            "Emme ymmärtäneet viestiä. Lopeta vastaamalla LOPETA numeroon {shortcode}, ohjeet: \
             HELP."
        }
        (Fi, Review) => {
            "Kiitos, saimme viestisi. Lopeta vastaamalla LOPETA numeroon {shortcode}. Maksuton."
        }
        (En, Stop) => "You are unsubscribed and will get no more SMS offers from {brand}.",
        (En, Start) => {
            "Thanks! You now get SMS offers from {brand}. Reply {keyword} STOP to {shortcode} to \
             opt out. Free."
        }
        (En, Confirm) => {
            "Thanks, your subscription to {brand} is confirmed. Reply {keyword} STOP to \
             {shortcode} to opt out. Free."
        }
        (En, Help) => {
            "{brand}: Reply {keyword} STOP to {shortcode} to opt out, {keyword} START to subscribe. \
             Free."
        }
        (En, Unknown) => {
            "We did not understand your message. Reply STOP to {shortcode} to opt out, HELP for \
             help."
        }
        (En, Review) => "Thanks, we got your message. Reply STOP to {shortcode} to opt out. Free.",
    }
}

/// The help reply when a message concerns several brands (a shared short code without a
/// brand word) or none: how to stop them all, naming them in `{brand}`.
pub fn shared_help_template(lang: Language) -> &'static str {
    match lang {
        Language::No => "Svar STOPP til {shortcode} for å melde deg av SMS fra {brand}. Gratis.",
        Language::Sv => "Svara STOPP till {shortcode} för att avsluta SMS från {brand}. Gratis.",
        Language::Da => "Send STOP til {shortcode} for at afmelde SMS fra {brand}. Gratis.",
        Language::Fi => {
            "Lopeta tekstiviestit ({brand}) vastaamalla LOPETA numeroon {shortcode}. Maksuton."
        }
        Language::En => "Reply STOP to {shortcode} to opt out of SMS from {brand}. Free.",
    }
}

/// The help reply on a number no brand is registered on: who sends (`{brand}`, a
/// generic sender, see [`generic_sender`]) and how to stop (a STOP there stops every
/// brand, so "all SMS from here").
pub fn unregistered_help_template(lang: Language) -> &'static str {
    match lang {
        Language::No => {
            "SMS fra {brand} ({shortcode}). Svar STOPP til {shortcode} for å melde deg av alle \
             SMS herfra. Gratis."
        }
        Language::Sv => {
            "SMS från {brand} ({shortcode}). Svara STOPP till {shortcode} för att avsluta alla \
             SMS härifrån. Gratis."
        }
        Language::Da => {
            "SMS fra {brand} ({shortcode}). Send STOP til {shortcode} for at afmelde alle SMS \
             herfra. Gratis."
        }
        Language::Fi => {
            "Tekstiviestit: {brand} ({shortcode}). Lopeta kaikki viestit täältä vastaamalla \
             LOPETA numeroon {shortcode}. Maksuton."
        }
        Language::En => {
            "SMS from {brand} ({shortcode}). Reply STOP to {shortcode} to opt out of all SMS from \
             here. Free."
        }
    }
}

/// Who sends, when no registered brand does: "this service" in `lang`.
pub fn generic_sender(lang: Language) -> &'static str {
    match lang {
        Language::No => "denne tjenesten",
        Language::Sv => "denna tjänst",
        Language::Da => "denne tjeneste",
        Language::Fi => "tämä palvelu",
        Language::En => "this service",
    }
}

/// What `{brand}` reads when a message concerns no single registered brand (a STOP to an
/// unknown number stops every brand).
pub fn every_brand_word(lang: Language) -> &'static str {
    match lang {
        Language::No | Language::Da => "alle avsendere",
        Language::Sv => "alla avsändare",
        Language::Fi => "kaikki lähettäjät",
        Language::En => "all senders",
    }
}

/// Renders `kind`: the override `template` if given, else the built-in one for `lang`,
/// with `{brand}` and `{shortcode}` filled in (and the built-in templates' `{keyword}`, the
/// word to send, with `brand`; see [`render_keyword`]).
pub fn render(
    kind: Kind,
    lang: Language,
    template: Option<&str>,
    brand: &str,
    shortcode: &str,
) -> String {
    render_keyword(kind, lang, template, brand, brand, shortcode)
}

/// [`render`], with `keyword` for the built-in templates' `{keyword}`: the word a person
/// must send for the parser to find the brand (its registered keyword, `KAFFE`, not its
/// name `Kaffe Ærlig AS`). Replies teach only wording that is understood.
pub fn render_keyword(
    kind: Kind,
    lang: Language,
    template: Option<&str>,
    brand: &str,
    keyword: &str,
    shortcode: &str,
) -> String {
    template
        .unwrap_or(default_template(kind, lang))
        .replace("{brand}", brand)
        .replace("{keyword}", keyword)
        .replace("{shortcode}", shortcode)
}

/// Most SMS segments an automatic reply may take.
pub const MAX_REPLY_SEGMENTS: usize = 3;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::brands::check_template;

    const KINDS: [Kind; 9] = [
        Kind::Stop,
        Kind::Start,
        Kind::Confirm,
        Kind::Help,
        Kind::Unknown,
        Kind::Review,
        Kind::Subscribed,
        Kind::Unsubscribed,
        Kind::Pending,
    ];
    const LANGS: [Language; 5] =
        [Language::No, Language::Sv, Language::Da, Language::Fi, Language::En];

    #[test]
    fn every_default_is_a_valid_template_and_renders_fully() {
        for lang in LANGS {
            for kind in KINDS {
                let t = default_template(kind, lang);
                check_template(&t.replace("{keyword}", "{brand}")).unwrap();
                let r = render(kind, lang, None, "ACME", "2401");
                assert!(!r.contains('{'), "{lang:?} {kind:?}: {r}");
                // Every reply tells how to leave, except the stop reply itself and the one
                // to a person who is not subscribed (it tells how to subscribe).
                if kind == Kind::Unsubscribed {
                    assert!(r.contains("ACME START") && r.contains("2401"), "{lang:?}: {r}");
                } else if kind != Kind::Stop {
                    assert!(r.contains("2401"), "{lang:?} {kind:?}: {r}");
                    assert!(
                        ["STOP", "STOPP", "LOPETA"].iter().any(|w| r.contains(w)),
                        "{lang:?} {kind:?}: {r}"
                    );
                } else {
                    assert!(r.contains("ACME"), "{lang:?}: {r}");
                }
            }
        }
    }

    #[test]
    fn replies_fit_in_two_sms_segments() {
        for lang in LANGS {
            for kind in KINDS {
                let r = render(kind, lang, None, "ACME SPORT", "24010");
                assert!(crate::sms::count(&r).segments <= 2, "{lang:?} {kind:?}: {r}");
            }
        }
    }

    #[test]
    fn shared_help_is_valid_and_says_how_to_stop() {
        for lang in LANGS {
            let t = shared_help_template(lang);
            check_template(t).unwrap();
            let r = render(Kind::Help, lang, Some(t), "ACME, Beta", "2401");
            assert!(r.contains("2401") && r.contains("ACME, Beta"), "{r}");
            assert!(["STOP", "LOPETA"].iter().any(|w| r.contains(w)), "{r}");
        }
    }

    #[test]
    fn pending_replies_teach_a_confirmation_the_parser_reads() {
        for lang in LANGS {
            let r = render(Kind::Pending, lang, None, "ACME", "2401");
            let word = ["JA", "YES", "KYLLÄ"].into_iter().find(|w| r.contains(&format!(" {w} ")));
            let word = word.unwrap_or_else(|| panic!("{lang:?}: {r}"));
            let parsed = crate::inbound::keyword::parse(word);
            assert_eq!(parsed.keyword, crate::inbound::Keyword::Confirm, "{lang:?}: {word}");
        }
    }

    #[test]
    fn unregistered_help_names_a_sender_and_how_to_stop() {
        for lang in LANGS {
            let t = unregistered_help_template(lang);
            check_template(t).unwrap();
            let r = render(Kind::Help, lang, Some(t), generic_sender(lang), "9999");
            assert!(r.contains(generic_sender(lang)) && r.contains("9999"), "{r}");
            assert!(["STOP", "LOPETA"].iter().any(|w| r.contains(w)), "{r}");
            assert_eq!(crate::sms::count(&r).segments, 1, "{r}");
        }
    }

    #[test]
    fn override_wins() {
        let r =
            render(Kind::Stop, Language::No, Some("Ha det fra {brand} på {shortcode}"), "A", "1");
        assert_eq!(r, "Ha det fra A på 1");
    }
}
