use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use super::*;

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// A caller who is neither the files' owner nor in their group.
fn stranger() -> Requester {
    Requester::Caller(Credentials { uid: 4242, gid: Some(4343), groups: vec![4343] })
}

/// A temp dir others may enter (the test may run as root, whose temp dirs are 0700).
fn open_tempdir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    chmod(d.path(), 0o711);
    d
}

fn reason(r: Result<impl std::fmt::Debug, OutputError>) -> Reason {
    r.unwrap_err().reason
}

#[test]
fn the_permission_bits_decide_as_the_kernel_does() {
    let c = Credentials { uid: 10, gid: Some(20), groups: vec![20, 30] };
    use perm::*;
    // The owner class decides for the owner, even when group or other would allow more.
    assert!(c.permits(10, 99, 0o600, READ | WRITE));
    assert!(!c.permits(10, 20, 0o077, READ));
    // The group class for a member of the group (primary or supplementary).
    assert!(c.permits(1, 30, 0o060, READ | WRITE));
    assert!(!c.permits(1, 30, 0o607, READ));
    // Other for everyone else.
    assert!(c.permits(1, 2, 0o003, WRITE | SEARCH));
    assert!(!c.permits(1, 2, 0o770, SEARCH));
    // Root may do anything.
    let root = Credentials { uid: 0, gid: Some(0), groups: vec![0] };
    assert!(root.permits(1, 2, 0o000, READ | WRITE | SEARCH));
}

#[test]
fn a_symbolic_link_is_refused_and_its_target_untouched() {
    let d = tempfile::tempdir().unwrap();
    let target = d.path().join("target");
    std::fs::write(&target, "keep me\n").unwrap();
    let link = d.path().join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let paths = Paths::new(Requester::Process, &[]);
    for content in [Content::Private, Content::Shareable] {
        let e = paths.create("--rejects", &link, content).unwrap_err();
        assert_eq!(e.reason, Reason::Symlink);
        assert_eq!(
            e.to_string(),
            format!(
                "--rejects {}: is a symbolic link: name the file itself (nothing was written)",
                link.display()
            )
        );
    }
    // A dangling link is not followed to create its target either.
    let dangling = d.path().join("dangling");
    std::os::unix::fs::symlink(d.path().join("new"), &dangling).unwrap();
    assert_eq!(reason(paths.create("--report", &dangling, Content::Shareable)), Reason::Symlink);
    assert!(!d.path().join("new").exists());
    // An input is read through a link: its target is what is checked.
    paths.open_input("FILE", &link).unwrap();
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me\n");
}

#[test]
fn nothing_is_written_into_a_store_by_any_path() {
    let d = tempfile::tempdir().unwrap();
    let store = d.path().join("store");
    std::fs::create_dir_all(store.join("sub")).unwrap();
    std::fs::write(store.join("journal"), "journal").unwrap();
    let paths = Paths::new(Requester::Process, &[&store]);
    let alias = d.path().join("alias");
    std::os::unix::fs::symlink(&store, &alias).unwrap();
    for p in [
        store.join("journal"),
        store.join("new"),
        store.join("sub/new"),
        store.join("sub/../journal"),
        alias.join("journal"),
        d.path().join("store/./audit"),
    ] {
        assert_eq!(
            reason(paths.create("--rejects", &p, Content::Private)),
            Reason::InStore(store.clone()),
            "{}",
            p.display()
        );
        if p.exists() {
            assert_eq!(reason(paths.open_input("FILE", &p)), Reason::InStore(store.clone()));
        }
    }
    assert_eq!(std::fs::read_to_string(store.join("journal")).unwrap(), "journal");
    let link = d.path().join("link");
    std::os::unix::fs::symlink(store.join("journal"), &link).unwrap();
    assert_eq!(reason(paths.open_input("FILE", &link)), Reason::InStore(store.clone()));
    assert!(!store.join("new").exists() && !store.join("sub/new").exists());
    // Another store (found by its config file) is out of bounds too.
    let other = d.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("config"), "sendfilter-store 1\nregion NO\n").unwrap();
    assert!(matches!(
        reason(paths.create("--report", &other.join("x"), Content::Shareable)),
        Reason::InStore(_)
    ));
    assert!(matches!(reason(paths.check_new_dir("--store", &other.join("x"))), Reason::InStore(_)));
    // Next to the store is fine.
    paths.create("--rejects", &d.path().join("rejects"), Content::Private).unwrap();
}

