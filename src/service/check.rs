//! `POST /v1/check`: one `{number, brand, purpose, class?, message?}` object, or NDJSON
//! lines of them (`Content-Type: application/x-ndjson`, up to [`MAX_LINES`]), answered in
//! input order with the verdict and reason `filter` gives: E.164, and the stamped message
//! with its SMS segments where a message was given. In a batch, a number seen earlier in
//! the same request for the same brand, purpose and class is `DUPLICATE`, as in a
//! campaign; a line that cannot be read is `MALFORMED`.
//!
//! A batch's lines of the simple shape (see [`check_line`]) are read without serde,
//! decided a handle at a time with [`Handle::decide_batch`] (lookups prefetched) and
//! answered into one buffer sized up front; the other lines go the general way, in place.

use std::borrow::Cow;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{ApiError, State, check_line};
use crate::decision::{Class, Reason, Verdict};
use crate::handle::Handle;

/// Most lines in one batch request.
pub const MAX_LINES: usize = 100_000;

#[derive(Deserialize)]
struct Request<'a> {
    #[serde(borrow)]
    number: Cow<'a, str>,
    #[serde(borrow)]
    brand: Cow<'a, str>,
    #[serde(borrow)]
    purpose: Cow<'a, str>,
    #[serde(default, borrow)]
    class: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    message: Option<Cow<'a, str>>,
}

/// One answer line.
#[derive(Serialize)]
struct Answer<'a> {
    line: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    e164: Option<String>,
    verdict: &'static str,
    reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    segments: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// The handles a request uses, with the numbers already seen per handle (duplicates).
struct Batch<'s> {
    state: &'s State,
    handles: Vec<((String, String, Class, bool), Handle)>,
    seen: super::dedup::Seen,
    counts: [u64; Reason::COUNT],
    stamped: String,
}

impl Batch<'_> {
    fn handle(
        &mut self,
        brand: &str,
        purpose: &str,
        class: Class,
        stamp: bool,
    ) -> Result<usize, String> {
        if let Some(i) = self
            .handles
            .iter()
            .position(|((b, p, c, s), _)| b == brand && p == purpose && *c == class && *s == stamp)
        {
            return Ok(i);
        }
        let h = self.state.handle(brand, purpose, class, stamp).map_err(|e| e.to_string())?;
        self.handles.push(((brand.to_string(), purpose.to_string(), class, stamp), h));
        Ok(self.handles.len() - 1)
    }

    /// Decides one line; writes its answer (one JSON line, no newline) to `out`. Returns
    /// the error of a line that could not be decided.
    fn line(&mut self, line: usize, text: &[u8], dedup: bool, out: &mut Vec<u8>) -> Option<String> {
        let answer = |reason: Reason, error: Option<String>| Answer {
            line,
            e164: None,
            verdict: "reject",
            reason: reason.as_str(),
            message: None,
            segments: None,
            error,
        };
        let req: Request<'_> = match serde_json::from_slice(text) {
            Ok(r) => r,
            Err(e) => {
                self.counts[Reason::Malformed.index()] += 1;
                let why =
                    format!("not a check request: {}", e.to_string().replace(['\n', '\r'], " "));
                let _ =
                    serde_json::to_writer(&mut *out, &answer(Reason::Malformed, Some(why.clone())));
                return Some(why);
            }
        };
        let class = match req.class.as_deref().map(str::parse::<Class>).transpose() {
            Ok(c) => c.unwrap_or(Class::Marketing),
            Err(e) => {
                self.counts[Reason::Malformed.index()] += 1;
                let _ =
                    serde_json::to_writer(&mut *out, &answer(Reason::Malformed, Some(e.clone())));
                return Some(e);
            }
        };
        let stamp = req.message.is_some() && class == Class::Marketing;
        let i = match self.handle(&req.brand, &req.purpose, class, stamp) {
            Ok(i) => i,
            Err(e) => {
                self.counts[Reason::Malformed.index()] += 1;
                let _ =
                    serde_json::to_writer(&mut *out, &answer(Reason::Malformed, Some(e.clone())));
                return Some(e);
            }
        };
        let h = &self.handles[i].1;
        let verdict = h.decide(req.number.as_bytes());
        let mut v = match verdict {
            Ok(v) => v,
            Err(e) => {
                // Fail closed: no verdict while the store cannot be read.
                let _ = serde_json::to_writer(
                    &mut *out,
                    &answer(Reason::Malformed, Some(e.to_string())),
                );
                return Some(e.to_string());
            }
        };
        if dedup
            && let Some(e) = v.e164
            && !self.seen.insert(i, e.as_u64())
        {
            v = Verdict { e164: Some(e), reason: Reason::Duplicate };
        }
        let mut segments = None;
        let mut message = None;
        if let Some(m) = req.message.as_deref() {
            if v.reason == Reason::Duplicate {
                self.stamped.clear();
                self.stamped.push_str(m);
            } else {
                match h.stamp(v, m, &mut self.stamped) {
                    Ok(s) => v = s,
                    Err(e) => {
                        self.counts[Reason::Malformed.index()] += 1;
                        let _ = serde_json::to_writer(
                            &mut *out,
                            &answer(Reason::Malformed, Some(e.to_string())),
                        );
                        return Some(e.to_string());
                    }
                }
            }
            segments = Some(crate::sms::count(&self.stamped).segments);
            message = Some(self.stamped.as_str());
        }
        self.counts[v.reason.index()] += 1;
        let a = Answer {
            line,
            e164: v.e164.map(|e| e.to_string()),
            verdict: if v.is_allowed() { "allow" } else { "reject" },
            reason: v.reason.as_str(),
            message,
            segments,
            error: None,
        };
        let _ = serde_json::to_writer(&mut *out, &a);
        None
    }
}

