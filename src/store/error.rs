//! Errors of the consent store: structured fields, short `Display`, codes not text.

use std::fmt;
use std::path::PathBuf;

/// Longest accepted text field of an event, in bytes (re-exported as
/// [`crate::store::event::MAX_TEXT`]).
pub const MAX_TEXT: usize = 1024;

/// Which field of an event a problem is about. Names match the CSV import headers (and
/// the events' field names where no import has the column).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// `number`
    Number,
    /// `brand`
    Brand,
    /// `purpose`
    Purpose,
    /// `channel`
    Channel,
    /// `stopped_at`
    StoppedAt,
    /// `granted_at`
    GrantedAt,
    /// `method`
    Method,
    /// `text_ref`
    TextRef,
    /// `source`
    Source,
    /// `expires_at`
    ExpiresAt,
    /// `confirmed_at`
    ConfirmedAt,
    /// `relationship` (customer relationships)
    Relationship,
    /// `started_at`
    StartedAt,
    /// `last_purchase_at`
    LastPurchaseAt,
    /// `ends_at`
    EndsAt,
    /// `informed_at`
    InformedAt,
    /// `erased_at` (an erasure's time)
    ErasedAt,
    /// `corrected_at` (a correction's time)
    CorrectedAt,
    /// `moved_at` (a number change's time)
    MovedAt,
    /// `received_at` (an inbound message's time, as its gateway gives it)
    ReceivedAt,
}

impl Field {
    /// The column name used in CSV imports.
    pub fn name(self) -> &'static str {
        match self {
            Field::Number => "number",
            Field::Brand => "brand",
            Field::Purpose => "purpose",
            Field::Channel => "channel",
            Field::StoppedAt => "stopped_at",
            Field::GrantedAt => "granted_at",
            Field::Method => "method",
            Field::TextRef => "text_ref",
            Field::Source => "source",
            Field::ExpiresAt => "expires_at",
            Field::ConfirmedAt => "confirmed_at",
            Field::Relationship => "relationship",
            Field::StartedAt => "started_at",
            Field::LastPurchaseAt => "last_purchase_at",
            Field::EndsAt => "ends_at",
            Field::InformedAt => "informed_at",
            Field::ErasedAt => "erased_at",
            Field::CorrectedAt => "corrected_at",
            Field::MovedAt => "moved_at",
            Field::ReceivedAt => "received_at",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why an event (or an import row) was refused. A `Copy` code; text only at the edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Invalid {
    /// A required field is empty.
    Empty(Field),
    /// A text field is longer than [`crate::store::event::MAX_TEXT`] bytes.
    TooLong(Field),
    /// A text field contains a control character.
    ControlChar(Field),
    /// A time is not RFC 3339.
    BadTime(Field),
    /// A time is outside the stored range (1970-01-01T00:00:01Z .. 2106-02-07).
    TimeOutOfRange(Field),
    /// A consent names brand `*`; only stops may cover every brand.
    StarBrandInConsent,
    /// The number could not be normalised.
    Number(crate::phone::PhoneError),
    /// The row has a different number of fields than the header.
    FieldCount,
    /// A field is not valid UTF-8.
    NotUtf8(Field),
    /// A consent-evidence correction changes no field.
    NothingToCorrect,
    /// A correction names no journal sequence (0).
    NoCorrectedSeq,
    /// A number move has the same old and new number.
    MoveToSelf,
    /// A consent's `confirmed_at` is before its `granted_at` (swapped columns?).
    ConfirmedBeforeGranted,
    /// A brand name is not canonical (untrimmed, or not NFC): see
    /// [`crate::brand::canonical`].
    BrandNotCanonical,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Invalid::Empty(c) => write!(f, "{c} is empty"),
            Invalid::TooLong(c) => {
                write!(f, "{c} is longer than {} bytes", MAX_TEXT)
            }
            Invalid::ControlChar(c) => write!(f, "{c} contains a control character"),
            Invalid::BadTime(c) => write!(f, "{c} is not an RFC 3339 time"),
            Invalid::TimeOutOfRange(c) => {
                write!(f, "{c} is outside the supported range 1970-01-01T00:00:01Z..2106")
            }
            Invalid::StarBrandInConsent => {
                f.write_str("brand `*` (every brand) is only allowed for stops")
            }
            Invalid::Number(e) => write!(f, "number: {e}"),
            Invalid::FieldCount => f.write_str("wrong number of fields"),
            Invalid::NotUtf8(c) => write!(
                f,
                "{c} is not valid UTF-8 (a Windows-1252 spreadsheet export? pass --encoding \
                 windows-1252)"
            ),
            Invalid::NothingToCorrect => f.write_str("the correction changes no field"),
            Invalid::NoCorrectedSeq => f.write_str("the correction names no consent sequence"),
            Invalid::MoveToSelf => f.write_str("old and new number are the same"),
            Invalid::ConfirmedBeforeGranted => f.write_str(
                "confirmed_at is before granted_at (a consent is confirmed after it is given)",
            ),
            Invalid::BrandNotCanonical => f.write_str(
                "brand is not in canonical form (trimmed, Unicode NFC; sendfilter::brand::canonical)",
            ),
        }
    }
}

