//! The opt-out footer every marketing message must carry.

use crate::error::Error;
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
/// already ends in whitespace) unless the message already contains it, compared
/// case-insensitively (Unicode simple case folding).
#[derive(Clone, Debug)]
pub struct Footer {
    text: String,
    /// The footer lower-cased when it is ASCII: matched without the regex engine (the hot
    /// path; the regex's per-thread cache pool showed up in profiles).
    ascii_lower: Option<Vec<u8>>,
    matcher: regex::Regex,
    measure: Measure,
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

impl Footer {
    /// Renders `template`, replacing `{brand}` and `{shortcode}`.
    ///
    /// # Errors
    /// [`Error::Footer`] when the template uses `{shortcode}` and none is given, when it
    /// has another `{placeholder}`, or when the result is empty.
    ///
    /// ```
    /// use sendfilter::sms::Footer;
    /// let f = Footer::new("Svar {brand} STOPP til {shortcode}", "ACME", Some("2401")).unwrap();
    /// assert_eq!(f.text(), "Svar ACME STOPP til 2401");
    /// assert!(Footer::new("Reply {brand} STOP to {shortcode}", "ACME", None).is_err());
    /// ```
    pub fn new(template: &str, brand: &str, shortcode: Option<&str>) -> Result<Footer, Error> {
        if template.contains("{shortcode}") && shortcode.is_none_or(|s| s.trim().is_empty()) {
            return Err(Error::Footer(
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
            return Err(Error::Footer(format!(
                "unknown placeholder {{{bad}}} in footer template: only {{brand}} and {{shortcode}} exist"
            )));
        }
        if text.is_empty() {
            return Err(Error::Footer("the opt-out footer is empty".into()));
        }
        let matcher = regex::RegexBuilder::new(&regex::escape(&text))
            .case_insensitive(true)
            .build()
            .map_err(|e| Error::Footer(format!("footer cannot be matched: {e}")))?;
        let measure = Measure::of(&text);
        let ascii_lower = text.is_ascii().then(|| text.to_ascii_lowercase().into_bytes());
        Ok(Footer { text, ascii_lower, matcher, measure })
    }

    /// The footer text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Decides how `message` is stamped, without building the stamped text.
    pub fn plan(&self, message: &str) -> Stamp {
        let present = match &self.ascii_lower {
            Some(needle) => contains_ascii_ci(message.as_bytes(), needle),
            None => self.matcher.is_match(message),
        };
        if present {
            Stamp::Present
        } else {
            Stamp::Appended {
                space: message.chars().next_back().is_some_and(|c| !c.is_whitespace()),
            }
        }
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
                let total = m.plus(Measure::of(sep)).plus(self.measure);
                (before, count_measured(&[message, sep, &self.text], total))
            }
        }
    }
}

/// True when `hay` contains `needle` (ASCII, lower-case), ignoring ASCII case.
fn contains_ascii_ci(hay: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else { return true };
    let last_start = match hay.len().checked_sub(needle.len()) {
        Some(n) => n,
        None => return false,
    };
    let mut from = 0;
    while from <= last_start {
        let window = &hay[from..=last_start];
        let Some(i) = memchr::memchr2(first, first.to_ascii_uppercase(), window) else {
            return false;
        };
        let at = from + i;
        if hay[at + 1..at + needle.len()].eq_ignore_ascii_case(rest) {
            return true;
        }
        from = at + 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(f.stamp("Hei. SVAR ACME STOPP TIL 2401 nå", &mut out), Stamp::Present);
        assert_eq!(out, "Hei. SVAR ACME STOPP TIL 2401 nå");
        // Without the brand it is not our footer: append.
        f.stamp("Hei. Svar STOPP til 2401", &mut out);
        assert_eq!(out, "Hei. Svar STOPP til 2401 Svar ACME STOPP til 2401");
    }

    proptest::proptest! {
        #[test]
        fn ascii_matcher_agrees_with_regex_prop(m in "[sSvVaArR AaCcMmEe tTiIlL24å0]{0,40}", pre in "[sS ]{0,3}") {
            let f = Footer::new("Svar {brand} STOPP til {shortcode}", "ACME", Some("2401")).unwrap();
            let re = regex::RegexBuilder::new(&regex::escape(f.text())).case_insensitive(true).build().unwrap();
            for msg in [m.clone(), format!("{pre}{m} SVAR acme stopp TIL 2401{pre}")] {
                proptest::prop_assert_eq!(f.plan(&msg) == Stamp::Present, re.is_match(&msg));
            }
        }
    }

    #[test]
    fn ascii_matcher_agrees_with_regex() {
        let f = no();
        let re = regex::RegexBuilder::new(&regex::escape(f.text()))
            .case_insensitive(true)
            .build()
            .unwrap();
        for m in [
            "",
            "Svar ACME STOPP til 2401",
            "xsvar acme stopp til 2401y",
            "Svar ACME STOPP til 240",
            "Svar STOPP til 2401",
            "SSvar ACME STOPP til 2401",
            "å Svar ACME STOPP TIL 2401 ø",
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
