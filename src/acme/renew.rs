//! The renewal loop: a round, then sleep until the certificate is due, or after a failure
//! back off (honouring the CA's Retry-After within limits) while nginx keeps the old one.

use super::config::{self, Config};
use super::order::attempt;
use super::store::write_status;
use super::types::{fraction, unix, Options, Status};
use crate::{duration, log};
use std::time::{Duration, SystemTime};

pub fn run(opts: Options) -> i32 {
    let raw: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    let cfg = match config::read(&raw) {
        Ok(Some(c)) => c,
        Ok(None) => {
            log::info("acme: ENABLE_LETSENCRYPT is off, nothing to do");
            return 0;
        }
        Err(problems) => {
            log::error(&format!("acme: {}", problems.join("\n  - ")));
            return 2;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            log::error(&format!("acme: cannot start the event loop: {e}"));
            return 1;
        }
    };
    runtime.block_on(main_loop(cfg, opts))
}

async fn main_loop(cfg: Config, opts: Options) -> i32 {
    let mut failures: u32 = 0;
    let mut last_success = None;
    loop {
        let now = SystemTime::now();
        let mut status = Status {
            domain: cfg.domain.clone(),
            ..Status::default()
        };
        let wake = match attempt(&cfg, &opts, &mut status).await {
            Ok(renew_at) => {
                failures = 0;
                last_success = Some(unix(SystemTime::now()));
                let jittered = opts.check_max.mul_f64(0.5 + fraction() / 2.0);
                renew_at.max(now).min(now + jittered)
            }
            Err(f) => {
                failures = failures.saturating_add(1);
                // Counted from the failure, not from the start of a round that may have waited.
                let now = SystemTime::now();
                let renew_by = f
                    .renew_by
                    .map(|t| t.duration_since(now).unwrap_or_default());
                let retry = retry_in(
                    failures,
                    opts.retry_min,
                    opts.check_max,
                    f.retry_after,
                    renew_by,
                );
                if let Retry::Capped { wait, asked, limit } = retry {
                    log::warn(&format!(
                        "acme: the CA asked to wait {} before the next try; jinit tries again in {} instead ({})",
                        duration::show(asked),
                        duration::show(wait),
                        match limit {
                            Limit::CheckInterval => "the longest time between two checks, --check-interval",
                            Limit::Expiry => "so that the current certificate is renewed well before it expires",
                        }
                    ));
                }
                let wait = retry.wait();
                let wake = now.checked_add(wait).unwrap_or(now);
                log::warn(&format!(
                    "acme: {}; nginx keeps serving its current certificate; next try in {}",
                    f.message,
                    duration::show(wait)
                ));
                status.last_error = Some(f.message);
                wake
            }
        };
        status.next_check = Some(unix(wake));
        status.failures = failures;
        status.last_success = last_success;
        write_status(&status);
        if opts.once {
            return if status.last_error.is_some() { 1 } else { 0 };
        }
        let wait = wake.duration_since(SystemTime::now()).unwrap_or_default();
        tokio::time::sleep(wait).await;
    }
}

/// How long to wait after a failed round, and whose wish that is.
#[derive(Debug, PartialEq)]
enum Retry {
    /// jinit's own backoff: there was no Retry-After, or a shorter one.
    Backoff(Duration),
    /// The CA's Retry-After: longer than the backoff, within the limits.
    AsAsked(Duration),
    /// The CA asked for `asked`; `limit` allows only `wait`.
    Capped {
        wait: Duration,
        asked: Duration,
        limit: Limit,
    },
}

/// What keeps a Retry-After from being obeyed in full.
#[derive(Debug, PartialEq, Clone, Copy)]
enum Limit {
    /// `--check-interval`, the longest time between two checks.
    CheckInterval,
    /// The current certificate must still be renewed well before it expires.
    Expiry,
}

impl Retry {
    fn wait(&self) -> Duration {
        match self {
            Retry::Backoff(w) | Retry::AsAsked(w) | Retry::Capped { wait: w, .. } => *w,
        }
    }
}

