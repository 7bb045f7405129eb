//! Opt-out routes per country (issue 22, section 4), `--shortcode` validation and
//! `brand set`.

use crate::harness::Workdir;

/// A store with consents for a Norwegian, a Danish and a Swedish number, and ACME
/// registered on the Norwegian short code 2401.
fn store() -> Workdir {
    let wd = Workdir::new();
    wd.import_store(
        "",
        "+4791000001,ACME,offers,sms,2025-01-01T00:00:00Z,web_form,v1,web,,\n\
         +4540100011,ACME,offers,sms,2025-01-01T00:00:00Z,web_form,v1,web,,\n\
         +46701000006,ACME,offers,sms,2025-01-01T00:00:00Z,web_form,v1,web,,\n",
    );
    wd.run(&["brand", "add", "--store", "store", "ACME", "--shortcode", "2401"], "").ok();
    wd
}

const CSV: &str = "number,message\n+4791000001,Hei\n+4540100011,Hej\n+46701000006,Hej\n";

fn filter<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let base = ["filter", "--store", "store", "--brand", "ACME", "--purpose", "offers"];
    base.iter().chain(extra).copied().collect()
}

/// Regression: a Danish number was allowed with "Svar ACME STOPP til 2401", a Norwegian
/// short code it cannot reply to.
#[test]
fn a_country_without_a_route_is_rejected_and_counted() {
    let wd = store();
    let args = filter(&["--format", "csv", "--rejects", "rej.csv", "--report", "rep.json"]);
    let run = wd.run(&args, CSV).ok();
    assert_eq!(run.stdout, "number,message\n+4791000001,Hei Svar ACME STOPP til 2401\n");
    assert_eq!(
        wd.read("rej.csv"),
        "number,message,reason\n+4540100011,Hej,NO_OPT_OUT_ROUTE\n+46701000006,Hej,NO_OPT_OUT_ROUTE\n"
    );
    assert!(run.stderr.contains("2 NO_OPT_OUT_ROUTE (DK 1, SE 1)"), "{}", run.stderr);
    let rep: serde_json::Value = serde_json::from_str(&wd.read("rep.json")).unwrap();
    assert_eq!(rep["reasons"]["NO_OPT_OUT_ROUTE"], 2);
    assert_eq!(rep["no_opt_out_route_by_country"]["DK"], 1);
    assert_eq!(rep["no_opt_out_route_by_country"]["SE"], 1);
    // Numbers only (lines without --message): nothing is stamped, no route is checked;
    // with --message the same list is.
    let lines = "+4791000001\n+4540100011\n";
    let run = wd.run(&filter(&["--shortcode", "2401"]), lines).ok();
    assert_eq!(run.stdout, lines);
    let run = wd.run(&filter(&["--message", "Hei"]), lines).ok();
    assert_eq!(run.stdout, "+4791000001\n");
    // The consent reasons come first: a stopped Dane is STOPPED.
    wd.run(&["stop", "--store", "store", "--brand", "ACME", "+4540100011"], "").ok();
    wd.run(&args, CSV).ok();
    assert!(wd.read("rej.csv").contains("+4540100011,Hej,STOPPED"));
}