/// What exactly is wrong with a damaged file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Corruption {
    /// The file does not start with the expected magic number.
    BadMagic,
    /// The header checksum does not match.
    HeaderChecksum,
    /// A journal record's checksum does not match.
    RecordChecksum,
    /// A length field is impossible.
    BadLength,
    /// Journal sequence numbers are not consecutive.
    SequenceGap,
    /// A snapshot block's checksum does not match.
    BlockChecksum,
    /// A structural field (offset, count) points outside the file or is inconsistent.
    BadStructure,
    /// The file is shorter than its header says.
    Truncated,
    /// A checksummed record does not decode.
    BadPayload,
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Corruption::BadMagic => "bad magic number",
            Corruption::HeaderChecksum => "header checksum mismatch",
            Corruption::RecordChecksum => "record checksum mismatch",
            Corruption::BadLength => "impossible length",
            Corruption::SequenceGap => "sequence numbers not consecutive",
            Corruption::BlockChecksum => "block checksum mismatch",
            Corruption::BadStructure => "inconsistent structure",
            Corruption::Truncated => "file is truncated",
            Corruption::BadPayload => "record does not decode",
        })
    }
}

/// Every error of the consent store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// An I/O operation on a store file failed.
    #[error("{op} {}", path.display())]
    Io {
        /// What was being done (`"opening"`, `"writing"`, `"fsync of"`, …).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The journal is damaged: valid records follow a bad one, or its last record is
    /// complete but does not check (not what an interrupted append leaves).
    #[error(
        "journal {} is corrupt at offset {offset}: {what}; this is damage, not an \
         interrupted append (valid records follow it, or the record is complete), so it may \
         hold acknowledged events: restore the store from a backup",
        path.display()
    )]
    JournalCorrupt {
        /// The journal file.
        path: PathBuf,
        /// Byte offset of the bad record.
        offset: u64,
        /// What is wrong.
        what: Corruption,
    },
    /// The journal does not continue the snapshot: records are missing.
    #[error(
        "journal {} starts after sequence {journal_base} but the snapshot ends at \
         {snapshot_seq}: events are missing",
        path.display()
    )]
    JournalGap {
        /// The journal file.
        path: PathBuf,
        /// Sequence number the journal continues from.
        journal_base: u64,
        /// Last sequence number in the snapshot.
        snapshot_seq: u64,
    },
    /// The store has a config but no journal: acknowledged events after the snapshot (or
    /// all of them) are gone. Nothing is decided from what is left (fail closed).
    #[error(
        "journal {} is missing: the events recorded after the last compaction are lost; \
         restore the store from a backup (a store that never recorded anything can be \
         removed and created again)",
        path.display()
    )]
    JournalMissing {
        /// The expected journal file.
        path: PathBuf,
    },
    /// The snapshot is damaged; it will not serve.
    #[error("snapshot {} is corrupt at offset {offset}: {what}; re-run compact from a backup", path.display())]
    SnapshotCorrupt {
        /// The snapshot file.
        path: PathBuf,
        /// Byte offset of the damaged area.
        offset: u64,
        /// What is wrong.
        what: Corruption,
    },
    /// A file was written by a newer or unknown format version.
    #[error(
        "{} has format {found}, this build reads {supported}: upgrade sendfilter or re-run compact",
        path.display()
    )]
    Version {
        /// The file.
        path: PathBuf,
        /// Version found.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// The store configuration file is invalid.
    #[error("store config {} is invalid: {reason}", path.display())]
    Config {
        /// The config file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The store directory does not exist (and creation was not asked for).
    #[error("no store at {}: create one with `sendfilter import` or `sendfilter stop`", path.display())]
    NoStore {
        /// The directory.
        path: PathBuf,
    },
    /// The directory is an extract (see [`crate::store::extract`]): read-only, nothing is
    /// recorded or compacted in it.
    #[error(
        "{} is a read-only extract: record stops, consents and imports in the store it was \
         made from, then make a new extract",
        path.display()
    )]
    ReadOnlyExtract {
        /// The extract directory.
        path: PathBuf,
    },
    /// Another process holds the store (and waiting was not asked for).
    #[error("store is in use by another process (lock {})", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// An event was refused.
    #[error("invalid event ({number}): {reason}")]
    InvalidEvent {
        /// The masked number.
        number: String,
        /// Why.
        reason: Invalid,
    },
    /// The CSV header does not match the import format.
    #[error("{0}")]
    Header(HeaderError),
    /// The store has suppression entries (erased numbers) but its key file is missing:
    /// the erased numbers cannot be recognised, so nothing is decided (fail closed).
    #[error(
        "suppression key {} is missing but the store has erased numbers: copy that file back \
         from a backup of this store (mode 0600). A new key cannot replace it: erased numbers \
         are held only as hashes under the lost key, so until it is back the store refuses to \
         filter and to record erasures",
        path.display()
    )]
    KeyMissing {
        /// The expected key file.
        path: PathBuf,
    },
    /// The store's roles do not let this user do this (see [`crate::store::access`]).
    #[error(
        "access denied: user {user:?} ({}) may not {action} on this store; ask its \
         administrator for a role that allows it (`sendfilter access list`)",
        role.map_or("no role", |r| r.as_str())
    )]
    AccessDenied {
        /// The user roles were looked up for.
        user: String,
        /// Their role, if they have one.
        role: Option<crate::store::role::Role>,
        /// What they tried.
        action: crate::store::role::Action,
    },
    /// The CSV input could not be read.
    #[error("CSV input at line {line}")]
    Csv {
        /// 1-based line number.
        line: u64,
        /// The cause.
        #[source]
        source: csv::Error,
    },
}

