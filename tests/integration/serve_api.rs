//! `sendfilter serve`'s API beyond checks: tokens and roles, audited subject calls.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::harness::Workdir;
use crate::serve::Server;

const N: &str = "+4791000001";

/// A store `s` with a consent for [`N`] (ACME, offers).
fn store(wd: &Workdir) {
    wd.write(
        "consents.csv",
        format!(
            "number,brand,purpose,channel,granted_at,method,text_ref,source,expires_at,\
             confirmed_at\n{N},ACME,offers,sms,2025-01-01T00:00:00Z,web,t1,test,,\n"
        ),
    );
    wd.run(&["import", "consents", "--store", "s", "consents.csv"], "").ok();
}

/// A new token for `role` named `name`.
fn token(wd: &Workdir, role: &str, name: &str) -> String {
    let r = wd.run(&["token", "create", "--store", "s", "--role", role, "--name", name], "").ok();
    r.stdout.trim().to_string()
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

const CHECK: &[u8] = br#"{"number":"+4791000001","brand":"ACME","purpose":"offers"}"#;

#[test]
fn every_api_route_needs_a_token_whose_role_may_call_it() {
    let wd = Workdir::new();
    store(&wd);
    let campaign = token(&wd, "campaign", "shop");
    let privacy = token(&wd, "privacy", "dpo");
    let list = wd.run(&["token", "list", "--store", "s"], "").ok();
    assert!(list.stdout.contains("shop\tcampaign") && list.stdout.contains("dpo\tprivacy"));
    assert!(!list.stdout.contains(&campaign) && !wd.read("s/tokens").contains(&campaign));
    let server = Server::start(&wd, &[]);
    let post = |auth: Option<&str>| {
        let h = auth.map(|a| vec![("Authorization", a)]).unwrap_or_default();
        server.request("POST", "/v1/check", &h, CHECK)
    };
    // Probes are open; everything else needs a token.
    assert_eq!(server.request("GET", "/livez", &[], b"").status, 200);
    let r = post(None);
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.body.contains("Bearer"), "{}", r.body);
    assert_eq!(post(Some("Bearer sft_0000")).status, 401);
    assert_eq!(server.request("GET", "/metrics", &[], b"").status, 401);
    // The right role gets in; a role that may not gets 403 naming who may.
    let r = post(Some(&bearer(&campaign)));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("\"verdict\":\"allow\""), "{}", r.body);
    let r = post(Some(&bearer(&privacy)));
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("admin, operator, campaign"), "{}", r.body);
    let path = format!("/v1/subjects/{N}");
    let r = server.request("GET", &path, &[("Authorization", &bearer(&campaign))], b"");
    assert_eq!(r.status, 403, "{}", r.body);
    let r = server.request("GET", &path, &[("Authorization", &bearer(&privacy))], b"");
    assert_eq!(r.status, 200, "{}", r.body);
    // A method a route does not have.
    let r = server.request("DELETE", "/v1/check", &[("Authorization", &bearer(&campaign))], b"");
    assert_eq!(r.status, 405, "{}", r.body);
    // A revoked token stops working within a couple of seconds.
    wd.run(&["token", "revoke", "--store", "s", "shop"], "").ok();
    let t = Instant::now();
    while post(Some(&bearer(&campaign))).status != 401 {
        assert!(t.elapsed() < Duration::from_secs(5), "revoked token still accepted");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, _) = server.stop();
    assert_eq!(code, Some(0));
}

#[test]
fn a_non_loopback_address_needs_tokens() {
    let wd = Workdir::new();
    store(&wd);
    let r = wd.run(&["serve", "--store", "s", "--listen", "0.0.0.0:0"], "");
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("token create"), "{}", r.stderr);
    token(&wd, "admin", "ops");
    let mut child = wd
        .command(&["serve", "--store", "s", "--listen", "0.0.0.0:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting serve");
    let mut line = String::new();
    BufReader::new(child.stderr.take().expect("stderr")).read_line(&mut line).expect("a line");
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.starts_with("listening on 0.0.0.0:"), "{line}");
}

