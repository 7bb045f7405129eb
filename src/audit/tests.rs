use super::*;
use crate::audit::chain::Problem;

fn rec(i: u64) -> AuditRecord {
    AuditRecord {
        time: format!("2026-12-0{}T10:00:00Z", 1 + (i / 10) % 9),
        actor: "alice".into(),
        role: "privacy".into(),
        action: "export-subject".into(),
        command: "subject export".into(),
        outcome: "ok".into(),
        seqs: vec![i + 1],
        ..AuditRecord::default()
    }
}

fn trail(n: u64) -> (tempfile::TempDir, std::path::PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().to_path_buf();
    for i in 0..n {
        record(&dir, &rec(i)).unwrap();
    }
    (d, dir)
}

fn lines(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join(FILE)).unwrap().lines().map(str::to_string).collect()
}

fn write_lines(dir: &Path, lines: &[String]) {
    std::fs::write(dir.join(FILE), lines.join("\n") + "\n").unwrap();
}

#[test]
fn an_intact_chain_verifies_and_numbers_follow() {
    let (_d, dir) = trail(5);
    let v = verify(&dir).unwrap();
    assert_eq!(v.records, 5);
    assert!(v.problems.is_empty(), "{:?}", v.problems);
    assert_eq!(v.head.as_ref().unwrap().0, 5);
    let l = lines(&dir);
    assert!(l[0].starts_with("{\"n\":1,\"prev\":"), "{}", l[0]);
    let (c2, ok) = chain::parse(l[1].as_bytes()).unwrap();
    let (c1, _) = chain::parse(l[0].as_bytes()).unwrap();
    assert!(ok);
    assert_eq!(c2.prev, c1.hash);
    use std::os::unix::fs::PermissionsExt;
    for f in [FILE, INDEX] {
        let mode = std::fs::metadata(dir.join(f)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    // The head kept elsewhere is found.
    let head = v.head.unwrap().1;
    assert!(verify_with_head(&dir, &head).unwrap().problems.is_empty());
}

/// The trail's lock makes appends one at a time: writers in four threads at once still
/// leave one chain, every record numbered once and chained to the one before.
#[test]
fn appends_from_writers_at_once_keep_one_chain() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    std::thread::scope(|s| {
        for t in 0..4 {
            s.spawn(move || {
                for i in 0..25 {
                    record(dir, &rec(100 * t + i)).unwrap();
                }
            });
        }
    });
    let v = verify(dir).unwrap();
    assert_eq!(v.records, 100);
    assert!(v.problems.is_empty(), "{:?}", v.problems);
    assert_eq!(v.head.unwrap().0, 100);
}

#[test]
fn verify_names_an_edited_a_removed_and_a_swapped_record() {
    let (_d, dir) = trail(6);
    let orig = lines(&dir);

    let mut edited = orig.clone();
    edited[2] = edited[2].replace("\"actor\":\"alice\"", "\"actor\":\"mallory\"");
    write_lines(&dir, &edited);
    let v = verify(&dir).unwrap();
    assert_eq!(v.problems, [Problem::Edited { line: 3, n: 3 }], "{:?}", v.problems);
    assert!(v.problems[0].to_string().contains("record 3 was edited"));

    // Edited and given a fresh hash: the next record's link breaks.
    let c = chain::parse(orig[2].as_bytes()).unwrap().0;
    let mut r = c.record.clone();
    r.actor = "mallory".into();
    let (fresh, _) = chain::line(3, &c.prev, &r);
    let mut rehashed = orig.clone();
    rehashed[2] = fresh.trim_end().to_string();
    write_lines(&dir, &rehashed);
    let v = verify(&dir).unwrap();
    assert_eq!(v.problems, [Problem::Unchained { line: 4, n: 4 }], "{:?}", v.problems);

    let mut removed = orig.clone();
    removed.remove(3);
    write_lines(&dir, &removed);
    let v = verify(&dir).unwrap();
    assert_eq!(v.problems, [Problem::Removed { line: 4, from: 4, to: 4 }], "{:?}", v.problems);
    assert!(v.problems[0].to_string().contains("record 4 was removed"));

    let mut swapped = orig.clone();
    swapped.swap(1, 2);
    write_lines(&dir, &swapped);
    let v = verify(&dir).unwrap();
    assert!(
        v.problems.iter().any(|p| matches!(p, Problem::Reordered { line: 2, n: 3, after: 1 })),
        "{:?}",
        v.problems
    );
    assert!(v.problems.iter().all(|p| matches!(p, Problem::Reordered { .. })), "{:?}", v.problems);

    let mut garbage = orig.clone();
    garbage[4] = "{\"n\":5,".into();
    write_lines(&dir, &garbage);
    let v = verify(&dir).unwrap();
    assert!(v.problems.contains(&Problem::Unreadable { line: 5 }), "{:?}", v.problems);

    // The last record removed: only the kept head shows it.
    let head = chain::parse(orig[5].as_bytes()).unwrap().0.hash;
    write_lines(&dir, &orig[..5]);
    assert!(verify(&dir).unwrap().problems.is_empty());
    let v = verify_with_head(&dir, &head).unwrap();
    assert!(matches!(v.problems[..], [Problem::HeadMissing { .. }]), "{:?}", v.problems);
}

#[test]
fn legacy_lines_are_covered_and_appends_continue_the_chain() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let legacy =
        "2026-12-01T00:00:00Z user=bob role=campaign action=filter command=filter allowed\n";
    std::fs::write(dir.join(FILE), legacy).unwrap();
    record(dir, &rec(0)).unwrap();
    record(dir, &rec(1)).unwrap();
    let v = verify(dir).unwrap();
    assert_eq!((v.records, v.legacy_lines), (2, 1));
    assert!(v.problems.is_empty(), "{:?}", v.problems);
    let text = std::fs::read_to_string(dir.join(FILE)).unwrap();
    std::fs::write(dir.join(FILE), text.replace("user=bob", "user=eve")).unwrap();
    let v = verify(dir).unwrap();
    assert_eq!(v.problems, [Problem::Unchained { line: 2, n: 1 }], "{:?}", v.problems);
}

