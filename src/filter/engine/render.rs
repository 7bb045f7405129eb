//! Writing a decided record: an allowed one with its number in E.164 and its marketing
//! message stamped with the opt-out footer (or the run's `--message` filled in), a
//! rejected one as it came plus its reason.

use super::record::{NONE, Rec};
use super::{Ctx, Kind, Worker};
use crate::decision::Reason;
use crate::filter::csv::{self, Field};
use crate::filter::json;
use crate::phone::E164;
use crate::sms::{Footer, Stamp};
use crate::standing::StandingSource;

/// `--message`, stamped once for the whole run.
pub(super) struct Fill {
    /// SMS segments before and after stamping.
    pub(super) before: usize,
    pub(super) after: usize,
    /// Whether the footer was appended (not already present).
    pub(super) appended: bool,
    /// The stamped text as a CSV field (quoted as the run's separator needs).
    pub(super) csv: Vec<u8>,
    /// The stamped text as a JSON string.
    pub(super) json: Vec<u8>,
}

/// The run's `--message` `m` stamped with `footer` (as it is without one), ready to be
/// written into CSV records separated by `sep` or JSON lines.
pub(super) fn make_fill(footer: Option<&Footer>, m: &str, sep: u8) -> Fill {
    let mut text = String::new();
    let (mut before, mut after, mut appended) = (0, 0, false);
    match footer {
        Some(f) => {
            let plan = f.stamp(m, &mut text);
            let (b, a) = f.count_stamped(m, plan);
            (before, after, appended) = (b.segments, a.segments, plan != Stamp::Present);
        }
        None => text.push_str(m),
    }
    let mut csv = Vec::new();
    csv::push_field_by(&mut csv, text.as_bytes(), sep);
    let mut json = vec![b'"'];
    json::push_escaped(&mut json, &text);
    json.push(b'"');
    Fill { before, after, appended, csv, json }
}

/// Writes `e`, copying `raw` when it already is exactly `+digits` of `e` (the common
/// clean-input case: a copy instead of digit formatting).
#[inline]
fn push_number(out: &mut Vec<u8>, raw: &[u8], e: E164) {
    if is_clean_e164(raw, e) {
        out.extend_from_slice(raw);
    } else {
        push_e164(out, e);
    }
}

/// True when `raw` is exactly `+digits` of `e`.
#[inline]
fn is_clean_e164(raw: &[u8], e: E164) -> bool {
    matches!(raw, [b'+', digits @ ..]
        if (1..=15).contains(&digits.len())
            && digits.iter().all(u8::is_ascii_digit)
            && digits.iter().fold(0u64, |a, d| a * 10 + u64::from(d - b'0')) == e.as_u64())
}

/// Copies `rec[*pos..f.start]` (the unchanged bytes before field `f`) and moves `pos`
/// past `f`.
#[inline]
fn copy_until(out: &mut Vec<u8>, rec: &[u8], pos: &mut usize, f: Field) {
    out.extend_from_slice(&rec[*pos..f.start as usize]);
    *pos = f.end as usize;
}

fn push_e164(out: &mut Vec<u8>, e: E164) {
    let mut b = [0u8; E164::MAX_WRITTEN_LEN];
    let n = e.write_to(&mut b);
    out.extend_from_slice(&b[..n]);
}

/// Writes an allowed record: number in E.164, message stamped (`stamp` is the plan and
/// whether the run's `--message` fills in; `fidx` the footer's index).
pub(super) fn render_allowed<S: StandingSource>(
    ctx: &Ctx<'_, '_, S>,
    w: &Worker,
    rec: &[u8],
    r: &Rec,
    e: E164,
    (stamp, fidx): (Option<(Stamp, bool)>, usize),
    out: &mut Vec<u8>,
) {
    let footer = ctx.footers.get(fidx).map_or("", |f| f.text());
    match ctx.kind {
        Kind::Lines => push_number(out, rec, e),
        Kind::Csv { number, message, sep, .. } => {
            let edit = message_edit(stamp, ctx.fill_bytes_csv(fidx), footer);
            let extra = match message {
                None => ctx.fill(fidx).map(|f| f.csv.as_slice()),
                Some(_) => None,
            };
            let layout = CsvLayout { number, message, sep };
            csv_allowed(out, rec, &w.fields[r.csv_fields()], layout, e, edit, extra);
        }
        Kind::Jsonl => {
            let edit = message_edit(stamp, ctx.fill_bytes_json(fidx), footer);
            let field = ctx.opts.message_field.as_str();
            let extra = ctx.fill(fidx).map(|f| (field, f.json.as_slice()));
            jsonl_allowed(out, rec, r, e, edit, extra);
        }
    }
    out.push(b'\n');
}

