//! Gateway message ids already answered, kept in the store directory (file [`IDS_FILE`],
//! 0600): one line per message with an id, `<key, hex> <noted at, Unix seconds> <its output
//! record>` (the key hashes the id with `from`, `to` and `text`, see [`SeenIds::key`]),
//! appended and synced after the message's events and before its output line. A message
//! whose key is here is a repeat: no event, answered with the first answer
//! (`"repeat":true`).
//!
//! Bounded: an id is remembered for [`KEEP`] (a gateway re-delivers within minutes or
//! hours, never weeks later), and at most the newest [`MAX_IDS`]. Older ones are dropped
//! when a run opens the file, which is then rewritten (atomically, under the store's lock)
//! once a quarter of it is dropped; a long run drops them in memory, and rewrites the file,
//! when it holds a quarter more than [`MAX_IDS`]. A message re-delivered after its id was
//! dropped is decided again: a second STOP or START with the first one's time, which
//! changes no standing. Lines written before ids had a time (`<key> <record>`) count as
//! noted when first read again (the file is rewritten with that time), and are dropped one
//! [`KEEP`] later.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::RawMessage;
use crate::standing::Timestamp;

/// File of [`SeenIds`] in the store directory.
pub const IDS_FILE: &str = "inbound_ids";

/// How long an answered id is remembered (seconds): 7 days.
pub const KEEP: Timestamp = 7 * 86_400;

/// Most ids remembered (the newest are kept): bounds the run's memory and the file.
pub const MAX_IDS: usize = 200_000;

/// The ids answered so far (see the module docs).
pub(super) struct SeenIds {
    path: PathBuf,
    file: Option<std::fs::File>,
    /// By key: when it was noted, and the first answer.
    answers: HashMap<u64, (Timestamp, String)>,
    pending: Vec<u8>,
    /// Most answers held before a run drops the oldest.
    max: usize,
}

/// One line of the file: key, time noted (`None` in lines written before times were),
/// answer.
fn parse_line(line: &str) -> Option<(u64, Option<Timestamp>, &str)> {
    let (h, rest) = line.split_once(' ')?;
    let h = u64::from_str_radix(h, 16).ok()?;
    let (at, answer) = match rest.split_once(' ') {
        Some((t, answer)) if !rest.starts_with('{') => (Some(t.parse().ok()?), answer),
        _ => (None, rest),
    };
    // A torn last line (a crash mid-append) is skipped: its message was not
    // acknowledged, so the gateway sends it again and it is decided again.
    serde_json::from_str::<serde_json::Value>(answer).ok()?;
    Some((h, at, answer))
}

/// Keeps the answers noted after `now - KEEP`, at most `max` of them (the newest).
/// Returns how many were dropped.
fn prune(answers: &mut HashMap<u64, (Timestamp, String)>, now: Timestamp, max: usize) -> usize {
    let before = answers.len();
    answers.retain(|_, (at, _)| *at > now - KEEP);
    if answers.len() > max {
        // Newest first (ties by key, so that the choice is stable); the rest goes.
        let mut by_age: Vec<(Timestamp, u64)> =
            answers.iter().map(|(&h, (at, _))| (*at, h)).collect();
        by_age.sort_unstable_by(|a, b| b.cmp(a));
        for (_, h) in &by_age[max..] {
            answers.remove(h);
        }
    }
    before - answers.len()
}

impl SeenIds {
    /// Reads the ids of the store in `dir`, dropping those older than [`KEEP`] at `now`.
    pub(super) fn open(dir: &Path, now: Timestamp) -> Result<SeenIds, crate::error::Error> {
        SeenIds::open_bounded(dir, now, MAX_IDS)
    }

