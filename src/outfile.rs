//! Files named by the caller on the command line (`filter --rejects/--receipts/--report`,
//! `import FILE`, `demo --store`, `bench --keep`): opened so that naming a path can never
//! do more than the caller could do without sendfilter.
//!
//! **Why.** Staff run `sendfilter` through `sudo` as the store's owner (see
//! [`crate::store::access`]). The process then holds the owner's rights, not the caller's:
//! a plain `File::create(path)` would let a `campaign` user replace the store's journal
//! (`--rejects $STORE/journal`), its roles or audit log, or the owner's
//! `~/.ssh/authorized_keys`. Every command therefore opens caller-named paths through
//! [`Paths`], which applies these rules, in this order, before a byte is written:
//!
//! 1. **Never into a store.** The path's directory is made canonical (symbolic links in
//!    the directories resolved) and then walked again from `/`, one directory at a time
//!    (`openat` with `O_NOFOLLOW`, so a directory swapped for a link meanwhile is refused).
//!    If any directory on the way is the command's store directory, or any directory holding
//!    a sendfilter store (a `config` file that starts `sendfilter-store`), the path is
//!    refused, for every caller including the owner: a store's files are written only by
//!    the store's own code.
//! 2. **The file itself, never a link.** The last component is opened with `O_NOFOLLOW`
//!    (a symbolic link is refused) and with `O_CREAT` but never `O_TRUNC`. The opened file
//!    is checked (`fstat`): a regular file with one link (a hard link elsewhere, such as
//!    into a store, is refused); the owner acting directly may also name a character device
//!    or a FIFO (`/dev/null`). Only then is it truncated (`ftruncate`), so a refused path
//!    is left exactly as it was. A new file created for an output refused later in the same
//!    command is removed again ([`Prepared`]). `/dev/stderr` is taken as the process's own
//!    standard error (no path is opened).
//! 3. **The caller's rights.** When the caller is not the account the process runs as
//!    (`sudo` ran it: `SUDO_UID` differs from the real user id and `SUDO_USER` is set, the
//!    rule of [`crate::store::access::Caller`]), the process cannot take the caller's
//!    identity, so it emulates the file system's decision with the caller's credentials:
//!    user `SUDO_UID`, primary group `SUDO_GID` (else the user's in the password
//!    database), supplementary groups from `getgrouplist(SUDO_USER)`. The caller needs
//!    search permission on every directory of the canonical path, write permission on the
//!    directory for a new file, write permission on an existing file (read permission for
//!    an input). The owner, group and other mode bits, or the POSIX access ACL where an
//!    object has one, are applied as the kernel does (an ACL that cannot be read refuses).
//!    When the process runs as root, a new file is
//!    given to the caller (`fchown`); otherwise it belongs to the store's owner, mode 0600.
//! 4. **No leaks.** Files with personal data ([`Content::Private`]: rejects, receipts) are
//!    created 0600; an existing one the process may restrict is set to 0600, and one it may
//!    not (owned by someone else) that group or others can read is refused. One that only
//!    its owner may read but the process may write (e.g. the caller's own file, mode 0620,
//!    in the store owner's group) is used as it is: that is how a caller gets an output
//!    they can read from a store owner that is not root.
//!
//! Errors name the option and the path and say why, in words ([`OutputError`]); they never
//! carry user or group ids, modes or error numbers.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// Why a path named by the caller was refused (or could not be opened).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    /// The path lies in a store's directory.
    #[error(
        "is in the store directory {}: a store's files are written only by the store itself",
        .0.display()
    )]
    InStore(PathBuf),
    /// The last component is a symbolic link.
    #[error("is a symbolic link: name the file itself")]
    Symlink,
    /// An existing file with more than one hard link.
    #[error("has more than one hard link: name a file of its own")]
    HardLinked,
    /// Not a regular file (and not a device or FIFO the owner may name).
    #[error("is not a regular file")]
    NotRegular,
    /// The path names a directory (ends in `/`, `.` or `..`).
    #[error("names a directory, not a file")]
    NoFileName,
    /// The caller (through sudo) may not do this with their own rights.
    #[error("the caller may not {0}")]
    CallerMayNot(String),
    /// An existing file with personal data, readable by others, that the process may not
    /// restrict.
    #[error("is readable by other users and is not ours to restrict: remove it or make it 0600")]
    Exposed,
    /// The path changed while it was being checked.
    #[error("changed while it was being checked")]
    Changed,
    /// A directory that must be new or empty is not.
    #[error("exists and is not empty: name a new or empty directory")]
    NotEmpty,
    /// The caller's identity handed over by sudo cannot be read.
    #[error("cannot tell the caller's identity from SUDO_UID/SUDO_GID")]
    Identity,
    /// An I/O error, in words.
    #[error("{0}")]
    Io(String),
}

