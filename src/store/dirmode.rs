//! The store directory's mode: a store's files are its owner's alone.
//!
//! Store files are created 0600 in a 0700 directory. A directory made beforehand with
//! `mkdir` (usually 0755), or opened up later, lets other accounts list the store and read
//! any file whose own mode slips. [`secure`] is called on every store a command opens: a
//! directory that group or others may access is tightened to 0700 when the process owns it
//! (or runs as root), and the caller is told; else the store is refused until its owner
//! fixes it. Nothing else about the directory changes.

use std::path::{Path, PathBuf};

/// What [`secure`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirMode {
    /// Only the owner may access the directory: nothing to do.
    Private,
    /// It was open to others (mode `was`, permission bits) and is now 0700.
    Tightened {
        /// The directory's permission bits before.
        was: u32,
    },
}

/// A store directory that is open to others and may not be tightened, or cannot be checked.
#[derive(Debug, thiserror::Error)]
pub enum DirModeError {
    /// Group or others may access it, and the process may not change its mode.
    #[error(
        "store directory {} is open to other users (mode {was:04o}) and belongs to another \
         account: its owner must restrict it (chmod 700 {}); refused until then",
        path.display(),
        path.display()
    )]
    Exposed {
        /// The directory.
        path: PathBuf,
        /// Its permission bits.
        was: u32,
    },
    /// Reading or changing the directory's mode failed.
    #[error("restricting store directory {} to 0700: {source}", path.display())]
    Io {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// What to do with a directory of permission bits `mode` owned by `owner`, for a process
/// whose effective user id is `euid`: `Ok(None)` nothing, `Ok(Some(was))` tighten,
/// `Err(was)` refuse.
fn decide(mode: u32, owner: u32, euid: u32) -> Result<Option<u32>, u32> {
    let was = mode & 0o7777;
    if was & 0o077 == 0 {
        Ok(None)
    } else if owner == euid || euid == 0 {
        Ok(Some(was))
    } else {
        Err(was)
    }
}

/// Makes sure the existing store directory `dir` is accessible to its owner only: tightens
/// it to 0700 when the process owns it (or is root), else refuses.
///
/// # Errors
/// [`DirModeError::Exposed`] when it is open to others and not ours; I/O errors.
pub fn secure(dir: &Path) -> Result<DirMode, DirModeError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let fail = |source| DirModeError::Io { path: dir.to_path_buf(), source };
    let m = std::fs::metadata(dir).map_err(fail)?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    match decide(m.mode(), m.uid(), euid) {
        Ok(None) => Ok(DirMode::Private),
        Ok(Some(was)) => {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(fail)?;
            Ok(DirMode::Tightened { was })
        }
        Err(was) => Err(DirModeError::Exposed { path: dir.to_path_buf(), was }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_directories_are_tightened_when_ours_and_refused_when_not() {
        assert_eq!(decide(0o40700, 10, 10), Ok(None));
        assert_eq!(decide(0o700, 10, 11), Ok(None), "private, whoever asks");
        assert_eq!(decide(0o40755, 10, 10), Ok(Some(0o755)));
        assert_eq!(decide(0o2770, 10, 10), Ok(Some(0o2770)));
        assert_eq!(decide(0o701, 10, 0), Ok(Some(0o701)), "root may");
        assert_eq!(decide(0o750, 10, 11), Err(0o750));
    }

    #[test]
    fn secure_tightens_a_directory_of_ours() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let mode = || std::fs::metadata(d.path()).unwrap().permissions().mode() & 0o7777;
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(secure(d.path()).unwrap(), DirMode::Tightened { was: 0o755 });
        assert_eq!(mode(), 0o700);
        assert_eq!(secure(d.path()).unwrap(), DirMode::Private);
        let e = DirModeError::Exposed { path: "/s".into(), was: 0o755 };
        assert!(e.to_string().contains("mode 0755") && e.to_string().contains("chmod 700 /s"));
    }
}