#[test]
fn a_torn_last_line_stays_visible_and_the_chain_goes_on() {
    let (_d, dir) = trail(2);
    let mut f = std::fs::OpenOptions::new().append(true).open(dir.join(FILE)).unwrap();
    use std::io::Write;
    f.write_all(b"{\"n\":3,\"prev\":").unwrap();
    record(&dir, &rec(3)).unwrap();
    let v = verify(&dir).unwrap();
    assert_eq!(v.records, 3);
    assert_eq!(v.problems, [Problem::Unreadable { line: 3 }], "{:?}", v.problems);
}

#[test]
fn find_by_subject_seq_and_since_with_and_without_the_index() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let who = "0123456789abcdef0123456789abcdef".to_string();
    for i in 0..50u64 {
        let mut r = rec(i);
        r.seqs = vec![1000 + i];
        if i % 10 == 3 {
            r.subject = Some(who.clone());
        }
        record(dir, &r).unwrap();
    }
    // An import covering sequences 5000..=6000.
    record(dir, &AuditRecord { seq_range: Some([5000, 6000]), ..rec(99) }).unwrap();
    let found = find(dir, Some(who.clone()), &[], None).unwrap();
    assert_eq!(found.iter().map(|c| c.n).collect::<Vec<_>>(), [4, 14, 24, 34, 44]);
    let found = find(dir, Some(who.clone()), &[1001, 5500], None).unwrap();
    assert_eq!(found.iter().map(|c| c.n).collect::<Vec<_>>(), [2, 4, 14, 24, 34, 44, 51]);
    let since = crate::timefmt::parse_rfc3339("2026-12-04T00:00:00Z").unwrap();
    let found = find(dir, Some(who.clone()), &[], Some(since)).unwrap();
    assert!(found.iter().all(|c| c.record.time.as_str() >= "2026-12-04"), "{found:?}");
    assert_eq!(found.len(), 2);
    // Index lost: the same answer from the trail; the next append rebuilds it.
    std::fs::remove_file(dir.join(INDEX)).unwrap();
    assert_eq!(find(dir, Some(who.clone()), &[], None).unwrap().len(), 5);
    record(dir, &rec(100)).unwrap();
    assert_eq!(std::fs::metadata(dir.join(INDEX)).unwrap().len(), 52 * index::ENTRY_LEN as u64);
    // Index behind the trail (a crash between the writes): records past it still found.
    let idx = std::fs::read(dir.join(INDEX)).unwrap();
    std::fs::write(dir.join(INDEX), &idx[..10 * index::ENTRY_LEN]).unwrap();
    assert_eq!(find(dir, Some(who), &[], None).unwrap().len(), 5);
    assert!(find(dir, None, &[], None).unwrap().is_empty());
}