#[test]
fn each_country_gets_its_route_and_language() {
    let wd = store();
    let route = ["brand", "route", "--store", "store", "ACME"];
    let with = |extra: &[&str]| -> Vec<String> {
        route.iter().chain(extra).map(|s| s.to_string()).collect()
    };
    for extra in [&["DK", "+45 70 20 20 20"][..], &["SE", "72456"]] {
        let a = with(extra);
        wd.run(&a.iter().map(String::as_str).collect::<Vec<_>>(), "").ok();
    }
    let run = wd.run(&filter(&["--format", "csv"]), CSV).ok();
    assert_eq!(
        run.stdout,
        "number,message\n+4791000001,Hei Svar ACME STOPP til 2401\n\
         +4540100011,Hej Send ACME STOP til +4570202020\n\
         +46701000006,Hej Svara ACME STOPP till 72456\n"
    );
    // --shortcode is the route of the first --region country only.
    let run = wd.run(&filter(&["--format", "csv", "--shortcode", "2402"]), CSV).ok();
    assert!(run.stdout.contains("+4791000001,Hei Svar ACME STOPP til 2402\n"), "{}", run.stdout);
    assert!(run.stdout.contains("Send ACME STOP til +4570202020"), "{}", run.stdout);
    let run = wd.run(&filter(&["--format", "csv", "--region", "DK", "--shortcode", "1919"]), CSV);
    assert!(run.ok().stdout.contains("+4540100011,Hej Send ACME STOP til 1919\n"));
    // A route removed is a country rejected again.
    let a = with(&["SE", "--clear"]);
    wd.run(&a.iter().map(String::as_str).collect::<Vec<_>>(), "").ok();
    let run = wd.run(&filter(&["--format", "csv", "--rejects", "rej.csv"]), CSV).ok();
    assert!(!run.stdout.contains("+46701000006"), "{}", run.stdout);
    assert!(wd.read("rej.csv").contains("+46701000006,Hej,NO_OPT_OUT_ROUTE"));
    let list = wd.run(&["brand", "list", "--store", "store"], "").ok();
    assert!(list.stdout.contains("DK=+4570202020(da)"), "{}", list.stdout);
}

/// Regression: `--shortcode "abc def"` was accepted silently.
#[test]
fn bad_routes_are_refused_clearly() {
    let wd = store();
    for bad in ["abc def", "12", "123456789", "+47 123"] {
        let run = wd.run(&filter(&["--format", "csv", "--shortcode", bad]), CSV);
        assert_eq!(run.code, 2, "{bad}");
        assert!(run.stderr.contains("is not an opt-out route"), "{bad}: {}", run.stderr);
        assert_eq!(run.stdout, "");
        let run = wd.run(&["brand", "add", "--store", "store", "Beta", "--shortcode", bad], "");
        assert_eq!(run.code, 2, "{bad}");
        let run = wd.run(&["brand", "route", "--store", "store", "ACME", "DK", bad], "");
        assert_eq!(run.code, 2, "{bad}");
    }
    let run = wd.run(&["brand", "route", "--store", "store", "ACME", "XX", "2401"], "");
    assert_eq!(run.code, 2);
}

/// Regression: `brand add` on an existing brand failed and nothing updated it.
#[test]
fn brand_set_changes_settings_and_keeps_replies() {
    let wd = store();
    wd.run(&["brand", "set-reply", "--store", "store", "ACME", "stop", "Bye from {brand}"], "")
        .ok();
    let run = wd.run(&["brand", "add", "--store", "store", "ACME", "--shortcode", "2402"], "");
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("brand set"), "{}", run.stderr);
    let set = ["brand", "set", "--store", "store", "ACME", "--shortcode", "2402", "--language"];
    wd.run(&[&set[..], &["sv"]].concat(), "").ok();
    let list = wd.run(&["brand", "list", "--store", "store", "--json"], "").ok();
    let v: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(v[0]["shortcode"], "2402");
    assert_eq!(v[0]["language"], "sv");
    assert_eq!(v[0]["replies"]["stop"], "Bye from {brand}");
    // The new short code and language are the Norwegian route now.
    let run = wd.run(&filter(&["--format", "csv"]), CSV).ok();
    assert!(run.stdout.contains("+4791000001,Hei Svara ACME STOPP till 2402"), "{}", run.stdout);
    let run = wd.run(&["brand", "set", "--store", "store", "Nobody", "--language", "sv"], "");
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no brand named Nobody"), "{}", run.stderr);
    let run = wd.run(&[&set[..6], &["abc def"]].concat(), "");
    assert_eq!(run.code, 2);
}
