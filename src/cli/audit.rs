//! `sendfilter audit`: what happened to one person's data (`--subject`), and whether the
//! trail is intact (`verify`). Also the note every command fills in for its audit record
//! ([`note`], [`note_subject`]), written by [`finish`] when the command is done.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::Context;
use sendfilter::audit::{self, AuditRecord};
use sendfilter::store::access::{Action, Caller, Grant};
use sendfilter::store::{Store, StoreOptions};
use sendfilter::{E164, Region, phone};

/// What the running command did, for its audit record.
static NOTE: Mutex<Option<AuditRecord>> = Mutex::new(None);

/// Adds to the running command's audit record (brand, counts, outputs, …).
pub(crate) fn note(f: impl FnOnce(&mut AuditRecord)) {
    let mut g = NOTE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    f(g.get_or_insert_with(AuditRecord::default));
}

/// Names the person the running command is about (keyed reference, never the number)
/// and the journal sequences it read or wrote for them.
///
/// # Errors
/// The store's key cannot be read or made (then the command must not go on unrecorded).
pub(crate) fn note_subject(store: &Store, number: E164, seqs: &[u64]) -> anyhow::Result<()> {
    let r = audit::subject_ref(store, number).context("the audit trail's subject reference")?;
    note(|n| {
        n.subject = Some(r);
        n.seqs.extend_from_slice(seqs);
    });
    Ok(())
}

/// Writes the audit record of a command that ran on the store in `dir` with `grant`:
/// the note it left, who, what, and the outcome. Nothing when the store does not exist
/// (the command failed before making it).
///
/// # Errors
/// The trail cannot be written.
pub(crate) fn finish(
    dir: &Path,
    grant: &Grant,
    action: Action,
    command: &str,
    replay: bool,
    ok: bool,
) -> anyhow::Result<()> {
    if !dir.join("config").is_file() {
        return Ok(());
    }
    let mut rec =
        NOTE.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take().unwrap_or_default();
    let (actor, role) = grant.actor(&Caller::current());
    rec.actor = actor;
    rec.role = role.into();
    rec.action = action.as_str().into();
    rec.command = command.into();
    rec.outcome = if ok { "ok" } else { "failed" }.into();
    rec.replay = replay;
    audit::record(dir, &rec)
        .with_context(|| format!("writing the audit trail of store {}", dir.display()))?;
    Ok(())
}

/// What happened to one person's data, and whether the audit trail is intact.
///
/// `sendfilter audit --store DIR --subject NUMBER [--since T]` lists every audit record
/// about NUMBER: those naming it (by keyed reference: the trail never holds numbers) and
/// bulk writes (imports, inbound replies) that touched its journal events. Roles:
/// auditor, privacy, admin.
///
/// `sendfilter audit verify --store DIR [--head HASH]` checks the hash chain (keyed with
/// the store's key once it has one: HMAC-SHA256) and names every edited, removed,
/// reordered or unkeyed record; it prints the head hash: keep it elsewhere, and `--head`
/// later shows whether records were cut from the end.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Sub>,
    /// Store directory.
    #[arg(long, env = "SENDFILTER_STORE", required = true)]
    store: Option<PathBuf>,
    /// The person: their phone number.
    #[arg(long, required = true)]
    subject: Option<String>,
    /// Only records from this time on: RFC 3339, or a duration back from now (30d, 6mo).
    #[arg(long)]
    since: Option<String>,
    /// Region for a national-format number (default: the store's).
    #[arg(long)]
    region: Option<Region>,
    /// JSON lines (one record per line, as in the trail) instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Check the hash chain: names every edited, removed or reordered record (exit 2 if
    /// any) and prints the head hash.
    Verify {
        /// Store directory.
        #[arg(long, env = "SENDFILTER_STORE")]
        store: PathBuf,
        /// A head hash printed by an earlier verify: is that record still in the trail?
        #[arg(long)]
        head: Option<String>,
    },
}

impl Args {
    /// The store this command works on and what it does there (for the store's roles).
    pub(super) fn need(&self) -> (&Path, Action, &'static str) {
        match &self.command {
            Some(Sub::Verify { store, .. }) => (store, Action::ExportSubject, "audit verify"),
            None => (
                self.store.as_deref().unwrap_or(Path::new("")),
                Action::ExportSubject,
                "audit --subject",
            ),
        }
    }
}

