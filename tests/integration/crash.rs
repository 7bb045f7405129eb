//! `kill -9` of `sendfilter serve` during a stream of STOP webhooks: every STOP that got a
//! 2xx is in the store afterwards, and a retry of it is recognised (recorded once). 20
//! rounds by default; `SENDFILTER_CRASH_ROUNDS=100` (at most 100: the round is two digits
//! of the numbers) runs more, as `benches/crash.sh` does.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::harness::Workdir;
use crate::serve::{Server, try_request};

const SENDERS: u64 = 4;

/// Rounds to run: `SENDFILTER_CRASH_ROUNDS` (1–100), default 20.
fn rounds() -> u64 {
    std::env::var("SENDFILTER_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(20, |n| n.clamp(1, 100))
}

/// Sends STOPs for fresh numbers until a request fails; returns the acknowledged ones.
fn send(addr: SocketAddr, round: u64, sender: u64, acked: Arc<Mutex<Vec<String>>>) {
    let t = Instant::now();
    for k in 0..100_000u64 {
        if t.elapsed() > Duration::from_secs(10) {
            return;
        }
        let number = format!("+479{round:02}{sender}{k:04}");
        let body = format!(
            r#"{{"from":"{number}","to":"2401","text":"STOPP","id":"c{round}-{sender}-{k}"}}"#
        );
        match try_request(addr, "POST", "/v1/inbound", &[], body.as_bytes()) {
            Ok(r) if r.status == 200 => acked.lock().unwrap().push(number),
            _ => return,
        }
    }
}

#[test]
fn every_acknowledged_stop_survives_kill_9() {
    let wd = Workdir::new();
    let r = wd.run(&["brand", "add", "--store", "s", "ACME", "--shortcode", "2401"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut all: Vec<String> = Vec::new();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let rounds = rounds();
    for round in 0..rounds {
        let server = Server::start(&wd, &[]);
        let acked = Arc::new(Mutex::new(Vec::new()));
        let senders: Vec<_> = (0..SENDERS)
            .map(|s| {
                let (a, addr) = (Arc::clone(&acked), server.addr);
                std::thread::spawn(move || send(addr, round, s, a))
            })
            .collect();
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(30 + rng % 200));
        server.kill9();
        for s in senders {
            let _ = s.join();
        }
        all.extend(acked.lock().unwrap().drain(..));
    }
    assert!(all.len() > 100, "too few acknowledged STOPs to say anything: {}", all.len());
    // Every acknowledged STOP is in the store: filter rejects each as STOPPED.
    let input = all.join("\n") + "\n";
    let r = wd.run(
        &[
            "filter",
            "--store",
            "s",
            "--brand",
            "ACME",
            "--purpose",
            "offers",
            "--no-live",
            "--rejects",
            "rej.txt",
        ],
        &input,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rejects = wd.read("rej.txt");
    let stopped = rejects.lines().filter(|l| l.ends_with("\tSTOPPED")).count();
    assert_eq!(stopped, all.len(), "every acknowledged STOP survived kill -9");
    // A retry of an acknowledged one records nothing again.
    let server = Server::start(&wd, &[]);
    let first = "+4790000000"; // round 0, sender 0, the first message
    let body = format!(r#"{{"from":"{first}","to":"2401","text":"STOPP","id":"c0-0-0"}}"#);
    if all.iter().any(|n| n == first) {
        let r = server.request("POST", "/v1/inbound", &[], body.as_bytes());
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body.contains("\"repeat\":true"), "{}", r.body);
    }
    eprintln!("{} acknowledged STOPs over {rounds} kill -9 rounds, all recorded", all.len());
}