/// A refused or failed caller-named path: the option, the path, why. Nothing was truncated.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{flag} {}: {reason} (nothing was written)", path.display())]
pub struct OutputError {
    /// The option that named the path (`--rejects`), or the argument's name (`FILE`).
    pub flag: String,
    /// The path as the caller gave it.
    pub path: PathBuf,
    /// Why.
    pub reason: Reason,
}

/// What an output file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Content {
    /// Personal data (numbers, hashed numbers): created 0600, never left readable by others.
    Private,
    /// No personal data (counts): created 0644 (less the umask).
    Shareable,
}

/// A caller's credentials, as the file system would check them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// User id.
    pub uid: u32,
    /// Primary group, when known.
    pub gid: Option<u32>,
    /// Every group the caller is in (the primary one included).
    pub groups: Vec<u32>,
}

/// Permission bits, as in a mode's `rwx` triplet.
pub mod perm {
    /// Read.
    pub const READ: u32 = 4;
    /// Write.
    pub const WRITE: u32 = 2;
    /// Search (directories).
    pub const SEARCH: u32 = 1;
}

impl Credentials {
    /// Whether these credentials get `want` (a mask of [`perm`] bits) on an object owned
    /// by `uid`/`gid` with `mode`, by the owner/group/other bits as the kernel applies them
    /// (the first class that matches decides; root may read and write anything and search
    /// any directory).
    pub fn permits(&self, uid: u32, gid: u32, mode: u32, want: u32) -> bool {
        if self.uid == 0 {
            return true;
        }
        let bits = if self.uid == uid {
            mode >> 6
        } else if self.groups.contains(&gid) {
            mode >> 3
        } else {
            mode
        } & 7;
        bits & want == want
    }

    /// Whether these credentials get `want` on the object open as `fd` (any descriptor,
    /// `O_PATH` too): by its POSIX access ACL when it has one ([`Credentials::permits_acl`]),
    /// else by its mode bits ([`Credentials::permits`]).
    ///
    /// # Errors
    /// [`Reason::Io`] when the object or its ACL cannot be read (fail closed).
    pub fn may(&self, fd: RawFd, want: u32) -> Result<bool, Reason> {
        let st = fstat(fd).map_err(|e| io_reason("cannot check it", &e))?;
        if self.uid == 0 {
            return Ok(true);
        }
        Ok(match access_acl(fd)? {
            Some(acl) => self.permits_acl(st.st_uid, st.st_gid, &acl, want),
            None => self.permits(st.st_uid, st.st_gid, st.st_mode, want),
        })
    }

    /// Whether these credentials get `want` by the access ACL `acl` of an object owned by
    /// `uid`/`gid`, by the kernel's algorithm (`posix_acl_permission`): the owner entry for
    /// the owner; a named user entry, limited by the mask; else any matching group entry
    /// (owning or named) that grants it, limited by the mask, and none if groups matched
    /// but none granted; else the other entry. A malformed ACL grants nothing.
    pub fn permits_acl(&self, uid: u32, gid: u32, acl: &[AclEntry], want: u32) -> bool {
        use acl_tag::*;
        if self.uid == 0 {
            return true;
        }
        let mask = acl.iter().find(|e| e.tag == MASK).map(|e| u32::from(e.perm));
        let masked = |perm: u16| u32::from(perm) & mask.unwrap_or(7) & want == want;
        let mut found = false;
        for e in acl {
            let perm = u32::from(e.perm);
            match e.tag {
                USER_OBJ if self.uid == uid => return perm & want == want,
                USER if self.uid == e.id => return masked(e.perm),
                GROUP_OBJ | GROUP => {
                    let g = if e.tag == GROUP_OBJ { gid } else { e.id };
                    if self.groups.contains(&g) {
                        found = true;
                        if perm & want == want {
                            return masked(e.perm);
                        }
                    }
                }
                OTHER => return !found && perm & want == want,
                USER_OBJ | USER | MASK => {}
                _ => return false,
            }
        }
        false
    }

