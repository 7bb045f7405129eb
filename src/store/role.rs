//! Staff roles and the actions they allow: the vocabulary of [`crate::store::access`],
//! kept apart so that errors ([`crate::store::StoreError::AccessDenied`]) can name them
//! without depending on the roles file.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The roles file in a store directory (see [`crate::store::access`]).
pub const ACCESS_FILE: &str = "access";

/// A member of staff's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including brands, policy and roles.
    Admin,
    /// Day-to-day running: imports, stops, consents, inbound replies, compaction,
    /// campaigns, expiry lists.
    Operator,
    /// The privacy officer: data-subject requests (export, correct, move, erase), purges,
    /// opt-outs.
    Privacy,
    /// Campaign staff: filter campaigns; see counts.
    Campaign,
    /// Auditors: counts, and the evidence held for one number (to show why a message was
    /// allowed).
    Auditor,
}

impl Role {
    /// Every role, for help texts and tests.
    pub const ALL: [Role; 5] =
        [Role::Admin, Role::Operator, Role::Privacy, Role::Campaign, Role::Auditor];

    /// The role's name in files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Privacy => "privacy",
            Role::Campaign => "campaign",
            Role::Auditor => "auditor",
        }
    }

    /// Whether the role may perform `action` (the table in the module docs).
    pub fn allows(self, action: Action) -> bool {
        use Action as A;
        match self {
            Role::Admin => true,
            Role::Operator => matches!(
                action,
                A::Inspect
                    | A::Filter
                    | A::Stop
                    | A::Record
                    | A::Maintain
                    | A::ListNumbers
                    | A::Replay
            ),
            Role::Privacy => matches!(
                action,
                A::Inspect | A::Stop | A::ExportSubject | A::ChangeSubject | A::Replay
            ),
            Role::Campaign => matches!(action, A::Inspect | A::Filter),
            Role::Auditor => matches!(action, A::Inspect | A::ExportSubject),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| {
            let names: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
            format!("unknown role {s:?}: expected one of {}", names.join(", "))
        })
    }
}

/// What a command does to a store, as far as access is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Counts, sizes, integrity, the policy, the brand registry, the roles: no personal data.
    Inspect,
    /// Decide a campaign: answers only for the numbers the caller brings.
    Filter,
    /// Record opt-outs.
    Stop,
    /// Record consents and customer relationships; answer inbound replies.
    Record,
    /// Compact the store.
    Maintain,
    /// List numbers the store holds (consents about to expire).
    ListNumbers,
    /// Read everything held about one number.
    ExportSubject,
    /// Correct, move or erase a number's data; purge old evidence.
    ChangeSubject,
    /// Change the brand registry or the policy.
    Configure,
    /// Grant and revoke roles.
    ManageAccess,
    /// Decide as of another time than the clock (`--now` more than an hour off): replays
    /// and tests, never a campaign (a past `--now` revives expired consents).
    Replay,
}

impl Action {
    /// Every action, for tests and listings.
    pub const ALL: [Action; 11] = [
        Action::Inspect,
        Action::Filter,
        Action::Stop,
        Action::Record,
        Action::Maintain,
        Action::ListNumbers,
        Action::ExportSubject,
        Action::ChangeSubject,
        Action::Configure,
        Action::ManageAccess,
        Action::Replay,
    ];

    /// The action's name (in the audit log and messages).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Inspect => "inspect",
            Action::Filter => "filter",
            Action::Stop => "stop",
            Action::Record => "record",
            Action::Maintain => "maintain",
            Action::ListNumbers => "list-numbers",
            Action::ExportSubject => "export-subject",
            Action::ChangeSubject => "change-subject",
            Action::Configure => "configure",
            Action::ManageAccess => "manage-access",
            Action::Replay => "replay",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
