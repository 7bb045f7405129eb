//! What a filter run decided, in numbers: the `--report` JSON and the stderr summary.

use crate::decision::{Basis, Reason};

/// Counters a run (or one chunk of it) adds up. Plain integers, summed at the edge.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Records per reason, indexed by [`Reason::index`].
    pub reasons: [u64; Reason::COUNT],
    /// Empty lines skipped (not records).
    pub blank_lines: u64,
    /// Allowed records that carry a message.
    pub messages: u64,
    /// SMS segments of those messages before stamping.
    pub segments_before: u64,
    /// SMS segments of those messages after stamping.
    pub segments_after: u64,
    /// Allowed messages the footer was appended to.
    pub footer_added: u64,
    /// Allowed messages the footer pushed into an extra segment.
    pub footer_extra_segment: u64,
    /// Allowed by an explicit consent.
    pub allowed_by_consent: u64,
    /// Allowed by soft opt-in (existing customer).
    pub allowed_by_soft_opt_in: u64,
    /// `INVALID_NUMBER` records whose number is in scientific notation (`4.79123E+10`, a
    /// spreadsheet's doing): counted to name the cause once in the summary.
    pub scientific_numbers: u64,
    /// [`Reason::NoOptOutRoute`] records by country calling code (a map: only countries
    /// without a route appear, and a chunk touches it only for such records).
    pub no_route_by_code: std::collections::BTreeMap<u16, u64>,
}

impl Counts {
    /// Records seen.
    pub fn input(&self) -> u64 {
        self.reasons.iter().sum()
    }

    /// Records allowed.
    pub fn allowed(&self) -> u64 {
        self.reasons[Reason::Allowed.index()]
    }

    /// Counts one record's basis ([`Basis::None`] for rejected records counts nothing).
    #[inline]
    pub fn count_basis(&mut self, basis: Basis) {
        match basis {
            Basis::Consent(_) => self.allowed_by_consent += 1,
            Basis::SoftOptIn(_) => self.allowed_by_soft_opt_in += 1,
            Basis::None | Basis::Service => {}
        }
    }

    /// Adds `o` to `self`.
    pub fn add(&mut self, o: &Counts) {
        for (a, b) in self.reasons.iter_mut().zip(o.reasons) {
            *a += b;
        }
        self.blank_lines += o.blank_lines;
        self.messages += o.messages;
        self.segments_before += o.segments_before;
        self.segments_after += o.segments_after;
        self.footer_added += o.footer_added;
        self.footer_extra_segment += o.footer_extra_segment;
        self.allowed_by_consent += o.allowed_by_consent;
        self.allowed_by_soft_opt_in += o.allowed_by_soft_opt_in;
        self.scientific_numbers += o.scientific_numbers;
        for (&cc, &n) in &o.no_route_by_code {
            *self.no_route_by_code.entry(cc).or_insert(0) += n;
        }
    }

    /// [`Counts::no_route_by_code`] by country: the ISO code of the calling code's main
    /// region (`+45` → `DK`), or `+CC` for a code without one.
    pub fn no_route_by_country(&self) -> Vec<(String, u64)> {
        self.no_route_by_code
            .iter()
            .map(|(&cc, &n)| {
                let name = crate::phone::Region::of_country_code(cc)
                    .map_or_else(|| format!("+{cc}"), |r| r.as_str().to_string());
                (name, n)
            })
            .collect()
    }
}

/// The outcome of a streaming run.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// All counters.
    pub counts: Counts,
    /// Line numbers (1-based, in the input) of the first malformed records, at most
    /// [`Report::MAX_MALFORMED_LINES`]. The records themselves are never echoed.
    pub malformed_lines: Vec<u64>,
    /// Set when the start of the input is not UTF-8 (see [`crate::spreadsheet::not_utf8`]):
    /// the likely cause of `MALFORMED` messages, named in the summary.
    pub not_utf8: Option<crate::spreadsheet::NotUtf8>,
    /// Snapshot generation of the standing source used.
    pub generation: u64,
    /// Last journal sequence number the source included.
    pub journal_seq: u64,
    /// The instant decisions were made at (Unix seconds).
    pub now: i64,
    /// True when `now` was given (`--now`) more than an hour from the clock: a replay, not
    /// a live decision (see [`crate::replay`]). Set by the caller that knows the clock.
    pub now_overridden: bool,
    /// Wall-clock seconds the run took.
    pub elapsed_seconds: f64,
}

impl Report {
    /// How many malformed line numbers are kept.
    pub const MAX_MALFORMED_LINES: usize = 100;

    /// Records decided per second of wall-clock time.
    pub fn recipients_per_second(&self) -> f64 {
        if self.elapsed_seconds > 0.0 {
            self.counts.input() as f64 / self.elapsed_seconds
        } else {
            0.0
        }
    }

