//! The opt-out footer every marketing message must carry.

use crate::phone::Region;
use crate::sms::{Count, Measure, count_measured};

/// The default footer template for `region`: the wording SMS providers use in that market.
///
/// ```
/// use sendfilter::{Region, sms::default_template};
/// assert_eq!(default_template(Region::NO), "Svar {brand} STOPP til {shortcode}");
/// assert_eq!(default_template("DE".parse().unwrap()), "Reply {brand} STOP to {shortcode}");
/// ```
pub fn default_template(region: Region) -> &'static str {
    match region.as_str() {
        "NO" => "Svar {brand} STOPP til {shortcode}",
        "SE" => "Svara {brand} STOPP till {shortcode}",
        "DK" => "Send {brand} STOP til {shortcode}",
        "FI" => "Vastaa {brand} STOP numeroon {shortcode}",
        _ => "Reply {brand} STOP to {shortcode}",
    }
}

/// The first `{name}` in `template` other than `{brand}` and `{shortcode}`.
fn unknown_placeholder(template: &str) -> Option<&str> {
    let mut rest = template;
    while let Some(i) = rest.find('{') {
        rest = &rest[i + 1..];
        let end = rest.find('}')?;
        let name = &rest[..end];
        if !name.is_empty()
            && name.chars().all(|c| c.is_alphanumeric() || c == '_')
            && name != "brand"
            && name != "shortcode"
        {
            return Some(name);
        }
    }
    None
}

/// A rendered opt-out footer, ready to stamp messages with.
///
/// Stamping appends the footer after one space (no space when the message is empty or
/// already ends in whitespace) unless the message already ends with it: compared
/// case-insensitively (Unicode simple lower case), trailing whitespace and punctuation of
/// both aside (see [`is_trailing`]), and as a whole: where the footer begins with a letter
/// or digit, the message must not run into it with another one (`xSvar …` is not the
/// footer). A footer in the middle of the text (`Ikke svar ACME STOPP til 2401 …`, `…
/// STOPP til 2401 koster 5 kr`) does not count: the person reads the end of the message.
#[derive(Clone, Debug)]
pub struct Footer {
    text: String,
    /// The footer without trailing whitespace and punctuation, lower-cased when it is
    /// ASCII: compared byte by byte from the message's end (the hot path).
    ascii_lower: Option<Vec<u8>>,
    /// The footer's length in bytes without trailing whitespace and punctuation.
    core_len: usize,
    /// The footer's first character is a letter or digit: a match must not follow one.
    word_start: bool,
    measure: Measure,
}

/// True for what may follow the footer at the end of a message and still leave it "at
/// the end": whitespace, ASCII punctuation and the common typographic marks (`…`, `«`,
/// `»`, quotes and dashes, `¡`, `¿`).
pub fn is_trailing(c: char) -> bool {
    c.is_whitespace()
        || c.is_ascii_punctuation()
        || matches!(c, '…' | '«' | '»' | '“' | '”' | '„' | '‘' | '’' | '–' | '—' | '¡' | '¿')
}

/// What stamping a message did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stamp {
    /// The message already carries the footer; it is left as it is.
    Present,
    /// The footer is appended, after a space when `space` is true.
    Appended {
        /// A space goes between message and footer.
        space: bool,
    },
}

impl Stamp {
    /// The text that goes between the message and the footer.
    pub fn separator(self) -> &'static str {
        match self {
            Stamp::Appended { space: true } => " ",
            _ => "",
        }
    }
}

/// The opt-out footer is missing, names no opt-out, or its template is wrong: the message
/// says what to change.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("{0}")]
pub struct FooterError(pub String);

