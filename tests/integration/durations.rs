//! One duration syntax for every period option (`30d`, `12mo`, `1y`, `90min`, `24h`,
//! `2w`), an ambiguous bare `m` refused everywhere, and other numeric options that must
//! not be zero.

use crate::harness::Workdir;

fn store(w: &Workdir) {
    w.write(
        "consents.csv",
        "number,brand,purpose,channel,granted_at,method,text_ref,source,expires_at,confirmed_at\n\
         +4791000009,ACME,offers,sms,2024-01-01T00:00:00Z,web_form,v1,web,2026-03-20T00:00:00Z,\n",
    );
    w.run(&["import", "consents", "--store", "s", "consents.csv"], "").ok();
}

/// Every period flag, with a value.
fn commands(value: &str) -> Vec<Vec<String>> {
    let now = "2026-03-01T00:00:00Z";
    [
        vec!["expiring", "--store", "s", "--brand", "ACME", "--now", now, "--within", value],
        vec!["purge", "--store", "s", "--now", now, "--older-than", value],
        vec!["policy", "--store", "s", "set", "--brand", "ACME", "--consent-lifetime", value],
    ]
    .into_iter()
    .map(|c| c.into_iter().map(String::from).collect())
    .collect()
}

fn run(w: &Workdir, args: &[String]) -> crate::harness::Run {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    w.run(&args, "")
}

#[test]
fn bare_m_is_refused_everywhere_with_a_suggestion() {
    let w = Workdir::new();
    store(&w);
    for args in commands("12m") {
        let r = run(&w, &args);
        assert_eq!(r.code, 2, "{args:?} accepted 12m: {}", r.stderr);
        assert!(r.stderr.contains("12mo") && r.stderr.contains("12min"), "{args:?}: {}", r.stderr);
    }
}

#[test]
fn months_and_years_are_accepted_everywhere() {
    let w = Workdir::new();
    store(&w);
    for value in ["12mo", "1y"] {
        for args in commands(value) {
            let r = run(&w, &args);
            assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        }
    }
    // `1mo` is a month: the consent ending 2026-03-20 is listed; `90min` is not long enough.
    let mut args = commands("1mo").remove(0);
    let r = run(&w, &args);
    assert!(r.stdout.contains("+4791000009"), "{}", r.stdout);
    args.pop();
    args.push("90min".into());
    let r = run(&w, &args).ok();
    assert_eq!(r.stdout, "number,purpose,ends_at,event_seq\n");
}

#[test]
fn bad_durations_are_refused() {
    let w = Workdir::new();
    store(&w);
    for bad in ["24", "0d", "-1d", "1.5d", "soon", "", "201y"] {
        for args in commands(bad) {
            let r = run(&w, &args);
            assert_eq!(r.code, 2, "{args:?} accepted {bad:?}");
        }
    }
    // A consent lifetime is a whole number of calendar months.
    let r = run(&w, &commands("30d")[2]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("24mo"), "{}", r.stderr);
}

#[test]
fn max_segments_zero_is_refused() {
    let w = Workdir::new();
    store(&w);
    let r = w.run(
        &[
            "filter",
            "--store",
            "s",
            "--brand",
            "ACME",
            "--purpose",
            "offers",
            "--max-segments",
            "0",
        ],
        "+4791000009\n",
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(r.stdout, "");
    assert!(r.stderr.contains("max-segments"), "{}", r.stderr);
}
