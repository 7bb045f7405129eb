//! Durable writes of the store's small files and new files: every file that holds personal
//! data is created readable by the owner only (0600), and a file is replaced by writing a
//! temporary file, fsyncing it, renaming it over the old one and fsyncing the directory,
//! so that a crash leaves either the old or the new file, never a mix.
//!
//! Used by the journal, the snapshot, the suppression and receipt keys, the config, the
//! policy, the roles, the processing records and the brand registry.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::store::error::{StoreError, io};

/// Creates (truncating) a personal-data file readable by the owner only (0600).
///
/// # Errors
/// I/O errors naming the file.
pub(crate) fn create_private(path: &Path) -> Result<File, StoreError> {
    open_private(path, false)
}

/// [`create_private`], also open for reading (a scratch file written, then read back).
///
/// # Errors
/// I/O errors naming the file.
pub(crate) fn create_private_rw(path: &Path) -> Result<File, StoreError> {
    open_private(path, true)
}

fn open_private(path: &Path, read: bool) -> Result<File, StoreError> {
    OpenOptions::new()
        .read(read)
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io("creating", path))
}

/// Fsyncs the directory holding `path`, making a rename or create durable.
///
/// # Errors
/// I/O errors naming the directory.
pub(crate) fn sync_dir(path: &Path) -> Result<(), StoreError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(dir).and_then(|d| d.sync_all()).map_err(io("fsync of directory", dir))
}

/// Publishes the fully written and fsynced file `tmp` as `path`: renames it over `path`
/// and fsyncs the directory.
///
/// # Errors
/// I/O errors naming the file.
pub(crate) fn publish(tmp: &Path, path: &Path) -> Result<(), StoreError> {
    std::fs::rename(tmp, path).map_err(io("renaming", tmp))?;
    sync_dir(path)
}

/// Replaces the small file `path` with `bytes` atomically and durably: writes
/// `<path>.tmp` (mode 0600), fsyncs it, renames it over `path` and fsyncs the directory.
/// A crash leaves either the old or the new file (and maybe a stale `.tmp`, never read).
/// The caller holds the store's lock.
///
/// # Errors
/// I/O errors naming the file.
pub(crate) fn replace_file(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = create_private(&tmp)?;
    f.write_all(bytes).map_err(io("writing", &tmp))?;
    f.sync_all().map_err(io("fsync of", &tmp))?;
    drop(f);
    publish(&tmp, path)
}

/// Creates `dir/name` holding `bytes` unless it already exists, durably and without a
/// lock: writes a temporary file of its own (0600, created exclusively, removed on return),
/// fsyncs it and hard-links it to the final name, which fails harmlessly when a concurrent
/// creator was first. The caller reads the file back to learn which content won.
///
/// # Errors
/// I/O errors naming the file.
pub(crate) fn create_once(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
    let path = dir.join(name);
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!("{name}.tmp"))
        .tempfile_in(dir)
        .map_err(io("creating a temporary file in", dir))?;
    let tmp_path = tmp.path().to_path_buf();
    tmp.write_all(bytes).map_err(io("writing", &tmp_path))?;
    tmp.as_file().sync_all().map_err(io("fsync of", &tmp_path))?;
    match std::fs::hard_link(&tmp_path, &path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io("creating", &path)(e)),
    }
    tmp.close().map_err(io("removing", &tmp_path))?;
    sync_dir(&path)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn replace_file_is_private_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        replace_file(&path, b"one").unwrap();
        replace_file(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(!dir.path().join("config.tmp").exists());
    }

    #[test]
    fn create_once_keeps_the_first_content() {
        let dir = tempfile::tempdir().unwrap();
        create_once(dir.path(), "key", b"first").unwrap();
        create_once(dir.path(), "key", b"second").unwrap();
        assert_eq!(std::fs::read(dir.path().join("key")).unwrap(), b"first");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary left");
        let mode = std::fs::metadata(dir.path().join("key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
