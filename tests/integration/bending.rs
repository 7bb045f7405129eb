//! Rules that cannot be bent (issue 22, section 3): `--now` far from the clock, the soft
//! opt-in informed grace, footers that tell how to opt out.

use crate::harness::Workdir;

/// A store with roles (bob campaign, olga operator) and one consent that expired on
/// 2025-06-01.
fn store_with_roles() -> Workdir {
    let wd = Workdir::new();
    wd.import_store(
        "",
        "+4791000001,ACME,offers,sms,2025-01-01T00:00:00Z,web_form,v1,web,2025-06-01T00:00:00Z,\n",
    );
    wd.run(&["access", "grant", "--store", "store", "bob", "campaign"], "").ok();
    wd.run(&["access", "grant", "--store", "store", "olga", "operator"], "").ok();
    // Staff write their reports where they may themselves (outputs are created with the
    // caller's rights): the work dir may be entered, `out/` written, by anyone.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(wd.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    std::fs::create_dir(wd.join("out")).unwrap();
    std::fs::set_permissions(wd.join("out"), std::fs::Permissions::from_mode(0o777)).unwrap();
    wd
}

const FILTER: [&str; 9] =
    ["filter", "--store", "store", "--brand", "ACME", "--purpose", "offers", "--shortcode", "2401"];

fn with<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    FILTER.iter().copied().chain(extra.iter().copied()).collect()
}