/// What `stamp` (the plan, and whether the run's `--message` fills in) does to a message:
/// `fill` is the `--message` as the format writes it, `footer` the footer's text.
fn message_edit<'a>(
    stamp: Option<(Stamp, bool)>,
    fill: &'a [u8],
    footer: &'a str,
) -> MessageEdit<'a> {
    match stamp {
        Some((_, true)) => MessageEdit::Fill(fill),
        Some((plan @ Stamp::Appended { .. }, false)) => {
            MessageEdit::Append { separator: plan.separator(), footer }
        }
        _ => MessageEdit::Keep,
    }
}

/// Writes an allowed JSON line `rec` (parsed into `r`): the number value as an E.164
/// string, the message value edited as `edit` says (a JSON string: see `parse`), and,
/// when the object has no message, `extra` (the message field's name and the run's
/// `--message` as a JSON string) added as its last member.
fn jsonl_allowed(
    out: &mut Vec<u8>,
    rec: &[u8],
    r: &Rec,
    e: E164,
    edit: MessageEdit<'_>,
    extra: Option<(&str, &[u8])>,
) {
    let num = r.json_number();
    let num = (num.start, num.end);
    let msg = r.json_message().map(|m| (m.start, m.end));
    let mut pos = 0;
    let mut splice = |out: &mut Vec<u8>, at: (usize, usize), what: &dyn Fn(&mut Vec<u8>)| {
        out.extend_from_slice(&rec[pos..at.0]);
        what(out);
        pos = at.1;
    };
    let write_num = |o: &mut Vec<u8>| {
        o.push(b'"');
        push_e164(o, e);
        o.push(b'"');
    };
    let write_msg = |o: &mut Vec<u8>| {
        let (s, t) = msg.unwrap_or((0, 0));
        let raw = &rec[s..t];
        match edit {
            MessageEdit::Fill(fill) => o.extend_from_slice(fill),
            MessageEdit::Append { separator, footer } => {
                o.extend_from_slice(&raw[..raw.len() - 1]);
                json::push_escaped(o, separator);
                json::push_escaped(o, footer);
                o.push(b'"');
            }
            MessageEdit::Keep => o.extend_from_slice(raw),
        }
    };
    match msg {
        Some(m) if m.0 < num.0 => {
            splice(out, m, &write_msg);
            splice(out, num, &write_num);
        }
        Some(m) => {
            splice(out, num, &write_num);
            splice(out, m, &write_msg);
        }
        None => splice(out, num, &write_num),
    }
    let close = r.close as usize;
    out.extend_from_slice(&rec[pos..close]);
    if msg.is_none()
        && let Some((field, fill)) = extra
    {
        out.extend_from_slice(b",\"");
        json::push_escaped(out, field);
        out.extend_from_slice(b"\":");
        out.extend_from_slice(fill);
    }
    out.extend_from_slice(&rec[close..]);
}

/// Where a CSV run's number and message are, and what separates fields.
#[derive(Clone, Copy, Debug)]
pub(super) struct CsvLayout {
    /// The number column.
    pub(super) number: usize,
    /// The message column, if the input has one.
    pub(super) message: Option<usize>,
    /// The field separator.
    pub(super) sep: u8,
}

/// What becomes of an allowed record's message.
#[derive(Clone, Copy, Debug)]
pub(super) enum MessageEdit<'a> {
    /// Written as it came.
    Keep,
    /// Replaced by the run's `--message`, already a CSV field or JSON string.
    Fill(&'a [u8]),
    /// The footer appended after `separator`, quoted as needed.
    Append {
        /// What goes between the message and the footer.
        separator: &'a str,
        /// The footer's text.
        footer: &'a str,
    },
}

