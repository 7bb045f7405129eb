//! Role-based access: which member of staff may do what with a store, and a record of it.
//!
//! GDPR asks that only staff with a legitimate need see personal data, and that the sender
//! can show who did what. A store can therefore name its users and give each one role:
//!
//! | action ([`Action`]) | admin | operator | privacy | campaign | auditor |
//! |---|:-:|:-:|:-:|:-:|:-:|
//! | `inspect`: `info`, `policy show`, `brand list`, `access list` | ✓ | ✓ | ✓ | ✓ | ✓ |
//! | `filter`: decide a campaign | ✓ | ✓ | | ✓ | |
//! | `stop`: record opt-outs (`stop`, `import stops`) | ✓ | ✓ | ✓ | | |
//! | `record`: consents, relationships, `inbound` | ✓ | ✓ | | | |
//! | `maintain`: `compact` | ✓ | ✓ | | | |
//! | `list-numbers`: `expiring` | ✓ | ✓ | | | |
//! | `export-subject`: `subject export`, `audit --subject`, `audit verify` | ✓ | | ✓ | | ✓ |
//! | `change-subject`: `subject correct/move/erase`, `purge` | ✓ | | ✓ | | |
//! | `configure`: `brand add/set-reply`, `policy set`, `processing set` | ✓ | | | | |
//! | `manage-access`: `access grant/revoke` | ✓ | | | | |
//! | `replay`: `--now` more than an hour from the clock (`filter`, `expiring`, `purge`) | ✓ | ✓ | ✓ | | |
//!
//! The file `access` in the store directory (0600) holds the roles:
//! ```text
//! sendfilter-access 1
//! {"users":{"alice":"privacy","bob":"campaign"}}
//! check 0123456789abcdef
//! ```
//! `check` is the xxh3 of the lines before it; a damaged file refuses everyone but the
//! store's owner (fail closed). Without the file, access control is off: whoever can open
//! the store's files may do everything (a single-user setup).
//!
//! **Who is asking.** The store's files are the owner's alone (0600 in a 0700 directory),
//! so roles mean something when staff do not log in as the owner but run `sendfilter`
//! *as* the owner through `sudo` (e.g. `alice ALL=(sendfilter) NOPASSWD:
//! /usr/local/bin/sendfilter`). `sudo` names the person in `SUDO_USER`, which is whom the
//! roles are looked up for. The owner's own account (and root) acting directly may do
//! everything: it can read the files anyway.
//!
//! **Audit.** A refused command is recorded here, in the store's audit trail
//! ([`crate::audit`]); an allowed one is recorded by its caller when it is done, with
//! what it touched (the CLI does so for every command, with or without roles). Numbers
//! never appear in it.

use std::collections::BTreeMap;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::store::error::{StoreError, io};
pub use crate::store::role::{Action, Role};
use crate::store::sealed::{self, Unsealed};
use crate::store::{Store, durable};

/// The roles file in the store directory.
pub use super::role::ACCESS_FILE as FILE;
/// The audit trail in the store directory (see [`crate::audit`]).
pub const AUDIT: &str = crate::audit::FILE;
const MAGIC_LINE: &str = "sendfilter-access 1";
/// Longest user name accepted.
const MAX_NAME: usize = 64;

/// The roles of a store's users.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Access {
    /// Role by user name.
    pub users: BTreeMap<String, Role>,
}

/// Whether `name` is acceptable as a user name: 1–64 characters of ASCII letters, digits,
/// `_`, `.`, `-` (and `@`, `\` for directory accounts), not starting with `-`.
pub fn valid_user(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && !name.starts_with('-')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-@\\".contains(&b))
}

impl Access {
    /// The file's text.
    pub fn to_text(&self) -> String {
        // Serialising a map of strings to unit enums cannot fail.
        let json = serde_json::to_string(self).unwrap_or_else(|_| "{\"users\":{}}".into());
        sealed::seal(MAGIC_LINE, &json)
    }