    /// [`SeenIds::open`] keeping at most `max` ids.
    pub(super) fn open_bounded(
        dir: &Path,
        now: Timestamp,
        max: usize,
    ) -> Result<SeenIds, crate::error::Error> {
        use std::io::BufRead;
        use std::os::unix::fs::OpenOptionsExt;
        let path = dir.join(IDS_FILE);
        let mut answers = HashMap::new();
        let (mut lines, mut untimed) = (0usize, 0usize);
        if let Ok(f) = std::fs::File::open(&path) {
            for line in std::io::BufReader::new(f).split(b'\n') {
                let line = line?;
                lines += 1;
                // A line cut inside a character (a crash mid-append) is skipped like any
                // torn line, never an error that would keep `inbound` from starting.
                if let Some((h, at, answer)) = std::str::from_utf8(&line).ok().and_then(parse_line)
                {
                    untimed += usize::from(at.is_none());
                    answers.insert(h, (at.unwrap_or(now), answer.to_string()));
                }
            }
        }
        prune(&mut answers, now, max);
        let mut ids = SeenIds { path, file: None, answers, pending: Vec::new(), max };
        // Lines the file holds for nothing (dropped, repeated or torn): rewrite it once
        // they are a quarter of it, or when lines without a time must get theirs.
        let stale = lines - ids.answers.len();
        if untimed > 0 || (stale > 0 && stale * 4 >= lines) {
            ids.rewrite()?;
        }
        let file =
            std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(&ids.path)?;
        ids.file = Some(file);
        Ok(ids)
    }

    /// Replaces the file with the answers held (temp file, fsync, rename, directory fsync).
    fn rewrite(&mut self) -> Result<(), crate::error::Error> {
        let mut bytes = Vec::new();
        for (h, (at, answer)) in &self.answers {
            bytes.extend_from_slice(format!("{h:016x} {at} {answer}\n").as_bytes());
        }
        crate::store::durable::replace_file(&self.path, &bytes)?;
        Ok(())
    }

    /// The key of a message with a gateway id: the id *and* what the message says (sender,
    /// receiver, text), as written. Gateway ids are unique only per gateway (and some
    /// restart their numbering), so an id alone could make another person's STOP look like a
    /// repeat and record nothing; a real re-delivery repeats every field. `None` without an
    /// id.
    pub(super) fn key(r: &RawMessage) -> Option<u64> {
        let id = r.id.as_deref()?;
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        for part in [id, &r.from, &r.to, &r.text] {
            h.update(part.as_bytes());
            h.update(&[0]);
        }
        Some(h.digest())
    }

    /// The first answer to the message with key `key`, as an output record for input line
    /// `line`.
    pub(super) fn repeat(&self, key: u64, line: u64) -> Option<String> {
        let (_, first) = self.answers.get(&key)?;
        let mut v: serde_json::Value = serde_json::from_str(first).ok()?;
        v["line"] = line.into();
        v["events"] = 0.into();
        v["repeat"] = true.into();
        serde_json::to_string(&v).ok()
    }

    /// Remembers `answer` as the answer to the message with key `h`, noted at `now`
    /// (written at the next [`SeenIds::commit`]).
    pub(super) fn note(&mut self, h: u64, answer: &str, now: Timestamp) {
        self.answers.insert(h, (now, answer.to_string()));
        self.pending.extend_from_slice(format!("{h:016x} {now} {answer}\n").as_bytes());
    }

    /// Writes and syncs the answers noted since the last commit; a run that holds a
    /// quarter more than its bound drops the oldest and rewrites the file.
    pub(super) fn commit(&mut self, now: Timestamp) -> Result<(), crate::error::Error> {
        if self.pending.is_empty() {
            return Ok(());
        }
        if let Some(f) = &mut self.file {
            f.write_all(&self.pending)?;
            f.sync_data()?;
        }
        self.pending.clear();
        if self.answers.len() > self.max + self.max / 4 {
            prune(&mut self.answers, now, self.max);
            self.rewrite()?;
            // The old file was renamed over: append to the new one.
            use std::os::unix::fs::OpenOptionsExt;
            let f = std::fs::OpenOptions::new().append(true).mode(0o600).open(&self.path)?;
            self.file = Some(f);
        }
        Ok(())
    }

    /// Ids remembered.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.answers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = 1_780_000_000;

