//! Audit records of the service's high-rate calls: checks (which reveal a person's
//! standing) and gateway webhooks (which record STOP/START/JA events). One audit record
//! per call would cost more than the call; instead the calls are summed per (caller,
//! role, command) and written as one record each per interval ([`INTERVAL`]) and when the
//! service stops, with counts by reason or keyword, as `filter` and `inbound` write one
//! record per run. Subject-level calls (stops, consents, subject routes) keep their own
//! record per call (see [`super::audit`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use crate::audit::AuditRecord;
use crate::store::StoreError;
use crate::store::access::Action;

/// How often the sums are written.
pub const INTERVAL: Duration = Duration::from_secs(10);

/// (actor, role, action, command) → counts.
type Sums = BTreeMap<(String, String, &'static str, String), BTreeMap<String, u64>>;

/// The sums since the last write.
#[derive(Debug, Default)]
pub struct Tally {
    sums: Mutex<Sums>,
}

impl Tally {
    /// Adds one call's `counts` (zero counts are left out) under its caller and command.
    pub fn add<'a>(
        &self,
        actor: &str,
        role: &str,
        action: Action,
        command: &str,
        counts: impl IntoIterator<Item = (&'a str, u64)>,
    ) {
        let mut g = self.sums.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (actor.to_string(), role.to_string(), action.as_str(), command.to_string());
        let e = g.entry(key).or_default();
        *e.entry("calls".into()).or_default() += 1;
        for (k, n) in counts {
            if n > 0 {
                *e.entry(k.to_string()).or_default() += n;
            }
        }
    }

    /// Writes one audit record per (caller, command) summed since the last write to the
    /// trail of the store in `dir`; returns how many. What could not be written is put
    /// back for the next write.
    ///
    /// # Errors
    /// The trail cannot be written.
    pub fn flush(&self, dir: &Path) -> Result<usize, StoreError> {
        let taken = std::mem::take(
            &mut *self.sums.lock().unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let mut written = 0;
        let mut left = taken.into_iter();
        for ((actor, role, action, command), counts) in left.by_ref() {
            let rec = AuditRecord {
                actor: actor.clone(),
                role: role.clone(),
                action: action.into(),
                command: format!("serve {command}"),
                outcome: "ok".into(),
                counts: counts.clone(),
                detail: Some(format!("summed over at most {} s", INTERVAL.as_secs())),
                ..AuditRecord::default()
            };
            if let Err(e) = crate::audit::record(dir, &rec) {
                let mut g = self.sums.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                g.entry((actor, role, action, command)).or_default().extend(counts);
                for (k, c) in left {
                    g.entry(k).or_default().extend(c);
                }
                return Err(e);
            }
            written += 1;
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_summed_per_caller_and_command_and_written_once() {
        let d = tempfile::tempdir().unwrap();
        crate::store::Store::open(d.path()).unwrap();
        let t = Tally::default();
        t.add("ops", "campaign", Action::Filter, "check", [("ALLOWED", 2), ("STOPPED", 0)]);
        t.add("ops", "campaign", Action::Filter, "check", [("ALLOWED", 1), ("STOPPED", 1)]);
        t.add("twilio", "gateway", Action::Record, "inbound/twilio", [("stop", 1)]);
        assert_eq!(t.flush(d.path()).unwrap(), 2);
        assert_eq!(t.flush(d.path()).unwrap(), 0, "nothing twice");
        let trail = std::fs::read_to_string(d.path().join("audit")).unwrap();
        let recs: Vec<serde_json::Value> =
            trail.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let check = recs.iter().find(|r| r["command"] == "serve check").unwrap();
        assert_eq!(check["actor"], "ops");
        assert_eq!(check["counts"]["calls"], 2);
        assert_eq!(check["counts"]["ALLOWED"], 3);
        assert_eq!(check["counts"]["STOPPED"], 1);
        let tw = recs.iter().find(|r| r["command"] == "serve inbound/twilio").unwrap();
        assert_eq!(tw["counts"]["stop"], 1);
    }
}
