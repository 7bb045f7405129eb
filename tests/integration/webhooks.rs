//! `sendfilter serve`'s inbound webhooks: Twilio (signed), 46elks (basic auth) and the
//! generic route record through `inbound`'s one code path, durably before the 2xx,
//! idempotent on (gateway, message id); bad input gets a 4xx and records nothing.

use base64::Engine as _;

use crate::harness::Workdir;
use crate::serve::Server;

const TOKEN: &str = "twilio-test-token";

fn setup(wd: &Workdir) {
    let header =
        "number,brand,purpose,channel,granted_at,method,text_ref,source,expires_at,confirmed_at\n";
    let mut csv = String::from(header);
    for i in 0..10 {
        csv.push_str(&format!(
            "+479100{i:04},ACME,offers,sms,2025-01-01T00:00:00Z,web,t1,test,,2025-01-01T00:10:00Z\n"
        ));
    }
    wd.write("consents.csv", csv);
    let r = wd.run(&["import", "consents", "--store", "s", "consents.csv"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = wd.run(&["brand", "add", "--store", "s", "ACME", "--shortcode", "2401"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    wd.write(
        "serve.toml",
        format!(
            "public_url = \"https://sms.example.com\"\n[gateways.twilio]\nauth_token = \"{TOKEN}\"\n\
             [gateways.46elks]\nusername = \"elk\"\npassword = \"secret\"\n"
        ),
    );
}

fn reason(server: &Server, number: &str) -> String {
    let one = format!(r#"{{"number":"{number}","brand":"ACME","purpose":"offers"}}"#);
    let r = server.request("POST", "/v1/check", &[], one.as_bytes());
    let v: serde_json::Value = serde_json::from_str(r.body.trim()).expect("json");
    v["reason"].as_str().unwrap_or("").to_string()
}

fn twilio_form(fields: &[(&str, &str)]) -> (String, String) {
    let body: String =
        form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
    let owned: Vec<(String, String)> =
        fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let payload = sendfilter::service::webhooks::twilio_payload(
        "https://sms.example.com/v1/inbound/twilio",
        &owned,
    );
    (body, sendfilter::service::webhooks::twilio_signature(TOKEN, &payload))
}

#[test]
fn twilio_stop_is_recorded_signed_once_and_answered_in_twiml() {
    let wd = Workdir::new();
    setup(&wd);
    let server = Server::start(&wd, &["--config", "serve.toml"]);
    assert_eq!(reason(&server, "+4791000001"), "ALLOWED");
    let fields = [
        ("MessageSid", "SM0001"),
        ("From", "+4791000001"),
        ("To", "2401"),
        ("Body", "STOPP"),
        ("AccountSid", "AC1"),
    ];
    let (body, sig) = twilio_form(&fields);
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    // A wrong signature: 403, JSON error, nothing recorded.
    let r = server.request(
        "POST",
        "/v1/inbound/twilio",
        &[form, ("X-Twilio-Signature", "AAAA")],
        body.as_bytes(),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("\"error\""));
    assert_eq!(reason(&server, "+4791000001"), "ALLOWED", "nothing recorded");
    // Signed: 200 TwiML with the reply; the STOP is in the store before the answer.
    let r = server.request(
        "POST",
        "/v1/inbound/twilio",
        &[form, ("X-Twilio-Signature", &sig)],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.headers.contains("text/xml"), "{}", r.headers);
    assert!(r.body.contains("<Response><Message>") && r.body.contains("ACME"), "{}", r.body);
    let first = r.body.clone();
    let out = wd.run(
        &["filter", "--store", "s", "--brand", "ACME", "--purpose", "offers", "--no-live"],
        "+4791000001\n",
    );
    assert_eq!(out.stdout, "", "acknowledged: a new filter run sees the stop");
    // A redelivery gets the same answer and records nothing twice.
    let info_before = wd.run(&["info", "--store", "s"], "").stdout;
    let r = server.request(
        "POST",
        "/v1/inbound/twilio",
        &[form, ("X-Twilio-Signature", &sig)],
        body.as_bytes(),
    );
    assert_eq!((r.status, r.body.as_str()), (200, first.as_str()));
    assert_eq!(wd.run(&["info", "--store", "s"], "").stdout, info_before, "nothing recorded twice");
    // Missing From (signed): 400.
    let (body, sig) = twilio_form(&[("MessageSid", "SM0002"), ("To", "2401"), ("Body", "STOP")]);
    let r = server.request(
        "POST",
        "/v1/inbound/twilio",
        &[form, ("X-Twilio-Signature", &sig)],
        body.as_bytes(),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    // A short code no brand is registered on: 422, nothing recorded.
    let (body, sig) = twilio_form(&[
        ("MessageSid", "SM0003"),
        ("From", "+4791000002"),
        ("To", "9999"),
        ("Body", "STOP"),
    ]);
    let r = server.request(
        "POST",
        "/v1/inbound/twilio",
        &[form, ("X-Twilio-Signature", &sig)],
        body.as_bytes(),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(reason(&server, "+4791000002"), "ALLOWED");
    let (code, stderr) = server.stop();
    assert_eq!(code, Some(0));
    let stderr = stderr.join("\n");
    assert!(
        !stderr.contains("91000002") && !stderr.contains("91000001"),
        "a number in the log: {stderr}"
    );
    // The webhook calls are in the audit trail, summed (written at shutdown at the latest):
    // one STOP recorded, the redelivery a repeat; never a number.
    let trail = wd.read("s/audit");
    let rec: serde_json::Value = trail
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|r| r["command"] == "serve inbound/twilio")
        .unwrap_or_else(|| panic!("no webhook record in the audit trail:\n{trail}"));
    assert_eq!((rec["actor"].as_str(), rec["role"].as_str()), (Some("twilio"), Some("gateway")));
    assert_eq!(rec["counts"]["calls"], 2, "{rec}");
    assert_eq!(rec["counts"]["events"], 1, "{rec}");
    assert!(
        !trail.contains("91000001") && !trail.contains("91000002"),
        "a number in the audit trail"
    );
}

#[test]
fn elks_checks_basic_auth_and_answers_with_an_empty_body() {
    let wd = Workdir::new();
    setup(&wd);
    let server = Server::start(&wd, &["--config", "serve.toml"]);
    let body = "from=%2B4791000003&to=2401&message=Stopp&id=e1&created=2026-06-01+10%3A00%3A00.000";
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    let bad = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("elk:wrong"));
    let r = server.request(
        "POST",
        "/v1/inbound/46elks",
        &[form, ("Authorization", &bad)],
        body.as_bytes(),
    );
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(reason(&server, "+4791000003"), "ALLOWED");
    let good = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("elk:secret"));
    let r = server.request(
        "POST",
        "/v1/inbound/46elks",
        &[form, ("Authorization", &good)],
        body.as_bytes(),
    );
    assert_eq!((r.status, r.body.as_str()), (200, ""), "an empty body: nothing is sent back");
    // Acknowledged: the check API (a long-lived handle) sees it within a second.
    let acked = std::time::Instant::now();
    while reason(&server, "+4791000003") != "STOPPED" {
        assert!(acked.elapsed() < std::time::Duration::from_secs(1), "not seen within 1 s");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn generic_inbound_answers_per_message_and_repeats_are_recorded_once() {
    let wd = Workdir::new();
    setup(&wd);
    let server = Server::start(&wd, &["--config", "serve.toml"]);
    let lines = "{\"from\":\"+4791000004\",\"to\":\"2401\",\"text\":\"STOP\",\"id\":\"g1\"}\n\
                 {\"from\":\"+4791000005\",\"to\":\"2401\",\"text\":\"hello there\",\"id\":\"g2\"}\n\
                 {\"from\":\"+4791000006\",\"to\":\"9999\",\"text\":\"STOP\",\"id\":\"g3\"}\n";
    let nd = ("Content-Type", "application/x-ndjson");
    let r = server.request("POST", "/v1/inbound", &[nd], lines.as_bytes());
    assert_eq!(r.status, 200, "{}", r.body);
    let answers: Vec<serde_json::Value> =
        r.body.lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    assert_eq!(answers.len(), 3);
    assert_eq!(answers[0]["action"], "STOP");
    assert_eq!(answers[0]["from"], "+47*****004", "masked");
    assert_eq!(answers[2]["status"], 422);
    let r = server.request("POST", "/v1/inbound", &[nd], lines.as_bytes());
    let again: Vec<serde_json::Value> =
        r.body.lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    assert_eq!(again[0]["repeat"], true, "{}", r.body);
    let acked = std::time::Instant::now();
    while reason(&server, "+4791000004") != "STOPPED" {
        assert!(acked.elapsed() < std::time::Duration::from_secs(1), "not seen within 1 s");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(reason(&server, "+4791000006"), "ALLOWED");
}

/// Events held for `number` (the server must be stopped: the export takes the store).
fn events(wd: &Workdir, number: &str) -> usize {
    let r = wd.run(&["subject", "export", "--store", "s", number], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    v["events"].as_array().map_or(0, Vec::len)
}

/// An acknowledged STOP reaches the check API (a long-lived handle) within a second.
fn stopped_within_a_second(server: &Server, number: &str) {
    let t = std::time::Instant::now();
    while reason(server, number) != "STOPPED" {
        assert!(t.elapsed() < std::time::Duration::from_secs(1), "not seen within 1 s");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

fn gateways_config(wd: &Workdir) {
    wd.write(
        "serve.toml",
        "[gateways.sinch]\nusername = \"sn\"\npassword = \"pw\"\n\
         [gateways.infobip]\nusername = \"ib\"\npassword = \"pw\"\n",
    );
}

fn basic(user: &str, password: &str) -> String {
    let b = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {b}")
}

#[test]
fn sinch_mo_text_checks_basic_auth_fields_and_records_a_retry_once() {
    let wd = Workdir::new();
    setup(&wd);
    gateways_config(&wd);
    let server = Server::start(&wd, &["--config", "serve.toml"]);
    let json = ("Content-Type", "application/json");
    let good = basic("sn", "pw");
    let mo = r#"{"type":"mo_text","id":"01SINCH1","from":"4791000004","to":"2401","body":"STOPP","received_at":"2026-06-01T10:00:00.000Z","operator_id":"24201"}"#;
    let r = server.request(
        "POST",
        "/v1/inbound/sinch",
        &[json, ("Authorization", &basic("sn", "x"))],
        mo.as_bytes(),
    );
    assert_eq!(r.status, 401, "{}", r.body);
    let no_id = mo.replace(r#""id":"01SINCH1","#, "");
    let r = server.request(
        "POST",
        "/v1/inbound/sinch",
        &[json, ("Authorization", &good)],
        no_id.as_bytes(),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("id is missing"), "{}", r.body);
    assert_eq!(reason(&server, "+4791000004"), "ALLOWED");
    let r = server.request(
        "POST",
        "/v1/inbound/sinch",
        &[json, ("Authorization", &good)],
        mo.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("\"action\":\"STOP\""), "{}", r.body);
    assert!(!r.body.contains("91000004"), "{}", r.body);
    let r = server.request(
        "POST",
        "/v1/inbound/sinch",
        &[json, ("Authorization", &good)],
        mo.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("\"repeat\":true"), "{}", r.body);
    stopped_within_a_second(&server, "+4791000004");
    server.stop();
    assert_eq!(events(&wd, "+4791000004"), 2, "the consent and one stop");
}

#[test]
fn infobip_results_check_basic_auth_fields_and_record_a_retry_once() {
    let wd = Workdir::new();
    setup(&wd);
    gateways_config(&wd);
    let server = Server::start(&wd, &["--config", "serve.toml"]);
    let json = ("Content-Type", "application/json");
    let good = basic("ib", "pw");
    let msg = |id: &str, from: &str| {
        format!(
            r#"{{"messageId":"{id}","from":"{from}","to":"2401","text":"STOPP","cleanText":"","keyword":"STOPP","receivedAt":"2026-06-01T10:00:00.000+0000","smsCount":1}}"#
        )
    };
    let two = format!(
        r#"{{"results":[{},{}],"messageCount":2,"pendingMessageCount":0}}"#,
        msg("ib1", "4791000005"),
        msg("ib2", "4791000006")
    );
    let r = server.request("POST", "/v1/inbound/infobip", &[json], two.as_bytes());
    assert_eq!(r.status, 401, "{}", r.body);
    // One message without its sender: the whole request is refused, nothing recorded.
    let bad = format!(r#"{{"results":[{},{}]}}"#, msg("ib1", "4791000005"), msg("ib2", ""));
    let r = server.request(
        "POST",
        "/v1/inbound/infobip",
        &[json, ("Authorization", &good)],
        bad.as_bytes(),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("results[1].from"), "{}", r.body);
    assert_eq!(reason(&server, "+4791000005"), "ALLOWED");
    let r = server.request(
        "POST",
        "/v1/inbound/infobip",
        &[json, ("Authorization", &good)],
        two.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body.matches("\"action\":\"STOP\"").count(), 2, "{}", r.body);
    let r = server.request(
        "POST",
        "/v1/inbound/infobip",
        &[json, ("Authorization", &good)],
        two.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body.matches("\"repeat\":true").count(), 2, "{}", r.body);
    stopped_within_a_second(&server, "+4791000005");
    stopped_within_a_second(&server, "+4791000006");
    server.stop();
    assert_eq!(events(&wd, "+4791000005"), 2);
    assert_eq!(events(&wd, "+4791000006"), 2);
}

/// A signed Vonage query string of `fields` (HMAC-SHA256 under `vsecret`).
fn vonage_query(fields: &[(&str, &str)]) -> String {
    let owned: Vec<(String, String)> =
        fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let payload = sendfilter::service::vonage::vonage_payload(&owned);
    let sig = sendfilter::service::vonage::vonage_signature("sha256", "vsecret", &payload)
        .expect("sha256")
        .to_uppercase();
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .append_pair("sig", &sig)
        .finish()
}

#[test]
fn vonage_checks_the_signature_reassembles_parts_and_records_a_retry_once() {
    let wd = Workdir::new();
    setup(&wd);
    wd.write("serve.toml", "[gateways.vonage]\nsignature_secret = \"vsecret\"\n");
    let server = Server::start(&wd, &["--config", "serve.toml"]);
    let one = [
        ("msisdn", "4791000007"),
        ("to", "2401"),
        ("messageId", "0A01"),
        ("text", "STOPP"),
        ("type", "text"),
        ("message-timestamp", "2026-06-01 10:00:00"),
        ("timestamp", "1780308000"),
    ];
    let q = vonage_query(&one);
    let r = server.request(
        "GET",
        &format!("/v1/inbound/vonage?{}", q.replace("0A01", "0A02")),
        &[],
        b"",
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let no_id: Vec<_> = one.iter().copied().filter(|(k, _)| *k != "messageId").collect();
    let r =
        server.request("GET", &format!("/v1/inbound/vonage?{}", vonage_query(&no_id)), &[], b"");
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(reason(&server, "+4791000007"), "ALLOWED");
    let r = server.request("GET", &format!("/v1/inbound/vonage?{q}"), &[], b"");
    assert_eq!(r.status, 200, "{}", r.body);
    stopped_within_a_second(&server, "+4791000007");
    // POST form, the same message again: recorded once.
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    let r = server.request("POST", "/v1/inbound/vonage", &[form], q.as_bytes());
    assert_eq!(r.status, 200, "{}", r.body);
    // Two parts of "STOPP", part 2 first: neither is answered before the whole is recorded.
    let part = |n: &str, id: &str, text: &str| {
        vonage_query(&[
            ("msisdn", "4791000008"),
            ("to", "2401"),
            ("messageId", id),
            ("text", text),
            ("concat", "true"),
            ("concat-ref", "17"),
            ("concat-total", "2"),
            ("concat-part", n),
        ])
    };
    let addr = server.addr;
    let (p2, p1) = (part("2", "0B02", "OPP"), part("1", "0B01", "ST"));
    let second = std::thread::spawn(move || {
        crate::serve::request(addr, "POST", "/v1/inbound/vonage", &[form], p2.as_bytes()).status
    });
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(!second.is_finished(), "a part was answered before its message was complete");
    assert_eq!(reason(&server, "+4791000008"), "ALLOWED");
    let r = server.request("POST", "/v1/inbound/vonage", &[form], p1.as_bytes());
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(second.join().expect("part 2"), 200);
    stopped_within_a_second(&server, "+4791000008");
    // A part sent again after its message was recorded: 200 at once.
    let r = server.request("POST", "/v1/inbound/vonage", &[form], p1.as_bytes());
    assert_eq!(r.status, 200, "{}", r.body);
    server.stop();
    assert_eq!(events(&wd, "+4791000007"), 2, "the consent and one stop");
    assert_eq!(events(&wd, "+4791000008"), 2, "the consent and one stop");
}

/// A STOP acknowledged by the Twilio webhook is honoured by a `filter` run that was
/// already running when it came: a number fed 1 s after the acknowledgement is rejected.
/// (`filter` writes its output when its buffer fills or the input ends, so the run's
/// output is read at the end; it had read its first number 0.5 s before the STOP.)
#[test]
fn a_twilio_stop_blocks_a_running_filter_within_a_second() {
    use std::io::{Read, Write};
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let wd = Workdir::new();
    setup(&wd);
    let server = Server::start(&wd, &["--config", "serve.toml"]);
    let mut child = wd
        .command(&["filter", "--store", "s", "--brand", "ACME", "--purpose", "offers"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting filter");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"+4791000002\n").and_then(|()| stdin.flush()).expect("feeding");
    std::thread::sleep(Duration::from_millis(500));
    let fields = [
        ("MessageSid", "SM0100"),
        ("From", "+4791000003"),
        ("To", "2401"),
        ("Body", "STOP"),
        ("AccountSid", "AC1"),
    ];
    let (body, sig) = twilio_form(&fields);
    let r = server.request(
        "POST",
        "/v1/inbound/twilio",
        &[("Content-Type", "application/x-www-form-urlencoded"), ("X-Twilio-Signature", &sig)],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let acked = Instant::now();
    std::thread::sleep(Duration::from_secs(1).saturating_sub(acked.elapsed()));
    stdin.write_all(b"+4791000003\n+4791000004\n").and_then(|()| stdin.flush()).expect("feeding");
    drop(stdin);
    let mut out = String::new();
    child.stdout.take().expect("stdout").read_to_string(&mut out).expect("output");
    assert!(child.wait().expect("filter exits").success());
    assert_eq!(
        out, "+4791000002\n+4791000004\n",
        "the STOP acknowledged 1 s before was not honoured"
    );
    server.stop();
}

/// The other authentication variants: Vonage's legacy `md5hash` signature, Sinch with an
/// HMAC-SHA256 of the body (default header, hex) and Infobip with basic auth and an HMAC
/// in a named header (base64). A good signature records once; a bad one gets 403 (a
/// wrong password 401) and records nothing.
#[test]
fn vonage_md5hash_and_sinch_infobip_hmac_accept_good_and_refuse_bad_signatures() {
    use sendfilter::service::webhooks::body_signature;
    let wd = Workdir::new();
    setup(&wd);
    wd.write(
        "serve.toml",
        "[gateways.vonage]\nsignature_secret = \"vsecret\"\nsignature_method = \"md5hash\"\n\
         [gateways.sinch]\nhmac_secret = \"ssecret\"\n\
         [gateways.infobip]\nusername = \"ib\"\npassword = \"pw\"\nhmac_secret = \"isecret\"\n\
         signature_header = \"X-Infobip-Signature\"\n",
    );
    let server = Server::start(&wd, &["--config", "serve.toml"]);
    // Vonage, md5hash.
    let fields = [
        ("msisdn", "4791000001"),
        ("to", "2401"),
        ("messageId", "0C01"),
        ("text", "STOPP"),
        ("message-timestamp", "2026-06-01 10:00:00"),
    ];
    let owned: Vec<(String, String)> =
        fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let payload = sendfilter::service::vonage::vonage_payload(&owned);
    let query = |method: &str| {
        let sig = sendfilter::service::vonage::vonage_signature(method, "vsecret", &payload)
            .expect("method");
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .append_pair("sig", &sig)
            .finish()
    };
    let r = server.request("GET", &format!("/v1/inbound/vonage?{}", query("sha256")), &[], b"");
    assert_eq!(r.status, 403, "an HMAC signature where md5hash is configured: {}", r.body);
    assert!(r.body.contains("\"error\""), "{}", r.body);
    assert_eq!(reason(&server, "+4791000001"), "ALLOWED");
    for _ in 0..2 {
        let r =
            server.request("GET", &format!("/v1/inbound/vonage?{}", query("md5hash")), &[], b"");
        assert_eq!(r.status, 200, "{}", r.body);
    }
    stopped_within_a_second(&server, "+4791000001");
    // Sinch, HMAC in the default header.
    let json = ("Content-Type", "application/json");
    let mo = r#"{"type":"mo_text","id":"01SINCH2","from":"4791000002","to":"2401","body":"STOPP","received_at":"2026-06-01T10:00:00.000Z"}"#;
    let hex = |b: Vec<u8>| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let bad = hex(body_signature("wrong", mo.as_bytes()));
    let r = server.request(
        "POST",
        "/v1/inbound/sinch",
        &[json, ("X-Signature-SHA256", &bad)],
        mo.as_bytes(),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let r = server.request("POST", "/v1/inbound/sinch", &[json], mo.as_bytes());
    assert_eq!(r.status, 403, "no signature: {}", r.body);
    assert_eq!(reason(&server, "+4791000002"), "ALLOWED");
    let good = hex(body_signature("ssecret", mo.as_bytes()));
    for _ in 0..2 {
        let r = server.request(
            "POST",
            "/v1/inbound/sinch",
            &[json, ("X-Signature-SHA256", &good)],
            mo.as_bytes(),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    stopped_within_a_second(&server, "+4791000002");
    // Infobip, basic auth and HMAC (base64) in a named header: both must hold.
    let body = r#"{"results":[{"messageId":"ib3","from":"4791000003","to":"2401","text":"STOPP","receivedAt":"2026-06-01T10:00:00.000+0000"}]}"#;
    let b64 = |b: Vec<u8>| base64::engine::general_purpose::STANDARD.encode(b);
    let good = b64(body_signature("isecret", body.as_bytes()));
    let bad = b64(body_signature("isecret", b"{}"));
    let auth = basic("ib", "pw");
    let r = server.request(
        "POST",
        "/v1/inbound/infobip",
        &[json, ("Authorization", &auth), ("X-Infobip-Signature", &bad)],
        body.as_bytes(),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let r = server.request(
        "POST",
        "/v1/inbound/infobip",
        &[json, ("Authorization", &basic("ib", "x")), ("X-Infobip-Signature", &good)],
        body.as_bytes(),
    );
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(reason(&server, "+4791000003"), "ALLOWED");
    for _ in 0..2 {
        let r = server.request(
            "POST",
            "/v1/inbound/infobip",
            &[json, ("Authorization", &auth), ("X-Infobip-Signature", &good)],
            body.as_bytes(),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    stopped_within_a_second(&server, "+4791000003");
    server.stop();
    for n in ["+4791000001", "+4791000002", "+4791000003"] {
        assert_eq!(events(&wd, n), 2, "{n}: the consent and one stop");
    }
}
