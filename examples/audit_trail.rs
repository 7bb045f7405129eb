//! Builds a store whose audit trail holds many records and times `audit::find` for one
//! person (the figure in BENCHMARKS.md, "Audit trail").
//!
//! ```sh
//! cargo run --release --example audit_trail -- DIR 1000000
//! sendfilter audit --store DIR --subject +4790000007   # time the CLI on the same store
//! ```
//! DIR must not exist. 100,000 people get about ten records each; one record in 50 is a
//! bulk import naming a sequence range.

use std::time::Instant;

use sendfilter::audit::{self, AuditRecord, chain::Appender};
use sendfilter::{E164, Store};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().ok_or("usage: audit_trail DIR RECORDS")?);
    let records: u64 = args.next().ok_or("usage: audit_trail DIR RECORDS")?.parse()?;
    if dir.exists() {
        return Err(format!("{} exists", dir.display()).into());
    }
    let mut store = Store::open(&dir)?;
    const PEOPLE: u64 = 100_000;
    let number = |i: u64| E164::from_u64(4_790_000_000 + i).ok_or("number");
    // Each person has one stop in the store (their journal events).
    let mut batch = store.batch();
    for i in 0..PEOPLE {
        batch.push(&sendfilter::store::Event::Stop(sendfilter::store::Stop {
            number: number(i)?,
            brand: "ACME".into(),
            stopped_at: 1_700_000_000,
        }))?;
    }
    batch.commit()?;
    store.compact()?;
    let mut refs: Vec<String> = Vec::with_capacity(PEOPLE as usize);
    for i in 0..PEOPLE {
        refs.push(audit::subject_ref(&store, number(i)?)?);
    }
    let t = Instant::now();
    let mut log = Appender::open(store.dir())?;
    for k in 0..records {
        let who = (k * 7919) % PEOPLE;
        let rec = if k % 50 == 49 {
            AuditRecord {
                actor: "olga".into(),
                role: "operator".into(),
                action: "record".into(),
                command: "import consents".into(),
                outcome: "ok".into(),
                seq_range: Some([PEOPLE + k * 10, PEOPLE + k * 10 + 9]),
                ..AuditRecord::default()
            }
        } else {
            AuditRecord {
                actor: "alice".into(),
                role: "privacy".into(),
                action: "export-subject".into(),
                command: "subject export".into(),
                outcome: "ok".into(),
                brand: Some("ACME".into()),
                subject: Some(refs[who as usize].clone()),
                seqs: vec![who + 1],
                ..AuditRecord::default()
            }
        };
        log.append(&rec.cleaned())?;
    }
    log.sync()?;
    drop(log);
    eprintln!("wrote {records} records in {:.1} s", t.elapsed().as_secs_f64());
    let mut times = Vec::new();
    let mut found = 0;
    for i in 0..21u64 {
        let who = i * 7;
        let t = Instant::now();
        let r = audit::find(store.dir(), Some(refs[who as usize].clone()), &[who + 1], None)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
        found += r.len();
    }
    times.sort_by(f64::total_cmp);
    println!(
        "audit::find on {records} records: median {:.2} ms, max {:.2} ms ({} records found in 21 \
         lookups)",
        times[10], times[20], found
    );
    Ok(())
}
