//! The output of a live run (`filter --live`). The filter checks for new stops before each
//! flushed group, but what already sits in the output pipe was decided before any stop
//! that arrives meanwhile: part of the live-STOP guarantee is keeping that queue short.
//!
//! On a pipe, [`LiveStdout`] shrinks the pipe to [`LIVE_PIPE`] bytes (Linux
//! `F_SETPIPE_SZ`; the default is 64 KiB). With a consumer that keeps up, the pipe is used
//! as usual (a full pipe just blocks). Once a write blocks for long (a slow consumer),
//! `flush` also waits until the reader has taken all but a page (`FIONREAD`), so little is
//! queued ahead of a stop; a quick drain ends that mode. On anything but a pipe it is a
//! plain writer.

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

/// Pipe size in a live run, in bytes.
pub const LIVE_PIPE: usize = 16 << 10;

/// A write or drain this long means a slow consumer.
const SLOW: Duration = Duration::from_millis(20);

/// A writer for a live run's output (see the module docs).
#[derive(Debug)]
pub struct LiveStdout<W> {
    inner: W,
    pipe: bool,
    slow: bool,
}

impl<W: Write + AsFd> LiveStdout<W> {
    /// Wraps `inner`. With `live` and `inner` a pipe, shrinks the pipe and keeps its queue
    /// short from then on; otherwise writes pass straight through.
    pub fn new(inner: W, live: bool) -> LiveStdout<W> {
        let pipe = live && is_pipe(&inner);
        if pipe {
            // SAFETY: fcntl on a descriptor `inner` owns; failure only leaves the default
            // size.
            unsafe {
                libc::fcntl(inner.as_fd().as_raw_fd(), libc::F_SETPIPE_SZ, LIVE_PIPE as libc::c_int)
            };
        }
        LiveStdout { inner, pipe, slow: false }
    }

    /// Whether the output is a pipe whose queue is kept short.
    pub fn is_live_pipe(&self) -> bool {
        self.pipe
    }

    /// Bytes written and not yet read from the pipe (0 when that cannot be told).
    fn pending(&self) -> usize {
        let mut pending: libc::c_int = 0;
        // SAFETY: FIONREAD on a descriptor `inner` owns, writing one c_int.
        let r =
            unsafe { libc::ioctl(self.inner.as_fd().as_raw_fd(), libc::FIONREAD, &mut pending) };
        if r == 0 { usize::try_from(pending).unwrap_or(0) } else { 0 }
    }
}

impl<W: Write + AsFd> Write for LiveStdout<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let t = Instant::now();
        let n = self.inner.write(buf)?;
        if self.pipe && t.elapsed() > SLOW {
            self.slow = true;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()?;
        if !self.pipe || !self.slow {
            return Ok(());
        }
        let t = Instant::now();
        let mut pause = Duration::from_micros(50);
        while self.pending() > 4096 {
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(2));
        }
        self.slow = t.elapsed() > Duration::from_millis(1);
        Ok(())
    }
}

/// True when `f` is a pipe (FIFO).
fn is_pipe(f: &impl AsFd) -> bool {
    use std::os::unix::fs::FileTypeExt;
    let fd = f.as_fd().try_clone_to_owned().ok();
    fd.map(std::fs::File::from)
        .and_then(|f| f.metadata().ok())
        .is_some_and(|m| m.file_type().is_fifo())
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn a_live_pipe_is_shrunk_and_passes_writes_through() {
        let (mut reader, writer) = std::io::pipe().unwrap();
        let mut out = LiveStdout::new(writer, true);
        assert!(out.is_live_pipe());
        // SAFETY: F_GETPIPE_SZ on the pipe's descriptor.
        let size = unsafe { libc::fcntl(out.inner.as_fd().as_raw_fd(), libc::F_GETPIPE_SZ) };
        assert_eq!(size as usize, LIVE_PIPE);
        out.write_all(b"+4791234567\n").unwrap();
        out.flush().unwrap();
        assert_eq!(out.pending(), 12);
        drop(out);
        let mut got = String::new();
        reader.read_to_string(&mut got).unwrap();
        assert_eq!(got, "+4791234567\n");
    }

    #[test]
    fn a_slow_consumer_makes_flush_wait_for_the_drain() {
        let (mut reader, writer) = std::io::pipe().unwrap();
        let mut out = LiveStdout::new(writer, true);
        out.slow = true; // as after a write that blocked
        out.write_all(&[b'x'; 12 << 10]).unwrap();
        let drained = std::thread::spawn(move || {
            let mut buf = vec![0; 12 << 10];
            reader.read_exact(&mut buf).unwrap();
            reader
        });
        out.flush().unwrap();
        // flush returned only once at most a page was left in the pipe.
        assert!(out.pending() <= 4096);
        drop(drained.join().unwrap());
    }

    #[test]
    fn not_live_or_not_a_pipe_is_a_plain_writer() {
        let (_reader, writer) = std::io::pipe().unwrap();
        assert!(!LiveStdout::new(writer, false).is_live_pipe());
        let file = tempfile::tempfile().unwrap();
        assert!(!LiveStdout::new(file, true).is_live_pipe());
    }
}
