//! API tokens: who may call `sendfilter serve`, and in which role.
//!
//! `sendfilter token create --store DIR --role R [--name N]` makes a token (`sft_` and 64
//! hex digits from the OS random source), prints it once and keeps only its SHA-256 in the file
//! [`FILE`] (0600) in the store directory, one JSON line per token under a magic line:
//! ```text
//! sendfilter-tokens 1
//! {"name":"crm","role":"privacy","sha256":"…","created":"2026-01-01T00:00:00Z"}
//! ```
//! A caller sends `Authorization: Bearer sft_…`; the service hashes it and looks the hash
//! up. Tokens are long random strings, so a plain hash is enough (nothing to guess from it)
//! and the file reveals no token. The roles are the store's ([`Role`]).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::store::access::{Role, valid_user};

/// The token file in the store directory.
pub const FILE: &str = "tokens";
const MAGIC_LINE: &str = "sendfilter-tokens 1";
/// A token's prefix (to tell it from other secrets in a config or a log).
pub const PREFIX: &str = "sft_";

/// Why the token file cannot be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Reading or writing the file failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is damaged (the service then refuses every token: fail closed).
    #[error("token file {path} is damaged at line {line}: {why}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// The line (1-based).
        line: usize,
        /// What is wrong.
        why: String,
    },
    /// A name that cannot be used.
    #[error("bad token name {0:?}: use 1–64 letters, digits, '.', '_' or '-'")]
    BadName(String),
    /// A name already taken.
    #[error("a token named {0:?} exists already (revoke it first, or choose another --name)")]
    Taken(String),
    /// The OS random source failed.
    #[error("generating a random token: {0}")]
    Random(String),
    /// The store could not be opened (to hold its lock while the file changes).
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// One token as the file keeps it: never the token itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenEntry {
    /// The caller's name (the audit trail's actor).
    pub name: String,
    /// The caller's role.
    pub role: Role,
    /// SHA-256 of the token, hex.
    pub sha256: String,
    /// When it was made (RFC 3339).
    pub created: String,
}

/// The tokens of a store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tokens {
    /// Every token, in the order made.
    pub entries: Vec<TokenEntry>,
}

/// SHA-256 of `token`, hex.
pub fn hash(token: &str) -> String {
    let d = sha2::Sha256::digest(token.as_bytes());
    let mut s = String::with_capacity(64);
    for b in d.iter() {
        s.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        s.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    s
}

/// Whether `a` and `b` are equal, in time independent of where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Tokens {
    /// The entry of `token` (as the caller sent it), if it is one of these.
    pub fn find(&self, token: &str) -> Option<&TokenEntry> {
        if !token.starts_with(PREFIX) {
            return None;
        }
        let h = hash(token);
        self.entries.iter().find(|e| same(e.sha256.as_bytes(), h.as_bytes()))
    }

    /// Whether there are no tokens.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn to_text(&self) -> String {
        let mut s = String::from(MAGIC_LINE);
        s.push('\n');
        for e in &self.entries {
            // A struct of strings and an enum: serialising cannot fail.
            s.push_str(&serde_json::to_string(e).unwrap_or_default());
            s.push('\n');
        }
        s
    }

    fn from_text(text: &str, path: &Path) -> Result<Tokens, TokenError> {
        let damaged =
            |line: usize, why: String| TokenError::Damaged { path: path.to_path_buf(), line, why };
        let mut lines = text.lines();
        if lines.next() != Some(MAGIC_LINE) {
            return Err(damaged(1, format!("not a token file (expected {MAGIC_LINE:?})")));
        }
        let mut entries: Vec<TokenEntry> = Vec::new();
        for (i, l) in lines.enumerate() {
            if l.trim().is_empty() {
                continue;
            }
            let e: TokenEntry =
                serde_json::from_str(l).map_err(|e| damaged(i + 2, e.to_string()))?;
            if e.sha256.len() != 64 || !e.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(damaged(i + 2, "sha256 is not 64 hex digits".into()));
            }
            entries.push(e);
        }
        Ok(Tokens { entries })
    }
}

/// The tokens of the store in `dir` (none when the file does not exist).
///
/// # Errors
/// [`TokenError`] when the file cannot be read or is damaged.
pub fn read(dir: &Path) -> Result<Tokens, TokenError> {
    let path = dir.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(t) => Tokens::from_text(&t, &path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Tokens::default()),
        Err(source) => Err(TokenError::Io { what: "reading", path, source }),
    }
}

