//! `sendfilter normalize` end to end.

use crate::harness::Workdir;

#[test]
fn normalizes_in_order_and_marks_invalid() {
    let wd = Workdir::new();
    let r = wd.run(&["normalize"], "+4791234567\nhello\n+4740000000\n").ok();
    assert_eq!(r.stdout, "+4791234567\nINVALID\n+4740000000\n");
    assert!(r.stderr.contains("3 lines"), "{}", r.stderr);
}

#[test]
fn rejects_unknown_region_flag() {
    let wd = Workdir::new();
    let r = wd.run(&["normalize", "--region", "Norway"], "");
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("region"), "{}", r.stderr);
}
