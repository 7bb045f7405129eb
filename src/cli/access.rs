//! `sendfilter access grant|revoke|list|whoami|disable`: the store's roles.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use sendfilter::store::access::{self, Access, Action, Caller, Role};

/// Manage who may do what with the store (roles for staff).
///
/// Roles and what they allow:
///
///   admin     everything, including brands, policy, records of processing and roles
///
///   operator  filter, import, stop, consent, inbound, compact, expiring, info
///
///   privacy   subject export/correct/move/erase, purge, stop, audit, info
///
///   campaign  filter, info
///
///   auditor   subject export, audit, info
///
/// Without roles (the default) whoever can open the store's files may do everything. The
/// first `grant` turns roles on; from then on every command on the store checks the role of
/// the person running it. Every command, roles or not, is recorded in the store's audit
/// trail (`sendfilter audit`). Staff run
/// sendfilter as the store's owner through sudo (e.g. `alice ALL=(sendfilter) NOPASSWD:
/// /usr/local/bin/sendfilter`), which names them in SUDO_USER; the owner's own account and
/// root may always do everything.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Give USER the role ROLE (replacing the one they had). The first grant turns roles on.
    Grant {
        /// Store directory.
        #[arg(long, env = "SENDFILTER_STORE")]
        store: PathBuf,
        /// The user's login name (as sudo reports it).
        user: String,
        /// admin, operator, privacy, campaign or auditor.
        #[arg(value_parser = parse_role)]
        role: Role,
    },
    /// Take USER's role away: they may no longer do anything with the store.
    Revoke {
        /// Store directory.
        #[arg(long, env = "SENDFILTER_STORE")]
        store: PathBuf,
        /// The user's login name.
        user: String,
    },
    /// List users and roles.
    List {
        /// Store directory.
        #[arg(long, env = "SENDFILTER_STORE")]
        store: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show who you are to the store and what you may do there.
    Whoami {
        /// Store directory.
        #[arg(long, env = "SENDFILTER_STORE")]
        store: PathBuf,
    },
    /// Turn roles off (remove every role): whoever can open the store's files may then do
    /// everything. The audit log is kept.
    Disable {
        /// Store directory.
        #[arg(long, env = "SENDFILTER_STORE")]
        store: PathBuf,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

impl Args {
    /// The store this command works on and what it does there (for the store's roles);
    /// `None` for `whoami`, which anyone may ask.
    pub(super) fn need(&self) -> Option<(&Path, Action, &'static str)> {
        match &self.command {
            Command::Grant { store, .. } => Some((store, Action::ManageAccess, "access grant")),
            Command::Revoke { store, .. } => Some((store, Action::ManageAccess, "access revoke")),
            Command::Disable { store } => Some((store, Action::ManageAccess, "access disable")),
            Command::List { store, .. } => Some((store, Action::Inspect, "access list")),
            Command::Whoami { .. } => None,
        }
    }
}

fn read(store: &Path) -> anyhow::Result<Option<Access>> {
    access::read(store).with_context(|| format!("reading the roles of store {}", store.display()))
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Grant { store, user, role } => grant(&store, &user, role)?,
        Command::Revoke { store, user } => revoke(&store, &user)?,
        Command::Disable { store } => disable(&store)?,
        Command::List { store, json } => list(&store, json)?,
        Command::Whoami { store } => whoami(&store)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `access grant`: gives `user` `role` on the store (roles are then on).
fn grant(store: &Path, user: &str, role: Role) -> anyhow::Result<()> {
    anyhow::ensure!(
        access::valid_user(user),
        "invalid user name {user:?}: use the login name (letters, digits, _ . - @ \\)"
    );
    // The lock is held from reading to saving: concurrent edits cannot be lost.
    let st = super::open::open_store(store, false, None)?;
    // Only the owner gets here with a damaged file (see `access::authorize`): start
    // again from no roles.
    let mut a = match access::read(store) {
        Ok(a) => a.unwrap_or_default(),
        Err(e @ sendfilter::StoreError::Config { .. }) => {
            eprintln!("sendfilter: warning: {e}; starting again from no roles");
            Access::default()
        }
        Err(e) => return Err(e).context("reading the roles"),
    };
    let was_on = !a.users.is_empty() || store.join(access::FILE).exists();
    let old = a.users.insert(user.to_string(), role);
    access::write(&st, &a).context("saving the roles")?;
    match old {
        Some(o) if o != role => eprintln!("sendfilter: {user} is now {role} (was {o})"),
        Some(_) => eprintln!("sendfilter: {user} was already {role}"),
        None => eprintln!("sendfilter: {user} is now {role}"),
    }
    if !was_on {
        eprintln!(
            "sendfilter: roles are now on for {}: users without a role may do nothing \
             with it; every command is logged in its `audit` file",
            store.display()
        );
    }
    Ok(())
}

/// `access revoke`: takes `user`'s role away.
fn revoke(store: &Path, user: &str) -> anyhow::Result<()> {
    let st = super::open::open_store(store, false, None)?;
    let mut a = read(store)?.unwrap_or_default();
    anyhow::ensure!(a.users.remove(user).is_some(), "{user} has no role on this store");
    access::write(&st, &a).context("saving the roles")?;
    eprintln!("sendfilter: {user} no longer has a role");
    Ok(())
}

/// `access disable`: turns roles off (removes the roles file).
fn disable(store: &Path) -> anyhow::Result<()> {
    let st = super::open::open_store(store, false, None)?;
    let path = st.dir().join(access::FILE);
    match std::fs::remove_file(&path) {
        Ok(()) => {
            eprintln!("sendfilter: roles are off: whoever can open the store may do everything")
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("sendfilter: roles were already off")
        }
        Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
    }
    Ok(())
}

/// `access list`: whether roles are on, and who has which, as a table or JSON.
fn list(store: &Path, json: bool) -> anyhow::Result<()> {
    let a = read(store)?;
    if json {
        let v = serde_json::json!({
            "enabled": a.is_some(),
            "users": a.map(|a| a.users).unwrap_or_default(),
        });
        outln!("{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        match a {
            None => outln!("roles are off: whoever can open the store may do everything")?,
            Some(a) if a.users.is_empty() => outln!("roles are on; no user has one")?,
            Some(a) => {
                outln!("{:<24} ROLE", "USER")?;
                for (u, r) in &a.users {
                    outln!("{u:<24} {r}")?;
                }
            }
        }
    }
    Ok(())
}

/// `access whoami`: the caller, their role on the store and what it allows.
fn whoami(store: &Path) -> anyhow::Result<()> {
    let caller = Caller::current();
    let a = read(store).ok().flatten();
    outln!("user: {}{}", caller.name, if caller.via_sudo { " (via sudo)" } else { "" })?;
    use std::os::unix::fs::MetadataExt;
    let owner =
        std::fs::metadata(store).with_context(|| format!("reading {}", store.display()))?.uid();
    let allowed: Vec<&str> = Action::ALL
        .iter()
        .filter(|&&act| access::decide(a.as_ref(), owner, &caller, act).is_ok())
        .map(|a| a.as_str())
        .collect();
    let role = match (&a, access::decide(a.as_ref(), owner, &caller, Action::Inspect)) {
        (None, _) => "none needed (roles are off)".to_string(),
        (_, Ok(access::Grant::Owner(_))) => "owner (may do everything)".to_string(),
        (Some(a), _) => a.users.get(&caller.name).map_or("none".into(), |r| r.to_string()),
    };
    outln!("role: {role}")?;
    outln!("may: {}", if allowed.is_empty() { "nothing".into() } else { allowed.join(", ") })?;
    Ok(())
}