    /// The credentials of the person `sudo` ran this process for (`SUDO_UID`, `SUDO_GID`,
    /// and the groups of `SUDO_USER`).
    fn from_sudo(user: &str, uid: u32) -> Result<Credentials, Reason> {
        let gid = match std::env::var("SUDO_GID") {
            Ok(s) => Some(s.parse::<u32>().map_err(|_| Reason::Identity)?),
            Err(_) => primary_gid(user),
        };
        let mut groups = group_list(user, gid);
        if let Some(g) = gid
            && !groups.contains(&g)
        {
            groups.push(g);
        }
        Ok(Credentials { uid, gid, groups })
    }
}

/// One entry of a POSIX access ACL (`system.posix_acl_access`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AclEntry {
    /// What the entry is for ([`acl_tag`]).
    pub tag: u16,
    /// Its [`perm`] bits.
    pub perm: u16,
    /// The user or group id of a named entry.
    pub id: u32,
}

/// The tags of ACL entries, as stored.
pub mod acl_tag {
    /// The file's owner.
    pub const USER_OBJ: u16 = 0x01;
    /// A named user.
    pub const USER: u16 = 0x02;
    /// The file's group.
    pub const GROUP_OBJ: u16 = 0x04;
    /// A named group.
    pub const GROUP: u16 = 0x08;
    /// The most named entries and the group may get.
    pub const MASK: u16 = 0x10;
    /// Everyone else.
    pub const OTHER: u16 = 0x20;
}

