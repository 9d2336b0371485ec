//! The background producer with bounded prefetch.
//!
//! One producer thread builds batches in order (each batch in parallel on the loader's
//! pool) and pushes them into a bounded channel: the training step consumes batch `b` while
//! batches `b+1 ..= b+prefetch` are prepared, and memory stays bounded. Dropping the
//! iterator closes the channel, which stops the producer after its current batch.

use std::thread::JoinHandle;

use crossbeam_channel::Receiver;

/// Batches of one epoch, from the requested start batch to the end.
pub struct EpochIter<T> {
    pub(crate) rx: Option<Receiver<T>>,
    pub(crate) handle: Option<JoinHandle<()>>,
    pub(crate) remaining: usize,
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