/// A CSV header that is not exactly the import format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderError {
    /// Required columns that are missing.
    pub missing: Vec<String>,
    /// Columns that are not part of the format.
    pub extra: Vec<String>,
    /// Columns given more than once.
    pub duplicate: Vec<String>,
    /// The expected header, for the message.
    pub expected: &'static str,
    /// What the line seems to be instead, when that is recognisable (a data row, another
    /// separator, another encoding): a sentence.
    pub hint: Option<String>,
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CSV header does not match the import format:")?;
        if !self.missing.is_empty() {
            write!(f, " missing column(s) {};", self.missing.join(", "))?;
        }
        if !self.extra.is_empty() {
            write!(f, " unknown column(s) {};", self.extra.join(", "))?;
        }
        if !self.duplicate.is_empty() {
            write!(f, " repeated column(s) {};", self.duplicate.join(", "))?;
        }
        write!(f, " expected exactly: {}", self.expected)?;
        if let Some(h) = &self.hint {
            write!(f, "; {h}")?;
        }
        Ok(())
    }
}

/// Builds a [`StoreError::Io`] closure, for `map_err(io("opening", &path))`.
pub(crate) fn io<'a>(
    op: &'static str,
    path: &'a std::path::Path,
) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io { op, path: path.to_path_buf(), source }
}