/// Parses the value of `system.posix_acl_access` (version 2: a 4-byte header, then 8-byte
/// entries, little-endian); `None` when malformed.
pub fn parse_acl(bytes: &[u8]) -> Option<Vec<AclEntry>> {
    let (head, rest) = bytes.split_first_chunk::<4>()?;
    if u32::from_le_bytes(*head) != 2 || rest.len() % 8 != 0 {
        return None;
    }
    Some(
        rest.chunks_exact(8)
            .map(|c| AclEntry {
                tag: u16::from_le_bytes([c[0], c[1]]),
                perm: u16::from_le_bytes([c[2], c[3]]),
                id: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect(),
    )
}

/// The access ACL of the object open as `fd`, read through `/proc/self/fd` (which works
/// for `O_PATH` descriptors too); `None` when it has none.
fn access_acl(fd: RawFd) -> Result<Option<Vec<AclEntry>>, Reason> {
    let path = CString::new(format!("/proc/self/fd/{fd}")).map_err(|_| Reason::Changed)?;
    let name = c"system.posix_acl_access";
    let mut buf = vec![0u8; 1024];
    // SAFETY: NUL-terminated path and name; `buf` is valid for `buf.len()` bytes.
    let n =
        unsafe { libc::getxattr(path.as_ptr(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        let e = last_error();
        return match e.raw_os_error() {
            Some(libc::ENODATA | libc::EOPNOTSUPP) => Ok(None),
            _ => Err(io_reason("cannot read its access control list", &e)),
        };
    }
    buf.truncate(n as usize);
    parse_acl(&buf)
        .map(Some)
        .ok_or_else(|| Reason::Io("its access control list is unreadable".into()))
}

/// Who the files are opened for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requester {
    /// The account the process runs as, acting directly: the kernel checks its rights.
    Process,
    /// Someone else, through sudo: their rights are emulated.
    Caller(Credentials),
}

impl Requester {
    /// The requester of this process: [`Requester::Caller`] when `sudo` ran it for another
    /// account (`SUDO_UID` parses and differs from the real user id, and `SUDO_USER` is
    /// set: the rule of [`crate::store::access::Caller::current`]), else
    /// [`Requester::Process`].
    ///
    /// # Errors
    /// [`Reason::Identity`] when `SUDO_GID` is set but not a number.
    pub fn current() -> Result<Requester, Reason> {
        // SAFETY: getuid has no preconditions and cannot fail.
        let me = unsafe { libc::getuid() };
        let sudo_uid = std::env::var("SUDO_UID").ok().and_then(|s| s.parse::<u32>().ok());
        match (sudo_uid, std::env::var("SUDO_USER")) {
            (Some(uid), Ok(name)) if uid != me && !name.is_empty() => {
                Ok(Requester::Caller(Credentials::from_sudo(&name, uid)?))
            }
            _ => Ok(Requester::Process),
        }
    }
}

/// Opens caller-named paths for one command: who asks, and which store directories are
/// out of bounds. See the module docs for the rules.
#[derive(Debug)]
pub struct Paths {
    requester: Requester,
    /// Identity (device, inode) and path of each store directory of the command.
    stores: Vec<((u64, u64), PathBuf)>,
}

/// An output file opened and checked but not yet truncated; [`Prepared::commit`] truncates
/// it. Dropped uncommitted, a file it created is removed again.
#[derive(Debug)]
pub struct Prepared {
    file: File,
    truncate: bool,
    /// The directory and name of a file this created, until committed.
    created: Option<(OwnedFd, CString)>,
    flag: String,
    path: PathBuf,
}

impl Prepared {
    /// Truncates the file (a regular file) and hands it over.
    ///
    /// # Errors
    /// [`Reason::Io`] when truncating fails.
    pub fn commit(mut self) -> Result<File, OutputError> {
        if self.truncate {
            self.file.set_len(0).map_err(|e| OutputError {
                flag: self.flag.clone(),
                path: self.path.clone(),
                reason: io_reason("cannot empty it", &e),
            })?;
        }
        self.created = None;
        let file = self.file.try_clone().map_err(|e| OutputError {
            flag: self.flag.clone(),
            path: self.path.clone(),
            reason: io_reason("cannot use it", &e),
        })?;
        Ok(file)
    }
}

impl Drop for Prepared {
    fn drop(&mut self) {
        if let Some((dir, name)) = self.created.take() {
            // Only if the name still is the file we created (not something put in its place).
            // SAFETY: a zeroed stat is a valid out-parameter.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            // SAFETY: valid descriptor, NUL-terminated name, and out-parameter.
            let named = unsafe {
                libc::fstatat(dir.as_raw_fd(), name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW)
            } == 0;
            let ours = fstat(self.file.as_raw_fd()).ok();
            if named && ours.is_some_and(|o| (o.st_dev, o.st_ino) == (st.st_dev, st.st_ino)) {
                // SAFETY: a valid directory descriptor and NUL-terminated name.
                unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) };
            }
        }
    }
}

impl Paths {
    /// For `requester`, with `stores` (the command's store directories) out of bounds. A
    /// store directory that does not exist yet is skipped.
    pub fn new(requester: Requester, stores: &[&Path]) -> Paths {
        use std::os::unix::fs::MetadataExt;
        let stores = stores
            .iter()
            .filter_map(|s| {
                let m = std::fs::metadata(s).ok()?;
                Some(((m.dev(), m.ino()), s.to_path_buf()))
            })
            .collect();
        Paths { requester, stores }
    }

    /// For the caller of this process ([`Requester::current`]).
    ///
    /// # Errors
    /// [`Reason::Identity`] for an unreadable `SUDO_GID`.
    pub fn current(stores: &[&Path]) -> Result<Paths, Reason> {
        Ok(Paths::new(Requester::current()?, stores))
    }

    /// Opens (creating it if missing) the output file `path`, named by option `flag`,
    /// checked by the rules but not yet truncated: [`Prepared::commit`] does that, so that
    /// a command with several outputs truncates none when one is refused.
    ///
    /// # Errors
    /// [`OutputError`] naming `flag`, `path` and the reason.
    pub fn prepare(
        &self,
        flag: &str,
        path: &Path,
        content: Content,
    ) -> Result<Prepared, OutputError> {
        let err = |reason| OutputError { flag: flag.into(), path: path.into(), reason };
        if path == Path::new("/dev/stderr") {
            // SAFETY: duplicating our own standard error descriptor.
            let fd = unsafe { libc::fcntl(2, libc::F_DUPFD_CLOEXEC, 3) };
            if fd < 0 {
                return Err(err(io_reason("cannot use standard error", &last_error())));
            }
            // SAFETY: `fd` is a fresh descriptor we own.
            let file = unsafe { File::from_raw_fd(fd) };
            return Ok(Prepared {
                file,
                truncate: false,
                created: None,
                flag: flag.into(),
                path: path.into(),
            });
        }
        let (dir, name) = self.parent(path).map_err(err)?;
        let mode = match content {
            Content::Private => 0o600,
            Content::Shareable => 0o644,
        };
        // Twice at most: a file that appears or disappears between the two opens.
        for _ in 0..2 {
            match self.open_existing(&dir, &name, content) {
                Ok(Some((file, truncate))) => {
                    return Ok(Prepared {
                        file,
                        truncate,
                        created: None,
                        flag: flag.into(),
                        path: path.into(),
                    });
                }
                Ok(None) => {}
                Err(reason) => return Err(err(reason)),
            }
            self.caller_may(&dir, perm::WRITE | perm::SEARCH, "create files in that directory")
                .map_err(err)?;
            let flags =
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
            // SAFETY: valid directory descriptor and NUL-terminated name.
            let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags, mode) };
            if fd < 0 {
                let e = last_error();
                if e.raw_os_error() == Some(libc::EEXIST) {
                    continue;
                }
                return Err(err(io_reason("cannot create it", &e)));
            }
            // SAFETY: a fresh descriptor we own.
            let file = unsafe { File::from_raw_fd(fd) };
            let prepared = Prepared {
                file,
                truncate: false,
                created: Some((
                    dir.try_clone().map_err(|e| err(io_reason("cannot create it", &e)))?,
                    name.clone(),
                )),
                flag: flag.into(),
                path: path.into(),
            };
            // The umask may have narrowed the mode; never widened it. Give the file to the
            // caller when we can (root): it is theirs.
            if let Requester::Caller(c) = &self.requester
                // SAFETY: geteuid has no preconditions.
                && unsafe { libc::geteuid() } == 0
            {
                let gid = c.gid.unwrap_or(u32::MAX);
                // SAFETY: a valid descriptor; -1 (u32::MAX) leaves the group as it is.
                if unsafe { libc::fchown(prepared.file.as_raw_fd(), c.uid, gid) } != 0 {
                    return Err(err(io_reason("cannot give it to the caller", &last_error())));
                }
            }
            return Ok(prepared);
        }
        Err(err(Reason::Changed))
    }

    /// [`Paths::prepare`] without emptying: the file, checked, opened for appending (a
    /// queue that grows across runs, such as `inbound --review`).
    ///
    /// # Errors
    /// [`OutputError`].
    pub fn append(&self, flag: &str, path: &Path, content: Content) -> Result<File, OutputError> {
        let mut prepared = self.prepare(flag, path, content)?;
        prepared.truncate = false;
        let file = prepared.commit()?;
        // SAFETY: F_GETFL/F_SETFL on a descriptor we own.
        let ok = unsafe {
            let fl = libc::fcntl(file.as_raw_fd(), libc::F_GETFL);
            fl >= 0 && libc::fcntl(file.as_raw_fd(), libc::F_SETFL, fl | libc::O_APPEND) == 0
        };
        if !ok {
            return Err(OutputError {
                flag: flag.into(),
                path: path.into(),
                reason: io_reason("cannot append to it", &last_error()),
            });
        }
        Ok(file)
    }

    /// [`Paths::prepare`] and [`Prepared::commit`] in one: the file, checked and emptied.
    ///
    /// # Errors
    /// [`OutputError`].
    pub fn create(&self, flag: &str, path: &Path, content: Content) -> Result<File, OutputError> {
        self.prepare(flag, path, content)?.commit()
    }

    /// Opens the input file `path` (named by `flag`) for reading, by the same rules applied
    /// to its canonical path (symbolic links resolved, so the file itself is checked): not
    /// in a store; a regular file, FIFO or character device; for a caller through sudo, a
    /// regular file they may read. For the process's own account a path without a
    /// canonical form (`/dev/stdin` on a pipe) is opened as it is.
    ///
    /// # Errors
    /// [`OutputError`].
    pub fn open_input(&self, flag: &str, path: &Path) -> Result<File, OutputError> {
        let err = |reason| OutputError { flag: flag.into(), path: path.into(), reason };
        let canon = match std::fs::canonicalize(path) {
            Ok(c) => c,
            Err(_) if self.requester == Requester::Process => {
                return File::open(path).map_err(|e| err(io_reason("cannot open it", &e)));
            }
            Err(e) => return Err(err(io_reason("cannot open it", &e))),
        };
        let (dir, name) = self.parent(&canon).map_err(err)?;
        let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK;
        // SAFETY: valid directory descriptor and NUL-terminated name.
        let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags) };
        if fd < 0 {
            return Err(err(open_error("cannot open it", &last_error())));
        }
        // SAFETY: a fresh descriptor we own.
        let file = unsafe { File::from_raw_fd(fd) };
        let st = fstat(fd).map_err(|e| err(io_reason("cannot check it", &e)))?;
        let kind = st.st_mode & libc::S_IFMT;
        match &self.requester {
            Requester::Process => {
                if !matches!(kind, libc::S_IFREG | libc::S_IFIFO | libc::S_IFCHR) {
                    return Err(err(Reason::NotRegular));
                }
            }
            Requester::Caller(c) => {
                if kind != libc::S_IFREG {
                    return Err(err(Reason::NotRegular));
                }
                if !c.may(fd, perm::READ).map_err(err)? {
                    return Err(err(Reason::CallerMayNot("read that file".into())));
                }
            }
        }
        // Back to blocking reads (the flag only kept a FIFO's open from waiting).
        // SAFETY: fcntl on our own descriptor.
        unsafe { libc::fcntl(fd, libc::F_SETFL, 0) };
        Ok(file)
    }

    /// Checks that the directory `path` (named by `flag`) may be made a new store: not in a
    /// store, new or empty, and for a caller through sudo, in a directory they may create
    /// entries in (or, when it exists, one they may write).
    ///
    /// # Errors
    /// [`OutputError`].
    pub fn check_new_dir(&self, flag: &str, path: &Path) -> Result<(), OutputError> {
        let err = |reason| OutputError { flag: flag.into(), path: path.into(), reason };
        if let Ok(mut entries) = std::fs::read_dir(path) {
            if entries.next().is_some() {
                return Err(err(Reason::NotEmpty));
            }
            // An existing empty directory: the walk checks it like any other.
            let dir = self.walk(path).map_err(err)?;
            self.caller_may(&dir, perm::WRITE | perm::SEARCH, "write in that directory")
                .map_err(err)?;
            return Ok(());
        }
        // A new directory: its nearest existing ancestor must allow creating it.
        let mut missing = path.to_path_buf();
        loop {
            let parent = match missing.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            if std::fs::symlink_metadata(&parent).is_ok() || parent == Path::new("/") {
                if missing.file_name().is_none() {
                    return Err(err(Reason::NoFileName));
                }
                let dir = self.walk(&parent).map_err(err)?;
                self.caller_may(&dir, perm::WRITE | perm::SEARCH, "create directories there")
                    .map_err(err)?;
                return Ok(());
            }
            missing = parent;
        }
    }

    /// The checked directory of `path` (a descriptor) and its last component.
    fn parent(&self, path: &Path) -> Result<(OwnedFd, CString), Reason> {
        let name = match path.components().next_back() {
            Some(Component::Normal(n)) if !path.as_os_str().as_bytes().ends_with(b"/") => n,
            _ => return Err(Reason::NoFileName),
        };
        let name = CString::new(name.as_bytes()).map_err(|_| Reason::NoFileName)?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        Ok((self.walk(dir)?, name))
    }

    /// Walks the canonical form of directory `dir` from `/`, checking each directory (not
    /// a store, searchable by the caller); returns the last one.
    fn walk(&self, dir: &Path) -> Result<OwnedFd, Reason> {
        let canon = std::fs::canonicalize(dir)
            .map_err(|e| open_error(&format!("cannot open the directory {}", dir.display()), &e))?;
        let mut at = PathBuf::from("/");
        let mut fd = open_dir(None, OsStr::new("/"))?;
        self.check_dir(&fd, &at)?;
        for c in canon.components() {
            let part = match c {
                Component::RootDir => continue,
                Component::Normal(n) => n,
                _ => return Err(Reason::Changed),
            };
            at.push(part);
            fd = open_dir(Some(&fd), part)?;
            self.check_dir(&fd, &at)?;
        }
        Ok(fd)
    }

    /// For a caller through sudo: `want` on the directory `dir`, else
    /// [`Reason::CallerMayNot`] `what`.
    fn caller_may(&self, dir: &OwnedFd, want: u32, what: &str) -> Result<(), Reason> {
        match &self.requester {
            Requester::Caller(c) if !c.may(dir.as_raw_fd(), want)? => {
                Err(Reason::CallerMayNot(what.into()))
            }
            _ => Ok(()),
        }
    }

    fn check_dir(&self, fd: &OwnedFd, at: &Path) -> Result<(), Reason> {
        let st = fstat(fd.as_raw_fd()).map_err(|e| io_reason("cannot check a directory", &e))?;
        if let Some((_, store)) = self.stores.iter().find(|(id, _)| *id == (st.st_dev, st.st_ino)) {
            return Err(Reason::InStore(store.clone()));
        }
        if holds_store(fd) {
            return Err(Reason::InStore(at.to_path_buf()));
        }
        if let Requester::Caller(c) = &self.requester
            && !c.may(fd.as_raw_fd(), perm::SEARCH)?
        {
            return Err(Reason::CallerMayNot(format!("enter the directory {}", at.display())));
        }
        Ok(())
    }

    /// Opens an existing `name` in `dir` for writing and checks it: `Ok(None)` when there
    /// is no such file; else the file and whether to truncate it on commit.
    fn open_existing(
        &self,
        dir: &OwnedFd,
        name: &CString,
        content: Content,
    ) -> Result<Option<(File, bool)>, Reason> {
        // SAFETY: a zeroed stat is a valid out-parameter.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: valid descriptor, NUL-terminated name, and out-parameter.
        let r = unsafe {
            libc::fstatat(dir.as_raw_fd(), name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW)
        };
        if r != 0 {
            let e = last_error();
            return match e.raw_os_error() {
                Some(libc::ENOENT) => Ok(None),
                _ => Err(io_reason("cannot check it", &e)),
            };
        }
        let caller = match &self.requester {
            Requester::Process => None,
            Requester::Caller(c) => Some(c),
        };
        check_kind(&st, caller.is_some())?;
        // Opening without O_TRUNC changes nothing; for a caller only a regular file gets
        // here (a FIFO's open would wait for a reader).
        let flags = libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        // SAFETY: valid directory descriptor and NUL-terminated name.
        let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags) };
        if fd < 0 {
            let e = last_error();
            return match e.raw_os_error() {
                Some(libc::ENOENT) => Ok(None),
                _ => Err(open_error("cannot open it", &e)),
            };
        }
        // SAFETY: a fresh descriptor we own.
        let file = unsafe { File::from_raw_fd(fd) };
        let now = fstat(fd).map_err(|e| io_reason("cannot check it", &e))?;
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) {
            return Err(Reason::Changed);
        }
        check_kind(&now, caller.is_some())?;
        if let Some(c) = caller
            && !c.may(fd, perm::WRITE)?
        {
            return Err(Reason::CallerMayNot("write that file".into()));
        }
        let regular = now.st_mode & libc::S_IFMT == libc::S_IFREG;
        if regular && content == Content::Private && now.st_mode & 0o077 != 0 {
            // SAFETY: geteuid has no preconditions.
            let euid = unsafe { libc::geteuid() };
            let ours =
                now.st_uid == euid || (euid == 0 && caller.is_some_and(|c| c.uid == now.st_uid));
            if ours {
                // SAFETY: fchmod on our own descriptor.
                if unsafe { libc::fchmod(fd, 0o600) } != 0 {
                    return Err(Reason::Exposed);
                }
            } else if now.st_mode & 0o044 != 0 {
                // Someone else's file that others may read: it would leak what we write.
                // (One only its owner may read, writable by us through its group, is how a
                // caller gets a file of their own from a store owner that is not root.)
                return Err(Reason::Exposed);
            }
        }
        Ok(Some((file, regular)))
    }
}