#[test]
fn no_number_reaches_the_trail() {
    let d = tempfile::tempdir().unwrap();
    let r = AuditRecord {
        brand: Some("ACME 4791234567".into()),
        outputs: vec!["/tmp/rejects-4791234567.csv".into()],
        detail: Some("+47 912 34 567\nnext".into()),
        ..rec(0)
    };
    record(d.path(), &r).unwrap();
    let text = std::fs::read_to_string(d.path().join(FILE)).unwrap();
    assert!(!text.contains("4791234567"), "{text}");
    assert!(text.contains("rejects-##########.csv"), "{text}");
    assert_eq!(text.lines().count(), 1, "a newline in free text stays inside the line");
    assert!(text.contains("+## ### ## ###?next"), "{text}");
    assert_eq!(mask_digits("2026-12-06 123456 x 12345"), "2026-12-## ###### x 12345");
}

proptest::proptest! {
    #[test]
    fn parse_never_panics(line in ".{0,200}") {
        let _ = chain::parse(line.as_bytes());
        let _ = chain::verify_bytes(line.as_bytes());
    }
}

/// Once the store has its key the chain is keyed: an edit rehashed without the key, or a
/// record rewritten unkeyed, is caught; older unkeyed records stay verifiable.
#[test]
fn a_keyed_chain_cannot_be_recomputed_without_the_store_key() {
    let (_d, dir) = trail(2); // version 1: the store has no key yet
    crate::store::suppress::load_or_create_key(&dir, 0).unwrap();
    for i in 2..5 {
        record(&dir, &rec(i)).unwrap();
    }
    let orig = lines(&dir);
    assert!(orig[1].starts_with("{\"n\":2,") && orig[2].starts_with("{\"v\":2,\"n\":3,"));
    let v = verify(&dir).unwrap();
    assert!(v.problems.is_empty() && v.records == 5, "{:?}", v.problems);
    assert_eq!(v.head.as_ref().unwrap().1.len(), 64, "HMAC-SHA256");
    assert!(verify_with_head(&dir, &v.head.unwrap().1).unwrap().problems.is_empty());

    // Edited, and rehashed by someone without the key: keyed with a wrong key, or
    // rewritten as an unkeyed record.
    let c = chain::parse(orig[3].as_bytes()).unwrap().0;
    let mut r = c.record.clone();
    r.actor = "mallory".into();
    let (wrong_key, _) = chain::line_keyed(4, &c.prev, &r, Some(&[7u8; 32]));
    let (unkeyed, _) = chain::line(4, &c.prev, &r);
    for (fresh, want) in [
        (wrong_key, vec![Problem::Edited { line: 4, n: 4 }]),
        (unkeyed, vec![Problem::Unkeyed { line: 4, n: 4 }, Problem::Unchained { line: 5, n: 5 }]),
    ] {
        let mut forged = orig.clone();
        forged[3] = fresh.trim_end().to_string();
        write_lines(&dir, &forged);
        let v = verify(&dir).unwrap();
        assert_eq!(v.problems, want, "{:?}", v.problems);
    }
    assert!(Problem::Unkeyed { line: 4, n: 4 }.to_string().contains("without the store's key"));

    // Without the key file keyed records cannot be checked, and verify says so.
    write_lines(&dir, &orig);
    std::fs::remove_file(dir.join(crate::store::suppress::KEY_FILE)).unwrap();
    let v = verify(&dir).unwrap();
    assert_eq!(v.problems[0], Problem::NoKey { line: 3, n: 3 }, "{:?}", v.problems);
}
