//! `sendfilter expiring`: numbers whose consent for a brand ends soon, so the brand can
//! ask them to *confirm* the consent by SMS (allowed) before it lapses; asking a number
//! without a consent for a new one is marketing itself and is not offered here.

use crate::decision::{self, Basis, Class, Rules};
use crate::phone::E164;
use crate::standing::{StandingSource, Timestamp};
use crate::store::StoreView;

/// One consent that ends within the window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expiring {
    /// The number.
    pub number: E164,
    /// The consent's purpose.
    pub purpose: String,
    /// When it ends (its `expires_at`, or the policy's default lifetime).
    pub ends_at: Timestamp,
    /// Journal sequence of the consent event.
    pub event_seq: u64,
}

/// Every consent for `brand` that is valid at `now` (no standing stop, granted, not
/// expired; confirmation is not required: confirming is what the message is for) and ends
/// in `(now, now + within]`, soonest first. `lifetime_months` is the store policy's
/// default lifetime for consents without `expires_at`. `brand` is compared in canonical
/// form ([`crate::brand::normalize`]).
///
/// # Errors
/// [`crate::StoreError::SnapshotCorrupt`] if a consent list of the brand is damaged.
pub fn expiring(
    view: &StoreView,
    brand: &str,
    now: Timestamp,
    within: i64,
    lifetime_months: Option<u32>,
) -> Result<Vec<Expiring>, crate::StoreError> {
    let rules =
        Rules { consent_lifetime_months: lifetime_months, ..Rules::new(Class::Marketing, now) };
    let brand: &str = &crate::brand::normalize(brand);
    let mut out = Vec::new();
    let mut cached: Option<(String, <StoreView as StandingSource>::Scope)> = None;
    for (number, purpose) in view.consent_keys(brand)? {
        let scope = match &cached {
            Some((p, s)) if *p == purpose => s.clone(),
            _ => {
                let s = view.scope(brand, &purpose);
                cached = Some((purpose.clone(), s.clone()));
                s
            }
        };
        let st = view.standing(&scope, number);
        let d = decision::decide_full(&rules, &st, || None);
        let (Basis::Consent(seq), Some(c)) = (d.basis, st.consent) else { continue };
        if let Some(end) = decision::consent_end(&rules, &c)
            && end > now
            && end <= now.saturating_add(within)
        {
            out.push(Expiring { number, purpose, ends_at: end, event_seq: seq });
        }
    }
    out.sort_by(|a, b| (a.ends_at, a.number, &a.purpose).cmp(&(b.ends_at, b.number, &b.purpose)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Consent, Store};

    fn consent(n: E164, purpose: &str, granted: i64, expires: Option<i64>) -> Consent {
        Consent {
            number: n,
            brand: "ACME".into(),
            purpose: purpose.into(),
            channel: "sms".into(),
            granted_at: granted,
            method: "web_form".into(),
            text_ref: "v1".into(),
            source: "web".into(),
            expires_at: expires,
            confirmed_at: None,
        }
    }

    #[test]
    fn window_stop_policy_and_compaction() {
        let d = tempfile::tempdir().unwrap();
        let mut s = Store::open(d.path()).unwrap();
        let n = |i: u64| E164::from_u64(4791234500 + i).unwrap();
        let now = 1_000_000;
        let day = 86_400;
        s.append_consent(consent(n(1), "offers", 10, Some(now + 5 * day))).unwrap();
        s.append_consent(consent(n(2), "offers", 10, Some(now + 40 * day))).unwrap();
        s.append_consent(consent(n(3), "offers", 10, Some(now))).unwrap(); // ends exactly now: over
        s.append_consent(consent(n(4), "news", 10, Some(now + 30 * day))).unwrap(); // the edge: in
        s.append_consent(consent(n(5), "offers", 10, Some(now + day))).unwrap();
        s.append_stop(n(5), "*", 20).unwrap(); // stopped: never messaged
        s.append_consent(consent(n(6), "offers", 10, None)).unwrap(); // no end without policy
        let within = 30 * day;
        for round in 0..2 {
            if round == 1 {
                s.compact().unwrap();
                // And one more in the journal tail after the snapshot.
                s.append_consent(consent(n(7), "offers", 10, Some(now + 2 * day))).unwrap();
            }
            let v = s.view().unwrap();
            let got: Vec<(u64, String)> = expiring(&v, "ACME", now, within, None)
                .unwrap()
                .into_iter()
                .map(|e| (e.number.as_u64() - 4791234500, e.purpose))
                .collect();
            let mut want = vec![(1, "offers".to_string()), (4, "news".to_string())];
            if round == 1 {
                want.insert(0, (7, "offers".into())); // ends soonest
            }
            assert_eq!(got, want, "round {round}");
            assert!(expiring(&v, "OTHER", now, within, None).unwrap().is_empty());
        }
        // A default lifetime makes the open-ended consent (granted at 10) end 1 month on.
        let v = s.view().unwrap();
        let got = expiring(&v, "ACME", 10 + 20 * day, 30 * day, Some(1)).unwrap();
        assert!(got.iter().any(|e| e.number == n(6)));
    }
}