/// A regular file with one link; the process's own account may also name a character
/// device or a FIFO.
fn check_kind(st: &libc::stat, caller: bool) -> Result<(), Reason> {
    match st.st_mode & libc::S_IFMT {
        libc::S_IFLNK => Err(Reason::Symlink),
        libc::S_IFREG if st.st_nlink > 1 => Err(Reason::HardLinked),
        libc::S_IFREG => Ok(()),
        libc::S_IFCHR | libc::S_IFIFO if !caller => Ok(()),
        _ => Err(Reason::NotRegular),
    }
}

/// Whether the directory holds a sendfilter store (a `config` starting `sendfilter-store`).
fn holds_store(dir: &OwnedFd) -> bool {
    use std::io::Read;
    let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK;
    // SAFETY: valid directory descriptor and a NUL-terminated literal.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), c"config".as_ptr(), flags) };
    if fd < 0 {
        return false;
    }
    // SAFETY: a fresh descriptor we own.
    let mut f = unsafe { File::from_raw_fd(fd) };
    let mut head = [0u8; 16];
    f.read_exact(&mut head).is_ok() && &head == b"sendfilter-store"
}

/// Opens directory `name` under `at` (or `/`) without following a link.
fn open_dir(at: Option<&OwnedFd>, name: &OsStr) -> Result<OwnedFd, Reason> {
    let c = CString::new(name.as_bytes()).map_err(|_| Reason::Changed)?;
    let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    let base: RawFd = at.map_or(libc::AT_FDCWD, AsRawFd::as_raw_fd);
    // SAFETY: valid descriptor (or AT_FDCWD with an absolute name) and NUL-terminated name.
    let fd = unsafe { libc::openat(base, c.as_ptr(), flags) };
    if fd < 0 {
        let e = last_error();
        return Err(match e.raw_os_error() {
            Some(libc::ELOOP | libc::ENOTDIR | libc::ENOENT) => Reason::Changed,
            _ => io_reason("cannot open a directory on the way", &e),
        });
    }
    // SAFETY: a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn fstat(fd: RawFd) -> std::io::Result<libc::stat> {
    // SAFETY: a zeroed stat is a valid out-parameter.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat with a valid out-parameter; a bad descriptor is reported, not UB.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Err(last_error());
    }
    Ok(st)
}