/// When to try again after `failures` failures in a row: `retry_min` doubling up to
/// `check_max`, or later when the CA's Retry-After (`asked`) wants more, but never later than
/// `check_max` nor than `renew_by` (the time left until the current certificate's latest safe
/// retry), so a CA asking for years cannot let the certificate expire. A broken DNS record must
/// never become a tight loop that burns the CA's rate limits, hence never sooner than the
/// backoff either.
fn retry_in(
    failures: u32,
    retry_min: Duration,
    check_max: Duration,
    asked: Option<Duration>,
    renew_by: Option<Duration>,
) -> Retry {
    let backoff = retry_min
        .saturating_mul(1u32 << failures.saturating_sub(1).min(20))
        .min(check_max);
    let (latest, limit) = match renew_by {
        Some(r) if r < check_max => (r.max(backoff), Limit::Expiry),
        _ => (check_max.max(backoff), Limit::CheckInterval),
    };
    match asked {
        Some(asked) if asked > latest => Retry::Capped {
            wait: latest,
            asked,
            limit,
        },
        Some(asked) if asked > backoff => Retry::AsAsked(asked),
        _ => Retry::Backoff(backoff),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(120);
    const CAP: Duration = Duration::from_secs(12 * 3600);

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn retries_back_off_to_the_cap_and_honour_retry_after() {
        let wait = |n, asked| retry_in(n, MIN, CAP, asked, None).wait().as_secs();
        assert_eq!(
            [wait(1, None), wait(2, None), wait(3, None)],
            [120, 240, 480]
        );
        assert_eq!(wait(30, None), 12 * 3600, "capped");
        assert_eq!(wait(u32::MAX, None), 12 * 3600, "no overflow");
        // A rate-limited CA asking for an hour is obeyed; a shorter Retry-After is not a shortcut.
        assert_eq!(
            retry_in(1, MIN, CAP, Some(secs(3600)), None),
            Retry::AsAsked(secs(3600))
        );
        assert_eq!(
            retry_in(3, MIN, CAP, Some(secs(10)), None),
            Retry::Backoff(secs(480))
        );
    }

    #[test]
    fn a_retry_after_beyond_the_check_interval_is_capped_and_says_so() {
        assert_eq!(
            retry_in(1, MIN, CAP, Some(secs(u64::MAX)), None),
            Retry::Capped {
                wait: CAP,
                asked: secs(u64::MAX),
                limit: Limit::CheckInterval
            }
        );
        assert_eq!(
            retry_in(1, MIN, CAP, Some(CAP + secs(1)), Some(secs(30 * 86400))),
            Retry::Capped {
                wait: CAP,
                asked: CAP + secs(1),
                limit: Limit::CheckInterval
            }
        );
        assert_eq!(retry_in(1, MIN, CAP, Some(CAP), None), Retry::AsAsked(CAP));
    }

    #[test]
    fn a_retry_after_never_lets_the_certificate_expire() {
        let long = secs(40 * 86400);
        // A long --check-interval: the certificate's latest safe retry (in 5 days) decides.
        assert_eq!(
            retry_in(
                1,
                MIN,
                long,
                Some(secs(1_000_000_000)),
                Some(secs(5 * 86400))
            ),
            Retry::Capped {
                wait: secs(5 * 86400),
                asked: secs(1_000_000_000),
                limit: Limit::Expiry
            }
        );
        // Past that point already: jinit's own backoff, not the CA's hour.
        assert_eq!(
            retry_in(2, MIN, long, Some(secs(3600)), Some(Duration::ZERO)),
            Retry::Capped {
                wait: secs(240),
                asked: secs(3600),
                limit: Limit::Expiry
            }
        );
        assert_eq!(
            retry_in(2, MIN, long, None, Some(Duration::ZERO)),
            Retry::Backoff(secs(240))
        );
    }
}
