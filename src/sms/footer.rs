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
/// case-insensitively (Unicode simple case folding) and as a whole: where the footer begins
/// or ends with a letter or digit, the message must not continue it with another one
/// (`… til 24011` names another short code, so it does not carry `… til 2401`).
#[derive(Clone, Debug)]
pub struct Footer {
    text: String,
    /// The footer lower-cased when it is ASCII: matched without the regex engine (the hot
    /// path; the regex's per-thread cache pool showed up in profiles).
    ascii_lower: Option<Vec<u8>>,
    /// Where in `ascii_lower` the search anchors: its rarest byte in message text (see
    /// [`rare_index`]), so a scan stops at few false candidates.
    rare: usize,
    matcher: regex::Regex,
    /// The footer's first character is a letter or digit: a match must not follow one.
    word_start: bool,
    /// The footer's last character is a letter or digit: a match must not precede one.
    word_end: bool,
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
        let rare = ascii_lower.as_deref().map_or(0, rare_index);
        let word_start = text.chars().next().is_some_and(char::is_alphanumeric);
        let word_end = text.chars().next_back().is_some_and(char::is_alphanumeric);
        Ok(Footer { text, ascii_lower, rare, matcher, word_start, word_end, measure })
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

    /// True when `message` carries the footer: a case-insensitive match that stands alone
    /// (see [`Footer::stands_alone`]). Every match is tried, overlapping ones included,
    /// since one run together with a neighbour may overlap one that is not.
    fn present(&self, message: &str) -> bool {
        if let Some(needle) = &self.ascii_lower {
            let alone = |at: usize| self.stands_alone(message, at, at + needle.len());
            return contains_ascii_ci_at(message.as_bytes(), needle, self.rare, alone);
        }
        let mut from = 0;
        while let Some(m) = self.matcher.find_at(message, from) {
            if self.stands_alone(message, m.start(), m.end()) {
                return true;
            }
            // The footer is not empty, so neither is a match: it starts with a character.
            from = m.start() + message[m.start()..].chars().next().map_or(1, char::len_utf8);
        }
        false
    }

    /// True when the footer matched at `start..end` of `message` is not run together with a
    /// letter or digit: none right before it when the footer begins with one, none right
    /// after it when it ends with one. `start` and `end` are character boundaries (regex
    /// matches are; an ASCII match is all single-byte characters).
    fn stands_alone(&self, message: &str, start: usize, end: usize) -> bool {
        let word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
        let joined_before = self.word_start && word(message[..start].chars().next_back());
        let joined_after = self.word_end && word(message[end..].chars().next());
        !(joined_before || joined_after)
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

/// The position in `needle` (ASCII, lower-case) of the byte least likely to occur in a
/// message: digits and punctuation before letters (rare letters first), spaces last.
/// Any position gives the same answers; a rare one gives fewer false candidates.
fn rare_index(needle: &[u8]) -> usize {
    const LETTERS_RAREST_FIRST: &[u8] = b"qzxjwykvbpgfhcmudlroitnsae";
    let rank = |c: u8| match c {
        b'0'..=b'9' => 0,
        b'a'..=b'z' => 1 + LETTERS_RAREST_FIRST.iter().position(|&l| l == c).unwrap_or(0),
        b' ' | b'\t' => 100,
        _ => 0,
    };
    needle.iter().enumerate().min_by_key(|&(_, &c)| rank(c)).map_or(0, |(i, _)| i)
}

/// True when `hay` contains `needle` (ASCII, lower-case), ignoring ASCII case, at a start
/// `accept` takes: finds the candidates by `needle[rare]` (either case), then compares the
/// whole window, then asks `accept`. Every match is offered, overlapping ones included.
fn contains_ascii_ci_at(
    hay: &[u8],
    needle: &[u8],
    rare: usize,
    accept: impl Fn(usize) -> bool,
) -> bool {
    let Some(&anchor) = needle.get(rare) else { return true };
    let Some(last_start) = hay.len().checked_sub(needle.len()) else { return false };
    // Positions of the anchor byte that can start a match: `rare..=last_start + rare`.
    let hay_anchor = &hay[rare..=last_start + rare];
    let check = |at: usize| hay[at..at + needle.len()].eq_ignore_ascii_case(needle) && accept(at);
    super::scan::any_position_of(hay_anchor, anchor, anchor.to_ascii_uppercase(), check)
}

/// True when `hay` contains `needle` (ASCII, lower-case), ignoring ASCII case (the
/// first-byte search the rare-byte one replaced: the model in tests).
#[cfg(test)]
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
        assert_eq!(f.stamp("Hei. SVAR ACME STOPP TIL 2401 nå", &mut out), Stamp::Present);
        assert_eq!(out, "Hei. SVAR ACME STOPP TIL 2401 nå");
        // Without the brand it is not our footer: append.
        f.stamp("Hei. Svar STOPP til 2401", &mut out);
        assert_eq!(out, "Hei. Svar STOPP til 2401 Svar ACME STOPP til 2401");
    }