fn last_error() -> std::io::Error {
    std::io::Error::last_os_error()
}

/// An open error: a symbolic link (`ELOOP` under `O_NOFOLLOW`) is named as such.
fn open_error(what: &str, e: &std::io::Error) -> Reason {
    if e.raw_os_error() == Some(libc::ELOOP) {
        return Reason::Symlink;
    }
    io_reason(what, e)
}

/// `what: description`, without the error number.
fn io_reason(what: &str, e: &std::io::Error) -> Reason {
    let text = e.to_string();
    let text = match text.find(" (os error") {
        Some(i) => &text[..i],
        None => &text,
    };
    Reason::Io(format!("{what}: {text}"))
}

/// The primary group of `user` in the password database.
fn primary_gid(user: &str) -> Option<u32> {
    let name = CString::new(user).ok()?;
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: a zeroed passwd is a valid out-parameter for getpwnam_r.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut out: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call.
    let rc =
        unsafe { libc::getpwnam_r(name.as_ptr(), &mut pw, buf.as_mut_ptr(), buf.len(), &mut out) };
    (rc == 0 && !out.is_null()).then_some(pw.pw_gid)
}

/// The groups of `user` (`getgrouplist`), with `gid` when known.
fn group_list(user: &str, gid: Option<u32>) -> Vec<u32> {
    let Ok(name) = CString::new(user) else { return gid.into_iter().collect() };
    // A group id no one has stands in for an unknown primary group.
    let base = gid.unwrap_or(u32::MAX - 1);
    let mut n: libc::c_int = 64;
    for _ in 0..4 {
        let mut groups = vec![0 as libc::gid_t; n as usize];
        let mut got = n;
        // SAFETY: `groups` holds `got` entries; getgrouplist writes at most that many and
        // sets `got` to the number needed.
        let r = unsafe { libc::getgrouplist(name.as_ptr(), base, groups.as_mut_ptr(), &mut got) };
        if r >= 0 {
            groups.truncate(got.max(0) as usize);
            groups.retain(|&g| gid.is_some() || g != base);
            return groups;
        }
        n = got.max(n * 2);
    }
    gid.into_iter().collect()
}

#[cfg(test)]
mod tests;
