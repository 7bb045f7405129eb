//! CSV import of stops and consents: header checked, rows validated, good rows appended
//! as one batch with one fsync.
//!
//! Formats (columns in any order, exactly these names):
//! ```text
//! stops:    number,brand,stopped_at
//! consents: number,brand,purpose,channel,granted_at,method,text_ref,source,expires_at,confirmed_at
//! customers: number,brand,relationship,started_at,last_purchase_at,ends_at,informed_at
//! ```
//! Times are RFC 3339; an empty `stopped_at` is the import time (counted in
//! [`ImportReport::undated_stops`]); `expires_at` and `confirmed_at` may be empty, and so may a
//! customer's `last_purchase_at`, `ends_at` and `informed_at` (empty = never informed).
//! Channel and relationship names are codes, stored in lower case. Numbers are
//! normalised with the given region. A bad row is reported with its line number and a
//! [`Invalid`] code, with the number masked. In strict mode any bad row aborts the whole
//! import and nothing is written.

use std::io::Read;

use crate::bounded::RecordLimit;
use crate::phone::{self, E164, Region};
use crate::standing::{StandingSource as _, Timestamp};
use crate::store::error::{Field, HeaderError, Invalid, StoreError};
use crate::store::event::EventRef;
use crate::store::{Batch, Store, StoreView, ViewScope};
use crate::timefmt::parse_rfc3339;

mod fields;
mod scopes;
use fields::Fields;
use scopes::ScopeCache;

/// What is being imported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `number,brand,stopped_at`
    Stops,
    /// `number,brand,purpose,channel,granted_at,method,text_ref,source,expires_at,confirmed_at`
    Consents,
    /// `number,brand,relationship,started_at,last_purchase_at,ends_at,informed_at`
    Customers,
}

const STOP_FIELDS: [Field; 3] = [Field::Number, Field::Brand, Field::StoppedAt];
const CONSENT_FIELDS: [Field; 10] = [
    Field::Number,
    Field::Brand,
    Field::Purpose,
    Field::Channel,
    Field::GrantedAt,
    Field::Method,
    Field::TextRef,
    Field::Source,
    Field::ExpiresAt,
    Field::ConfirmedAt,
];

const CUSTOMER_FIELDS: [Field; 7] = [
    Field::Number,
    Field::Brand,
    Field::Relationship,
    Field::StartedAt,
    Field::LastPurchaseAt,
    Field::EndsAt,
    Field::InformedAt,
];

impl Kind {
    fn fields(self) -> &'static [Field] {
        match self {
            Kind::Stops => &STOP_FIELDS,
            Kind::Consents => &CONSENT_FIELDS,
            Kind::Customers => &CUSTOMER_FIELDS,
        }
    }

    /// The exact header, for messages.
    pub fn header(self) -> &'static str {
        match self {
            Kind::Stops => "number,brand,stopped_at",
            Kind::Consents => {
                "number,brand,purpose,channel,granted_at,method,text_ref,source,expires_at,confirmed_at"
            }
            Kind::Customers => {
                "number,brand,relationship,started_at,last_purchase_at,ends_at,informed_at"
            }
        }
    }
}

/// Options of one import.
#[derive(Clone, Copy, Debug)]
pub struct ImportOptions {
    /// Region for national-format numbers.
    pub region: Region,
    /// Abort with nothing written on any bad row.
    pub strict: bool,
    /// The field separator (`,`; `;`, tab or `|` for spreadsheet exports, see
    /// [`crate::spreadsheet::parse_delimiter`]).
    pub delimiter: u8,
}