/// `--since`: RFC 3339 or a duration back from now.
fn since(s: &str) -> anyhow::Result<i64> {
    if let Ok(t) = sendfilter::timefmt::parse_rfc3339(s) {
        return Ok(t);
    }
    let d: sendfilter::duration::Duration = s.parse().map_err(|e| {
        anyhow::anyhow!("--since {s:?}: neither an RFC 3339 time nor a duration ({e})")
    })?;
    Ok(sendfilter::timefmt::now().saturating_sub(d.seconds()))
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(Sub::Verify { store, head }) = &args.command {
        return verify(store, head.as_deref());
    }
    let (Some(dir), Some(number)) = (&args.store, &args.subject) else {
        anyhow::bail!("audit needs --store and --subject (or `audit verify`)");
    };
    let since = args.since.as_deref().map(since).transpose()?;
    let store = Store::open_with(dir, StoreOptions { create: false, ..StoreOptions::default() })
        .with_context(|| format!("opening store {}", dir.display()))?;
    let region = args.region.unwrap_or(store.region());
    let n = phone::normalize(number.as_bytes(), region).context("--subject")?;
    let mut seqs: Vec<u64> = store.evidence(n)?.iter().map(|r| r.seq).collect();
    seqs.sort_unstable();
    let subject = audit::existing_subject_ref(dir, n)?;
    let found = audit::find(dir, subject.clone(), &seqs, since)?;
    if let Some(r) = subject {
        note(|x| x.subject = Some(r));
    }
    note(|x| {
        x.counts.insert("records".into(), found.len() as u64);
    });
    drop(store);
    let mut out = std::io::stdout().lock();
    use std::io::Write;
    if args.json {
        for c in &found {
            serde_json::to_writer(&mut out, c)?;
            writeln!(out)?;
        }
    } else {
        writeln!(out, "# audit trail of {} ({} record(s))", n.masked(), found.len())?;
        for c in &found {
            writeln!(out, "{}", table_line(c))?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// One record as a line of the table.
fn table_line(c: &audit::Chained) -> String {
    let r = &c.record;
    let mut s = format!(
        "{} #{} {} ({}) {} [{}] {}",
        r.time, c.n, r.actor, r.role, r.command, r.action, r.outcome
    );
    if let Some(b) = &r.brand {
        s += &format!(" brand={b}");
    }
    if let Some(p) = &r.purpose {
        s += &format!(" purpose={p}");
    }
    if !r.seqs.is_empty() {
        let v: Vec<String> = r.seqs.iter().map(u64::to_string).collect();
        s += &format!(" seqs={}", v.join(","));
    }
    if let Some([a, b]) = r.seq_range {
        s += &format!(" seq_range={a}-{b}");
    }
    for (k, v) in &r.counts {
        s += &format!(" {k}={v}");
    }
    for o in &r.outputs {
        s += &format!(" output={o}");
    }
    if let Some(d) = &r.detail {
        s += &format!(" ({d})");
    }
    if r.replay {
        s += " REPLAY";
    }
    s
}

fn verify(dir: &Path, head: Option<&str>) -> anyhow::Result<ExitCode> {
    if !dir.join("config").is_file() {
        anyhow::bail!("{} is not a sendfilter store", dir.display());
    }
    let v = match head {
        Some(h) => audit::verify_with_head(dir, h)?,
        None => audit::verify(dir)?,
    };
    for p in &v.problems {
        eprintln!("sendfilter audit verify: {p}");
    }
    let head = v.head.as_ref().map_or("none".into(), |(n, h)| format!("record {n}, hash {h}"));
    outln!(
        "{} record(s){}; head: {head}; {}",
        v.records,
        if v.legacy_lines > 0 {
            format!(" after {} line(s) of the older unchained format", v.legacy_lines)
        } else {
            String::new()
        },
        if v.problems.is_empty() {
            "intact".to_string()
        } else {
            format!("{} problem(s)", v.problems.len())
        }
    )?;
    note(|x| {
        x.counts.insert("records".into(), v.records);
        x.counts.insert("problems".into(), v.problems.len() as u64);
    });
    Ok(if v.problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(2) })
}
