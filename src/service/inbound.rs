//! Inbound webhooks: every gateway's message goes through the one code path the pipe
//! uses. A single long-running [`crate::inbound::run`] reads the messages the webhooks
//! hand it, as `sendfilter inbound` reads stdin: it understands them, records their events
//! and fsyncs (messages arriving together share one fsync: group commit), remembers the
//! message ids (a redelivery records nothing and gets the first answer), and only then
//! writes each message's answer line, which is when its webhook gets its 2xx.
//!
//! A message is checked before it is handed on: a missing field or a receiving number no
//! brand is registered on gets a 4xx with a JSON error and records nothing. Ids are made
//! per gateway (`twilio:SM…`): ids are unique only per gateway. Nothing here logs or
//! answers a full number.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use serde_json::Value;

use super::ApiError;
use crate::phone::Regions;
use crate::store::Store;
use crate::store::brands::Registry;

/// A message from a gateway, as the webhook read it.
#[derive(Debug, Default)]
pub struct Incoming {
    /// The sender (the person), as the gateway wrote it.
    pub from: String,
    /// The receiving short code or number.
    pub to: String,
    /// The text.
    pub text: String,
    /// When the gateway received it (RFC 3339 or Unix seconds; empty: now).
    pub received_at: String,
    /// The gateway's message id (required of gateways; optional on the generic route,
    /// where a message without one is not protected against redelivery).
    pub id: Option<String>,
}

type Waiters = Arc<Mutex<HashMap<u64, tokio::sync::oneshot::Sender<Value>>>>;

/// The feed into the running `inbound` and the requests waiting for their answers.
pub struct Inbound {
    dir: PathBuf,
    regions: Regions,
    /// Next input line number and the pipe into `inbound` (one lock: lines are numbered in
    /// the order they are written).
    feed: Mutex<(u64, Option<crossbeam_channel::Sender<Vec<u8>>>)>,
    waiting: Waiters,
    /// Why the inbound run ended, if it did (then every webhook gets 503).
    failed: Arc<Mutex<Option<String>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Audit sums: webhooks record events about people (see [`super::tally`]).
    tally: Arc<super::tally::Tally>,
}