/// A refused row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    /// 1-based line number in the input.
    pub line: u64,
    /// The masked number, when it could be normalised.
    pub number: Option<String>,
    /// Why.
    pub reason: Invalid,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}", self.line)?;
        if let Some(n) = &self.number {
            write!(f, " ({n})")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Data rows read.
    pub rows: u64,
    /// Events written (durable when the import returned `Ok`).
    pub imported: u64,
    /// Bad rows, up to [`MAX_REPORTED`] of them.
    pub errors: Vec<RowError>,
    /// Number of bad rows.
    pub bad: u64,
    /// Sms consents granted after a stop already in the store, but not confirmed after
    /// it: kept as evidence, yet the stop stands.
    pub not_lifted: u64,
    /// Stops imported without a `stopped_at`: recorded at the import time (a later stop is
    /// the safe reading of an opt-out whose time is not known).
    pub undated_stops: u64,
    /// True when strict mode refused the import (nothing written).
    pub aborted: bool,
    /// Bad rows whose number is in scientific notation (`4.79123E+10`: a spreadsheet's
    /// doing, see [`crate::spreadsheet::is_scientific`]).
    pub scientific_numbers: u64,
    /// Last sequence number written (0 if none).
    pub last_seq: u64,
}

/// At most this many row errors are kept in the report (all are counted).
pub const MAX_REPORTED: usize = 1000;

fn field_str<'r>(row: &Fields<'r>, col: usize, f: Field) -> Result<&'r str, Invalid> {
    row.text(col).ok_or(Invalid::FieldCount)?.ok_or(Invalid::NotUtf8(f))
}

fn time(row: &Fields<'_>, col: usize, f: Field) -> Result<Option<Timestamp>, Invalid> {
    let s = field_str(row, col, f)?;
    if s.is_empty() {
        return Ok(None);
    }
    let t = parse_rfc3339(s).map_err(|_| Invalid::BadTime(f))?;
    crate::store::event::check_time(t, f)?;
    Ok(Some(t))
}

/// Reads the header line: the columns of `kind`'s fields, and how many columns a row has.
fn read_header<R: Read>(
    rdr: &mut csv::Reader<RecordLimit<R>>,
    rec: &mut csv::ByteRecord,
    kind: Kind,
    delimiter: u8,
) -> Result<(Vec<usize>, usize), StoreError> {
    let read = rdr.read_byte_record(rec).map_err(|source| StoreError::Csv { line: 1, source })?;
    if !read {
        return Err(StoreError::Header(HeaderError {
            missing: kind.fields().iter().map(|f| f.name().to_string()).collect(),
            extra: Vec::new(),
            duplicate: Vec::new(),
            expected: kind.header(),
            hint: None,
        }));
    }
    rdr.get_mut().reset();
    Ok((check_header(kind, rec, delimiter)?, rec.len()))
}

fn check_header(
    kind: Kind,
    header: &csv::ByteRecord,
    delimiter: u8,
) -> Result<Vec<usize>, StoreError> {
    let cells: Vec<&[u8]> = header
        .iter()
        .enumerate()
        .map(|(i, h)| if i == 0 { crate::csv_header::strip_bom(h) } else { h })
        .collect();
    // Names compare as text; a cell that is not UTF-8 matches nothing.
    let names: Vec<Option<&str>> =
        cells.iter().map(|c| std::str::from_utf8(c).ok().map(str::trim)).collect();
    let want = kind.fields();
    let mut err = HeaderError {
        missing: Vec::new(),
        extra: Vec::new(),
        duplicate: Vec::new(),
        expected: kind.header(),
        hint: None,
    };
    let mut cols = Vec::with_capacity(want.len());
    // A name that is not UTF-8 matches nothing (as an empty one).
    let comparable = names.iter().map(|n| n.map_or(&b""[..], str::as_bytes));
    for f in want {
        match crate::csv_header::find_column(comparable.clone(), f.name()) {
            Ok(Some(i)) => cols.push(i),
            Ok(None) => err.missing.push(f.name().to_string()),
            Err(repeated) => err.duplicate.push(repeated.name),
        }
    }
    let mut unknown: Vec<(usize, &[u8])> = Vec::new();
    for (i, n) in names.iter().enumerate() {
        if !n.is_some_and(|n| want.iter().any(|f| f.name() == n)) {
            unknown.push((i + 1, cells[i]));
        }
    }
    if err.missing.is_empty() && unknown.is_empty() && err.duplicate.is_empty() {
        return Ok(cols);
    }
    // Never echo a data row (a file without a header) or raw bytes: see `crate::echo`.
    let line: Vec<u8> = cells.join(&delimiter);
    err.hint = if let Some(why) = crate::spreadsheet::not_utf8(&line) {
        Some(why.explain().to_string())
    } else if let Some(h) = crate::spreadsheet::delimiter_hint(&line, delimiter) {
        Some(h)
    } else if crate::echo::looks_like_data(cells.iter().copied()) {
        Some(
            "the first line looks like a data row, not a header (it holds numbers): add the \
              header line"
                .to_string(),
        )
    } else {
        None
    };
    err.extra = if unknown.is_empty() || crate::echo::looks_like_data(cells.iter().copied()) {
        // Counted, not shown.
        match unknown.len() {
            0 => Vec::new(),
            n => vec![format!("{n} not shown")],
        }
    } else {
        crate::echo::cells(&unknown)
    };
    Err(StoreError::Header(err))
}