/// Writes an allowed CSV record `rec` (split into `fields`): its number in E.164, its
/// message edited as `edit` says, and `extra` (a `--message` for input without a message
/// column) appended as a last field.
///
/// The record is its fields' raw bytes joined by separators (see `csv::split_fields`):
/// it is copied in runs, replacing only the number (unless already clean E.164) and an
/// edited message, in record order. Field by field it reads as the reference model in this
/// module's tests.
pub(super) fn csv_allowed(
    out: &mut Vec<u8>,
    rec: &[u8],
    fields: &[Field],
    CsvLayout { number, message, sep }: CsvLayout,
    e: E164,
    edit: MessageEdit<'_>,
    extra: Option<&[u8]>,
) {
    let num = fields.get(number).copied();
    let num = num.filter(|f| !is_clean_e164(f.raw(rec), e));
    // (A message column that is the number column stays the number.)
    let message_field = message.filter(|&m| m != number).and_then(|m| fields.get(m));
    let msg = match (message_field, edit) {
        (_, MessageEdit::Keep) | (None, _) => None,
        (Some(f), edit) => Some((*f, edit)),
    };
    let write_num = |out: &mut Vec<u8>| push_e164(out, e);
    let write_msg = |out: &mut Vec<u8>, f: Field, edit| push_message(out, rec, f, edit, sep);
    let mut pos = 0usize;
    match (num, msg) {
        (Some(n), Some((m, edit))) if m.start < n.start => {
            copy_until(out, rec, &mut pos, m);
            write_msg(out, m, edit);
            copy_until(out, rec, &mut pos, n);
            write_num(out);
        }
        (n, m) => {
            if let Some(n) = n {
                copy_until(out, rec, &mut pos, n);
                write_num(out);
            }
            if let Some((m, edit)) = m {
                copy_until(out, rec, &mut pos, m);
                write_msg(out, m, edit);
            }
        }
    }
    out.extend_from_slice(&rec[pos..]);
    if let Some(extra) = extra {
        out.push(sep);
        out.extend_from_slice(extra);
    }
}

/// Writes message field `f` of `rec` edited as `edit` says.
fn push_message(out: &mut Vec<u8>, rec: &[u8], f: Field, edit: MessageEdit<'_>, sep: u8) {
    match edit {
        MessageEdit::Keep => out.extend_from_slice(f.raw(rec)),
        MessageEdit::Fill(fill) => out.extend_from_slice(fill),
        MessageEdit::Append { separator, footer } => {
            push_csv_stamped(out, f.raw(rec), f.quoted, separator, footer, sep)
        }
    }
}

impl<S: StandingSource> Ctx<'_, '_, S> {
    /// Whether the run has a `--message` to fill in.
    pub(super) fn has_fill(&self) -> bool {
        !self.fills.is_empty()
    }
    /// The `--message` stamped with footer `fidx`.
    pub(super) fn fill(&self, fidx: usize) -> Option<&Fill> {
        self.fills.get(fidx).or(self.fills.first())
    }
    /// The `--message` stamped with footer `fidx` as a CSV field (empty without one).
    pub(super) fn fill_bytes_csv(&self, fidx: usize) -> &[u8] {
        self.fill(fidx).map_or(&[], |f| &f.csv)
    }
    pub(super) fn fill_bytes_json(&self, fidx: usize) -> &[u8] {
        self.fill(fidx).map_or(b"\"\"", |f| &f.json)
    }
}