    /// Parses the file's text; `path` names it in errors.
    ///
    /// # Errors
    /// [`StoreError::Config`] for a wrong magic line, checksum or content.
    pub fn from_text(text: &str, path: &Path) -> Result<Access, StoreError> {
        let bad = |reason: &str| StoreError::Config { path: path.into(), reason: reason.into() };
        let json = sealed::unseal(text, MAGIC_LINE).map_err(|e| match e {
            Unsealed::Magic => bad("not a sendfilter access file (or a newer format)"),
            Unsealed::Damaged => {
                bad("checksum or format mismatch; the store's owner must grant the roles again")
            }
        })?;
        let a: Access = serde_json::from_str(json).map_err(|_| bad("unreadable content"))?;
        if !a.users.keys().all(|u| valid_user(u)) {
            return Err(bad("invalid user name"));
        }
        Ok(a)
    }
}

/// Reads the roles of the store in `dir` (no lock needed: the file is replaced by rename).
/// `None`: no file, access control is off.
///
/// # Errors
/// [`StoreError::Config`] for a damaged file, I/O errors.
pub fn read(dir: &Path) -> Result<Option<Access>, StoreError> {
    let path = dir.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Access::from_text(&text, &path).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("reading", &path)(e)),
    }
}

/// Replaces the roles of `store` (whose lock the caller holds): temp file, fsync, rename,
/// directory fsync.
///
/// # Errors
/// [`StoreError::Config`] for an invalid user name (nothing written), I/O errors.
pub fn write(store: &Store, access: &Access) -> Result<(), StoreError> {
    let path = store.dir().join(FILE);
    let text = access.to_text();
    Access::from_text(&text, &path)?;
    durable::replace_file(&path, text.as_bytes())
}

/// Who runs this process, as far as roles go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The user name roles are looked up for.
    pub name: String,
    /// The account the process runs as (its real user id).
    pub uid: u32,
    /// True when `sudo` ran this process for `name` as another account.
    pub via_sudo: bool,
}

impl Caller {
    /// The caller of this process: `SUDO_USER` when `sudo` ran it as another account
    /// (`SUDO_UID` differs from the real user id), else the real user's name (or its
    /// number when it has no name).
    pub fn current() -> Caller {
        // SAFETY: getuid has no preconditions and cannot fail.
        let uid = unsafe { libc::getuid() };
        let sudo_uid = std::env::var("SUDO_UID").ok().and_then(|s| s.parse::<u32>().ok());
        if let (Some(su), Ok(name)) = (sudo_uid, std::env::var("SUDO_USER"))
            && su != uid
            && !name.is_empty()
        {
            return Caller { name, uid, via_sudo: true };
        }
        Caller { name: user_name(uid).unwrap_or_else(|| uid.to_string()), uid, via_sudo: false }
    }
}

/// The name of user `uid` in the password database.
fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: a zeroed passwd is a valid out-parameter for getpwuid_r.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut out: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; `buf` outlives the use of `pw`'s fields.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut out) };
    if rc != 0 || out.is_null() || pw.pw_name.is_null() {
        return None;
    }
    // SAFETY: getpwuid_r succeeded: pw_name points to a NUL-terminated string in `buf`.
    let name = unsafe { std::ffi::CStr::from_ptr(pw.pw_name) };
    name.to_str().ok().map(str::to_string)
}

/// On what grounds a command may run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grant {
    /// The store has no roles file: access control is off.
    Open,
    /// The store's owner (or root) acting directly.
    Owner(String),
    /// A user whose role allows the action.
    Role(String, Role),
}

impl Grant {
    /// The actor and role as the audit trail names them: the user, and their role,
    /// `owner`, or `open` (no roles: the caller's own name).
    pub fn actor(&self, caller: &Caller) -> (String, &'static str) {
        match self {
            Grant::Open => (clean(&caller.name), "open"),
            Grant::Owner(u) => (clean(u), "owner"),
            Grant::Role(u, r) => (clean(u), r.as_str()),
        }
    }
}

/// Decides whether `caller` may perform `action` on the store in `dir`, whose directory
/// is owned by `owner`, given its roles `access` (`None`: no roles file).
///
/// # Errors
/// [`StoreError::AccessDenied`].
pub fn decide(
    access: Option<&Access>,
    owner: u32,
    caller: &Caller,
    action: Action,
) -> Result<Grant, StoreError> {
    let Some(access) = access else { return Ok(Grant::Open) };
    if !caller.via_sudo && (caller.uid == owner || caller.uid == 0) {
        return Ok(Grant::Owner(caller.name.clone()));
    }
    match access.users.get(&caller.name) {
        Some(&role) if role.allows(action) => Ok(Grant::Role(caller.name.clone(), role)),
        role => {
            Err(StoreError::AccessDenied { user: caller.name.clone(), role: role.copied(), action })
        }
    }
}