/// What reading a row noticed besides its event, for the report.
#[derive(Default)]
struct RowNotes {
    /// The row's number, once it was read (masked in row errors).
    number: Option<E164>,
    /// The number is in scientific notation (a spreadsheet's doing).
    scientific: bool,
    /// A stop without a time (recorded at the import time).
    undated: bool,
}

/// One data row of `kind` as an event, its columns at `cols` (the batch validates it).
/// `brand` and `channel` are the row's brand and code column in canonical form.
fn parse_row<'r>(
    kind: Kind,
    row: &Fields<'r>,
    cols: &[usize],
    (brand, channel): (&'r str, &'r str),
    region: Region,
    import_time: Timestamp,
    notes: &mut RowNotes,
) -> Result<EventRef<'r>, Invalid> {
    let num = field_str(row, cols[0], Field::Number)?;
    if num.is_empty() {
        return Err(Invalid::Empty(Field::Number));
    }
    let number = phone::normalize(num.as_bytes(), region).map_err(|e| {
        notes.scientific = crate::spreadsheet::is_scientific(num.as_bytes());
        Invalid::Number(e)
    })?;
    notes.number = Some(number);
    field_str(row, cols[1], Field::Brand)?;
    match kind {
        Kind::Stops => {
            // An opt-out without a time is still an opt-out: at the import time.
            let stopped_at = time(row, cols[2], Field::StoppedAt)?.unwrap_or_else(|| {
                notes.undated = true;
                import_time
            });
            Ok(EventRef::Stop { number, brand, stopped_at })
        }
        Kind::Consents => {
            let t = |i: usize| field_str(row, cols[i], CONSENT_FIELDS[i]);
            let granted_at =
                time(row, cols[4], Field::GrantedAt)?.ok_or(Invalid::Empty(Field::GrantedAt))?;
            Ok(EventRef::Consent {
                number,
                text: [brand, t(2)?, t(3).map(|_| channel)?, t(5)?, t(6)?, t(7)?],
                granted_at,
                expires_at: time(row, cols[8], Field::ExpiresAt)?,
                confirmed_at: time(row, cols[9], Field::ConfirmedAt)?,
            })
        }
        Kind::Customers => {
            field_str(row, cols[2], Field::Relationship)?;
            let started_at =
                time(row, cols[3], Field::StartedAt)?.ok_or(Invalid::Empty(Field::StartedAt))?;
            Ok(EventRef::Relationship {
                number,
                text: [brand, channel],
                started_at,
                last_purchase_at: time(row, cols[4], Field::LastPurchaseAt)?,
                ends_at: time(row, cols[5], Field::EndsAt)?,
                informed_at: time(row, cols[6], Field::InformedAt)?,
            })
        }
    }
}

/// The view of the store before this import, taken on first use; `None` when the store
/// holds no events (no stop to look up).
fn stops_view<'v>(
    slot: &'v mut Option<Option<StoreView>>,
    batch: &Batch<'_>,
) -> Result<Option<&'v StoreView>, StoreError> {
    if slot.is_none() {
        let view = batch.committed_view()?;
        let any = view.snapshot().is_some() || view.overlay_len() > 0;
        *slot = Some(any.then_some(view));
    }
    Ok(slot.as_ref().and_then(Option::as_ref))
}