    /// The "carries the footer" rule as one regex (the model): the footer, ignoring case,
    /// with no letter or digit right before it (when it begins with one) or right after it
    /// (when it ends with one). `is_match` finds any such match, overlapping ones included.
    fn bounded_model(f: &Footer) -> regex::Regex {
        let edge = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
        let (t, other) = (f.text(), r"[^\p{Alphabetic}\p{N}]");
        let before = if edge(t.chars().next()) { format!("(?:^|{other})") } else { String::new() };
        let after =
            if edge(t.chars().next_back()) { format!("(?:{other}|$)") } else { String::new() };
        regex::Regex::new(&format!("{before}(?i:{}){after}", regex::escape(t))).unwrap()
    }

    /// Regression: a match run together with a letter or digit is not the footer (`… til
    /// 24011` tells people to text 24011), on the ASCII and the regex path, overlapping
    /// matches included.
    #[test]
    fn footer_counts_only_as_a_whole() {
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
            ("(Svar ACME STOPP til 2401)", true),
            ("Hei svar acme stopp til 2401🎉", true),
            ("Svar ACME STOPP til 2401_", true),
            ("Svar ACME STOPP til 24011, Svar ACME STOPP til 2401", true),
            ("Svar ACME STOPP til 24011, Svar ACME STOPP til 24012", false),
        ];
        for (m, present) in cases {
            assert_eq!(f.plan(m) == Stamp::Present, present, "{m:?}");
        }
        let mut out = String::new();
        f.stamp("Hei svar acme stopp til 24011", &mut out);
        assert_eq!(out, "Hei svar acme stopp til 24011 Svar ACME STOPP til 2401");
        // Non-ASCII footer (the regex path).
        let f = Footer::new("Svar {brand} STOPP til {shortcode}", "ÆRLIG", Some("2401")).unwrap();
        assert_ne!(f.plan("x svar ærlig stopp til 24011"), Stamp::Present);
        assert_eq!(f.plan("x svar ærlig stopp til 2401"), Stamp::Present);
        assert_ne!(f.plan("xsvar ærlig stopp til 2401"), Stamp::Present);
        // Overlapping matches: the first is run together with `x`, the second stands alone.
        for (text, m) in [("ab ab", "xab ab ab"), ("æb æb", "xæb æb æb")] {
            let f = Footer::new(text, "ACME", None).unwrap();
            assert_eq!(f.plan(m), Stamp::Present, "{m:?}");
            assert_ne!(f.plan(&format!("{m}c")), Stamp::Present, "{m:?}");
        }
        // A footer that ends in a symbol checks no neighbour there.
        let f = Footer::new("Svar {brand} STOPP til {shortcode} €", "ACME", Some("2401")).unwrap();
        assert_eq!(f.plan("Svar ACME STOPP til 2401 €x"), Stamp::Present);
        assert_ne!(f.plan("xSvar ACME STOPP til 2401 €"), Stamp::Present);
    }

    proptest::proptest! {
        #[test]
        fn ascii_matcher_agrees_with_regex_prop(m in "[sSvVaArR AaCcMmEe tTiIlL24å0]{0,40}", pre in "[sS ]{0,3}") {
            let f = Footer::new("Svar {brand} STOPP til {shortcode}", "ACME", Some("2401")).unwrap();
            let re = bounded_model(&f);
            for msg in [m.clone(), format!("{pre}{m} SVAR acme stopp TIL 2401{pre}")] {
                proptest::prop_assert_eq!(f.plan(&msg) == Stamp::Present, re.is_match(&msg));
            }
        }
    }

    /// The plan and counts as they were computed before the fast paths (one regex search,
    /// per-character measure of the built stamped text): the model.
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
    fn rare_anchor_is_a_digit_and_any_anchor_agrees() {
        let f = no();
        assert_eq!(f.text().as_bytes()[f.rare], b'2');
        let needle = f.ascii_lower.as_deref().unwrap();
        for m in ["", "Svar ACME STOPP til 2401", "x SVAR acme stopp til 2401", "2401 Svar ACME"] {
            for rare in 0..needle.len() {
                let got = contains_ascii_ci_at(m.as_bytes(), needle, rare, |_| true);
                assert_eq!(got, contains_ascii_ci(m.as_bytes(), needle), "{m:?} at {rare}");
            }
        }
    }

    #[test]
    fn ascii_matcher_agrees_with_regex() {
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
