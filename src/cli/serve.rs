//! `sendfilter serve`: the HTTP service over a store (see `sendfilter::service`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sendfilter::service::{Config, State};

/// Serve the store over HTTP: `POST /v1/check` (the filter's decisions, one number or
/// NDJSON batches), gateway webhooks for replies (`/v1/inbound/twilio`, `/46elks`,
/// `/vonage`, `/sinch`, `/infobip`, generic `/v1/inbound`: recorded durably before the 2xx,
/// as `sendfilter inbound` records them), the opt-out list (`GET`/`PUT
/// /v1/stops/{number}`), `POST /v1/consents`, data-subject rights (`GET
/// /v1/subjects/{number}`, `POST …/erase`, `…/correct`, `…/move`), `GET /livez`, `GET
/// /readyz`, `GET /metrics`.
///
/// API calls authenticate with `Authorization: Bearer TOKEN` (`sendfilter token create`)
/// once the store has tokens; each route names the roles that may call it (README
/// "Service"). Without tokens only loopback is served, and every local caller may call
/// everything.
///
/// Listens on loopback by default; prints `listening on ADDR` on stderr once it accepts
/// connections (`--listen 127.0.0.1:0` picks a free port and names it there). SIGTERM or
/// SIGINT stops accepting, lets requests in flight finish (at most 10 s) and exits 0.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Decisions follow the store while serving: stops within ~10 ms, new consents, \
    compactions and the policy within ~1 s. Overload gets 503 with Retry-After; a request \
    taking longer than request_timeout_secs (default 30) gets 408. Config (TOML): \
    public_url, region, max_in_flight, request_timeout_secs, [gateways.*]."
)]
pub struct Args {
    /// The store directory.
    #[arg(long, value_name = "DIR")]
    store: PathBuf,
    /// Address to listen on. A non-loopback address is accepted only when the store has
    /// API tokens (`sendfilter token create`); every API call then needs one.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Configuration file (TOML).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// How long requests in flight may take to finish after a stop signal.
const DRAIN: Duration = Duration::from_secs(10);

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut config = match &args.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    if !args.listen.ip().is_loopback() {
        let tokens = sendfilter::service::tokens::read(&args.store)
            .with_context(|| format!("reading the tokens of store {}", args.store.display()))?;
        anyhow::ensure!(
            !tokens.is_empty(),
            "refusing to listen on {}: not a loopback address, and the store has no API \
             tokens to authenticate callers (create one: sendfilter token create --store {} \
             --role ROLE)",
            args.listen,
            args.store.display()
        );
        config.require_tokens = true;
    }
    let state = State::open(&args.store, config)
        .with_context(|| format!("opening store {}", args.store.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("sendfilter-serve")
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        eprintln!("listening on {addr}");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server =
            tokio::spawn(sendfilter::service::serve(listener, Arc::clone(&state), async move {
                let _ = rx.await;
            }));
        stop_signal().await?;
        eprintln!("sendfilter serve: stopping (finishing requests in flight)");
        let _ = tx.send(());
        match tokio::time::timeout(DRAIN, server).await {
            Ok(Ok(r)) => r.context("serving")?,
            Ok(Err(e)) => anyhow::bail!("the server task failed: {e}"),
            Err(_) => {
                eprintln!("sendfilter serve: requests still in flight after {DRAIN:?}; stopping")
            }
        }
        // What the webhooks handed on is recorded before exit.
        tokio::task::spawn_blocking(move || state.close()).await.context("closing")?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Waits for SIGTERM or SIGINT.
async fn stop_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

impl Args {
    /// The store this command works on and what it does there (for the store's roles):
    /// serving opens every kind of access to the network, so it is the administrator's.
    pub(super) fn need(
        &self,
    ) -> (&std::path::Path, sendfilter::store::access::Action, &'static str) {
        use sendfilter::store::access::Action;
        (&self.store, Action::ManageAccess, "serve")
    }
}
