//! Where info lines go: a bounded buffer in memory that a writer thread
//! empties to standard error every [`FLUSH_EVERY`]. A request thread only
//! copies its line in under a mutex: no allocation, no system call, and no
//! thread to wake (waking one on every few lines cost more CPU than the
//! formatting, on 2 cores). A line is at most that late; when the buffer is
//! full, lines are dropped and counted.

use std::{
    io::{self, Write},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use tracing_subscriber::fmt::MakeWriter;

/// How often the writer thread writes out the lines queued since.
pub const FLUSH_EVERY: Duration = Duration::from_millis(20);

/// Bytes held before lines are dropped: about 14,000 request lines.
const CAPACITY: usize = 2 << 20;

#[derive(Default)]
struct Shared {
    lines: Mutex<Vec<u8>>,
    dropped: AtomicU64,
    stop: AtomicBool,
}

/// The `MakeWriter` side, cheap to call per line; clones share one buffer.
#[derive(Clone)]
pub struct Queue(Arc<Shared>);

/// The writer thread; [`Writer::finish`] writes out what is left.
pub struct Writer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Starts the writer thread.
pub fn start() -> io::Result<(Queue, Writer)> {
    let shared = Arc::new(Shared::default());
    let drained = shared.clone();
    let thread = std::thread::Builder::new()
        .name("tollgate-log".into())
        .spawn(move || drain(&drained))?;
    Ok((
        Queue(shared.clone()),
        Writer {
            shared,
            thread: Some(thread),
        },
    ))
}

fn drain(shared: &Shared) {
    let mut out = io::stderr();
    let mut batch = Vec::new();
    loop {
        let stopping = shared.stop.load(Ordering::Acquire);
        std::mem::swap(
            &mut *shared.lines.lock().unwrap_or_else(PoisonError::into_inner),
            &mut batch,
        );
        if !batch.is_empty() {
            // Nowhere to report a failed write to standard error.
            let _ = out.write_all(&batch);
            batch.clear();
        }
        if stopping {
            return;
        }
        std::thread::park_timeout(FLUSH_EVERY);
    }
}

impl Writer {
    /// Stops the thread after it has written every queued line, and returns
    /// the number of lines dropped.
    pub fn finish(mut self) -> u64 {
        self.stop();
        self.shared.dropped.load(Ordering::Relaxed)
    }

    fn stop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.shared.stop.store(true, Ordering::Release);
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One line, as the formatter hands it over in a single `write`.
pub struct Line<'a>(&'a Shared);

impl Line<'_> {
    fn push(&self, line: &[u8]) {
        let mut lines = self.0.lines.lock().unwrap_or_else(PoisonError::into_inner);
        if lines.len() + line.len() <= CAPACITY {
            lines.extend_from_slice(line);
        } else {
            self.0.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Write for Line<'_> {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        self.push(line);
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Queue {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Line<'a> {
        Line(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_and_counts_whole_lines() {
        let shared = Shared::default();
        let line = vec![b'x'; CAPACITY / 2];
        for _ in 0..3 {
            Line(&shared).write_all(&line).unwrap();
        }
        assert_eq!(shared.lines.lock().unwrap().len(), CAPACITY);
        assert_eq!(shared.dropped.load(Ordering::Relaxed), 1);
    }
}