/// Regression: a campaign user replayed a past `--now` to send to an expired consent.
#[test]
fn a_past_now_is_refused_for_campaign_and_stamped_for_others() {
    let wd = store_with_roles();
    let past = ["--now", "2025-03-01T00:00:00Z"];
    let run = wd.run_as("bob", &with(&past), "+4791000001\n");
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("may not replay"), "{}", run.stderr);
    assert_eq!(run.stdout, "");
    // Without --now (or within the hour) the campaign user filters, and the consent is over.
    let run = wd.run_as("bob", &FILTER, "+4791000001\n").ok();
    assert_eq!(run.stdout, "");
    assert!(!run.stderr.contains("OVERRIDDEN"), "{}", run.stderr);
    // An operator may replay; the run says so everywhere.
    let run = wd
        .run_as(
            "olga",
            &with(&[&past[..], &["--report", "out/rep.json"]].concat()),
            "+4791000001\n",
        )
        .ok();
    assert_eq!(run.stdout, "+4791000001\n");
    assert!(
        run.stderr.contains("NOW OVERRIDDEN: decided as of 2025-03-01T00:00:00Z"),
        "{}",
        run.stderr
    );
    let rep: serde_json::Value = serde_json::from_str(&wd.read("out/rep.json")).unwrap();
    assert_eq!(rep["now_overridden"], true);
    let log = wd.read("store/audit");
    assert!(
        log.contains(
            r#""actor":"bob","role":"campaign","action":"replay","command":"filter --now","outcome":"denied""#
        ),
        "{log}"
    );
    assert!(
        log.lines().any(|l| l.contains(r#""actor":"olga","role":"operator","action":"filter""#)
            && l.contains(r#""replay":true"#)),
        "{log}"
    );
    // A run at the clock is not stamped.
    wd.run_as("olga", &with(&["--report", "out/rep.json"]), "+4791000001\n").ok();
    let rep: serde_json::Value = serde_json::from_str(&wd.read("out/rep.json")).unwrap();
    assert_eq!(rep["now_overridden"], false);
    // expiring and purge: the same rule.
    for args in [
        &["expiring", "--store", "store", "--brand", "ACME", "--within", "30d"][..],
        &["purge", "--store", "store", "--older-than", "24mo"],
    ] {
        let mut a = args.to_vec();
        a.extend(["--now", "2030-01-01T00:00:00Z"]);
        let run = wd.run_as("bob", &a, "");
        assert_eq!(run.code, 2, "{a:?}");
        let run = wd.run(&a, "").ok();
        assert!(run.stderr.contains("NOW OVERRIDDEN"), "{a:?}: {}", run.stderr);
    }
}

#[test]
fn absurd_now_is_refused_clearly() {
    let wd = store_with_roles();
    for now in ["1970-01-01T00:00:00Z", "1999-12-31T23:59:59Z", "2150-01-01T00:00:00Z"] {
        for args in [
            with(&["--now", now]),
            vec![
                "expiring", "--store", "store", "--brand", "ACME", "--within", "30d", "--now", now,
            ],
            vec!["purge", "--store", "store", "--older-than", "24mo", "--now", now],
        ] {
            let run = wd.run(&args, "+4791000001\n");
            assert_eq!(run.code, 2, "{args:?}");
            assert!(run.stderr.contains("outside the years 2000 to 2099"), "{}", run.stderr);
            assert_eq!(run.stdout, "");
        }
    }
}

/// Regression: soft opt-in allowed a customer informed six years after the relationship
/// began; the grace is 7 days unless the store policy says otherwise.
#[test]
fn informed_long_after_collection_is_not_soft_opt_in() {
    let wd = Workdir::new();
    wd.write(
        "c.csv",
        "number,brand,relationship,started_at,last_purchase_at,ends_at,informed_at\n\
         +4791000001,ACME,membership,2020-01-01T00:00:00Z,,,2026-01-01T00:00:00Z\n\
         +4791000002,ACME,membership,2020-01-01T00:00:00Z,,,2020-01-05T00:00:00Z\n\
         +4791000003,ACME,membership,2020-01-01T00:00:00Z,,,2020-01-20T00:00:00Z\n",
    );
    wd.run(&["import", "customers", "--store", "store", "c.csv"], "").ok();
    let input = "+4791000001\n+4791000002\n+4791000003\n";
    let soft = with(&["--soft-opt-in", "--rejects", "rej.txt"]);
    let run = wd.run(&soft, input).ok();
    assert_eq!(run.stdout, "+4791000002\n");
    assert_eq!(
        wd.read("rej.txt"),
        "+4791000001\tSOFT_OPT_IN_NOT_INFORMED\n+4791000003\tSOFT_OPT_IN_NOT_INFORMED\n"
    );
    // A 30-day grace in the store's policy lets the third in.
    let set = ["policy", "--store", "store", "set", "--brand", "ACME", "--informed-grace", "30d"];
    wd.run(&set, "").ok();
    let show = wd.run(&["policy", "--store", "store", "show"], "").ok();
    assert!(show.stdout.contains("\"informed_grace_days\": 30"), "{}", show.stdout);
    let run = wd.run(&soft, input).ok();
    assert_eq!(run.stdout, "+4791000002\n+4791000003\n");
    for bad in ["30", "366d", "-1d", "1m"] {
        let mut a = set.to_vec();
        a[7] = bad;
        assert_eq!(wd.run(&a, "").code, 2, "{bad}");
    }
}

/// Regression: `--footer "Visit acme.no"` only warned; messages went out with no way to
/// opt out.
#[test]
fn a_footer_without_keyword_or_route_is_refused() {
    let wd = Workdir::new();
    wd.import_store("", "+4791000001,ACME,offers,sms,2025-01-01T00:00:00Z,web_form,v1,web,,\n");
    let csv = "number,message\n+4791000001,Hei\n";
    for (footer, says) in
        [("Visit acme.no", "no opt-out keyword"), ("Svar {brand} STOPP", "no number")]
    {
        let run = wd.run(&with(&["--format", "csv", "--footer", footer]), csv);
        assert_eq!(run.code, 2, "{footer}");
        assert!(run.stderr.contains(says), "{footer}: {}", run.stderr);
        assert_eq!(run.stdout, "");
    }
    let run = wd.run(&with(&["--format", "csv", "--footer", "Svar STOPP til 2401"]), csv).ok();
    assert_eq!(run.stdout, "number,message\n+4791000001,Hei Svar STOPP til 2401\n");
}

/// Regression: a message with the footer in the middle of its text got no footer.
#[test]
fn a_footer_in_the_middle_of_the_text_does_not_count() {
    let wd = Workdir::new();
    wd.import_store("", "+4791000001,ACME,offers,sms,2025-01-01T00:00:00Z,web_form,v1,web,,\n");
    let csv = "number,message\n+4791000001,Svar ACME STOPP til 2401 koster 5 kr\n";
    let run = wd.run(&with(&["--format", "csv"]), csv).ok();
    assert_eq!(
        run.stdout,
        "number,message\n+4791000001,Svar ACME STOPP til 2401 koster 5 kr Svar ACME STOPP til 2401\n"
    );
}