    /// The `--report` document.
    ///
    /// ```
    /// let r = sendfilter::Report {
    ///     counts: Default::default(), malformed_lines: vec![], not_utf8: None, generation: 3,
    ///     journal_seq: 9, now: 0, now_overridden: false, elapsed_seconds: 0.5,
    /// };
    /// let v = r.to_json();
    /// assert_eq!(v["input"], 0);
    /// assert_eq!(v["reasons"]["NO_CONSENT"], 0);
    /// assert_eq!(v["snapshot_generation"], 3);
    /// ```
    pub fn to_json(&self) -> serde_json::Value {
        let c = &self.counts;
        let reasons: serde_json::Map<String, serde_json::Value> = Reason::ALL
            .iter()
            .filter(|r| !r.is_allowed())
            .map(|r| (r.as_str().to_string(), c.reasons[r.index()].into()))
            .collect();
        serde_json::json!({
            "input": c.input(),
            "allowed": c.allowed(),
            "allowed_by": {
                "consent": c.allowed_by_consent,
                "soft_opt_in": c.allowed_by_soft_opt_in,
            },
            "rejected": c.input() - c.allowed(),
            "reasons": reasons,
            "no_opt_out_route_by_country": c
                .no_route_by_country()
                .into_iter()
                .map(|(k, n)| (k, serde_json::Value::from(n)))
                .collect::<serde_json::Map<_, _>>(),
            "blank_lines": c.blank_lines,
            "malformed_lines": self.malformed_lines,
            "scientific_numbers": c.scientific_numbers,
            "input_not_utf8": self.not_utf8.map(|n| match n {
                crate::spreadsheet::NotUtf8::LooksLikeWindows1252 => "looks like windows-1252",
                crate::spreadsheet::NotUtf8::Other => "unknown encoding",
            }),
            "messages": c.messages,
            "segments_before": c.segments_before,
            "segments_after": c.segments_after,
            "footer_added": c.footer_added,
            "footer_extra_segment": c.footer_extra_segment,
            "snapshot_generation": self.generation,
            "journal_seq": self.journal_seq,
            "now": crate::timefmt::format_rfc3339(self.now),
            "now_overridden": self.now_overridden,
            "elapsed_seconds": self.elapsed_seconds,
            "recipients_per_second": self.recipients_per_second(),
        })
    }

    /// A one-paragraph human summary for stderr. Holds counts only, never data.
    pub fn summary(&self) -> String {
        let c = &self.counts;
        let mut s = String::new();
        if self.now_overridden {
            s.push_str(&format!(
                "NOW OVERRIDDEN: decided as of {}, not the clock; ",
                crate::timefmt::format_rfc3339(self.now)
            ));
        }
        s.push_str(&format!("{} in, {} allowed", c.input(), c.allowed()));
        if c.allowed_by_soft_opt_in > 0 {
            s.push_str(&format!(
                " ({} by consent, {} by soft opt-in)",
                c.allowed_by_consent, c.allowed_by_soft_opt_in
            ));
        }
        for r in Reason::ALL.iter().filter(|r| !r.is_allowed() && c.reasons[r.index()] > 0) {
            s.push_str(&format!(", {} {}", c.reasons[r.index()], r.as_str()));
            if *r == Reason::NoOptOutRoute {
                let by: Vec<String> =
                    c.no_route_by_country().iter().map(|(k, n)| format!("{k} {n}")).collect();
                s.push_str(&format!(" ({})", by.join(", ")));
            }
        }
        if c.messages > 0 {
            s.push_str(&format!(
                "; {} messages, {} -> {} segments, footer added to {} ({} into an extra segment)",
                c.messages,
                c.segments_before,
                c.segments_after,
                c.footer_added,
                c.footer_extra_segment
            ));
        }
        if !self.malformed_lines.is_empty() {
            let shown: Vec<String> =
                self.malformed_lines.iter().take(10).map(u64::to_string).collect();
            s.push_str(&format!("; malformed at line {}", shown.join(", ")));
            if c.reasons[Reason::Malformed.index()] > 10 {
                s.push_str(", ...");
            }
            if let Some(why) = self.not_utf8 {
                s.push_str(&format!(" ({})", why.explain()));
            }
        }
        if c.scientific_numbers > 0 {
            s.push_str(&format!(
                "; {}",
                crate::spreadsheet::explain_scientific(c.scientific_numbers)
            ));
        }
        s.push_str(&format!(
            "; {:.2}s, {:.1} M recipients/s",
            self.elapsed_seconds,
            self.recipients_per_second() / 1e6
        ));
        s
    }
}
