//! Writing a decided chunk while STOPs arrive live (`filter --live`): the guarantee that
//! no record goes out that a stop received before its write forbids.
//!
//! The chunk's allowed records are written in small flushed groups. Before each group the
//! writer checks that no stop arrived since the chunk was decided; if one did, it decides
//! the chunk again (exact: every earlier chunk is written by then) and goes on after the
//! records already written, which keep the decision they were written with.

use std::io::{self, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{ChunkOut, Ctx, Worker, chunk};
use crate::pipeline::Chunk as Piece;
use crate::standing::StandingSource;
use crate::store::live::LiveStops;

/// Output is written and flushed in groups of at most this many bytes (a pipe buffer)...
const LIVE_WRITE: usize = 64 << 10;
/// ... starting from this many, doubling after each quick write and back to this after a
/// write that took [`SLOW_WRITE`]: with a consumer that reads slowly, a group waits in the
/// pipe long after its records were decided, so groups stay small there.
const LIVE_WRITE_SLOW: usize = 4 << 10;
/// A write (with its flush) this long means a slow consumer; one under a tenth of it, a
/// fast one.
const SLOW_WRITE: Duration = Duration::from_millis(20);

/// Chunks decided again because a live stop arrived (tests check the path is exercised).
#[cfg(test)]
pub(crate) static REDECIDED_LIVE: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(0);

/// The writer's state across the chunks of one run.
pub(super) struct LiveWriter {
    /// The current group size (see [`LIVE_WRITE_SLOW`]).
    group: usize,
    /// Decides chunks again on the writing thread.
    verifier: Worker,
}

impl LiveWriter {
    /// A writer starting with small groups.
    pub(super) fn new() -> LiveWriter {
        LiveWriter { group: LIVE_WRITE_SLOW, verifier: Worker::default() }
    }

    /// Writes the allowed records of `out` (decided from `piece`) to `output`, deciding
    /// the chunk again whenever `live` changed since. On return `out` holds the decisions
    /// that were written: its counts, rejects and receipts say what was actually sent.
    /// Fails closed when live stop watching failed: stops may be arriving unseen.
    pub(super) fn write<S: StandingSource>(
        &mut self,
        ctx: &Ctx<'_, '_, S>,
        live: &LiveStops,
        piece: &Piece<'_>,
        out: &mut ChunkOut,
        output: &mut dyn Write,
    ) -> io::Result<()> {
        // The order of the last record written, once one is.
        let mut written: Option<u64> = None;
        let mut i = 0;
        let verifier = &mut self.verifier;
        verifier.written.clear();
        loop {
            if let Some(why) = live.failure() {
                let msg = format!("live stop watching failed, run stopped: {why}");
                return Err(io::Error::other(msg));
            }
            if live.version() != out.live_version {
                #[cfg(test)]
                REDECIDED_LIVE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if let Some(last) = written {
                    verifier.written.push((last, Arc::clone(&out.live_map)));
                }
                chunk::process(ctx, verifier, piece, false, out);
                i = out.allowed.partition_point(|&(o, _)| written.is_some_and(|w| o <= w));
            }
            if i >= out.allowed.len() {
                break;
            }
            // The next group: records i..j, at most `group` bytes (at least one record).
            let start = if i == 0 { 0 } else { out.allowed[i - 1].1 };
            let mut j = i + 1;
            while j < out.allowed.len() && out.allowed[j].1 - start <= self.group {
                j += 1;
            }
            let t = Instant::now();
            output.write_all(&out.out[start..out.allowed[j - 1].1])?;
            output.flush()?;
            let took = t.elapsed();
            if took > SLOW_WRITE {
                self.group = LIVE_WRITE_SLOW;
            } else if took < SLOW_WRITE / 10 {
                self.group = (self.group * 2).min(LIVE_WRITE);
            }
            written = Some(out.allowed[j - 1].0);
            i = j;
        }
        verifier.written.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::REDECIDED_LIVE;
    use crate::filter::{FilterOptions, RunOptions, Sinks, run_with};
    use crate::standing::ConsentState;
    use crate::store::live::LiveStops;
    use crate::{E164, MemorySource, Reason};

    fn source(numbers: &[u64]) -> MemorySource {
        let mut s = MemorySource::default();
        let c = ConsentState { granted_at: 1, confirmed_at: None, expires_at: None, event_seq: 1 };
        for &n in numbers {
            s.consents.insert((E164::from_u64(n).unwrap(), "ACME".into(), "offers".into()), c);
        }
        s
    }

    #[test]
    fn a_live_stop_is_folded_into_decisions() {
        let nums = [4790000001, 4790000002, 4790000003];
        let src = source(&nums);
        let live = Arc::new(LiveStops::new());
        live.fold(&[(4790000002, 50)]);
        let mut opts = RunOptions::new("ACME", "offers", FilterOptions::at(100));
        opts.live = Some(live);
        let input = "+4790000001\n+4790000002\n+4790000003\n+4790000002\n";
        let (mut out, mut rej) = (Vec::new(), Vec::new());
        let sinks = Sinks { output: &mut out, rejects: Some(&mut rej), progress: None };
        let report = run_with(&src, &opts, input.as_bytes(), sinks).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "+4790000001\n+4790000003\n");
        assert_eq!(
            String::from_utf8(rej).unwrap(),
            "+4790000002\tSTOPPED\n+4790000002\tDUPLICATE\n"
        );
        assert_eq!(report.counts.reasons[Reason::Stopped.index()], 1);
    }

    /// Stops arriving while chunks are in flight: after each chunk is written, the next
    /// record's number is stopped. Workers have usually decided that record already; the
    /// writer must see the new version and decide its chunk again.
    #[test]
    fn records_decided_before_a_stop_are_decided_again_before_writing() {
        let nums: Vec<u64> = (0..20_000).map(|i| 4790000000 + i).collect();
        let src = source(&nums);
        let live = Arc::new(LiveStops::new());
        let mut opts = RunOptions::new("ACME", "offers", FilterOptions::at(100));
        (opts.threads, opts.chunk_bytes) = (3, 64);
        opts.live = Some(Arc::clone(&live));
        let input: String = nums.iter().map(|n| format!("+{n}\n")).collect();
        let mut stopped = Vec::new();
        let mut progress = |written: u64| {
            if let Some(&n) = nums.get(written as usize) {
                live.fold(&[(n, 50)]);
                stopped.push(n);
            }
        };
        let mut out = Vec::new();
        let sinks = Sinks { output: &mut out, rejects: None, progress: Some(&mut progress) };
        let report = run_with(&src, &opts, input.as_bytes(), sinks).unwrap();
        let out = String::from_utf8(out).unwrap();
        let emitted: std::collections::HashSet<u64> =
            out.lines().map(|l| l[1..].parse().unwrap()).collect();
        assert!(stopped.len() > 100, "many chunks");
        assert!(REDECIDED_LIVE.load(std::sync::atomic::Ordering::Relaxed) > 0, "path exercised");
        for n in &stopped {
            assert!(!emitted.contains(n), "a number stopped before it was written went out");
        }
        assert_eq!(report.counts.reasons[Reason::Stopped.index()], stopped.len() as u64);
        assert_eq!(emitted.len() + stopped.len(), nums.len());
    }

    /// A watcher that gave up (stops may be arriving unseen) ends the run with an error
    /// before anything more is written: fail closed.
    #[test]
    fn a_failed_live_watcher_ends_the_run_with_an_error() {
        let nums = [4790000001, 4790000002];
        let src = source(&nums);
        let live = Arc::new(LiveStops::new());
        live.fail("journal gone".into());
        let mut opts = RunOptions::new("ACME", "offers", FilterOptions::at(100));
        opts.live = Some(live);
        let mut out = Vec::new();
        let sinks = Sinks { output: &mut out, rejects: None, progress: None };
        let r = run_with(&src, &opts, "+4790000001\n+4790000002\n".as_bytes(), sinks);
        let e = r.expect_err("must not go on without live stops");
        assert!(format!("{e:?}").contains("journal gone"), "{e:?}");
        assert!(out.is_empty(), "nothing decided after the failure is written");
    }

    /// Writes to a Vec; on the first write, stops the first number written (already out)
    /// and one later in the same chunk (not yet out).
    struct StopOnFirstWrite<'a> {
        out: Vec<u8>,
        live: &'a LiveStops,
        later: u64,
    }

    impl std::io::Write for StopOnFirstWrite<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.out.is_empty() && !buf.is_empty() {
                let first: u64 = std::str::from_utf8(&buf[1..11]).unwrap().parse().unwrap();
                self.live.fold(&[(first, 50), (self.later, 50)]);
            }
            self.out.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A stop arriving while a chunk is half written: what was already written stays
    /// counted (and rejected nowhere) as allowed — counts, rejects and receipts say what
    /// was sent — and the rest of the chunk honours the stop.
    #[test]
    fn records_written_before_a_mid_chunk_stop_keep_their_decision() {
        let nums: Vec<u64> = (0..5_000).map(|i| 4790000000 + i).collect();
        let src = source(&nums);
        let live = Arc::new(LiveStops::new());
        let mut opts = RunOptions::new("ACME", "offers", FilterOptions::at(100));
        (opts.threads, opts.chunk_bytes) = (1, 1 << 20);
        opts.live = Some(Arc::clone(&live));
        opts.receipt_key = Some(crate::filter::receipts::ReceiptKey::from_bytes(&[3; 32]));
        let input: String = nums.iter().map(|n| format!("+{n}\n")).collect();
        let later = nums[4_000];
        let mut w = StopOnFirstWrite { out: Vec::new(), live: &live, later };
        let (mut rej, mut receipts) = (Vec::new(), Vec::new());
        let sinks = Sinks { output: &mut w, rejects: Some(&mut rej), progress: None };
        let report = crate::filter::run_with_receipts(
            &src,
            &opts,
            input.as_bytes(),
            sinks,
            Some(&mut receipts),
        )
        .unwrap();
        let out = String::from_utf8(w.out).unwrap();
        assert!(out.starts_with("+4790000000\n"), "the first number went out before the stop");
        assert!(!out.contains(&format!("+{later}\n")), "the later one did not");
        assert_eq!(String::from_utf8(rej).unwrap(), format!("+{later}\tSTOPPED\n"));
        assert_eq!(report.counts.reasons[Reason::Stopped.index()], 1);
        assert_eq!(report.counts.allowed(), nums.len() as u64 - 1);
        let stopped_receipts = String::from_utf8(receipts)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains("STOPPED"))
            .count();
        assert_eq!(stopped_receipts, 1);
    }
}