#[test]
fn a_file_is_truncated_only_on_commit_and_a_refused_sibling_leaves_all_as_it_was() {
    let d = tempfile::tempdir().unwrap();
    let old = d.path().join("old");
    std::fs::write(&old, "keep me\n").unwrap();
    let paths = Paths::new(Requester::Process, &[]);
    let first = paths.prepare("--rejects", &old, Content::Private).unwrap();
    let new = d.path().join("new");
    let second = paths.prepare("--receipts", &new, Content::Private).unwrap();
    assert!(new.exists());
    // A third output is refused: the command gives up, dropping the others uncommitted.
    let link = d.path().join("link");
    std::os::unix::fs::symlink(&old, &link).unwrap();
    assert!(paths.prepare("--report", &link, Content::Shareable).is_err());
    drop((first, second));
    assert_eq!(std::fs::read_to_string(&old).unwrap(), "keep me\n");
    assert!(!new.exists(), "a file created for the refused command is removed");
    // Committed: emptied, and written from the start.
    let mut f = paths.create("--rejects", &old, Content::Private).unwrap();
    f.write_all(b"x\n").unwrap();
    assert_eq!(std::fs::read_to_string(&old).unwrap(), "x\n");
}

#[test]
fn private_files_are_0600_and_shareable_ones_keep_their_mode() {
    let d = tempfile::tempdir().unwrap();
    let paths = Paths::new(Requester::Process, &[]);
    let p = d.path().join("rejects");
    paths.create("--rejects", &p, Content::Private).unwrap();
    assert_eq!(mode(&p), 0o600);
    // An existing file of ours, readable by others: restricted.
    let q = d.path().join("old");
    std::fs::write(&q, "x").unwrap();
    chmod(&q, 0o644);
    paths.create("--receipts", &q, Content::Private).unwrap();
    assert_eq!(mode(&q), 0o600);
    let r = d.path().join("report");
    std::fs::write(&r, "x").unwrap();
    chmod(&r, 0o644);
    paths.create("--report", &r, Content::Shareable).unwrap();
    assert_eq!(mode(&r), 0o644);
}

#[test]
fn a_hard_linked_file_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("a");
    std::fs::write(&a, "keep me\n").unwrap();
    std::fs::hard_link(&a, d.path().join("b")).unwrap();
    for req in [Requester::Process, stranger()] {
        chmod(d.path(), 0o777);
        chmod(&a, 0o666);
        let paths = Paths::new(req, &[]);
        assert_eq!(reason(paths.create("--rejects", &a, Content::Shareable)), Reason::HardLinked);
    }
    assert_eq!(std::fs::read_to_string(&a).unwrap(), "keep me\n");
}

#[test]
fn devices_and_fifos_are_for_the_process_own_account_only() {
    let null = Path::new("/dev/null");
    Paths::new(Requester::Process, &[]).create("--report", null, Content::Shareable).unwrap();
    let e = Paths::new(stranger(), &[]).create("--report", null, Content::Shareable);
    assert_eq!(reason(e), Reason::NotRegular);
    let d = tempfile::tempdir().unwrap();
    assert_eq!(
        reason(Paths::new(Requester::Process, &[]).create(
            "--report",
            d.path(),
            Content::Shareable
        )),
        Reason::NotRegular
    );
    let e = Paths::new(Requester::Process, &[]).create(
        "--report",
        &d.path().join("x/"),
        Content::Shareable,
    );
    assert_eq!(reason(e), Reason::NoFileName);
}

