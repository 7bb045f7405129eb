//! The library's long-lived decision handle (`sendfilter::handle::Handle`) follows the
//! store: a STOP recorded by the CLI reaches a handle opened long before, within 1 s.

use std::time::{Duration, Instant};

use sendfilter::Reason;
use sendfilter::handle::{Handle, HandleOptions};

use crate::harness::Workdir;

#[test]
fn a_stop_recorded_by_the_cli_reaches_a_long_lived_handle_within_a_second() {
    let wd = Workdir::new();
    let header =
        "number,brand,purpose,channel,granted_at,method,text_ref,source,expires_at,confirmed_at\n";
    let mut csv = String::from(header);
    for i in 0..20 {
        csv.push_str(&format!(
            "+479100{i:04},ACME,offers,sms,2025-01-01T00:00:00Z,web,t1,test,,2025-01-01T00:10:00Z\n"
        ));
    }
    wd.write("consents.csv", csv);
    wd.run(&["import", "consents", "--store", "s", "consents.csv"], "").ok();
    let handle = Handle::open(wd.join("s"), HandleOptions::new("ACME", "offers")).unwrap();
    let mut worst = Duration::ZERO;
    for i in 0..20 {
        let number = format!("+479100{i:04}");
        assert_eq!(handle.decide(&number).unwrap().reason, Reason::Allowed);
        let r = wd.run(&["stop", "--store", "s", "--brand", "ACME", &number], "");
        assert_eq!(r.code, 0, "{}", r.stderr);
        // Acknowledged: the command has returned.
        let acked = Instant::now();
        while handle.decide(&number).unwrap().reason != Reason::Stopped {
            assert!(acked.elapsed() < Duration::from_secs(1), "stop {i} not seen within 1 s");
            std::thread::sleep(Duration::from_millis(1));
        }
        worst = worst.max(acked.elapsed());
    }
    // A CLI compaction on the way changes nothing that was stopped.
    let r = wd.run(&["compact", "--store", "s"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(handle.decide("+4791000007").unwrap().reason, Reason::Stopped);
    eprintln!("slowest stop reached the handle {worst:?} after its acknowledgement");
}