impl Footer {
    /// Renders `template`, replacing `{brand}` and `{shortcode}`.
    ///
    /// # Errors
    /// [`FooterError`] when the template uses `{shortcode}` and none is given, when it
    /// has another `{placeholder}`, or when the result is empty.
    ///
    /// ```
    /// use sendfilter::sms::Footer;
    /// let f = Footer::new("Svar {brand} STOPP til {shortcode}", "ACME", Some("2401")).unwrap();
    /// assert_eq!(f.text(), "Svar ACME STOPP til 2401");
    /// assert!(Footer::new("Reply {brand} STOP to {shortcode}", "ACME", None).is_err());
    /// ```
    pub fn new(
        template: &str,
        brand: &str,
        shortcode: Option<&str>,
    ) -> Result<Footer, FooterError> {
        if template.contains("{shortcode}") && shortcode.is_none_or(|s| s.trim().is_empty()) {
            return Err(FooterError(
                "the opt-out footer needs a short code: give --shortcode N (or a --footer without {shortcode})"
                    .into(),
            ));
        }
        let text = template
            .replace("{brand}", brand)
            .replace("{shortcode}", shortcode.unwrap_or("").trim())
            .trim()
            .to_string();
        if let Some(bad) = unknown_placeholder(template) {
            return Err(FooterError(format!(
                "unknown placeholder {{{bad}}} in footer template: only {{brand}} and {{shortcode}} exist"
            )));
        }
        if text.is_empty() {
            return Err(FooterError("the opt-out footer is empty".into()));
        }
        let measure = Measure::of(&text);
        let core_len = text.trim_end_matches(is_trailing).len();
        let core = &text[..core_len];
        let ascii_lower = core.is_ascii().then(|| core.to_ascii_lowercase().into_bytes());
        let word_start = text.chars().next().is_some_and(char::is_alphanumeric);
        Ok(Footer { text, ascii_lower, core_len, word_start, measure })
    }

    /// The footer text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Decides how `message` is stamped, without building the stamped text.
    pub fn plan(&self, message: &str) -> Stamp {
        if self.present(message) {
            Stamp::Present
        } else {
            Stamp::Appended {
                space: message.chars().next_back().is_some_and(|c| !c.is_whitespace()),
            }
        }
    }

    /// True when `message` ends with the footer (see [`Footer`]): trailing whitespace and
    /// punctuation of both aside, ignoring case, not run together with a letter or digit
    /// before it. Allocation-free; looks only at the message's end.
    fn present(&self, message: &str) -> bool {
        let body = message.trim_end_matches(is_trailing);
        let start = match &self.ascii_lower {
            Some(needle) => {
                let Some(at) = body.len().checked_sub(needle.len()) else { return false };
                // An ASCII byte matched at `at`: a character boundary.
                if !body.as_bytes()[at..].eq_ignore_ascii_case(needle) {
                    return false;
                }
                at
            }
            None => match ends_with_ci(body, &self.text[..self.core_len]) {
                Some(at) => at,
                None => return false,
            },
        };
        if self.core_len == 0 {
            return false;
        }
        let joined = body[..start].chars().next_back().is_some_and(char::is_alphanumeric);
        !(self.word_start && joined)
    }

    /// Stamps `message` into `out` (cleared first) and returns what was done.
    ///
    /// ```
    /// use sendfilter::sms::{Footer, Stamp};
    /// let f = Footer::new("Svar {brand} STOPP til {shortcode}", "ACME", Some("2401")).unwrap();
    /// let mut out = String::new();
    /// f.stamp("Tilbud!", &mut out);
    /// assert_eq!(out, "Tilbud! Svar ACME STOPP til 2401");
    /// assert_eq!(f.stamp("Tilbud! svar acme stopp til 2401", &mut out), Stamp::Present);
    /// f.stamp("Tilbud!\n", &mut out);
    /// assert_eq!(out, "Tilbud!\nSvar ACME STOPP til 2401");
    /// ```
    pub fn stamp(&self, message: &str, out: &mut String) -> Stamp {
        out.clear();
        out.push_str(message);
        let plan = self.plan(message);
        if plan != Stamp::Present {
            out.push_str(plan.separator());
            out.push_str(&self.text);
        }
        plan
    }

    /// Segment count of `message` after stamping with `plan`, plus the count before.
    pub fn count_stamped(&self, message: &str, plan: Stamp) -> (Count, Count) {
        let m = Measure::of(message);
        let before = count_measured(&[message], m);
        match plan {
            Stamp::Present => (before, before),
            Stamp::Appended { .. } => {
                let sep = plan.separator();
                // The separator is a space or nothing: one plain septet or none.
                let sep_measure = if sep.is_empty() { Measure::EMPTY } else { SPACE };
                let total = m.plus(sep_measure).plus(self.measure);
                (before, count_measured(&[message, sep, &self.text], total))
            }
        }
    }
}

