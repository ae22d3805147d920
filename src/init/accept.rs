//! Accept loops that survive running out of descriptors: a failing accept (EMFILE, ENFILE,
//! ENOBUFS) is retried after a delay doubling from `ACCEPT_BACKOFF_MIN` to `ACCEPT_BACKOFF_MAX`,
//! logged once per streak. Shared by the control socket and the metrics port.

use crate::log;
use std::io;
use std::time::Duration;

pub const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
pub const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Failed accepts in a row of one listener (`what` names it in the log): the first of a streak
/// and its end are logged, and each failure waits `accept_backoff` before the next accept.
/// The failure (EMFILE, ENFILE, ENOBUFS) lasts until something frees a resource: retrying at
/// once would only spin.
pub struct AcceptFailures {
    what: &'static str,
    count: u32,
}

impl AcceptFailures {
    pub fn new(what: &'static str) -> AcceptFailures {
        AcceptFailures { what, count: 0 }
    }

    /// An accept failed: log the first of a streak, then wait.
    pub async fn failed(&mut self, e: &io::Error) {
        if self.count == 0 {
            log::warn(&format!(
                "{}: cannot accept a connection: {e}; retrying with backoff",
                self.what
            ));
        }
        self.count = self.count.saturating_add(1);
        tokio::time::sleep(accept_backoff(self.count)).await;
    }

    /// An accept succeeded: log the end of a streak.
    pub fn accepted(&mut self) {
        if self.count > 0 {
            log::info(&format!(
                "{}: accepting again after {} failed attempts",
                self.what, self.count
            ));
            self.count = 0;
        }
    }
}

/// Delay before the next accept after `failures` failed ones in a row: doubling from the
/// minimum, capped at the maximum.
pub fn accept_backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    ACCEPT_BACKOFF_MIN
        .saturating_mul(1 << doublings)
        .min(ACCEPT_BACKOFF_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_backoff_doubles_to_the_cap() {
        assert_eq!(accept_backoff(1), ACCEPT_BACKOFF_MIN);
        assert_eq!(accept_backoff(2), ACCEPT_BACKOFF_MIN * 2);
        assert_eq!(accept_backoff(3), ACCEPT_BACKOFF_MIN * 4);
        assert_eq!(accept_backoff(8), ACCEPT_BACKOFF_MAX, "1.28 s is capped");
        assert_eq!(accept_backoff(u32::MAX), ACCEPT_BACKOFF_MAX);
    }
}