#[test]
fn a_subject_export_over_http_is_in_the_audit_trail_with_the_token_name() {
    let wd = Workdir::new();
    store(&wd);
    let privacy = token(&wd, "privacy", "dpo-desk");
    let server = Server::start(&wd, &[]);
    let r = server.request(
        "GET",
        "/v1/subjects/91000001",
        &[("Authorization", &bearer(&privacy))],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let e: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    assert!(e.to_string().contains("offers"), "{}", r.body);
    let a = wd.run(&["audit", "--store", "s", "--subject", N, "--json"], "").ok();
    let rec = a
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json"))
        .find(|v| v["command"] == "serve GET /v1/subjects/{number}")
        .unwrap_or_else(|| panic!("no audit record of the export: {}", a.stdout));
    assert_eq!(rec["actor"], "dpo-desk");
    assert_eq!(rec["role"], "privacy");
    assert_eq!(rec["action"], "export-subject");
    assert!(!a.stdout.contains("91000001"), "{}", a.stdout);
    server.stop();
}

#[test]
fn stops_are_recorded_and_read_per_number_and_never_deleted() {
    let wd = Workdir::new();
    store(&wd);
    let op = bearer(&token(&wd, "operator", "crm"));
    let auditor = bearer(&token(&wd, "auditor", "aud"));
    let server = Server::start(&wd, &[]);
    let path = format!("/v1/stops/{N}");
    let auth = [("Authorization", op.as_str())];
    // No brand: 400, nothing recorded; a role without `stop`: 403.
    let r = server.request("PUT", &path, &auth, b"");
    assert_eq!(r.status, 400, "{}", r.body);
    let r =
        server.request("PUT", &format!("{path}?brand=ACME"), &[("Authorization", &auditor)], b"");
    assert_eq!(r.status, 403, "{}", r.body);
    let r = server.request("GET", &path, &auth, b"");
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    assert_eq!(v["brands"].as_array().map(Vec::len), Some(0), "{}", r.body);
    // Recorded (fsynced before the 200) and in force for the next check at once.
    let r = server.request("PUT", &format!("{path}?brand=ACME"), &auth, b"");
    assert_eq!(r.status, 200, "{}", r.body);
    let r = server.request("POST", "/v1/check", &auth, CHECK);
    assert!(r.body.contains("STOPPED"), "{}", r.body);
    let r = server.request("PUT", "/v1/stops/91000002", &auth, br#"{"brand":"*"}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    let r = server.request("GET", &path, &auth, b"");
    let v: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    assert_eq!(v["brands"][0]["brand"], "ACME", "{}", r.body);
    assert!(v["brands"][0]["stopped_at"].is_string(), "{}", r.body);
    // A STOP cannot be deleted.
    let r = server.request("DELETE", &path, &auth, b"");
    assert_eq!(r.status, 405, "{}", r.body);
    server.stop();
    // The CLI sees both stops.
    let r = wd.run(
        &["filter", "--store", "s", "--brand", "ACME", "--purpose", "offers"],
        format!("{N}\n+4791000002\n"),
    );
    assert_eq!(r.stdout.trim(), "", "{}", r.stderr);
    let a = wd.run(&["audit", "--store", "s", "--subject", N, "--json"], "").ok();
    assert!(a.stdout.contains("serve PUT /v1/stops/{number}"), "{}", a.stdout);
    assert!(a.stdout.contains("serve GET /v1/stops/{number}"), "{}", a.stdout);
}

#[test]
fn subjects_are_corrected_moved_and_erased_with_the_cli_rules() {
    let wd = Workdir::new();
    store(&wd);
    let dpo = bearer(&token(&wd, "privacy", "dpo"));
    let server = Server::start(&wd, &[]);
    let auth = [("Authorization", dpo.as_str())];
    let base = format!("/v1/subjects/{N}");
    // Correct: a sequence that is not the number's consent is refused by the rules.
    let r =
        server.request("POST", &format!("{base}/correct"), &auth, br#"{"seq":99,"source":"x"}"#);
    assert_eq!(r.status, 422, "{}", r.body);
    let r =
        server.request("POST", &format!("{base}/correct"), &auth, br#"{"seq":1,"source":"shop"}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    let r = server.request("POST", &format!("{base}/correct"), &auth, br#"{"sequence":1}"#);
    assert_eq!(r.status, 400, "{}", r.body);
    // Move to a new number, then erase the person (both numbers: linked by the move).
    let r = server.request("POST", &format!("{base}/move"), &auth, br#"{"new":"+4791000009"}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    let r = server.request("POST", &format!("{base}/erase"), &auth, b"");
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    assert_eq!(v["erased"].as_array().map(Vec::len), Some(2), "{}", r.body);
    let r = server.request("GET", &base, &auth, b"");
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    assert!(v["erased_at"].is_string(), "{}", r.body);
    server.stop();
    let a = wd.run(&["audit", "--store", "s", "--subject", N, "--json"], "").ok();
    for c in ["correct", "move", "erase"] {
        assert!(
            a.stdout.contains(&format!("serve POST /v1/subjects/{{number}}/{c}")),
            "{c}: {}",
            a.stdout
        );
    }
}

#[test]
fn consents_are_recorded_with_the_import_rules_all_or_nothing() {
    let wd = Workdir::new();
    store(&wd);
    let op = bearer(&token(&wd, "operator", "crm"));
    let server = Server::start(&wd, &[]);
    let auth = [("Authorization", op.as_str())];
    let c = |n: &str, granted: &str| {
        format!(
            r#"{{"number":"{n}","brand":"ACME","purpose":"offers","channel":"sms","granted_at":"{granted}","method":"web","text_ref":"t1","source":"api","confirmed_at":"{granted}"}}"#
        )
    };
    let check = |n: &str| {
        let body = format!(r#"{{"number":"{n}","brand":"ACME","purpose":"offers"}}"#);
        server.request("POST", "/v1/check", &auth, body.as_bytes()).body
    };
    assert!(check("+4791000003").contains("NO_CONSENT"), "{}", check("+4791000003"));
    // One bad line (no granted_at): 422 naming it, nothing recorded.
    let batch = format!("{}\n{}\n", c("+4791000003", "2025-02-01T00:00:00Z"), c("+4791000004", ""));
    let nd = [("Authorization", op.as_str()), ("Content-Type", "application/x-ndjson")];
    let r = server.request("POST", "/v1/consents", &nd, batch.as_bytes());
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("line 2"), "{}", r.body);
    assert!(check("+4791000003").contains("NO_CONSENT"));
    // Fixed: both recorded and in force.
    let batch = format!(
        "{}\n{}\n",
        c("+4791000003", "2025-02-01T00:00:00Z"),
        c("+4791000004", "2025-02-01T00:00:00Z")
    );
    let r = server.request("POST", "/v1/consents", &nd, batch.as_bytes());
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("\"imported\": 2"), "{}", r.body);
    // The check handles pick up new consents within about a second.
    let t = Instant::now();
    while !check("+4791000004").contains("allow") {
        assert!(t.elapsed() < Duration::from_secs(5), "{}", check("+4791000004"));
        std::thread::sleep(Duration::from_millis(100));
    }
    // One JSON object; an unknown field is refused.
    let r = server.request(
        "POST",
        "/v1/consents",
        &auth,
        c("+4791000005", "2025-02-01T00:00:00Z").as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = server.request(
        "POST",
        "/v1/consents",
        &auth,
        br#"{"number":"+4791000006","colour":"red"}"#,
    );
    assert_eq!(r.status, 400, "{}", r.body);
    server.stop();
    let a = wd.run(&["audit", "--store", "s", "--subject", "+4791000004", "--json"], "").ok();
    assert!(a.stdout.contains("serve POST /v1/consents"), "{}", a.stdout);
}

#[test]
fn body_limits_hold_and_slowloris_clients_block_nobody() {
    use std::io::Write;
    let wd = Workdir::new();
    store(&wd);
    let server = Server::start(&wd, &[]);
    // A webhook or single request over 1 MiB: 413, nothing recorded.
    let big = vec![b'a'; (1 << 20) + 10];
    for path in ["/v1/inbound", "/v1/inbound/46elks", "/v1/consents", "/v1/check"] {
        let r = server.request("POST", path, &[], &big);
        assert_eq!(r.status, 413, "{path}: {}", r.body);
    }
    // A check batch may be larger (64 MiB): 2 MiB of NDJSON lines is answered.
    let line = std::str::from_utf8(CHECK).expect("utf-8").to_string() + "\n";
    let batch = line.repeat((2 << 20) / line.len());
    let nd = [("Content-Type", "application/x-ndjson")];
    let r = server.request("POST", "/v1/check", &nd, batch.as_bytes());
    assert_eq!(r.status, 200, "{}", &r.body[..r.body.len().min(300)]);
    // 64 clients that send half a request head and then nothing: others are still answered.
    let mut slow = Vec::new();
    for _ in 0..64 {
        let mut s = std::net::TcpStream::connect(server.addr).expect("connect");
        s.write_all(b"POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Le").expect("write");
        slow.push(s);
    }
    let t = Instant::now();
    for _ in 0..10 {
        let r = server.request("POST", "/v1/check", &[], CHECK);
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert!(t.elapsed() < Duration::from_secs(3), "slow clients held others: {:?}", t.elapsed());
    drop(slow);
    let (code, _) = server.stop();
    assert_eq!(code, Some(0));
}

#[test]
fn the_opt_out_list_pages_through_every_stop_of_a_brand_once() {
    let wd = Workdir::new();
    store(&wd);
    let stop = |n: &str, brand: &str| {
        wd.run(&["stop", "--store", "s", "--brand", brand, n], "").ok();
    };
    for n in ["+4791000010", "+4791000011", "+4791000012", "+4791000013", "+4791000014"] {
        stop(n, "ACME");
    }
    stop("+4791000011", "*");
    stop("+4791000020", "acme");
    stop("+4791000030", "*");
    stop("+4791000040", "OTHER");
    wd.run(&["compact", "--store", "s"], "").ok();
    let op = bearer(&token(&wd, "operator", "crm"));
    let auditor = bearer(&token(&wd, "auditor", "aud"));
    let auth = [("Authorization", op.as_str())];
    let server = Server::start(&wd, &[]);
    // Recorded after the snapshot: through the API and by the CLI while serving.
    let r = server.request("PUT", "/v1/stops/+4791000005?brand=ACME", &auth, b"");
    assert_eq!(r.status, 200, "{}", r.body);
    stop("+4791000050", "*");
    let page = |brand: &str, after: Option<&str>, limit: usize| {
        let mut path = format!("/v1/stops?brand={brand}&limit={limit}");
        if let Some(a) = after {
            path.push_str(&format!("&after={}", a.replace('+', "%2B")));
        }
        let r = server.request("GET", &path, &auth, b"");
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        serde_json::from_str::<serde_json::Value>(&r.body).expect("json")
    };
    let mut listed: Vec<(String, String)> = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let v = page("ACME", after.as_deref(), 3);
        pages += 1;
        for s in v["stops"].as_array().expect("stops") {
            let e = s["e164"].as_str().expect("e164").to_string();
            listed.push((e, s["brand"].as_str().expect("brand").to_string()));
        }
        match v["next"].as_str() {
            Some(n) => after = Some(n.to_string()),
            None => break,
        }
        assert!(pages < 10, "paging does not end");
    }
    let numbers: Vec<&str> = listed.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        numbers,
        [
            "+4791000005",
            "+4791000010",
            "+4791000011",
            "+4791000012",
            "+4791000013",
            "+4791000014",
            "+4791000020",
            "+4791000030",
            "+4791000050",
        ],
        "{listed:?}"
    );
    assert_eq!(pages, 3);
    // Every-brand stops are listed for every brand, marked `*`; another brand's are not.
    let brand_of = |n: &str| listed.iter().find(|(x, _)| x == n).map(|(_, b)| b.as_str());
    assert_eq!(brand_of("+4791000030"), Some("*"));
    assert_eq!(brand_of("+4791000050"), Some("*"));
    assert_eq!(brand_of("+4791000020"), Some("acme"));
    let other = page("OTHER", None, 100);
    let others: Vec<&str> = other["stops"]
        .as_array()
        .expect("stops")
        .iter()
        .filter_map(|s| s["e164"].as_str())
        .collect();
    assert_eq!(others, ["+4791000011", "+4791000030", "+4791000040", "+4791000050"]);
    assert!(other["next"].is_null());
    // A cursor with an unescaped `+` (a space by then) works as well.
    let v = page("ACME", Some("4791000013"), 100);
    assert_eq!(v["stops"][0]["e164"], "+4791000014", "{v}");
    // Bad parameters: 400 with a JSON error.
    for bad in [
        "/v1/stops",
        "/v1/stops?brand=ACME&limit=0",
        "/v1/stops?brand=ACME&limit=100000",
        "/v1/stops?brand=ACME&after=abc",
        "/v1/stops?brand=ACME&page=2",
    ] {
        let r = server.request("GET", bad, &auth, b"");
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert!(r.body.contains("\"error\""), "{bad}: {}", r.body);
    }
    let r = server.request("GET", "/v1/stops?brand=ACME", &[("Authorization", &auditor)], b"");
    assert_eq!(r.status, 403, "{}", r.body);
    server.stop();
    let log = wd.read("s/audit");
    let listed = log.lines().filter(|l| l.contains("\"serve GET /v1/stops\"")).count();
    assert_eq!(listed, 5, "{log}");
    assert!(log.contains("\"listed\":3") && !log.contains("4791000010"), "{log}");
}

#[test]
fn stops_put_at_once_are_all_durable_before_their_answers() {
    let wd = Workdir::new();
    store(&wd);
    let op = bearer(&token(&wd, "operator", "crm"));
    let server = Server::start(&wd, &[]);
    let numbers: Vec<String> = (0..40).map(|i| format!("+47910001{i:02}")).collect();
    let addr = server.addr;
    std::thread::scope(|s| {
        for n in &numbers {
            let op = &op;
            s.spawn(move || {
                let path = format!("/v1/stops/{n}?brand=ACME");
                let r = crate::serve::request(addr, "PUT", &path, &[("Authorization", op)], b"");
                assert_eq!(r.status, 200, "{}", r.body);
            });
        }
    });
    let (code, _) = server.stop();
    assert_eq!(code, Some(0));
    let input: String = numbers.iter().map(|n| format!("{n}\n")).collect();
    let r = wd.run(&["filter", "--store", "s", "--brand", "ACME", "--purpose", "offers"], input);
    assert_eq!(r.stdout.trim(), "", "{}", r.stderr);
    let log = wd.read("s/audit");
    assert_eq!(log.matches("serve PUT /v1/stops/{number}").count(), 40);
}