/// How far the CSV reader may read past the last whole record: a record longer than about
/// 3 MiB (the reader reads ahead up to 1 MiB) is an error, not a buffer that grows until
/// memory runs out (input without line ends, or a quote never closed).
const IMPORT_RECORD_LIMIT: usize = 4 << 20;

/// Imports CSV `input` of `kind` into `store`. `progress(rows)` is called every 1M rows.
///
/// Good rows are appended as one batch and fsynced once; when this returns `Ok` with
/// `aborted == false`, every imported event is durable. Bad rows are reported in the
/// [`ImportReport`]; the caller decides the exit code.
///
/// # Errors
/// A header that is not exactly the format ([`StoreError::Header`]); unreadable CSV;
/// I/O errors (then nothing of this import is acknowledged).
pub fn import<R: Read>(
    store: &mut Store,
    kind: Kind,
    input: R,
    opts: ImportOptions,
    mut progress: impl FnMut(u64),
) -> Result<ImportReport, StoreError> {
    let mut rdr = csv_reader(input, opts.delimiter);
    let mut rec = csv::ByteRecord::new();
    let csv_err = |line: u64| move |source| StoreError::Csv { line, source };
    let (cols, width) = read_header(&mut rdr, &mut rec, kind, opts.delimiter)?;
    let mut rows = RowParser::new(kind, cols, width, opts.region, crate::timefmt::now());
    let mut stops = StopCheck::new();
    let mut report = ImportReport::default();
    let mut batch = store.batch();
    let mut line = 1u64;
    while rdr.read_byte_record(&mut rec).map_err(csv_err(line + 1))? {
        rdr.get_mut().reset();
        line = rec.position().map_or(line + 1, |p| p.line());
        report.rows += 1;
        if report.rows % 1_000_000 == 0 {
            progress(report.rows);
        }
        let mut notes = RowNotes::default();
        let parsed = rows.parse(&rec, &mut notes);
        match push_row(&mut batch, parsed)? {
            Ok((ev, seq)) => {
                report.last_seq = seq;
                report.imported += 1;
                report.undated_stops += u64::from(notes.undated);
                report.not_lifted += u64::from(stops.not_lifted(ev, &batch)?);
            }
            Err(reason) => report.refused(line, &notes, reason),
        }
    }
    finish(batch, report, opts.strict)
}

/// A CSV reader over `input` for an import: no header handling (the header is checked
/// by [`read_header`]), rows of any width (checked per row), records bounded by
/// [`IMPORT_RECORD_LIMIT`].
fn csv_reader<R: Read>(input: R, delimiter: u8) -> csv::Reader<RecordLimit<R>> {
    csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(RecordLimit::new(input, IMPORT_RECORD_LIMIT))
}

/// Reads data rows of one kind as events: the columns the header gave, and the row's
/// brand and code in canonical form (buffers reused row after row).
struct RowParser {
    kind: Kind,
    cols: Vec<usize>,
    /// Columns a row has.
    width: usize,
    region: Region,
    /// The time of an undated stop.
    import_time: Timestamp,
    /// Channel names are codes (`sms`, `email`): `SMS` is stored as `sms`, so a consent
    /// is not silently ignored by the sms-only decision for its spelling.
    channel: String,
    /// The row's brand in canonical form (trimmed, NFC: `crate::brand`).
    brand: String,
}

impl RowParser {
    fn new(
        kind: Kind,
        cols: Vec<usize>,
        width: usize,
        region: Region,
        import_time: Timestamp,
    ) -> RowParser {
        let (channel, brand) = (String::new(), String::new());
        RowParser { kind, cols, width, region, import_time, channel, brand }
    }