impl std::fmt::Debug for Inbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbound").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl Inbound {
    /// Starts the inbound run on `store` (which it keeps, and whose lock it releases while
    /// it waits for messages, as `sendfilter inbound` does).
    ///
    /// # Errors
    /// The brand registry cannot be read.
    pub fn start(
        store: Store,
        regions: Regions,
        tally: Arc<super::tally::Tally>,
    ) -> Result<Inbound, crate::store::brands::BrandError> {
        let dir = store.dir().to_path_buf();
        let registry = Registry::load(&dir)?;
        let (tx, rx) = crossbeam_channel::bounded::<Vec<u8>>(4096);
        let waiting: Waiters = Arc::default();
        let failed: Arc<Mutex<Option<String>>> = Arc::default();
        let opts = crate::inbound::Options {
            regions: regions.clone(),
            compact: Some(crate::store::CompactPolicy::default()),
            reload_registry: true,
        };
        let (w, f) = (Arc::clone(&waiting), Arc::clone(&failed));
        let thread = std::thread::Builder::new()
            .name("sendfilter-inbound".into())
            .spawn(move || {
                let mut store = store;
                let mut sink = Answers { buf: Vec::new(), waiting: Arc::clone(&w) };
                let input = Pipe { rx, buf: Vec::new(), at: 0 };
                let r = crate::inbound::run(
                    &mut store,
                    &registry,
                    input,
                    crate::inbound::Format::Jsonl,
                    &mut sink,
                    &opts,
                );
                let why = match r {
                    Ok(_) => "the inbound feed was closed".to_string(),
                    Err(e) => format!("recording inbound messages failed: {e}"),
                };
                eprintln!("sendfilter serve: {why}");
                *f.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
                // Whoever still waits gets no acknowledgement (their gateway retries).
                w.lock().unwrap_or_else(|p| p.into_inner()).clear();
            })
            .map_err(|e| {
                crate::store::brands::BrandError::Invalid(format!(
                    "starting the inbound thread: {e}"
                ))
            })?;
        Ok(Inbound {
            dir,
            regions,
            feed: Mutex::new((1, Some(tx))),
            waiting,
            failed,
            thread: Mutex::new(Some(thread)),
            tally,
        })
    }

    /// Why the inbound run is not available, if it is not.
    pub fn failure(&self) -> Option<String> {
        self.failed.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Checks `m`, hands it to the inbound run and waits until it is durable; returns its
    /// answer line (`action`, `brands`, `reply`, …; `repeat` for a redelivery).
    ///
    /// # Errors
    /// 400 for a missing field, 422 for a receiving number no brand is registered on or a
    /// message `inbound` refuses (nothing recorded), 503 when the inbound run is down.
    pub async fn submit(&self, gateway: &'static str, m: Incoming) -> Result<Value, ApiError> {
        let id = m.id.as_deref().unwrap_or("-");
        if m.id.as_deref().is_some_and(|i| i.trim().is_empty()) {
            return Err(ApiError::bad_request(format!("{gateway}: the message id is empty")));
        }
        for (name, v) in [("from", &m.from), ("to", &m.to), ("text", &m.text)] {
            if v.trim().is_empty() {
                return Err(ApiError::bad_request(format!("{gateway}: {name} is missing")));
            }
        }
        let registry = Registry::load(&self.dir)
            .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
        let to = crate::inbound::receiving_number(&m.to, &registry, &self.regions);
        if registry.on_shortcode(&to).next().is_none() {
            log(gateway, id, "unknown receiving number");
            return Err(ApiError::unprocessable(
                "no brand is registered on the receiving number (sendfilter brand add … --shortcode)",
            ));
        }
        let mut line = serde_json::json!({
            "from": m.from, "to": m.to, "text": m.text, "received_at": m.received_at,
        });
        if let Some(i) = &m.id {
            line["id"] = Value::String(format!("{gateway}:{i}"));
        }
        let mut bytes = serde_json::to_vec(&line)
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        bytes.push(b'\n');
        let (tx, rx) = tokio::sync::oneshot::channel();
        {
            let mut feed = self.feed.lock().unwrap_or_else(|p| p.into_inner());
            let down = || {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "inbound recording is down: retry")
            };
            if self.failure().is_some() {
                return Err(down());
            }
            let n = feed.0;
            let sender = feed.1.as_ref().ok_or_else(down)?;
            self.waiting.lock().unwrap_or_else(|p| p.into_inner()).insert(n, tx);
            // Bounded: a full pipe is back-pressure; try_send keeps the runtime free.
            if sender.try_send(bytes).is_err() {
                self.waiting.lock().unwrap_or_else(|p| p.into_inner()).remove(&n);
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "inbound queue full: retry",
                ));
            }
            feed.0 += 1;
        }
        let answer = rx
            .await
            .map_err(|_| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not recorded: retry"))?;
        if answer.get("action").and_then(Value::as_str) == Some("ERROR") {
            let reason = answer.get("reason").and_then(Value::as_str).unwrap_or("bad message");
            log(gateway, id, reason);
            return Err(ApiError::unprocessable(format!("{gateway}: {reason}")));
        }
        let action = answer.get("action").and_then(Value::as_str).unwrap_or("other");
        let events = answer.get("events").and_then(Value::as_u64).unwrap_or(0);
        self.tally.add(
            gateway,
            "gateway",
            crate::store::access::Action::Record,
            &format!("inbound/{gateway}"),
            [(action, 1), ("events", events)],
        );
        Ok(answer)
    }

    /// Closes the feed and waits for the inbound run to finish what it was given.
    pub fn close(&self) {
        self.feed.lock().unwrap_or_else(|p| p.into_inner()).1 = None;
        if let Some(t) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = t.join();
        }
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// One refused webhook on stderr: the gateway and its message id, never the number.
pub(super) fn log(gateway: &str, id: &str, why: &str) {
    let id: String =
        id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(64).collect();
    eprintln!("sendfilter serve: {gateway} message {id}: refused: {why}");
}

/// The read end of the feed: lines from the webhooks, EOF when the feed is closed.
struct Pipe {
    rx: crossbeam_channel::Receiver<Vec<u8>>,
    buf: Vec<u8>,
    at: usize,
}

impl Read for Pipe {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.at >= self.buf.len() {
            match self.rx.recv() {
                Ok(b) => {
                    self.buf = b;
                    self.at = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// The inbound run's output: each line (written once its message is durable) goes to the
/// request waiting for that input line.
struct Answers {
    buf: Vec<u8>,
    waiting: Waiters,
}

impl Write for Answers {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        while let Some(i) = memchr::memchr(b'\n', &self.buf) {
            let line: Vec<u8> = self.buf.drain(..=i).collect();
            let Ok(v) = serde_json::from_slice::<Value>(&line) else { continue };
            let Some(n) = v.get("line").and_then(Value::as_u64) else { continue };
            if let Some(tx) = self.waiting.lock().unwrap_or_else(|p| p.into_inner()).remove(&n) {
                let _ = tx.send(v);
            }
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
