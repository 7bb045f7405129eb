//! Unit tests: case tables and metadata sanity.

use super::*;

fn r(s: &str) -> Region {
    s.parse().expect("known region")
}

macro_rules! cases {
    ($($name:ident: $region:expr, $input:expr => $want:expr;)*) => {
        $(
            #[test]
            fn $name() {
                let got = normalize($input.as_bytes(), r($region)).map(|n| n.to_string());
                let want: Option<&str> = $want;
                assert_eq!(got.as_deref().ok(), want, "input {:?}", $input);
                let slow = normalize_reference_path($input.as_bytes(), r($region))
                    .map(|n| n.to_string());
                assert_eq!(slow.as_deref().ok(), want, "reference path, input {:?}", $input);
            }
        )*
    };
}

cases! {
    e164_no: "NO", "+4791234567" => Some("+4791234567");
    idd_no: "NO", "004791234567" => Some("+4791234567");
    idd_se_from_no: "NO", "0046 70-123 45 67" => Some("+46701234567");
    national_no: "NO", "912 34 567" => Some("+4791234567");
    national_no_own_cc: "NO", "47667814" => Some("+4747667814");
    national_se_trunk: "SE", "070-123 45 67" => Some("+46701234567");
    national_se_no_trunk: "SE", "70-123 45 67" => Some("+46701234567");
    national_gb: "GB", "020 7946 0958" => Some("+442079460958");
    national_de_paren: "DE", "(0)30 1234567" => Some("+49301234567");
    de_from_us: "US", "+49 15123456789" => Some("+4915123456789");
    full_width: "NO", "＋４７ ９１２ ３４ ５６７" => Some("+4791234567");
    nbsp: "NO", "+47\u{a0}912\u{a0}34\u{a0}567" => Some("+4791234567");
    thin_space_rejected: "NO", "+47\u{2009}912\u{2009}34\u{2009}567" => None;
    dashes: "NO", "+47912-34-567" => Some("+4791234567");
    tel_uri: "NO", "tel:+47-912-34-567" => Some("+4791234567");
    phone_context: "NO", "tel:91234567;phone-context=+47" => Some("+4791234567");
    surrounding_ws: "NO", "  \t+47 912 34 567 \r" => Some("+4791234567");
    letters: "NO", "hello" => None;
    too_short: "NO", "+47 912" => None;
    too_long: "NO", "+47 912 34 567 890" => None;
    se_new_mobile_range: "SE", "+46 78 123 45 67" => Some("+46781234567");
    extension: "GB", "020 7946 0958 ext. 12" => Some("+442079460958");
    empty: "NO", "" => None;
    plus_only: "NO", "+" => None;
    us_national: "US", "(201) 555-0123" => Some("+12015550123");
}

#[test]
fn every_plan_compiles() {
    for i in 0..meta::plan_count() {
        let (m, c) = meta::plan(i as u16);
        // Exercise every matcher once.
        let _ = c.is_valid(m, b"12345678");
        let _ = c.leading_digits_match(b"12345678");
        let _ = c.idd.looking_at(b"0012345");
    }
}

#[test]
fn absurd_input_is_fast_and_rejected() {
    let long = "9".repeat(10_000);
    let t = std::time::Instant::now();
    assert_eq!(normalize(long.as_bytes(), Region::NO), Err(PhoneError::TooLong));
    assert!(t.elapsed() < std::time::Duration::from_millis(50));
}

#[test]
fn region_parse_validates() {
    assert_eq!(r("se").as_str(), "SE");
    assert!("XX".parse::<Region>().is_err());
    assert!("001".parse::<Region>().is_err());
    assert_eq!(r("NO"), Region::NO);
}

#[test]
fn e164_round_trip_19_digits() {
    let n = E164::from_u64(8_112_345_678_901_234_567).expect("19 digits fit");
    let mut buf = [0u8; E164::MAX_WRITTEN_LEN];
    let len = n.write_to(&mut buf);
    assert_eq!(&buf[..len], b"+8112345678901234567");
    assert_eq!(E164::from_u64(10_000_000_000_000_000_000), None);
    assert_eq!(n.masked(), "+81**************567");
}