/// A CSV message field with the footer appended, quoted as needed for output separated by
/// `delimiter`.
fn push_csv_stamped(
    out: &mut Vec<u8>,
    raw: &[u8],
    quoted: bool,
    sep: &str,
    footer: &str,
    delimiter: u8,
) {
    if quoted {
        out.extend_from_slice(&raw[..raw.len() - 1]);
        csv::push_escaped(out, sep.as_bytes());
        csv::push_escaped(out, footer.as_bytes());
        out.push(b'"');
    } else if csv::needs_quotes_by(sep.as_bytes(), delimiter)
        || csv::needs_quotes_by(footer.as_bytes(), delimiter)
    {
        out.push(b'"');
        out.extend_from_slice(raw); // unquoted raw holds no quote (parser rule)
        csv::push_escaped(out, sep.as_bytes());
        csv::push_escaped(out, footer.as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(raw);
        out.extend_from_slice(sep.as_bytes());
        out.extend_from_slice(footer.as_bytes());
    }
}

/// Writes a rejected record: the original plus its reason.
pub(super) fn render_reject(kind: Kind, rec: &[u8], r: &Rec, reason: Reason, out: &mut Vec<u8>) {
    match kind {
        Kind::Lines => {
            out.extend_from_slice(rec);
            out.push(b'\t');
            out.extend_from_slice(reason.as_str().as_bytes());
        }
        Kind::Csv { sep, .. } => {
            // A record that does not split into fields (a stray or unclosed quote) is kept
            // whole as one quoted field: the rejects file stays valid CSV, the reason stays
            // its own column, and unquoting gives the original bytes back.
            if reason == Reason::Malformed
                && csv::split_fields_by(rec, &mut Vec::new(), sep).is_err()
            {
                out.push(b'"');
                csv::push_escaped(out, rec);
                out.push(b'"');
            } else {
                out.extend_from_slice(rec);
            }
            out.push(sep);
            out.extend_from_slice(reason.as_str().as_bytes());
        }
        Kind::Jsonl if r.close != NONE => {
            let close = r.close as usize;
            out.extend_from_slice(&rec[..close]);
            if r.nonempty {
                out.push(b',');
            }
            out.extend_from_slice(b"\"reason\":\"");
            out.extend_from_slice(reason.as_str().as_bytes());
            out.push(b'"');
            out.extend_from_slice(&rec[close..]);
        }
        Kind::Jsonl => {
            // Not a JSON object: keep the original text as a string.
            out.extend_from_slice(b"{\"record\":\"");
            json::push_escaped(out, &String::from_utf8_lossy(rec));
            out.extend_from_slice(b"\",\"reason\":\"");
            out.extend_from_slice(reason.as_str().as_bytes());
            out.extend_from_slice(b"\"}");
        }
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::filter::{FilterOptions, Format, RunOptions, Sinks, run_with};
    use crate::sms::Footer;
    use crate::standing::ConsentState;
    use crate::{E164, MemorySource};

    fn source() -> MemorySource {
        let mut s = MemorySource::default();
        let c = ConsentState { granted_at: 1, confirmed_at: None, expires_at: None, event_seq: 1 };
        for n in 4791000000..4791000010u64 {
            s.consents.insert((E164::from_u64(n).unwrap(), "ACME".into(), "offers".into()), c);
        }
        s
    }

    /// A number as a campaign list may spell it: clean E.164, national, spaced, quoted.
    fn number() -> impl Strategy<Value = String> {
        (0u64..12, 0u8..5).prop_map(|(i, style)| {
            let n = 4791000000 + i;
            match style {
                0 | 1 => format!("+{n}"),
                2 => format!("{}", n - 4700000000),
                3 => format!("\"+47 {}\"", n - 4700000000),
                _ => format!("00{n}"),
            }
        })
    }

    /// A CSV message field: plain, quoted with commas/quotes/newlines, with the footer
    /// already present, ending in whitespace, empty.
    fn message() -> impl Strategy<Value = String> {
        prop_oneof![
            r"[a-zA-Z æø€{}]{0,30}",
            r#""[a-z ,\n€]{0,20}(""[a-z]{0,3}"")?[a-z ]{0,5}""#,
            Just("Hei Svar ACME STOPP til 2401".to_string()),
            Just("\"Hei, svar acme stopp til 2401\"".to_string()),
            Just("Tilbud ".to_string()),
            Just(String::new()),
        ]
    }

    use super::{CsvLayout, MessageEdit, csv_allowed, push_message, push_number};
    use crate::filter::csv::{Field, split_fields_by};

    /// The field-by-field rendering that [`csv_allowed`] copies in runs: every field in
    /// turn, the number one in E.164 (kept when already clean), the message one edited.
    fn csv_allowed_model(
        out: &mut Vec<u8>,
        rec: &[u8],
        fields: &[Field],
        CsvLayout { number, message, sep }: CsvLayout,
        e: E164,
        edit: MessageEdit<'_>,
        extra: Option<&[u8]>,
    ) {
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                out.push(sep);
            }
            if i == number {
                push_number(out, f.raw(rec), e);
            } else if Some(i) == message {
                push_message(out, rec, *f, edit, sep);
            } else {
                out.extend_from_slice(f.raw(rec));
            }
        }
        if let Some(extra) = extra {
            out.push(sep);
            out.extend_from_slice(extra);
        }
    }

    /// A message edit: kept, filled (a quoted field), the footer appended after a space or
    /// after a separator that needs quoting.
    fn edit() -> impl Strategy<Value = MessageEdit<'static>> {
        prop_oneof![
            Just(MessageEdit::Keep),
            Just(MessageEdit::Fill(b"\"Fyll inn, \"\"takk\"\"\"")),
            Just(MessageEdit::Append { separator: " ", footer: "Svar ACME STOPP til 2401" }),
            Just(MessageEdit::Append { separator: "; ", footer: "Svar, STOPP til 2401" }),
        ]
    }

    proptest! {
        /// Any record layout (number before or after the message, the message column
        /// absent or the number's own), clean or messy numbers, any edit, `,` or `;`
        /// between fields: the copy in runs writes what the field-by-field model writes.
        #[test]
        fn csv_allowed_equals_the_field_by_field_model(
            rows in proptest::collection::vec((number(), message(), "[a-z;]{0,4}"), 1..20),
            order in 0usize..4, same in any::<bool>(), semicolon in any::<bool>(),
            edit in edit(), extra in any::<bool>(),
        ) {
            let sep = if semicolon { b';' } else { b',' };
            let (number, message) = [(0, Some(1)), (2, Some(1)), (1, Some(0)), (1, None)][order];
            let message = if same { Some(number) } else { message };
            let layout = CsvLayout { number, message, sep };
            let extra = extra.then_some(&b"\"tillegg\""[..]);
            for (i, (n, m, x)) in rows.iter().enumerate() {
                let cells = match order {
                    0 => [n.as_str(), m.as_str(), x.as_str()],
                    1 => [x.as_str(), m.as_str(), n.as_str()],
                    2 => [m.as_str(), n.as_str(), x.as_str()],
                    _ => [x.as_str(), n.as_str(), m.as_str()],
                };
                let rec = cells.join(if semicolon { ";" } else { "," });
                let mut fields = Vec::new();
                if split_fields_by(rec.as_bytes(), &mut fields, sep).is_err() {
                    continue; // not a record the run would render
                }
                let e = E164::from_u64(4791000000 + i as u64).unwrap();
                let (mut got, mut want) = (Vec::new(), Vec::new());
                csv_allowed(&mut got, rec.as_bytes(), &fields, layout, e, edit, extra);
                csv_allowed_model(&mut want, rec.as_bytes(), &fields, layout, e, edit, extra);
                prop_assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&want));
            }
        }
    }

    proptest! {
        /// Any column order (number before or after the message, extra columns around,
        /// no message column), clean or messy numbers, stamped, present or filled
        /// messages: every record is decided once, and clean numbers come out byte for
        /// byte (`csv_allowed_equals_the_field_by_field_model` checks the rendering).
        #[test]
        fn csv_runs_decide_every_record_and_keep_clean_numbers(
            rows in proptest::collection::vec((number(), message(), "[a-z]{0,4}"), 1..30),
            order in 0usize..4, fill in any::<bool>(), crlf in any::<bool>(),
        ) {
            let header = ["number,message,x", "x,message,number", "message,number", "x,number"][order];
            let mut input = format!("{header}\n");
            for (n, m, x) in &rows {
                let line = match order {
                    0 => format!("{n},{m},{x}"),
                    1 => format!("{x},{m},{n}"),
                    2 => format!("{m},{n}"),
                    _ => format!("{x},{n}"),
                };
                input.push_str(&line);
                input.push_str(if crlf { "\r\n" } else { "\n" });
            }
            let mut f = FilterOptions::at(100);
            f.footer = Some(Footer::new("Svar {brand} STOPP til {shortcode}", "ACME", Some("2401")).unwrap());
            let mut o = RunOptions::new("ACME", "offers", f).with_format(Format::Csv);
            if fill {
                o.message = Some("Fyll inn, \"takk\"".into());
            }
            let (mut out, mut rej) = (Vec::new(), Vec::new());
            let sinks = Sinks { output: &mut out, rejects: Some(&mut rej), progress: None };
            let report = run_with(&source(), &o, input.as_bytes(), sinks).unwrap();
            prop_assert_eq!(report.counts.input() as usize, rows.len());
            let out = String::from_utf8(out).unwrap();
            for line in out.lines().skip(1) {
                if order == 3 && !fill {
                    prop_assert!(line.contains(",+47910000"), "{}", line);
                }
            }
        }
    }
}