/// Changes the token file under the store's lock; writes it back (0600, fsynced) when `f`
/// returns true.
fn change<T>(
    dir: &Path,
    f: impl FnOnce(&mut Tokens) -> Result<(T, bool), TokenError>,
) -> Result<T, TokenError> {
    let store = crate::store::Store::open_with(
        dir,
        crate::store::StoreOptions { create: false, region: None, wait: true },
    )?;
    let mut tokens = read(dir)?;
    let (out, write) = f(&mut tokens)?;
    if write {
        crate::store::durable::replace_file(&dir.join(FILE), tokens.to_text().as_bytes())?;
    }
    drop(store);
    Ok(out)
}

/// A new random token (32 bytes from the OS random source, `getrandom`).
fn fresh() -> Result<String, TokenError> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| TokenError::Random(e.to_string()))?;
    let mut s = String::with_capacity(PREFIX.len() + 64);
    s.push_str(PREFIX);
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    Ok(s)
}

/// Makes a token for `role` named `name` (default: the role and a number) in the store in
/// `dir`; returns the token (shown once: only its hash is kept) and its entry.
///
/// # Errors
/// [`TokenError::BadName`], [`TokenError::Taken`], I/O.
pub fn create(
    dir: &Path,
    role: Role,
    name: Option<&str>,
) -> Result<(String, TokenEntry), TokenError> {
    if let Some(n) = name
        && !valid_user(n)
    {
        return Err(TokenError::BadName(n.to_string()));
    }
    let token = fresh()?;
    change(dir, |t| {
        let name = match name {
            Some(n) => n.to_string(),
            None => (1..)
                .map(|i| format!("{role}-{i}"))
                .find(|n| t.entries.iter().all(|e| &e.name != n))
                .unwrap_or_default(),
        };
        if t.entries.iter().any(|e| e.name == name) {
            return Err(TokenError::Taken(name));
        }
        let entry = TokenEntry {
            name,
            role,
            sha256: hash(&token),
            created: crate::timefmt::format_rfc3339(crate::timefmt::now()),
        };
        t.entries.push(entry.clone());
        Ok(((token.clone(), entry), true))
    })
}

/// Revokes the token named `name`; returns whether there was one.
///
/// # Errors
/// I/O, a damaged file.
pub fn revoke(dir: &Path, name: &str) -> Result<bool, TokenError> {
    change(dir, |t| {
        let before = t.entries.len();
        t.entries.retain(|e| e.name != name);
        let gone = t.entries.len() != before;
        Ok((gone, gone))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_find_revoke_and_only_the_hash_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        crate::store::Store::open(dir.path()).unwrap();
        let (tok, e) = create(dir.path(), Role::Privacy, Some("crm")).unwrap();
        assert!(tok.starts_with(PREFIX) && tok.len() == PREFIX.len() + 64);
        let (tok2, e2) = create(dir.path(), Role::Campaign, None).unwrap();
        assert_eq!(e2.name, "campaign-1");
        assert!(matches!(create(dir.path(), Role::Admin, Some("crm")), Err(TokenError::Taken(_))));
        assert!(matches!(
            create(dir.path(), Role::Admin, Some("a b")),
            Err(TokenError::BadName(_))
        ));
        let text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        assert!(!text.contains(&tok[PREFIX.len()..]) && text.contains(&e.sha256));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let t = read(dir.path()).unwrap();
        assert_eq!(t.find(&tok), Some(&e));
        assert_eq!(t.find(&tok2).map(|e| e.role), Some(Role::Campaign));
        assert_eq!(t.find("sft_00"), None);
        assert_eq!(t.find(&tok[1..]), None);
        assert!(revoke(dir.path(), "crm").unwrap());
        assert!(!revoke(dir.path(), "crm").unwrap());
        assert_eq!(read(dir.path()).unwrap().find(&tok), None);
    }

    #[test]
    fn fresh_tokens_are_the_prefix_and_64_hex_digits_and_differ() {
        let a = fresh().unwrap();
        let b = fresh().unwrap();
        assert_ne!(a, b);
        for t in [&a, &b] {
            let hex = t.strip_prefix(PREFIX).expect("prefix");
            assert_eq!(hex.len(), 64, "{t}");
            assert!(hex.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{t}");
        }
    }

    #[test]
    fn a_damaged_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), "sendfilter-tokens 1\n{\"name\":1}\n").unwrap();
        assert!(matches!(read(dir.path()), Err(TokenError::Damaged { line: 2, .. })));
        std::fs::write(dir.path().join(FILE), "hello\n").unwrap();
        assert!(matches!(read(dir.path()), Err(TokenError::Damaged { line: 1, .. })));
    }
}