/// The caller's rights are emulated: the test may run as root (the kernel allows it
/// everything), so only the emulation can refuse here.
#[test]
fn a_caller_through_sudo_gets_only_their_own_rights() {
    let d = open_tempdir();
    let paths = Paths::new(stranger(), &[]);
    let caller_may_not = |r: Reason| matches!(r, Reason::CallerMayNot(_));

    // A directory the caller may not enter, nor create files in.
    let closed = d.path().join("closed");
    std::fs::create_dir(&closed).unwrap();
    chmod(&closed, 0o700);
    let e = paths.create("--rejects", &closed.join("r"), Content::Private).unwrap_err();
    assert!(caller_may_not(e.reason.clone()), "{e}");
    assert!(e.to_string().contains("the caller may not enter the directory"), "{e}");
    assert!(!e.to_string().contains("4242"), "{e}");
    chmod(&closed, 0o755);
    let e = paths.create("--rejects", &closed.join("r"), Content::Private).unwrap_err();
    assert_eq!(e.reason, Reason::CallerMayNot("create files in that directory".into()));
    assert!(!closed.join("r").exists());

    // An existing file the caller may not write: refused, not truncated.
    let theirs = closed.join("theirs");
    std::fs::write(&theirs, "keep me\n").unwrap();
    chmod(&theirs, 0o644);
    assert!(caller_may_not(reason(paths.create("--report", &theirs, Content::Shareable))));
    assert_eq!(std::fs::read_to_string(&theirs).unwrap(), "keep me\n");
    // Writable by others: a file of the process's account is restricted to 0600 ...
    chmod(&theirs, 0o666);
    paths.prepare("--rejects", &theirs, Content::Private).unwrap();
    assert_eq!(mode(&theirs), 0o600);
    // ... but one of a third account cannot be: holding personal data, it would stay
    // readable by others. Refused.
    chmod(&theirs, 0o666);
    if std::os::unix::fs::chown(&theirs, Some(5555), None).is_ok() {
        assert_eq!(reason(paths.create("--rejects", &theirs, Content::Private)), Reason::Exposed);
    }
    assert_eq!(std::fs::read_to_string(&theirs).unwrap(), "keep me\n");
    // Writable but readable by its owner only: used as it is (nothing leaks).
    chmod(&theirs, 0o622);
    if std::fs::metadata(&theirs).unwrap().uid() == 5555 {
        paths.create("--rejects", &theirs, Content::Private).unwrap();
        assert_eq!(mode(&theirs), 0o622);
        std::fs::write(&theirs, "keep me\n").unwrap();
    }
    // A report (no personal data) may go there.
    paths.create("--report", &theirs, Content::Shareable).unwrap();
    assert_eq!(std::fs::read_to_string(&theirs).unwrap(), "");

    // Through the group.
    let shared = d.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    chmod(&shared, 0o770);
    assert!(caller_may_not(reason(paths.create("--rejects", &shared.join("r"), Content::Private))));
    std::os::unix::fs::chown(&shared, None, Some(4343)).unwrap_or(());
    if std::fs::metadata(&shared).unwrap().gid() == 4343 {
        let p = shared.join("r");
        paths.create("--rejects", &p, Content::Private).unwrap();
        assert_eq!(mode(&p), 0o600);
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            assert_eq!(std::fs::metadata(&p).unwrap().uid(), 4242, "given to the caller");
        }
    }

    // Reading: only what the caller may read.
    let secret = d.path().join("secret");
    std::fs::write(&secret, "number,brand,stopped_at\n").unwrap();
    chmod(&secret, 0o600);
    assert!(caller_may_not(reason(paths.open_input("FILE", &secret))));
    chmod(&secret, 0o604);
    paths.open_input("FILE", &secret).unwrap();

    // A new directory for a store: only where the caller may create one.
    assert!(caller_may_not(reason(paths.check_new_dir("--store", &closed.join("s")))));
    let open = d.path().join("open");
    std::fs::create_dir(&open).unwrap();
    chmod(&open, 0o777);
    paths.check_new_dir("--store", &open.join("s/t")).unwrap();
    std::fs::write(open.join("f"), "").unwrap();
    assert_eq!(reason(paths.check_new_dir("--store", &open)), Reason::NotEmpty);
}

#[test]
fn standard_error_is_taken_as_it_is() {
    let paths = Paths::new(stranger(), &[]);
    paths.create("--report", Path::new("/dev/stderr"), Content::Shareable).unwrap();
    // Other links in /dev are links.
    assert_eq!(
        reason(paths.create("--rejects", Path::new("/dev/stdout"), Content::Private)),
        Reason::Symlink
    );
}

