//! `sendfilter demo`: the README's main command, on the bundled example data.

use crate::harness::Workdir;

#[test]
fn demo_decides_every_example_record() {
    let wd = Workdir::new();
    let r = wd.run(&["demo", "--store", "kept"], "").ok();
    let allowed: Vec<&str> = r
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("# Allowed"))
        .skip(2)
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(
        allowed,
        [
            "+4791000001,Hei! Ukens tilbud: 20% på alt. Svar ACME STOPP til 2401",
            "+4791000007,\"Hei Kari, takk for sist! Nå 30% på vinterjakker 🧥 Svar ACME STOPP til 2401\"",
            // The footer is already there: not stamped twice.
            "+4791000009,Velkommen tilbake! Her er 100 kr i bonus. Svar ACME STOPP til 2401",
        ]
    );
    for (record, reason) in [
        ("004791000002", "STOPPED"),
        ("91000003", "STOPPED"),      // stopped for every brand (*)
        ("910 00 004", "NO_CONSENT"), // consent by e-mail only
        ("+46 70 100 00 06", "CONSENT_EXPIRED"),
        ("+4791000008", "NO_CONSENT"),     // consent for another brand
        ("tel:+47-910-00-010", "STOPPED"), // later consent, never confirmed: the stop stands
        ("ikke et nummer", "INVALID_NUMBER"),
        ("+47 910 00 001", "DUPLICATE"),
        ("91000012", "NO_CONSENT"), // consent for another purpose
        // Regression (issue 22): a Danish number cannot reply to the Norwegian 2401.
        ("+45 40 10 00 11", "NO_OPT_OUT_ROUTE"),
    ] {
        assert!(
            r.stdout.lines().any(|l| l.starts_with(record) && l.ends_with(&format!(",{reason}"))),
            "{record} should be rejected as {reason}:\n{}",
            r.stdout
        );
    }
    assert!(r.stdout.contains("\"allowed\": 3"), "{}", r.stdout);
    assert!(r.stdout.contains("\"DK\": 1"), "{}", r.stdout);
    // The kept store is a real store the other commands can read.
    let info = wd.run(&["info", "--store", "kept", "--json"], "").ok();
    assert!(info.stdout.contains("\"integrity\""), "{}", info.stdout);
}