/// One non-blank line of a batch: of the simple shape with its handle resolved (decided
/// in batches), or left to [`Batch::line`].
enum Item<'a> {
    Fast { line: usize, h: usize, number: &'a [u8] },
    Slow { line: usize, text: &'a [u8] },
}

impl<'b> Batch<'_> {
    /// The non-blank lines of `body`, the simple ones with their handles.
    ///
    /// # Errors
    /// [`ApiError`] for an empty batch or too many lines.
    fn read_lines(&mut self, body: &'b [u8]) -> Result<Vec<Item<'b>>, ApiError> {
        let mut items = Vec::with_capacity(body.len() / 48 + 1);
        // The scope (brand, purpose, class) of the last simple line and its handle: lines
        // of one scope in a row are matched byte for byte, not decoded again.
        let mut last: Option<(check_line::Raw<'b>, usize)> = None;
        let mut start = 0;
        let mut line = 0;
        while start < body.len() {
            let end = memchr::memchr(b'\n', &body[start..]).map_or(body.len(), |n| start + n);
            let l = &body[start..end];
            start = end + 1;
            line += 1;
            let l = l.strip_suffix(b"\r").unwrap_or(l);
            if l.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if items.len() == MAX_LINES {
                return Err(ApiError::too_large(format!(
                    "a check batch holds at most {MAX_LINES} lines"
                )));
            }
            let fast = check_line::parse_raw(l).and_then(|raw| {
                let h = match last {
                    Some((prev, h)) if prev.same_scope(&raw) => {
                        std::str::from_utf8(raw.number).ok()?;
                        h
                    }
                    _ => {
                        let s = raw.text()?;
                        let class = match s.class {
                            Some(c) => c.parse::<Class>().ok()?,
                            None => Class::Marketing,
                        };
                        let h = self.handle(s.brand, s.purpose, class, false).ok()?;
                        last = Some((raw, h));
                        h
                    }
                };
                Some(Item::Fast { line, h, number: raw.number })
            });
            items.push(fast.unwrap_or(Item::Slow { line, text: l }));
        }
        if items.is_empty() {
            return Err(ApiError::bad_request(
                "empty batch: send NDJSON lines of {number, brand, purpose}",
            ));
        }
        Ok(items)
    }

    /// Decides `items` (the simple ones a handle at a time, in batches) and writes their
    /// answers in order, one line each, into `out`.
    fn decide_fast(&mut self, items: &[Item<'_>], out: &mut Vec<u8>) {
        let mut verdicts: Vec<Option<Verdict>> = vec![None; items.len()];
        let mut failed: Vec<Option<String>> = vec![None; self.handles.len()];
        let mut numbers: Vec<&[u8]> = Vec::new();
        let mut at: Vec<usize> = Vec::new();
        let mut got: Vec<Verdict> = Vec::new();
        for (h, (_, handle)) in self.handles.iter().enumerate() {
            numbers.clear();
            at.clear();
            for (k, item) in items.iter().enumerate() {
                if let Item::Fast { h: ih, number, .. } = item
                    && *ih == h
                {
                    numbers.push(number);
                    at.push(k);
                }
            }
            if numbers.is_empty() {
                continue;
            }
            got.clear();
            match handle.decide_batch(&numbers, &mut got) {
                Ok(()) => {
                    for (&k, v) in at.iter().zip(&got) {
                        verdicts[k] = Some(*v);
                    }
                }
                Err(e) => failed[h] = Some(e.to_string()),
            }
        }
        out.reserve(items.len() * 72);
        self.seen.reserve(items.len());
        for (k, item) in items.iter().enumerate() {
            match *item {
                Item::Fast { line, h, .. } => match verdicts[k] {
                    Some(mut v) => {
                        if let Some(e) = v.e164
                            && !self.seen.insert(h, e.as_u64())
                        {
                            v = Verdict { e164: Some(e), reason: Reason::Duplicate };
                        }
                        self.counts[v.reason.index()] += 1;
                        let verdict = if v.is_allowed() { "allow" } else { "reject" };
                        let e164 = v.e164.map(|e| e.as_u64());
                        check_line::write_answer(out, line, e164, verdict, v.reason.as_str());
                    }
                    None => {
                        // Fail closed: no verdict while the store cannot be read.
                        let why = failed.get(h).cloned().flatten().unwrap_or_default();
                        let a = Answer {
                            line,
                            e164: None,
                            verdict: "reject",
                            reason: Reason::Malformed.as_str(),
                            message: None,
                            segments: None,
                            error: Some(why),
                        };
                        let _ = serde_json::to_writer(&mut *out, &a);
                    }
                },
                Item::Slow { line, text } => {
                    let _ = self.line(line, text, true, out);
                }
            }
            out.push(b'\n');
        }
    }
}

/// Answers a check request body: one JSON object (`ndjson` false) or NDJSON lines.
///
/// # Errors
/// [`ApiError`] for an empty body or too many lines.
pub(super) fn answer(
    state: &Arc<State>,
    caller: &super::auth::Caller,
    body: &[u8],
    ndjson: bool,
) -> Result<Vec<u8>, ApiError> {
    let mut b = Batch {
        state,
        handles: Vec::new(),
        seen: super::dedup::Seen::new(),
        counts: [0; Reason::COUNT],
        stamped: String::new(),
    };
    let mut out = Vec::with_capacity(if ndjson { body.len() } else { 256 });
    if !ndjson {
        if let Some(e) = b.line(1, body, false, &mut out) {
            return Err(ApiError::unprocessable(e));
        }
        out.push(b'\n');
    } else {
        let items = b.read_lines(body)?;
        b.decide_fast(&items, &mut out);
    }
    state.metrics.decisions(&b.counts);
    // Checks reveal standing: summed into the audit trail (see `super::tally`).
    state.tally.add(
        &caller.name,
        &caller.role,
        crate::store::access::Action::Filter,
        "check",
        Reason::ALL.iter().map(|r| (r.as_str(), b.counts[r.index()])),
    );
    Ok(out)
}
