//! `sendfilter serve`: the HTTP service, started as a real process on 127.0.0.1:0 and
//! talked to over raw HTTP/1.1. Every test is bounded in time and stops its server.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::harness::Workdir;

/// A running server, stopped (SIGTERM, then SIGKILL) when dropped.
pub(crate) struct Server {
    child: Child,
    pub addr: SocketAddr,
    stderr: std::sync::mpsc::Receiver<String>,
}

impl Server {
    /// Starts `sendfilter serve --store s --listen 127.0.0.1:0 EXTRA…` in `wd`.
    pub fn start(wd: &Workdir, extra: &[&str]) -> Server {
        let mut args = vec!["serve", "--store", "s", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut child = wd
            .command(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting serve");
        let err = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let line = rx.recv_timeout(Duration::from_secs(20)).expect("serve printed nothing");
        let addr = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .parse()
            .expect("an address");
        Server { child, addr, stderr: rx }
    }

    /// Sends SIGTERM and waits (at most 15 s) for the exit code.
    pub fn stop(mut self) -> (Option<i32>, Vec<String>) {
        // SAFETY: kill on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let t = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                let lines = self.stderr.try_iter().collect();
                return (status.code(), lines);
            }
            assert!(t.elapsed() < Duration::from_secs(15), "serve did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server with SIGKILL (no chance to clean up) and reaps it.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// One request (Connection: close); returns (status, headers, body).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        request(self.addr, method, path, headers, body)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

/// One HTTP/1.1 request with `Connection: close`, read to the end (at most 30 s).
pub(crate) fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    try_request(addr, method, path, headers, body).expect("request")
}

/// [`request`], with I/O errors returned (a server that died mid-request).
pub(crate) fn try_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Reply> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    Ok(parse(&raw))
}

fn parse(raw: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    Reply { status, headers: head.to_ascii_lowercase(), body: body.to_string() }
}

const CONSENTS_HEADER: &str =
    "number,brand,purpose,channel,granted_at,method,text_ref,source,expires_at,confirmed_at\n";

/// A store `s` with consents for +47910000xx (xx < 60; every third unconfirmed) and stops
/// for xx in 40..50.
fn store(wd: &Workdir) {
    let mut csv = String::from(CONSENTS_HEADER);
    for i in 0..60 {
        let confirmed = if i % 3 == 2 { "" } else { "2025-01-01T00:10:00Z" };
        csv.push_str(&format!(
            "+479100{i:04},ACME,offers,sms,2025-01-01T00:00:00Z,web,t1,test,,{confirmed}\n"
        ));
    }
    wd.write("consents.csv", csv);
    let r = wd.run(&["import", "consents", "--store", "s", "consents.csv"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut stops = String::from("number,brand,stopped_at\n");
    for i in 40..50 {
        stops.push_str(&format!("+479100{i:04},ACME,2025-06-01T00:00:00Z\n"));
    }
    wd.write("stops.csv", stops);
    let r = wd.run(&["import", "stops", "--store", "s", "stops.csv"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = wd.run(
        &["policy", "--store", "s", "set", "--brand", "ACME", "--require-confirmed", "true"],
        "",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
}

fn campaign() -> Vec<String> {
    let mut v: Vec<String> = (0..80).map(|i| format!("+479100{i:04}")).collect();
    v.push("91000005".into()); // national form of a duplicate
    v.push("not a number".into());
    v.push("+4791000041".into());
    v.push("0047 910 00 001".into());
    v
}

/// Reasons `filter` gives to each line of `campaign` (lines format).
fn filter_reasons(wd: &Workdir, campaign: &[String]) -> Vec<String> {
    let input = campaign.join("\n") + "\n";
    let r = wd.run(
        &[
            "filter",
            "--store",
            "s",
            "--brand",
            "ACME",
            "--purpose",
            "offers",
            "--rejects",
            "rej.txt",
        ],
        input,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rejects = wd.read("rej.txt");
    let mut rejects = rejects.lines().map(|l| l.rsplit_once('\t').expect("tab")).peekable();
    campaign
        .iter()
        .map(|line| match rejects.peek() {
            Some((orig, reason)) if orig == line => {
                let reason = reason.to_string();
                rejects.next();
                reason
            }
            _ => "ALLOWED".to_string(),
        })
        .collect()
}

/// The (line, reason) of every answer line of a batch check.
fn reasons_by_line(body: &str) -> Vec<(u64, String)> {
    body.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json line");
            (v["line"].as_u64().expect("line"), field(&v, "reason").to_string())
        })
        .collect()
}

fn owned(want: &[(u64, &str)]) -> Vec<(u64, String)> {
    want.iter().map(|(l, r)| (*l, r.to_string())).collect()
}

fn field<'a>(json: &'a serde_json::Value, key: &str) -> &'a str {
    json.get(key).and_then(|v| v.as_str()).unwrap_or("")
}

#[test]
fn check_gives_the_same_answers_as_filter_and_the_probes_answer() {
    let wd = Workdir::new();
    store(&wd);
    let campaign = campaign();
    let want = filter_reasons(&wd, &campaign);
    let server = Server::start(&wd, &[]);
    let body: String = campaign
        .iter()
        .map(|n| {
            serde_json::json!({"number": n, "brand": "ACME", "purpose": "offers"}).to_string()
                + "\n"
        })
        .collect();
    let r = server.request(
        "POST",
        "/v1/check",
        &[("Content-Type", "application/x-ndjson")],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.headers.contains("application/x-ndjson"), "{}", r.headers);
    let got: Vec<String> = r
        .body
        .lines()
        .map(|l| field(&serde_json::from_str(l).expect("json line"), "reason").to_string())
        .collect();
    assert_eq!(got, want, "same campaign through serve and filter");
    assert!(want.iter().any(|r| r == "ALLOWED") && want.iter().any(|r| r == "STOPPED"));
    assert!(want.iter().any(|r| r == "CONSENT_UNCONFIRMED"), "the store's policy applies");
    assert!(want.iter().any(|r| r == "DUPLICATE") && want.iter().any(|r| r == "INVALID_NUMBER"));

    // One JSON object.
    let one = r#"{"number":"+47 910 00 001","brand":"ACME","purpose":"offers"}"#;
    let r = server.request(
        "POST",
        "/v1/check",
        &[("Content-Type", "application/json")],
        one.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(r.body.trim()).expect("json");
    assert_eq!(
        (field(&v, "verdict"), field(&v, "reason"), field(&v, "e164")),
        ("allow", "ALLOWED", "+4791000001")
    );
    // Malformed single request: 422 with a JSON error.
    let r = server.request(
        "POST",
        "/v1/check",
        &[("Content-Type", "application/json")],
        b"{\"number\":1",
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        serde_json::from_str::<serde_json::Value>(r.body.trim())
            .expect("json")
            .get("error")
            .is_some()
    );
    // Unknown route: 404 JSON.
    let r = server.request("GET", "/v2/nothing", &[], b"");
    assert_eq!(r.status, 404);
    assert!(r.body.contains("\"error\""));
    // Probes.
    assert_eq!(server.request("GET", "/livez", &[], b"").status, 200);
    let r = server.request("GET", "/readyz", &[], b"");
    assert_eq!(r.status, 200, "{}", r.body);
    let r = server.request("GET", "/metrics", &[], b"");
    assert_eq!(r.status, 200);
    for name in [
        "sendfilter_requests_total{route=\"/v1/check\",code=\"200\"}",
        "sendfilter_request_duration_seconds_bucket",
        "sendfilter_decisions_total{reason=\"STOPPED\"}",
        "sendfilter_journal_sequence",
        "sendfilter_snapshot_generation",
    ] {
        assert!(r.body.contains(name), "{name} missing in\n{}", r.body);
    }
    // No number in any label: label values hold no run of 5 digits.
    for line in r.body.lines().filter(|l| !l.starts_with('#')) {
        let labels =
            line.split_once('{').map_or("", |(_, rest)| rest.split('}').next().unwrap_or(""));
        let mut run = 0;
        for c in labels.chars() {
            run = if c.is_ascii_digit() { run + 1 } else { 0 };
            assert!(run < 5, "a number in a label: {line}");
        }
    }
    let (code, _) = server.stop();
    assert_eq!(code, Some(0), "SIGTERM: a clean exit");
    // Checks reveal standing: they are in the audit trail, summed per caller (written at
    // shutdown at the latest), with counts by reason and never a number.
    let trail = wd.read("s/audit");
    let rec: serde_json::Value = trail
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|r| r["command"] == "serve check")
        .unwrap_or_else(|| panic!("no check record in the audit trail:\n{trail}"));
    let allowed = want.iter().filter(|r| *r == "ALLOWED").count() as u64 + 1;
    assert_eq!(rec["counts"]["ALLOWED"], allowed, "{rec}");
    assert_eq!(rec["counts"]["calls"], 2, "the malformed request decided nothing: {rec}");
    assert!(!trail.contains("91000001"), "a number in the audit trail");
}

#[test]
fn a_stop_recorded_by_the_cli_reaches_the_check_api_within_a_second() {
    let wd = Workdir::new();
    store(&wd);
    let server = Server::start(&wd, &[]);
    let one = r#"{"number":"+4791000003","brand":"ACME","purpose":"offers"}"#;
    let reason = || {
        let r = server.request("POST", "/v1/check", &[], one.as_bytes());
        field(&serde_json::from_str(r.body.trim()).expect("json"), "reason").to_string()
    };
    assert_eq!(reason(), "ALLOWED");
    let r = wd.run(&["stop", "--store", "s", "+4791000003"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let acked = Instant::now();
    while reason() != "STOPPED" {
        assert!(acked.elapsed() < Duration::from_secs(1), "stop not seen within 1 s");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn refuses_a_non_loopback_address() {
    let wd = Workdir::new();
    store(&wd);
    let r = wd.run(&["serve", "--store", "s", "--listen", "0.0.0.0:0"], "");
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("loopback"), "{}", r.stderr);
}

/// A slow client holding the only slot: others get 503 with Retry-After (probes still
/// answer), and the slow one gets 408 when its time is up; then the service serves again.
#[test]
fn overload_gets_503_and_a_slow_client_408_without_blocking_the_probes() {
    let wd = Workdir::new();
    store(&wd);
    wd.write("serve.toml", "max_in_flight = 1\nrequest_timeout_secs = 1\n");
    let server = Server::start(&wd, &["--config", "serve.toml"]);
    let mut slow = TcpStream::connect(server.addr).expect("connect");
    slow.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let head = format!(
        "POST /v1/check HTTP/1.1\r\nHost: {}\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{{\"num",
        server.addr
    );
    slow.write_all(head.as_bytes()).expect("write");
    std::thread::sleep(Duration::from_millis(200));
    let r = server.request(
        "POST",
        "/v1/check",
        &[],
        br#"{"number":"+4791000003","brand":"ACME","purpose":"offers"}"#,
    );
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.headers.contains("retry-after: 1"), "{}", r.headers);
    assert_eq!(server.request("GET", "/livez", &[], b"").status, 200);
    let mut raw = Vec::new();
    let _ = slow.read_to_end(&mut raw);
    assert_eq!(parse(&raw).status, 408);
    let r = server.request(
        "POST",
        "/v1/check",
        &[],
        br#"{"number":"+4791000003","brand":"ACME","purpose":"offers"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn a_batch_mixing_simple_and_other_lines_answers_each_in_order() {
    let wd = Workdir::new();
    store(&wd);
    let server = Server::start(&wd, &[]);
    // Simple lines (fast path), lines serde reads (an escape, an unknown key, a class), a
    // malformed line and a blank one: one order, one duplicate set across both ways.
    let body = concat!(
        r#"{"number":"+4791000001","brand":"ACME","purpose":"offers"}"#,
        "\n",
        r#"{"number":"+4791000001","brand":"ACME","purpose":"offers","note":"x"}"#,
        "\n",
        r#"{"number":"not a number","brand":"ACME","purpose":"offers"}"#,
        "\n\n",
        r#"{"number":"+47910\u00300001","brand":"ACME","purpose":"offers"}"#,
        "\n",
        r#"{"number":"+4791000001","brand":"ACME","purpose":"offers","class":"service"}"#,
        "\n",
        r#"{"number":"+4791000001","brand":"ACME","purpose":"offers","class":"bogus"}"#,
        "\n",
        r#"{"number":"+4791000001""#,
        "\n",
    );
    let r = server.request(
        "POST",
        "/v1/check",
        &[("Content-Type", "application/x-ndjson")],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let got = reasons_by_line(&r.body);
    let want = [
        (1, "ALLOWED"),
        (2, "DUPLICATE"),
        (3, "INVALID_NUMBER"),
        (5, "DUPLICATE"),
        (6, "ALLOWED"),
        (7, "MALFORMED"),
        (8, "MALFORMED"),
    ];
    assert_eq!(got, owned(&want), "{}", r.body);
    // The simple answer is exactly what serde writes.
    let first = r.body.lines().next().expect("a line");
    assert_eq!(first, r#"{"line":1,"e164":"+4791000001","verdict":"allow","reason":"ALLOWED"}"#);
    server.stop();
}

/// Lines of one scope in a row are matched byte for byte (not decoded again): a change of
/// purpose or class is a new scope, a return to the first is the first's duplicate set,
/// a number that is not UTF-8 in a repeated scope is MALFORMED as serde would say, and
/// CRLF endings and a last line without a newline are read like the others.
#[test]
fn a_batch_changing_scope_between_lines_decides_each_in_its_own() {
    let wd = Workdir::new();
    store(&wd);
    let server = Server::start(&wd, &[]);
    let mut body = Vec::new();
    body.extend_from_slice(
        b"{\"number\":\"+4791000001\",\"brand\":\"ACME\",\"purpose\":\"offers\"}\n",
    );
    body.extend_from_slice(
        b"{\"number\":\"+4791000001\",\"brand\":\"ACME\",\"purpose\":\"news\"}\r\n",
    );
    body.extend_from_slice(
        b"{\"number\":\"+4791000001\",\"brand\":\"ACME\",\"purpose\":\"offers\"}\r\n",
    );
    body.extend_from_slice(
        b"{\"number\":\"+47\xff1000004\",\"brand\":\"ACME\",\"purpose\":\"offers\"}\n",
    );
    body.extend_from_slice(
        b"{\"number\":\"+4791000001\",\"brand\":\"ACME\",\"purpose\":\"offers\",\"class\":\"service\"}\n",
    );
    body.extend_from_slice(
        b"{\"number\":\"+4791000000\",\"brand\":\"ACME\",\"purpose\":\"offers\"}",
    );
    let r = server.request("POST", "/v1/check", &[("Content-Type", "application/x-ndjson")], &body);
    assert_eq!(r.status, 200, "{}", r.body);
    let got = reasons_by_line(&r.body);
    let want = [
        (1, "ALLOWED"),
        (2, "NO_CONSENT"),
        (3, "DUPLICATE"),
        (4, "MALFORMED"),
        (5, "ALLOWED"),
        (6, "ALLOWED"),
    ];
    assert_eq!(got, owned(&want), "{}", r.body);
    server.stop();
}