    fn answer(i: u64) -> String {
        format!(r#"{{"line":{i},"action":"STOP"}}"#)
    }

    #[test]
    fn ids_older_than_the_window_are_dropped_and_the_file_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(IDS_FILE);
        let old = NOW - KEEP - 1;
        let recent = NOW - KEEP + 60;
        let text = format!(
            "{:016x} {old} {}\n{:016x} {recent} {}\n{:016x} {}\n{:016x} {old} {{torn",
            1,
            answer(1),
            2,
            answer(2),
            3,
            answer(3),
            4
        );
        std::fs::write(&path, text).unwrap();
        let mut ids = SeenIds::open(dir.path(), NOW).unwrap();
        // 1 expired, 2 recent, 3 written before times (kept as noted now), 4 torn.
        assert_eq!(ids.len(), 2);
        assert!(ids.repeat(1, 9).is_none());
        assert!(ids.repeat(2, 9).is_some());
        assert!(ids.repeat(3, 9).is_some());
        let file = std::fs::read_to_string(&path).unwrap();
        assert_eq!(file.lines().count(), 2, "{file}");
        assert!(file.contains(&format!("{:016x} {NOW} ", 3)), "{file}");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // Appends go on in the new file; one window later the old-format line is gone too.
        ids.note(5, &answer(5), NOW);
        ids.commit(NOW).unwrap();
        let later = SeenIds::open(dir.path(), NOW + KEEP).unwrap();
        assert_eq!(later.len(), 0);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
    }

    /// A crash mid-append can cut the last line inside a character: that line is skipped
    /// (its message was never acknowledged), and the run starts.
    #[test]
    fn a_line_torn_inside_a_character_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(IDS_FILE);
        let mut bytes = format!("{:016x} {NOW} {}\n", 1, answer(1)).into_bytes();
        let torn = format!(r#"{:016x} {NOW} {{"reply":"Du får"#, 2);
        // Cut after the first byte of "å".
        bytes.extend_from_slice(&torn.as_bytes()[..torn.len() - 2]);
        assert!(std::str::from_utf8(&bytes).is_err());
        std::fs::write(&path, &bytes).unwrap();
        let ids = SeenIds::open(dir.path(), NOW).unwrap();
        assert_eq!(ids.len(), 1);
        assert!(ids.repeat(1, 2).is_some());
    }

    /// Lines from before ids had a time get one at their first reading, written down, so
    /// that they expire one window later (not "noted now" at every start, for ever).
    #[test]
    fn lines_without_a_time_get_one_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(IDS_FILE);
        std::fs::write(&path, format!("{:016x} {}\n", 1, answer(1))).unwrap();
        assert_eq!(SeenIds::open(dir.path(), NOW).unwrap().len(), 1);
        let file = std::fs::read_to_string(&path).unwrap();
        assert_eq!(file, format!("{:016x} {NOW} {}\n", 1, answer(1)));
        assert_eq!(SeenIds::open(dir.path(), NOW + KEEP).unwrap().len(), 0);
    }

    #[test]
    fn a_few_stale_lines_are_not_worth_a_rewrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(IDS_FILE);
        let mut text = String::new();
        for i in 0..10u64 {
            let at = if i == 0 { NOW - KEEP - 1 } else { NOW };
            text += &format!("{i:016x} {at} {}\n", answer(i));
        }
        std::fs::write(&path, &text).unwrap();
        let ids = SeenIds::open(dir.path(), NOW).unwrap();
        assert_eq!(ids.len(), 9);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }

    #[test]
    fn at_most_the_newest_max_are_kept_in_a_long_run() {
        let dir = tempfile::tempdir().unwrap();
        let mut ids = SeenIds::open_bounded(dir.path(), NOW, 8).unwrap();
        for i in 0..10u64 {
            ids.note(i, &answer(i), NOW + i as Timestamp);
            ids.commit(NOW + i as Timestamp).unwrap();
        }
        // 10 > 8 + 8/4 triggers no drop yet; 11 does, down to the newest 8.
        assert_eq!(ids.len(), 10);
        ids.note(10, &answer(10), NOW + 10);
        ids.commit(NOW + 10).unwrap();
        assert_eq!(ids.len(), 8);
        assert!(ids.repeat(2, 1).is_none() && ids.repeat(3, 1).is_some());
        ids.note(11, &answer(11), NOW + 11);
        ids.commit(NOW + 11).unwrap();
        let again = SeenIds::open_bounded(dir.path(), NOW + 11, 8).unwrap();
        assert_eq!(again.len(), 8);
        assert!(again.repeat(11, 1).is_some() && again.repeat(3, 1).is_none());
    }
}
