//! Group commit for `PUT /v1/stops/{number}`: the stops of requests arriving together are
//! appended as one journal batch and one audit append, each fsynced once, before any of
//! them is answered (the webhooks' inbound run does the same for gateway messages).
//!
//! One thread takes what is queued (up to [`MAX_GROUP`]), opens the store (waiting for
//! its lock, which the inbound run releases between its batches), appends, commits,
//! writes one audit record per stop (subject reference, never the number), syncs the
//! trail and only then answers every request of the group. A failure answers every
//! request of the group with an error (no 2xx for a stop that is not durable).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use axum::http::StatusCode;

use super::ApiError;
use super::auth::Caller;
use crate::E164;
use crate::audit::AuditRecord;
use crate::store::access::Action;
use crate::store::event::{Event, Stop};
use crate::store::{Store, StoreError, StoreOptions};

/// Most stops one commit takes.
pub const MAX_GROUP: usize = 1024;
/// Most stops waiting for the writer (more get 503 + `Retry-After`).
pub const MAX_QUEUE: usize = 8192;

/// One stop to record and the request waiting for its sequence number.
#[derive(Debug)]
pub struct Job {
    /// The number.
    pub number: E164,
    /// The brand (`*`: every brand), canonical.
    pub brand: String,
    /// When the person stopped.
    pub at: i64,
    /// Who asked (the audit record's actor).
    pub caller: Caller,
    /// Where the answer goes: the stop's journal sequence, or why it was not recorded.
    pub reply: tokio::sync::oneshot::Sender<Result<u64, ApiError>>,
}

/// The queue into the writer thread.
#[derive(Debug)]
pub struct StopWriter {
    tx: Mutex<Option<crossbeam_channel::Sender<Job>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl StopWriter {
    /// Starts the writer for the store in `dir`.
    ///
    /// # Errors
    /// The thread cannot be started.
    pub fn start(dir: &Path) -> std::io::Result<StopWriter> {
        let (tx, rx) = crossbeam_channel::bounded::<Job>(MAX_QUEUE);
        let dir: PathBuf = dir.to_path_buf();
        let thread =
            std::thread::Builder::new().name("sendfilter-stops".into()).spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut group = Vec::with_capacity(64);
                    group.push(first);
                    while group.len() < MAX_GROUP {
                        match rx.try_recv() {
                            Ok(j) => group.push(j),
                            Err(_) => break,
                        }
                    }
                    write_group(&dir, group);
                }
            })?;
        Ok(StopWriter { tx: Mutex::new(Some(tx)), thread: Mutex::new(Some(thread)) })
    }

    /// Queues `job`.
    ///
    /// # Errors
    /// 503 when the queue is full or the writer is closed (the job's reply is dropped).
    pub fn submit(&self, job: Job) -> Result<(), ApiError> {
        let busy = || ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "stop queue full: retry");
        let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        tx.as_ref().ok_or_else(busy)?.try_send(job).map_err(|_| busy())
    }

    /// Stops taking jobs and waits until the queued ones are answered.
    pub fn close(&self) {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = t.join();
        }
    }
}

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// Records `group` in one commit and answers each job; returns how many were recorded.
pub(crate) fn write_group(dir: &Path, group: Vec<Job>) -> usize {
    let store = Store::open_with(dir, StoreOptions { create: false, region: None, wait: true });
    let mut store = match store {
        Ok(s) => s,
        Err(e) => {
            let msg = e.to_string();
            for j in group {
                let _ = j.reply.send(Err(unavailable(&msg)));
            }
            return 0;
        }
    };
    // Append: an event the store refuses is answered at once, the rest wait for the commit.
    let mut batch = store.batch();
    let mut appended: Vec<(Job, u64)> = Vec::with_capacity(group.len());
    for j in group {
        let ev = Event::Stop(Stop { number: j.number, brand: j.brand.clone(), stopped_at: j.at });
        match batch.push(&ev) {
            Ok(seq) => appended.push((j, seq)),
            Err(e @ StoreError::InvalidEvent { .. }) => {
                let _ = j.reply.send(Err(ApiError::unprocessable(e.to_string())));
            }
            Err(e) => {
                let _ = j.reply.send(Err(internal(e)));
            }
        }
    }
    if appended.is_empty() {
        let _ = batch.abort();
        return 0;
    }
    if let Err(e) = batch.commit() {
        let msg = format!("not recorded: {e}");
        for (j, _) in appended {
            let _ = j.reply.send(Err(internal(&msg)));
        }
        return 0;
    }
    // Durable. The audit trail next, one sync for the group; the answers after it.
    if let Err(e) = audit_group(&store, &appended) {
        let msg = format!("recorded, but the audit trail failed: {e}");
        for (j, _) in appended {
            let _ = j.reply.send(Err(internal(&msg)));
        }
        return 0;
    }
    let n = appended.len();
    for (j, seq) in appended {
        let _ = j.reply.send(Ok(seq));
    }
    n
}

/// One audit record per stop of a committed group, synced once.
fn audit_group(store: &Store, done: &[(Job, u64)]) -> Result<(), StoreError> {
    let mut log = crate::audit::chain::Appender::open(store.dir())?;
    for (j, seq) in done {
        let mut counts = BTreeMap::new();
        counts.insert("stops".to_string(), 1);
        let rec = AuditRecord {
            actor: j.caller.name.clone(),
            role: j.caller.role.clone(),
            action: Action::Stop.as_str().into(),
            command: "serve PUT /v1/stops/{number}".into(),
            outcome: "ok".into(),
            brand: Some(j.brand.clone()),
            subject: Some(crate::audit::subject_ref(store, j.number)?),
            seqs: vec![*seq],
            counts,
            ..AuditRecord::default()
        };
        log.append(&rec.cleaned())?;
    }
    log.sync()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(n: u64, brand: &str) -> (Job, tokio::sync::oneshot::Receiver<Result<u64, ApiError>>) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let number = E164::from_u64(n).expect("number");
        let caller = Caller { name: "crm".into(), role: "operator".into() };
        (Job { number, brand: brand.into(), at: 1_780_000_000, caller, reply: tx }, rx)
    }

    #[test]
    fn a_group_is_one_commit_and_every_stop_is_answered_with_its_sequence() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path()).expect("store");
        let before = store.last_seq();
        drop(store);
        let (jobs, mut rxs): (Vec<_>, Vec<_>) =
            (0..5).map(|i| job(4791000010 + i, if i == 2 { "*" } else { "ACME" })).unzip();
        // An event the store refuses (an empty brand) is refused alone.
        let (bad, mut bad_rx) = job(4791000099, "");
        let mut all = jobs;
        all.insert(3, bad);
        assert_eq!(write_group(dir.path(), all), 5);
        let seqs: Vec<u64> =
            rxs.iter_mut().map(|r| r.try_recv().expect("answered").expect("recorded")).collect();
        assert_eq!(seqs, (before + 1..=before + 5).collect::<Vec<_>>());
        let refused = bad_rx.try_recv().expect("answered");
        assert!(matches!(refused, Err(ApiError { status: StatusCode::UNPROCESSABLE_ENTITY, .. })));
        store = Store::open(dir.path()).expect("store");
        let view = store.view().expect("view");
        let n = E164::from_u64(4791000012).expect("number");
        assert!(view.stopped_at(n, "OTHER").expect("read").is_some(), "the * stop");
        let trail = std::fs::read_to_string(dir.path().join("audit")).expect("trail");
        assert_eq!(trail.matches("serve PUT /v1/stops/{number}").count(), 5);
        assert!(!trail.contains("4791000010"));
    }
}
