//! Does a footer tell the person how to opt out? It must name an opt-out keyword (STOP,
//! STOPP, AVMELD, … as `inbound` understands them) and a route to send it to: the
//! `{shortcode}` placeholder or a number written out (three digits or more).

use crate::keyword::{self, Keyword};
use crate::sms::FooterError;

/// Checks a footer template (before rendering): refuses one that names no opt-out keyword
/// or no route (`{shortcode}` or a number).
///
/// # Errors
/// [`FooterError`] saying what is missing.
///
/// ```
/// use sendfilter::sms::check_opt_out;
/// assert!(check_opt_out("Svar {brand} STOPP til {shortcode}").is_ok());
/// assert!(check_opt_out("Reply STOP to +45 70 20 20 20").is_ok());
/// assert!(check_opt_out("Visit acme.no").is_err());
/// assert!(check_opt_out("Reply STOP to unsubscribe").is_err());
/// ```
pub fn check_opt_out(template: &str) -> Result<(), FooterError> {
    let words = keyword::fold(&template.replace("{shortcode}", " ").replace("{brand}", " "));
    let keyword = words.split(' ').any(|w| keyword::keyword_of(w) == Some(Keyword::Stop));
    let route = template.contains("{shortcode}") || has_number(template);
    let example = "e.g. \"Svar {brand} STOPP til {shortcode}\"";
    match (keyword, route) {
        (true, true) => Ok(()),
        (false, _) => Err(FooterError(format!(
            "the footer {template:?} names no opt-out keyword (STOP, STOPP, AVMELD, …): every \
             marketing message must tell how to opt out ({example})"
        ))),
        (true, false) => Err(FooterError(format!(
            "the footer {template:?} names no number to send the opt-out to: use {{shortcode}} \
             or write the number out ({example})"
        ))),
    }
}

/// True when `s` holds a number of three or more digits: a short code or a phone number,
/// its digit groups possibly split by single spaces, dashes or dots (`+45 70 20 20 20`).
fn has_number(s: &str) -> bool {
    let (mut run, mut after_digit) = (0, false);
    for b in s.bytes() {
        if b.is_ascii_digit() {
            run += 1;
            after_digit = true;
            if run >= 3 {
                return true;
            }
        } else {
            if !(after_digit && matches!(b, b' ' | b'-' | b'.')) {
                run = 0;
            }
            after_digit = false;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footers_must_carry_keyword_and_route() {
        for ok in [
            "Svar {brand} STOPP til {shortcode}",
            "Svara {brand} STOPPA till {shortcode}",
            "Send {brand} STOP til {shortcode}",
            "Vastaa {brand} LOPETA numeroon {shortcode}",
            "Reply STOP to 2401",
            "Avmeld: send AVMELD til 2401.",
            "Reply STOP to +4570202020",
            "Reply STOP to +45 70 20 20 20",
            "Svar STOPP til 24-01",
        ] {
            assert!(check_opt_out(ok).is_ok(), "{ok}");
        }
        for bad in [
            "Visit acme.no",
            "Svar {brand} til {shortcode}",
            "Reply STOP",
            "Reply {brand} STOP to 24",
            "Reply STOP-ACME to {brand}",
            "Stoppested: {brand} 2401",
            "Reply STOP to 1, 2",
            "Reply STOP to 1  2 3",
        ] {
            assert!(check_opt_out(bad).is_err(), "{bad}");
        }
    }
}
