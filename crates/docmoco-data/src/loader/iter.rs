//! The background producer with bounded prefetch.
//!
//! One producer thread builds batches in order (each batch in parallel on the loader's
//! pool) and pushes them into a bounded channel: the training step consumes batch `b` while
//! batches `b+1 ..= b+prefetch` are prepared, and memory stays bounded. Dropping the
//! iterator closes the channel, which stops the producer after its current batch.

use std::ops::Range;
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Receiver};

/// Batches of one epoch, from the requested start batch to the end.
pub struct EpochIter<T> {
    rx: Option<Receiver<T>>,
    handle: Option<JoinHandle<()>>,
    remaining: usize,
}

impl<T: Send + 'static> EpochIter<T> {
    /// Runs `produce(b)` for every batch index `b` of `batches`, in order, on a background
    /// thread named `name`, at most `prefetch` batches ahead of the consumer. Every loader
    /// (pre-training views, detection crops) serves its epochs through this one producer.
    pub fn spawn<F>(
        name: &str,
        batches: Range<usize>,
        prefetch: usize,
        mut produce: F,
    ) -> std::io::Result<Self>
    where
        F: FnMut(usize) -> T + Send + 'static,
    {
        let (tx, rx) = bounded(prefetch);
        let remaining = batches.len();
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                for b in batches {
                    if tx.send(produce(b)).is_err() {
                        return; // the consumer went away
                    }
                }
            })?;
        Ok(EpochIter {
            rx: Some(rx),
            handle: Some(handle),
            remaining,
        })
    }
}

impl<T> Iterator for EpochIter<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        let rx = self.rx.as_ref()?;
        match rx.recv() {
            Ok(batch) => {
                self.remaining = self.remaining.saturating_sub(1);
                Some(batch)
            }
            Err(_) => {
                // The producer has finished (or died): surface a panic instead of ending
                // the epoch early without a word.
                self.rx = None;
                if let Some(h) = self.handle.take() {
                    if let Err(payload) = h.join() {
                        std::panic::resume_unwind(payload);
                    }
                }
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<T> ExactSizeIterator for EpochIter<T> {}

impl<T> Drop for EpochIter<T> {
    fn drop(&mut self) {
        // Close the channel first so a producer blocked on `send` wakes up and exits.
        self.rx = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