fn acl(entries: &[(u16, u16, u32)]) -> Vec<AclEntry> {
    entries.iter().map(|&(tag, perm, id)| AclEntry { tag, perm, id }).collect()
}

fn acl_bytes(entries: &[AclEntry]) -> Vec<u8> {
    let mut b = 2u32.to_le_bytes().to_vec();
    for e in entries {
        b.extend_from_slice(&e.tag.to_le_bytes());
        b.extend_from_slice(&e.perm.to_le_bytes());
        b.extend_from_slice(&e.id.to_le_bytes());
    }
    b
}

#[test]
fn an_acl_decides_as_the_kernel_does() {
    use acl_tag::*;
    use perm::*;
    let none = u32::MAX;
    let a = acl(&[
        (USER_OBJ, 6, none),
        (USER, 4, 4242),
        (GROUP_OBJ, 6, none),
        (GROUP, 6, 4343),
        (MASK, 4, none),
        (OTHER, 6, none),
    ]);
    let c = |uid, groups: &[u32]| Credentials { uid, gid: None, groups: groups.to_vec() };
    // A named user entry decides (limited by the mask), whatever other allows.
    assert!(c(4242, &[]).permits_acl(1, 2, &a, READ));
    assert!(!c(4242, &[]).permits_acl(1, 2, &a, WRITE));
    // A matching group grants only within the mask; a matched group keeps other out.
    assert!(!c(5000, &[4343]).permits_acl(1, 2, &a, WRITE));
    assert!(c(5000, &[4343]).permits_acl(1, 2, &a, READ));
    assert!(!c(5000, &[2]).permits_acl(1, 2, &a, WRITE), "owning group matched");
    // Everyone else: other; the owner: the owner entry.
    assert!(c(5000, &[]).permits_acl(1, 2, &a, READ | WRITE));
    assert!(c(1, &[]).permits_acl(1, 2, &a, READ | WRITE));
    assert!(!c(5000, &[]).permits_acl(1, 2, &acl(&[(0x40, 7, 0)]), READ), "unknown tag");
    assert_eq!(parse_acl(&acl_bytes(&a)), Some(a));
    assert_eq!(parse_acl(&[2, 0, 0, 0, 1]), None);
    assert_eq!(parse_acl(&[1, 0, 0, 0]), None);
}

/// With a real ACL on the file system (root may write it directly): a named user entry
/// grants what the mode bits do not, and denies what they would allow.
#[test]
fn a_real_acl_is_honoured() {
    use acl_tag::*;
    let none = u32::MAX;
    let d = open_tempdir();
    let set = |p: &Path, entries: &[(u16, u16, u32)]| -> bool {
        let path = CString::new(p.as_os_str().as_bytes()).unwrap();
        let v = acl_bytes(&acl(entries));
        // SAFETY: NUL-terminated strings and a valid buffer.
        unsafe {
            libc::setxattr(
                path.as_ptr(),
                c"system.posix_acl_access".as_ptr(),
                v.as_ptr().cast(),
                v.len(),
                0,
            ) == 0
        }
    };
    let f = d.path().join("granted");
    std::fs::write(&f, "x").unwrap();
    chmod(&f, 0o600);
    if !set(
        &f,
        &[
            (USER_OBJ, 6, none),
            (USER, 6, 4242),
            (GROUP_OBJ, 0, none),
            (MASK, 6, none),
            (OTHER, 0, none),
        ],
    ) {
        return; // no ACLs here (or not root)
    }
    let paths = Paths::new(stranger(), &[]);
    paths.create("--report", &f, Content::Shareable).unwrap();
    let closed = d.path().join("closed");
    std::fs::create_dir(&closed).unwrap();
    chmod(&closed, 0o777);
    assert!(set(
        &closed,
        &[
            (USER_OBJ, 7, none),
            (USER, 0, 4242),
            (GROUP_OBJ, 7, none),
            (MASK, 7, none),
            (OTHER, 7, none)
        ]
    ));
    let e = paths.create("--report", &closed.join("r"), Content::Shareable).unwrap_err();
    assert!(e.to_string().contains("the caller may not enter the directory"), "{e}");
}