    /// The event of data row `rec` (see [`parse_row`]), or why it is a bad row.
    fn parse<'r>(
        &'r mut self,
        rec: &'r csv::ByteRecord,
        notes: &mut RowNotes,
    ) -> Result<EventRef<'r>, Invalid> {
        self.channel.clear();
        let code_col = match self.kind {
            Kind::Consents => Some(self.cols[3]),
            Kind::Customers => Some(self.cols[2]),
            Kind::Stops => None,
        };
        let row = Fields::new(rec);
        if let Some(c) = code_col.and_then(|i| row.raw(i)) {
            self.channel.push_str(&String::from_utf8_lossy(c.trim_ascii()));
            self.channel.make_ascii_lowercase();
        }
        self.brand.clear();
        if let Some(Some(b)) = row.text(self.cols[1]) {
            self.brand.push_str(&crate::brand::normalize(b));
        }
        if rec.len() != self.width {
            return Err(Invalid::FieldCount);
        }
        let this: &'r RowParser = self;
        let row_text = (this.brand.as_str(), this.channel.as_str());
        parse_row(this.kind, &row, &this.cols, row_text, this.region, this.import_time, notes)
    }
}

/// Appends a parsed row's event to `batch`, which validates it (once): a refused event
/// is a bad row (the inner error); other errors end the import.
fn push_row<'r>(
    batch: &mut Batch<'_>,
    parsed: Result<EventRef<'r>, Invalid>,
) -> Result<Result<(EventRef<'r>, u64), Invalid>, StoreError> {
    let ev = match parsed {
        Ok(ev) => ev,
        Err(reason) => return Ok(Err(reason)),
    };
    match batch.push_ref(ev) {
        Ok(seq) => Ok(Ok((ev, seq))),
        Err(StoreError::InvalidEvent { reason, .. }) => Ok(Err(reason)),
        Err(e) => Err(e),
    }
}

/// Stops already in the store, to count consents that do not lift them: read from a
/// view of the store before this import, taken at the first row that needs it (folding
/// a long journal tail costs a pass over it; imports of stops, and of confirmed
/// consents, never need it).
struct StopCheck {
    /// See [`stops_view`].
    view: Option<Option<StoreView>>,
    scopes: ScopeCache<ViewScope>,
}

impl StopCheck {
    fn new() -> StopCheck {
        StopCheck { view: None, scopes: ScopeCache::new() }
    }

    /// True when `ev` is an unconfirmed sms consent granted after a stop for its scope
    /// already in the store: kept as evidence, yet the stop stands. A consent confirmed
    /// at all was confirmed after it was granted (validated), so after any stop it was
    /// granted after: it lifts the stop. Only unconfirmed sms consents need the stop's
    /// time.
    fn not_lifted(&mut self, ev: EventRef<'_>, batch: &Batch<'_>) -> Result<bool, StoreError> {
        if let EventRef::Consent { number, text, granted_at, confirmed_at: None, .. } = ev
            && let [brand, purpose, "sms", ..] = text
            && let Some(view) = stops_view(&mut self.view, batch)?
        {
            let scope = self.scopes.get(view, brand, purpose);
            if let Some(stop) = view.standing(&scope, number).stopped_at
                && granted_at > stop
            {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

impl ImportReport {
    /// Counts a bad row at `line`, and reports it while fewer than [`MAX_REPORTED`] are.
    fn refused(&mut self, line: u64, notes: &RowNotes, reason: Invalid) {
        self.bad += 1;
        self.scientific_numbers += u64::from(notes.scientific);
        if self.errors.len() < MAX_REPORTED {
            self.errors.push(RowError { line, number: notes.number.map(E164::masked), reason });
        }
    }
}

/// Ends the import: in strict mode with a bad row nothing is written (and the report
/// says so), else the good rows are committed with one fsync.
fn finish(
    batch: Batch<'_>,
    mut report: ImportReport,
    strict: bool,
) -> Result<ImportReport, StoreError> {
    if strict && report.bad > 0 {
        batch.abort()?;
        report.aborted = true;
        report.imported = 0;
        report.not_lifted = 0;
        report.last_seq = 0;
        return Ok(report);
    }
    if report.imported > 0 {
        report.last_seq = batch.commit()?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests;