/// The measure of `" "`, the only non-empty separator.
const SPACE: Measure = Measure { septets: 1, utf16: 1, ..Measure::EMPTY };

/// Where `hay` ends with `needle`, compared character by character from the end in
/// Unicode lower case: the byte offset in `hay` where the match starts, or `None`.
fn ends_with_ci(hay: &str, needle: &str) -> Option<usize> {
    let mut h = hay.char_indices().rev();
    let mut at = hay.len();
    for n in needle.chars().rev() {
        let (i, c) = h.next()?;
        if c != n && !c.to_lowercase().eq(n.to_lowercase()) {
            return None;
        }
        at = i;
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sms::Count;

    fn no() -> Footer {
        Footer::new(default_template(Region::NO), "ACME", Some("2401")).unwrap()
    }

    #[test]
    fn templates_per_region() {
        let f = |r: &str| {
            Footer::new(default_template(r.parse().unwrap()), "ACME", Some("2401")).unwrap().text
        };
        assert_eq!(f("NO"), "Svar ACME STOPP til 2401");
        assert_eq!(f("SE"), "Svara ACME STOPP till 2401");
        assert_eq!(f("DK"), "Send ACME STOP til 2401");
        assert_eq!(f("FI"), "Vastaa ACME STOP numeroon 2401");
        assert_eq!(f("GB"), "Reply ACME STOP to 2401");
    }

    #[test]
    fn template_errors() {
        assert!(Footer::new("Svar {brand} STOPP til {shortcode}", "ACME", Some("  ")).is_err());
        assert!(Footer::new("Svar {merke} STOPP", "ACME", None).is_err());
        assert!(Footer::new("   ", "ACME", None).is_err());
        assert_eq!(
            Footer::new("Reply STOP to 2401", "ACME", None).unwrap().text(),
            "Reply STOP to 2401"
        );
    }

    #[test]
    fn stamping_rules() {
        let f = no();
        let mut out = String::new();
        assert!(matches!(f.stamp("", &mut out), Stamp::Appended { space: false }));
        assert_eq!(out, "Svar ACME STOPP til 2401");
        f.stamp("Hei ", &mut out);
        assert_eq!(out, "Hei Svar ACME STOPP til 2401");
        f.stamp("Hei\u{3000}", &mut out); // Unicode whitespace counts too
        assert_eq!(out, "Hei\u{3000}Svar ACME STOPP til 2401");
        assert_eq!(f.stamp("Hei. SVAR ACME STOPP TIL 2401.", &mut out), Stamp::Present);
        assert_eq!(out, "Hei. SVAR ACME STOPP TIL 2401.");
        // Without the brand it is not our footer: append.
        f.stamp("Hei. Svar STOPP til 2401", &mut out);
        assert_eq!(out, "Hei. Svar STOPP til 2401 Svar ACME STOPP til 2401");
    }

    /// The "carries the footer" rule as one regex (the model): the footer without its
    /// trailing whitespace and punctuation, ignoring case, not after a letter or digit (when
    /// it begins with one), followed only by whitespace and punctuation to the end.
    fn bounded_model(f: &Footer) -> regex::Regex {
        let edge = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
        let t = f.text().trim_end_matches(is_trailing);
        let other = r"[^\p{Alphabetic}\p{N}]";
        let before = if edge(t.chars().next()) { format!("(?:^|{other})") } else { String::new() };
        let trailing = r#"[\s!-/:-@\[-`{-~…«»“”„‘’–—¡¿]*"#;
        regex::Regex::new(&format!("{before}(?i:{}){trailing}$", regex::escape(t))).unwrap()
    }

    /// Regression (issue 22): the footer counts only at the end of the message, trailing
    /// whitespace and punctuation aside, and only as a whole (`… til 24011` tells people to
    /// text 24011), on the ASCII and the non-ASCII path.
    #[test]
    fn footer_counts_only_at_the_end_and_as_a_whole() {
        let f = no();
        let cases = [
            ("Hei svar acme stopp til 24011", false),
            ("Hei svar acme stopp til 2401", true),
            ("Hei svar acme stopp til 2401x", false),
            ("Hei svar acme stopp til 2401å", false),
            ("Hei xsvar acme stopp til 2401", false),
            ("Hei 9Svar ACME STOPP til 2401", false),
            ("Hei æSvar ACME STOPP til 2401", false),
            ("Hei svar acme stopp til 2401.", true),
            ("Hei svar acme stopp til 2401!\n", true),
            ("Hei svar acme stopp til 2401 …", true),
            ("(Svar ACME STOPP til 2401)", true),
            ("Svar ACME STOPP til 2401_", true),
            ("Svar ACME STOPP til 24011, Svar ACME STOPP til 2401", true),
            ("Svar ACME STOPP til 24011, Svar ACME STOPP til 24012", false),
            // In the middle of the text: not the footer.
            ("Ikke svar ACME STOPP til 2401 før du har lest vilkårene", false),
            ("Svar ACME STOPP til 2401 koster 5 kr", false),
            ("Hei. SVAR ACME STOPP TIL 2401 nå", false),
            ("Hei svar acme stopp til 2401🎉", false),
        ];
        for (m, present) in cases {
            assert_eq!(f.plan(m) == Stamp::Present, present, "{m:?}");
        }
        let mut out = String::new();
        f.stamp("Svar ACME STOPP til 2401 koster 5 kr", &mut out);
        assert_eq!(out, "Svar ACME STOPP til 2401 koster 5 kr Svar ACME STOPP til 2401");
        // Non-ASCII footer.
        let f = Footer::new("Svar {brand} STOPP til {shortcode}", "ÆRLIG", Some("2401")).unwrap();
        assert_ne!(f.plan("x svar ærlig stopp til 24011"), Stamp::Present);
        assert_eq!(f.plan("x svar ærlig stopp til 2401!"), Stamp::Present);
        assert_ne!(f.plan("xsvar ærlig stopp til 2401"), Stamp::Present);
        assert_ne!(f.plan("svar ærlig stopp til 2401 i dag"), Stamp::Present);
        // A footer that ends in punctuation matches with or without it.
        let f = Footer::new("Svar {brand} STOPP til {shortcode}.", "ACME", Some("2401")).unwrap();
        assert_eq!(f.plan("Hei! Svar ACME STOPP til 2401"), Stamp::Present);
        assert_eq!(f.plan("Hei! Svar ACME STOPP til 2401."), Stamp::Present);
        // A footer that ends in a symbol keeps it.
        let f = Footer::new("Svar {brand} STOPP til {shortcode} €", "ACME", Some("2401")).unwrap();
        assert_eq!(f.plan("Svar ACME STOPP til 2401 €"), Stamp::Present);
        assert_ne!(f.plan("Svar ACME STOPP til 2401 €x"), Stamp::Present);
        assert_ne!(f.plan("xSvar ACME STOPP til 2401 €"), Stamp::Present);
    }

    proptest::proptest! {
        #[test]
        fn matcher_agrees_with_model_prop(m in "[sSvVaArR AaCcMmEe tTiIlL24å0.!]{0,40}", pre in "[sS .]{0,3}") {
            for f in [
                no(),
                Footer::new("Svar {brand} STOPP til {shortcode}", "ÆRLIG", Some("2401")).unwrap(),
            ] {
                let re = bounded_model(&f);
                for msg in [m.clone(), format!("{pre}{m} SVAR acme stopp TIL 2401{pre}")] {
                    proptest::prop_assert_eq!(f.plan(&msg) == Stamp::Present, re.is_match(&msg), "{:?}", msg);
                }
            }
        }
    }

    /// The plan and counts computed the simple way (one regex search, per-character
    /// measure of the built stamped text): the model the fast paths are checked against.
    fn plan_and_counts_reference(f: &Footer, m: &str) -> (Stamp, Count, Count) {
        let present = bounded_model(f).is_match(m);
        let plan = if present {
            Stamp::Present
        } else {
            Stamp::Appended { space: m.chars().next_back().is_some_and(|c| !c.is_whitespace()) }
        };
        let count = |t: &str| count_measured(&[t], crate::sms::measure_reference(t));
        let before = count(m);
        let after = match plan {
            Stamp::Present => before,
            Stamp::Appended { .. } => count(&format!("{m}{}{}", plan.separator(), f.text())),
        };
        (plan, before, after)
    }

    /// Messages around a footer: random text, maybe with the footer (in random case, or
    /// cut short, or with a different brand) inside or at the end, maybe trailing
    /// whitespace.
    fn around_footer() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let filler = prop_oneof![
            6 => r"[a-zA-Z0-9 .,!%:-]{0,30}",
            2 => r"[{}\\\[\]~|^€æøåÄ–ç`🎉\n\r\t\u{3000}]{0,4}",
            1 => r"[sSvVaArR AaCcMmEe tTiIlL24å0]{0,30}",
        ];
        let footerish = prop_oneof![
            Just(String::new()),
            Just("Svar ACME STOPP til 2401".to_string()),
            Just("svar acme stopp TIL 2401".to_string()),
            Just("Svar ACME STOPP til 240".to_string()),
            Just("Svar STOPP til 2401".to_string()),
            Just("Svar ÆRLIG STOPP til 2401".to_string()),
            Just("Reply ACME STOP to 2401".to_string()),
        ];
        let tail = prop_oneof![Just(""), Just(" "), Just("\n"), Just("\u{3000}"), Just("🎉")];
        (proptest::collection::vec((filler, footerish), 0..6), tail).prop_map(|(v, t)| {
            let mut s: String = v.into_iter().map(|(a, b)| a + &b).collect();
            s.push_str(t);
            s
        })
    }

    proptest::proptest! {
        /// The fast plan and counts equal the model, for ASCII and non-ASCII footers,
        /// long messages (segment packing) included.
        #[test]
        fn plan_and_counts_match_model(m in around_footer(), reps in 1usize..8) {
            let long = m.repeat(reps);
            for f in [
                no(),
                Footer::new("Svar {brand} STOPP til {shortcode}", "ÆRLIG", Some("2401")).unwrap(),
                Footer::new("Reply {brand} STOP to {shortcode} [{{}}] €", "ACME", Some("2401")).unwrap(),
                Footer::new("Svar {brand} STOPP til {shortcode} 🎉", "ACME", Some("2401")).unwrap(),
            ] {
                for msg in [&m, &long] {
                    let plan = f.plan(msg);
                    let (b, a) = f.count_stamped(msg, plan);
                    proptest::prop_assert_eq!((plan, b, a), plan_and_counts_reference(&f, msg), "{:?}", msg);
                }
            }
        }
    }

    #[test]
    fn matcher_agrees_with_model() {
        let f = no();
        let re = bounded_model(&f);
        for m in [
            "",
            "Svar ACME STOPP til 2401",
            "xsvar acme stopp til 2401y",
            "Svar ACME STOPP til 240",
            "Svar STOPP til 2401",
            "SSvar ACME STOPP til 2401",
            "å Svar ACME STOPP TIL 2401 ø",
            "å Svar ACME STOPP TIL 2401 ...",
            "Svar ACME STOPP til 24",
        ] {
            assert_eq!(f.plan(m) == Stamp::Present, re.is_match(m), "{m:?}");
        }
    }

    #[test]
    fn non_ascii_brand_matches_case_insensitively() {
        let f = Footer::new("Svar {brand} STOPP til {shortcode}", "ÆRLIG", Some("2401")).unwrap();
        assert_eq!(f.plan("x svar ærlig stopp til 2401"), Stamp::Present);
    }

    #[test]
    fn footer_pushes_into_extra_segment() {
        let f = no();
        let msg = "a".repeat(140);
        let plan = f.plan(&msg);
        let (before, after) = f.count_stamped(&msg, plan);
        assert_eq!((before.segments, after.segments), (1, 2));
        assert_eq!(after.units, 140 + 1 + 24);
        let emoji = format!("{}🎉", "a".repeat(40));
        let (b, a) = f.count_stamped(&emoji, f.plan(&emoji));
        assert_eq!((b.segments, a.segments, a.units), (1, 1, 42 + 25));
    }
}
