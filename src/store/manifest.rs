//! The manifest of an extract (see [`crate::store::extract`]): what it holds, where it
//! comes from, and the size and xxh3 of every file. Its presence marks a directory
//! read-only; [`verify`] checks every file against it. A leaf of the store: the store's
//! open paths read it without depending on how extracts are made.

use std::path::Path;

use crate::store::StoreError;
use crate::store::error::io;

/// The manifest file, present only in extracts: it marks the directory read-only.
pub const MANIFEST: &str = "EXTRACT";
/// The manifest format this build writes and reads.
pub const FORMAT: u32 = 1;

/// What an extract holds and where it comes from (the manifest's content).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    /// Manifest format ([`FORMAT`]).
    pub format: u32,
    /// The brand (canonical form).
    pub brand: String,
    /// The purpose.
    pub purpose: String,
    /// The source store's snapshot generation when the extract was made.
    pub source_generation: u64,
    /// The last journal sequence folded in: events after it are not in the extract (a
    /// recheck reads them, see `filter --recheck-since`).
    pub journal_seq: u64,
    /// When it was made (Unix seconds).
    pub created_at: i64,
    /// Every file of the extract but the manifest: name, size and xxh3 (hex).
    pub files: Vec<FileSum>,
}

/// One file of an extract as the manifest records it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileSum {
    /// File name inside the extract directory.
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
    /// xxh3-64 of the content, 16 hex digits.
    pub xxh3: String,
}

impl Manifest {
    /// Total size of the extract's files in bytes.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }

    /// The extract's name: `BRAND-PURPOSE-gGEN-sSEQ`.
    pub fn name(&self) -> String {
        format!("{}-{}-g{}-s{}", self.brand, self.purpose, self.source_generation, self.journal_seq)
    }
}

/// True when `dir` holds an extract (its manifest).
pub fn is_extract(dir: &Path) -> bool {
    dir.join(MANIFEST).exists()
}

pub(crate) fn sum_of(path: &Path) -> Result<FileSum, StoreError> {
    let bytes = std::fs::read(path).map_err(io("reading", path))?;
    Ok(FileSum {
        name: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        bytes: bytes.len() as u64,
        xxh3: format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&bytes)),
    })
}

/// The manifest as stored: its JSON, then a line `check <xxh3 of the JSON>`.
pub(crate) fn manifest_text(m: &Manifest) -> String {
    let json = serde_json::to_string(m).unwrap_or_default();
    let sum = xxhash_rust::xxh3::xxh3_64(json.as_bytes());
    format!("{json}\ncheck {sum:016x}\n")
}

fn damaged(dir: &Path, what: String) -> StoreError {
    StoreError::Config { path: dir.join(MANIFEST), reason: format!("damaged extract: {what}") }
}

/// Reads the manifest of the extract in `dir` (checking the manifest's own checksum, not
/// the files: see [`verify`]).
///
/// # Errors
/// I/O errors; [`StoreError::Config`] for a damaged or unknown manifest.
pub fn read_manifest(dir: &Path) -> Result<Manifest, StoreError> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&path).map_err(io("reading", &path))?;
    let json = text.lines().next().unwrap_or_default();
    let m: Manifest = serde_json::from_str(json)
        .map_err(|e| damaged(dir, format!("the manifest does not read ({e})")))?;
    if manifest_text(&m) != text {
        return Err(damaged(dir, "the manifest's checksum does not match".into()));
    }
    if m.format != FORMAT {
        return Err(StoreError::Version { path, found: m.format, supported: FORMAT });
    }
    Ok(m)
}

/// Checks every file of the extract in `dir` against its manifest (size and xxh3 of the
/// whole content; the snapshot is then verified by its own block checksums when mapped).
/// A missing, extra-damaged or changed file is an error: nothing is decided from it.
///
/// # Errors
/// As [`read_manifest`]; [`StoreError::Config`] naming the first file that differs.
pub fn verify(dir: &Path) -> Result<Manifest, StoreError> {
    let m = read_manifest(dir)?;
    for f in &m.files {
        let path = dir.join(&f.name);
        if !path.exists() {
            return Err(damaged(dir, format!("{} is missing", f.name)));
        }
        let now = sum_of(&path)?;
        if now.bytes != f.bytes || now.xxh3 != f.xxh3 {
            return Err(damaged(dir, format!("{} does not match its checksum", f.name)));
        }
    }
    Ok(m)
}
