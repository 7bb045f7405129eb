//! `sendfilter token create|list|revoke`: API tokens for `sendfilter serve`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use sendfilter::service::tokens;
use sendfilter::store::access::{Action, Role};

/// Manage the API tokens `sendfilter serve` accepts (`Authorization: Bearer TOKEN`).
///
/// A token carries one of the store's roles (admin, operator, privacy, campaign,
/// auditor); each route of the service names the roles that may call it. The token is
/// printed once, on stdout; the store keeps only its SHA-256 (file `tokens`, 0600). Once
/// a store has tokens, every API call needs one, and `serve` may listen on a non-loopback
/// address.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Make a token for ROLE and print it (once: it cannot be shown again).
    Create {
        /// Store directory.
        #[arg(long, env = "SENDFILTER_STORE")]
        store: PathBuf,
        /// admin, operator, privacy, campaign or auditor.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// The caller's name, as the audit trail shows it (default: ROLE-N).
        #[arg(long)]
        name: Option<String>,
    },
    /// List the tokens (name, role, created; never the token).
    List {
        /// Store directory.
        #[arg(long, env = "SENDFILTER_STORE")]
        store: PathBuf,
    },
    /// Revoke the token named NAME (the service refuses it within a second).
    Revoke {
        /// Store directory.
        #[arg(long, env = "SENDFILTER_STORE")]
        store: PathBuf,
        /// The token's name.
        name: String,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

impl Args {
    /// The store and what the command does there (for the store's roles): tokens are
    /// access, the administrator's.
    pub(super) fn need(&self) -> (&std::path::Path, Action, &'static str) {
        match &self.command {
            Command::Create { store, .. } => (store, Action::ManageAccess, "token create"),
            Command::List { store } => (store, Action::Inspect, "token list"),
            Command::Revoke { store, .. } => (store, Action::ManageAccess, "token revoke"),
        }
    }
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Create { store, role, name } => {
            let (token, e) = tokens::create(&store, role, name.as_deref())
                .with_context(|| format!("creating a token in store {}", store.display()))?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{token}")?;
            out.flush()?;
            eprintln!(
                "sendfilter: token {:?} ({}) created; it is shown only now: keep it secret",
                e.name, e.role
            );
        }
        Command::List { store } => {
            let t = tokens::read(&store)
                .with_context(|| format!("reading the tokens of store {}", store.display()))?;
            let mut out = std::io::stdout().lock();
            for e in &t.entries {
                writeln!(out, "{}\t{}\t{}", e.name, e.role, e.created)?;
            }
            out.flush()?;
        }
        Command::Revoke { store, name } => {
            let gone = tokens::revoke(&store, &name)
                .with_context(|| format!("revoking a token in store {}", store.display()))?;
            anyhow::ensure!(gone, "no token named {name:?} in store {}", store.display());
            eprintln!("sendfilter: token {name:?} revoked");
        }
    }
    Ok(ExitCode::SUCCESS)
}
