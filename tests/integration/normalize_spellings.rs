//! `sendfilter normalize` on lists mixing every common spelling of a number: the binary's
//! answers equal the general (reference) path's, line by line.

use sendfilter::phone::{Region, normalize_reference};

use crate::harness::Workdir;

/// A deterministic mix of Nordic numbers in the spellings campaign lists hold, plus
/// invalid, short and odd lines.
fn mixed_lines() -> Vec<String> {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut lines = Vec::new();
    for _ in 0..20_000 {
        let nsn: String = (0..8 + next(3)).map(|_| char::from(b'0' + next(10) as u8)).collect();
        let cc = ["47", "46", "45", "358", "49", "1", "999"][next(7) as usize];
        let line = match next(10) {
            0 => format!("+{cc}{nsn}"),
            1 => format!("00{cc}{nsn}"),
            2 => nsn.clone(),
            3 => format!("0{nsn}"),
            4 => format!("+{cc} {} {}", &nsn[..3], &nsn[3..]),
            5 => format!("0{}-{} {}", &nsn[..2], &nsn[2..5], &nsn[5..]),
            6 => format!("{} {} {}", &nsn[..3], &nsn[3..5], &nsn[5..]),
            7 => format!("+{}", &nsn[..next(4) as usize]),
            8 => format!("({}) {}", &nsn[..3], &nsn[3..]),
            _ => format!("tel:+{cc}-{nsn}"),
        };
        lines.push(line);
    }
    lines
}

#[test]
fn binary_agrees_with_general_path_on_mixed_spellings() {
    let lines = mixed_lines();
    let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let (no, se): (Region, Region) = ("NO".parse().expect("NO"), "SE".parse().expect("SE"));
    let want: String = lines
        .iter()
        .map(|l| {
            let b = l.as_bytes();
            match normalize_reference(b, no).or_else(|_| normalize_reference(b, se)) {
                Ok(n) => format!("{n}\n"),
                Err(_) => "INVALID\n".to_string(),
            }
        })
        .collect();
    let wd = Workdir::new();
    let r = wd.run(&["normalize", "--region", "NO,SE"], &input).ok();
    assert!(r.stdout == want, "the binary's answers differ from the general path's");
    let valid = want.lines().filter(|l| *l != "INVALID").count();
    assert!(valid > 5_000 && valid < 19_000, "a real mix of valid and invalid: {valid}");
}