/// Checks that the caller of this process may perform `action` (by running `command`)
/// on the store in `dir`. A refusal is written to the store's audit trail
/// ([`crate::audit`]) before it is returned; an allowed command is recorded by the caller
/// when done ([`crate::audit::record`], with what it touched). A directory that does not
/// exist yet has no roles: the command may create it.
///
/// # Errors
/// [`StoreError::AccessDenied`]; [`StoreError::Config`] for a damaged roles file (only the
/// owner may then act); I/O errors reading the roles or writing the refusal.
pub fn authorize(dir: &Path, action: Action, command: &str) -> Result<Grant, StoreError> {
    use std::os::unix::fs::MetadataExt;
    let owner = match std::fs::metadata(dir) {
        Ok(m) => m.uid(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Grant::Open),
        Err(e) => return Err(io("reading metadata of", dir)(e)),
    };
    let caller = Caller::current();
    let access = match read(dir) {
        Ok(a) => a,
        // A damaged roles file: the owner may still act (to repair it); nobody else.
        Err(e @ StoreError::Config { .. }) => {
            if !caller.via_sudo && (caller.uid == owner || caller.uid == 0) {
                return Ok(Grant::Owner(caller.name));
            }
            denied(dir, &caller.name, "unknown", action, command)?;
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    let decided = decide(access.as_ref(), owner, &caller, action);
    if decided.is_err() {
        let role =
            access.as_ref().and_then(|a| a.users.get(&caller.name)).map_or("none", |r| r.as_str());
        denied(dir, &caller.name, role, action, command)?;
    }
    decided
}

/// Records a refusal in the store's audit trail.
fn denied(
    dir: &Path,
    user: &str,
    role: &str,
    action: Action,
    command: &str,
) -> Result<(), StoreError> {
    let rec = crate::audit::AuditRecord {
        actor: clean(user),
        role: role.into(),
        action: action.as_str().into(),
        command: command.into(),
        outcome: "denied".into(),
        ..Default::default()
    };
    crate::audit::record(dir, &rec).map(|_| ())
}

/// A user name as logged: characters outside [`valid_user`]'s set become `?` (a
/// `SUDO_USER` is not checked by anyone else).
fn clean(user: &str) -> String {
    user.chars()
        .take(MAX_NAME)
        .map(|c| if c.is_ascii_alphanumeric() || "_.-@\\".contains(c) { c } else { '?' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access() -> Access {
        let mut a = Access::default();
        a.users.insert("alice".into(), Role::Privacy);
        a.users.insert("bob".into(), Role::Campaign);
        a
    }

    fn sudo(name: &str) -> Caller {
        Caller { name: name.into(), uid: 1000, via_sudo: true }
    }

    #[test]
    fn the_role_table_is_the_documented_one() {
        use Action as A;
        let table = [
            (A::Inspect, "11111"),
            (A::Filter, "11010"),
            (A::Stop, "11100"),
            (A::Record, "11000"),
            (A::Maintain, "11000"),
            (A::ListNumbers, "11000"),
            (A::ExportSubject, "10101"),
            (A::ChangeSubject, "10100"),
            (A::Configure, "10000"),
            (A::ManageAccess, "10000"),
            (A::Replay, "11100"),
        ];
        assert_eq!(table.len(), Action::ALL.len());
        for (action, row) in table {
            for (role, want) in Role::ALL.iter().zip(row.chars()) {
                assert_eq!(role.allows(action), want == '1', "{role} {action}");
            }
        }
        // Only admin may change who may do what.
        assert!(Role::ALL.iter().filter(|r| r.allows(A::ManageAccess)).eq([Role::Admin].iter()));
    }

    #[test]
    fn decisions() {
        let a = access();
        let owner = 1000;
        // No roles file: open.
        assert_eq!(decide(None, owner, &sudo("eve"), Action::Configure).unwrap(), Grant::Open);
        // Roles by SUDO_USER.
        let g = decide(Some(&a), owner, &sudo("alice"), Action::ChangeSubject).unwrap();
        assert_eq!(g, Grant::Role("alice".into(), Role::Privacy));
        let e = decide(Some(&a), owner, &sudo("bob"), Action::ExportSubject).unwrap_err();
        assert!(matches!(e, StoreError::AccessDenied { role: Some(Role::Campaign), .. }), "{e}");
        assert!(e.to_string().contains("bob") && e.to_string().contains("export-subject"), "{e}");
        // Unknown users may do nothing, not even look.
        let e = decide(Some(&a), owner, &sudo("eve"), Action::Inspect).unwrap_err();
        assert!(matches!(e, StoreError::AccessDenied { role: None, .. }), "{e}");
        // The owner acting directly may do everything; via sudo the person's role counts.
        let me = Caller { name: "svc".into(), uid: owner, via_sudo: false };
        assert_eq!(
            decide(Some(&a), owner, &me, Action::ManageAccess).unwrap(),
            Grant::Owner("svc".into())
        );
        let root = Caller { name: "root".into(), uid: 0, via_sudo: false };
        assert!(decide(Some(&a), owner, &root, Action::Configure).is_ok());
        let other = Caller { name: "carol".into(), uid: 1001, via_sudo: false };
        assert!(decide(Some(&a), owner, &other, Action::Inspect).is_err());
    }

    #[test]
    fn round_trip_and_damage() {
        let a = access();
        let text = a.to_text();
        let path = Path::new("access");
        assert_eq!(Access::from_text(&text, path).unwrap(), a);
        let flipped = text.replacen("campaign", "admin", 1);
        for bad in [
            "",
            "sendfilter-access 2\n{}\ncheck 0\n",
            &text[..text.len() - 1],
            &text[..text.len() / 2],
            &flipped,
            &format!("{text}extra\n"),
        ] {
            assert!(Access::from_text(bad, path).is_err(), "{bad:?}");
        }
        let mut a = access();
        a.users.insert("bad name".into(), Role::Admin);
        assert!(Access::from_text(&a.to_text(), path).is_err());
        let mut a = access();
        a.users.insert("x".into(), Role::Admin);
        let text = a.to_text().replace("\"admin\"", "\"root\"");
        assert!(Access::from_text(&text, path).is_err(), "unknown role");
    }

    #[test]
    fn user_names() {
        for ok in ["alice", "a.b-c_d", "DOMAIN\\bob", "bob@example", "u1000"] {
            assert!(valid_user(ok), "{ok}");
        }
        for bad in ["", "-rf", "a b", "a\nb", "æ", &"x".repeat(65)] {
            assert!(!valid_user(bad), "{bad:?}");
        }
        assert_eq!(clean("a b\n"), "a?b?");
    }

    #[test]
    fn write_read_authorize_and_audit_in_a_store() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(d.path().join("s")).unwrap();
        let dir = store.dir().to_path_buf();
        assert_eq!(read(&dir).unwrap(), None);
        // Off: allowed; the caller records what it did (nothing written here).
        assert_eq!(authorize(&dir, Action::Configure, "brand add").unwrap(), Grant::Open);
        assert!(!dir.join(AUDIT).exists());
        if Caller::current().via_sudo {
            return; // run through sudo: not the owner acting directly
        }
        write(&store, &access()).unwrap();
        assert_eq!(read(&dir).unwrap(), Some(access()));
        // This test runs as the store's owner: allowed as owner.
        let g = authorize(&dir, Action::ManageAccess, "access grant").unwrap();
        assert!(matches!(g, Grant::Owner(_)), "{g:?}");
        assert_eq!(g.actor(&Caller::current()).1, "owner");
        // A refusal is recorded at once.
        denied(&dir, "bob", "campaign", Action::Configure, "brand add").unwrap();
        let log = std::fs::read_to_string(dir.join(AUDIT)).unwrap();
        assert!(
            log.contains("\"actor\":\"bob\",\"role\":\"campaign\",\"action\":\"configure\",\"command\":\"brand add\",\"outcome\":\"denied\""),
            "{log}"
        );
        use std::os::unix::fs::PermissionsExt;
        for f in [FILE, AUDIT] {
            let mode = std::fs::metadata(dir.join(f)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
        // A damaged file: the owner may still act (to repair it).
        std::fs::write(dir.join(FILE), "garbage").unwrap();
        assert!(authorize(&dir, Action::Inspect, "info").is_ok());
        // No store yet: nothing to protect.
        let none = d.path().join("none");
        assert_eq!(authorize(&none, Action::Record, "import").unwrap(), Grant::Open);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(text in ".{0,200}") {
            let _ = Access::from_text(&text, Path::new("a"));
        }
    }
}
