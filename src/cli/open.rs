//! Helpers every store subcommand shares: opening the store (waiting for another process,
//! creating a new store directory safely, reporting a cut torn tail) and reading a time
//! option.

use anyhow::Context;
use sendfilter::store::{Store, StoreOptions};
use sendfilter::{Region, timefmt};

/// Opens the store for the CLI: says so on stderr when it has to wait for another process,
/// and reports a cut torn tail.
pub fn open_store(
    dir: &std::path::Path,
    create: bool,
    region: Option<Region>,
) -> anyhow::Result<Store> {
    let opts = StoreOptions { create, region, wait: false };
    let new = create && !dir.join("config").exists();
    if new && !dir.exists() {
        // A new store directory: under sudo only where the caller may create it, and never
        // inside another store.
        sendfilter::outfile::Paths::current(&[])
            .and_then(|p| p.check_new_dir("--store", dir).map_err(|e| e.reason))
            .map_err(|reason| anyhow::anyhow!("--store {}: {reason}", dir.display()))?;
    }
    let store = match Store::open_with(dir, opts) {
        Err(sendfilter::StoreError::Locked { .. }) => {
            eprintln!("sendfilter: waiting for another sendfilter process using {}", dir.display());
            Store::open_with(dir, StoreOptions { wait: true, ..opts })
        }
        other => other,
    }
    .with_context(|| format!("opening store {}", dir.display()))?;
    if new {
        // A store made in an existing directory (created 0700 otherwise).
        super::secure_store_dir(dir)?;
    }
    warn_open_report(&store);
    Ok(store)
}

/// Prints what opening a store found (a cut torn tail) to stderr.
pub fn warn_open_report(store: &Store) {
    if let Some(t) = &store.open_report().torn_tail {
        eprintln!(
            "sendfilter: warning: journal {} had a torn tail at offset {} ({} bytes, from an \
             interrupted append); it was cut",
            t.path.display(),
            t.offset,
            t.bytes
        );
    }
}

/// Parses an optional RFC 3339 time, defaulting to now.
pub fn time_or_now(t: Option<&str>, what: &str) -> anyhow::Result<i64> {
    match t {
        None => Ok(timefmt::now()),
        Some(s) => timefmt::parse_rfc3339(s).map_err(|e| anyhow::anyhow!("--{what}: {e}")),
    }
}
