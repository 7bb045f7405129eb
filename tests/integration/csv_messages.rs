//! `sendfilter filter --format csv` with messages on awkward records (quotes, separators
//! and line ends inside fields, empty and multi-part messages): every record is rendered,
//! stamped and counted exactly, end to end.

use crate::filter::args;
use crate::harness::Workdir;

/// A workdir with a store `store` where +4791000010..=+4791000019 consented to ACME offers.
fn workdir() -> Workdir {
    let wd = Workdir::new();
    let consents: String = (10..20)
        .map(|n| {
            format!("+47910000{n},ACME,offers,sms,2026-01-01T00:00:00Z,web_form,offers-v3,test,,\n")
        })
        .collect();
    wd.import_store("", &consents);
    wd
}

/// Number after the message, numbers in every spelling, quoted fields with quotes,
/// commas and newlines, CRLF, a footer already present (other case), trailing space,
/// a message pushed into a second segment, UCS-2, extension characters, an empty
/// message, a duplicate and a malformed record (last: its odd quote makes the rest of the
/// input part of it).
#[test]
fn awkward_csv_records_render_and_count_exactly() {
    let wd = workdir();
    let long = "a".repeat(140);
    let input = format!(
        "id,message,number,extra\r\n\
         1,Hei,+4791000010,a\n\
         2,\"Hei, \"\"Kari\"\"\",91000011,b\n\
         3,\"line1\nline2\",+4791000012,c\r\n\
         4,Tilbud. SVAR acme stopp TIL 2401,+4791000013,d\n\
         5,Tilbud ,+4791000014,e\n\
         6,{long},+4791000015,f\n\
         7,Tilbud 🎉,\"+4791000016\",g\n\
         8,,+4791000017,h\n\
         9,€ {{x}},004791000018,i\n\
         10,Hei igjen,+4791000010,k\n\
         11,bad\"quote,+4791000019,j"
    );
    let footer = "Svar ACME STOPP til 2401";
    let want = format!(
        "id,message,number,extra\n\
         1,Hei {footer},+4791000010,a\n\
         2,\"Hei, \"\"Kari\"\" {footer}\",+4791000011,b\n\
         3,\"line1\nline2 {footer}\",+4791000012,c\n\
         4,Tilbud. SVAR acme stopp TIL 2401,+4791000013,d\n\
         5,Tilbud {footer},+4791000014,e\n\
         6,{long} {footer},+4791000015,f\n\
         7,Tilbud 🎉 {footer},+4791000016,g\n\
         8,{footer},+4791000017,h\n\
         9,€ {{x}} {footer},+4791000018,i\n"
    );
    for threads in ["1", "2"] {
        let csv = ["--format", "csv", "--shortcode", "2401", "--rejects", "rejects.csv"];
        let r = wd.run(&args(&[&csv[..], &["--threads", threads]].concat()), &input).ok();
        assert_eq!(r.stdout, want);
        assert_eq!(
            wd.read("rejects.csv"),
            "id,message,number,extra,reason\n\
             10,Hei igjen,+4791000010,k,DUPLICATE\n\
             \"11,bad\"\"quote,+4791000019,j\",MALFORMED\n",
            "a record that does not split is kept whole as one quoted field"
        );
        // 9 messages (row 8's is empty: it gets the footer alone), one segment each
        // before; row 6 needs a second after stamping (140 + 1 + 24 septets); row 4
        // already carries the footer.
        assert!(
            r.stderr.contains(
                "9 messages, 9 -> 10 segments, footer added to 8 (1 into an extra segment)"
            ),
            "{}",
            r.stderr
        );
    }
}
