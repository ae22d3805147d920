//! `jinit acme`: obtains and renews the web image's certificate from an ACME CA (HTTP-01).
//!
//! Runs as its own supervised process (not in PID 1, so the TLS stack never sits in init's
//! memory). Challenge files go to a webroot that the running nginx serves; the key and chain
//! are swapped atomically in the storage volume and jinit is asked to reload nginx. A valid
//! certificate is never re-issued; failures keep the old certificate and back off, honouring
//! the CA's Retry-After. A lock in the storage directory serialises containers sharing it.
//!
//! Never waits on the CA without a bound, since the lock is held meanwhile and every container
//! sharing the volume would wait too: a connection must be up within 10 s, a whole answer
//! (headers and body) must arrive within 30 s (`JINIT_ACME_TIMEOUT`, a duration, replaces the
//! 30 s, and the 10 s when shorter, for tests), an answer body above 1 MiB is refused (ACME
//! answers are a few KiB), and polling an order stops after 2 minutes. A Retry-After is obeyed only up to the longest time
//! between two checks (`--check-interval`, 12 h by default) and never past the point a sixth of
//! the current certificate's lifetime before it expires; what the CA asked for is then logged.

pub mod cert;

use crate::config::types::{Type, Typed};
use crate::sys::atomic;
use crate::{duration, init::control, log};
use bytes::Bytes;
use cert::CertInfo;
use hyper_util::client::legacy::connect::HttpConnector;
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, BodyWrapper, BytesResponse, ChallengeType,
    HttpClient, Identifier, NewAccount, NewOrder, OrderStatus, RetryPolicy,
};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

pub const DEFAULT_STORAGE: &str = "/storage";
pub const DEFAULT_WEBROOT: &str = "/run/web/acme-challenge";
const LETSENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
const LETSENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";
/// A TCP (and so TLS) connection to the CA must be up within this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// One request, from sending it to the last byte of the answer's body.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer body read; a directory, an order or a chain is a few KiB.
const BODY_LIMIT: usize = 1024 * 1024;
/// How long one order may be polled for readiness, then for its certificate.
const POLL_TIMEOUT: Duration = Duration::from_secs(120);
/// Retry-After as handed on to instant-acme, which adds it to the clock unchecked (and so
/// panics on a huge one); it only compares it with its polling deadline.
const RETRY_AFTER_HANDED_ON: Duration = Duration::from_secs(86400);

pub struct Options {
    pub storage: PathBuf,
    pub webroot: PathBuf,
    /// One check (and issuance when due), then exit: 0 on success, 1 on failure.
    pub once: bool,
    /// First retry delay after a failure; doubles up to `check_max`.
    pub retry_min: Duration,
    /// Longest time between two checks (jittered between half and all of it).
    pub check_max: Duration,
}

struct Config {
    domain: String,
    email: String,
    directory: String,
    /// For one request to the CA (REQUEST_TIMEOUT unless JINIT_ACME_TIMEOUT says otherwise).
    timeout: Duration,
}

/// What the CA or the network said, in words, and when the CA wants us back.
struct Failure {
    message: String,
    /// The CA's Retry-After, as a wait from when it answered.
    retry_after: Option<Duration>,
    /// The current certificate's latest safe retry ([`CertInfo::renew_by`]), when there is one.
    renew_by: Option<SystemTime>,
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure {
            message,
            retry_after: None,
            renew_by: None,
        }
    }
}

/// Shown by `jinit status`.
#[derive(Serialize, Deserialize, Default, Debug)]
pub struct Status {
    pub domain: String,
    pub not_after: Option<u64>,
    pub renew_at: Option<u64>,
    pub next_check: Option<u64>,
    pub last_error: Option<String>,
}

pub fn status_path() -> PathBuf {
    control::socket_path().with_file_name("acme.json")
}

pub fn run(opts: Options) -> i32 {
    let cfg = match config() {
        Ok(Some(c)) => c,
        Ok(None) => {
            log::info("acme: ENABLE_LETSENCRYPT is off, nothing to do");
            return 0;
        }
        Err(problems) => {
            eprintln!("jinit: acme: {}", problems.join("\n  - "));
            return 2;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("jinit: acme: cannot start the event loop: {e}");
            return 1;
        }
    };
    runtime.block_on(main_loop(cfg, opts))
}

async fn main_loop(cfg: Config, opts: Options) -> i32 {
    let mut failures: u32 = 0;
    loop {
        let now = SystemTime::now();
        let mut status = Status {
            domain: cfg.domain.clone(),
            ..Status::default()
        };
        let wake = match attempt(&cfg, &opts, &mut status).await {
            Ok(renew_at) => {
                failures = 0;
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

/// Reads a Retry-After value, either delay-seconds or an HTTP date (RFC 9110, 10.2.3), as a
/// wait from `now`. Any number of digits is accepted (a value beyond u64 saturates), a date in
/// the past means now; nothing here can overflow.
fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or_default())
}

fn config() -> Result<Option<Config>, Vec<String>> {
    let get = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let flag = |name: &str| -> Result<bool, String> {
        match get(name) {
            None => Ok(false),
            Some(v) => match Type::Bool.parse(&v) {
                Ok(Typed::Bool(b)) => Ok(b),
                Ok(_) => Ok(false),
                Err(e) => Err(format!("{name}: {e}")),
            },
        }
    };
    let mut problems = Vec::new();
    let enabled = flag("ENABLE_LETSENCRYPT").unwrap_or_else(|e| {
        problems.push(e);
        false
    });
    if !enabled && problems.is_empty() {
        return Ok(None);
    }
    let staging = flag("LETSENCRYPT_USE_STAGING").unwrap_or_else(|e| {
        problems.push(e);
        false
    });
    let domain = match get("LETSENCRYPT_DOMAIN") {
        None => {
            problems.push("LETSENCRYPT_DOMAIN: required when ENABLE_LETSENCRYPT is on: the public name of this server".into());
            String::new()
        }
        Some(d) => match Type::Host.parse(&d) {
            Ok(_) => d,
            Err(e) => {
                problems.push(format!("LETSENCRYPT_DOMAIN: {e}"));
                d
            }
        },
    };
    let email = match get("LETSENCRYPT_EMAIL") {
        Some(e) if e.contains('@') && !e.contains(char::is_whitespace) => e,
        Some(e) => {
            problems.push(format!("LETSENCRYPT_EMAIL: {e:?} is not an email address"));
            e
        }
        None => {
            problems.push("LETSENCRYPT_EMAIL: required when ENABLE_LETSENCRYPT is on: the CA's expiry notices go there".into());
            String::new()
        }
    };
    let directory = match get("LETSENCRYPT_ACME_SERVER") {
        Some(url) => match Type::Url.parse(&url) {
            Ok(_) => url,
            Err(e) => {
                problems.push(format!("LETSENCRYPT_ACME_SERVER: {e}"));
                url
            }
        },
        None if staging => LETSENCRYPT_STAGING.into(),
        None => LETSENCRYPT.into(),
    };
    // jinit's own knob, for tests that must not wait 30 s for a CA that never answers.
    let timeout = match get("JINIT_ACME_TIMEOUT").map(|t| duration::parse(&t)) {
        None => REQUEST_TIMEOUT,
        Some(Ok(t)) if !t.is_zero() => t,
        Some(Ok(_)) => {
            problems.push("JINIT_ACME_TIMEOUT: must be more than 0 (default 30s)".into());
            REQUEST_TIMEOUT
        }
        Some(Err(e)) => {
            problems.push(format!("JINIT_ACME_TIMEOUT: {e}"));
            REQUEST_TIMEOUT
        }
    };
    if problems.is_empty() {
        Ok(Some(Config {
            domain,
            email,
            directory,
            timeout,
        }))
    } else {
        Err(problems)
    }
}

/// One round: returns when the certificate is next due, or why this round failed.
async fn attempt(cfg: &Config, opts: &Options, status: &mut Status) -> Result<SystemTime, Failure> {
    let dir = opts.storage.join("acme-certs").join(&cfg.domain);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let _lock = lock(&opts.storage.join("acme-certs").join(".lock")).await?;
    finish_interrupted_swap(&dir);
    let retry_after = Arc::new(Mutex::new(None));
    let current = std::fs::read(dir.join("fullchain.pem"))
        .ok()
        .and_then(|pem| cert::inspect(&pem).ok())
        .filter(|c| c.covers(&cfg.domain) && dir.join("key.pem").is_file());
    let with_retry = |message: String| Failure {
        message,
        retry_after: retry_after.lock().ok().and_then(|g| *g),
        renew_by: current.as_ref().map(CertInfo::renew_by),
    };
    let mut account = None;
    if let Some(c) = &current {
        status.not_after = Some(unix(c.not_after));
        // ARI is best effort: without an answer the one-third rule decides.
        let mut window = None;
        if let Some(id) = &c.ari_id {
            if let Ok(acct) = account_for(cfg, opts, &retry_after).await {
                window = ari_window(&acct, id).await;
                account = Some(acct);
            }
        }
        let renew_at = c.renew_at(window, fraction());
        status.renew_at = Some(unix(renew_at));
        if SystemTime::now() < renew_at {
            log::info(&format!(
                "acme: certificate for {} is valid until {}; renewal from {}{}",
                cfg.domain,
                show_time(c.not_after),
                show_time(renew_at),
                if window.is_some() {
                    " (the CA's renewal window)"
                } else {
                    ""
                }
            ));
            return Ok(renew_at);
        }
        log::info(&format!(
            "acme: certificate for {} is due for renewal",
            cfg.domain
        ));
    } else {
        log::info(&format!(
            "acme: no certificate for {} yet, requesting one from {}",
            cfg.domain, cfg.directory
        ));
    }
    let account = match account {
        Some(a) => a,
        None => account_for(cfg, opts, &retry_after)
            .await
            .map_err(&with_retry)?,
    };
    let (key_pem, chain_pem) = issue(cfg, opts, &account, current.as_ref())
        .await
        .map_err(with_retry)?;
    let info = cert::inspect(chain_pem.as_bytes())
        .map_err(|e| format!("the CA sent an unreadable certificate: {e}"))?;
    save(&dir, &key_pem, &chain_pem)?;
    status.not_after = Some(unix(info.not_after));
    let renew_at = info.renew_at(None, fraction());
    status.renew_at = Some(unix(renew_at));
    log::info(&format!(
        "acme: new certificate for {} saved, valid until {}",
        cfg.domain,
        show_time(info.not_after)
    ));
    // Re-render (the nginx config may switch from the self-signed certificate) and reload.
    match control::call(&control::Request::Reload { unit: None }) {
        Ok(r) if r.ok => {}
        Ok(r) => log::warn(&format!("acme: jinit could not reload: {}", r.message)),
        Err(e) => log::warn(&format!(
            "acme: certificate saved, but jinit was not told to reload: {e}"
        )),
    }
    Ok(renew_at)
}

/// Holds the storage lock while alive. Two containers sharing the volume take turns; the
/// second then sees the first one's fresh certificate and issues nothing.
async fn lock(path: &Path) -> Result<nix::fcntl::Flock<std::fs::File>, Failure> {
    use nix::fcntl::{Flock, FlockArg};
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| format!("cannot open the lock {}: {e}", path.display()))?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(l) => Ok(l),
        Err((file, _)) => {
            log::info("acme: another container holds the certificate lock; waiting for it");
            tokio::task::spawn_blocking(move || Flock::lock(file, FlockArg::LockExclusive))
                .await
                .map_err(|e| format!("waiting for the lock failed: {e}"))?
                .map_err(|(_, e)| Failure::from(format!("cannot lock {}: {e}", path.display())))
        }
    }
}

#[derive(Serialize, Deserialize)]
struct StoredAccount {
    directory: String,
    credentials: AccountCredentials,
}

/// Loads the account registered with this directory, or registers one.
async fn account_for(
    cfg: &Config,
    opts: &Options,
    retry_after: &Arc<Mutex<Option<Duration>>>,
) -> Result<Account, String> {
    let file = opts
        .storage
        .join("acme-account")
        .join(format!("{}.json", slug(&cfg.directory)));
    let http = || http_client(retry_after.clone(), cfg.timeout);
    if let Ok(text) = std::fs::read_to_string(&file) {
        if let Ok(stored) = serde_json::from_str::<StoredAccount>(&text) {
            return Account::builder_with_http(Box::new(http()?))
                .from_credentials(stored.credentials)
                .await
                .map_err(|e| explain(&e, cfg));
        }
        log::warn(&format!(
            "acme: {} is unreadable; registering a new account",
            file.display()
        ));
    }
    let contact = format!("mailto:{}", cfg.email);
    let (account, credentials) = Account::builder_with_http(Box::new(http()?))
        .create(
            &NewAccount {
                contact: &[&contact],
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            cfg.directory.clone(),
            None,
        )
        .await
        .map_err(|e| explain(&e, cfg))?;
    let stored = serde_json::to_vec_pretty(&StoredAccount {
        directory: cfg.directory.clone(),
        credentials,
    })
    .map_err(|e| e.to_string())?;
    atomic::replace(
        &file,
        &stored,
        &atomic::Options {
            mode: 0o600,
            ..Default::default()
        },
    )?;
    log::info(&format!(
        "acme: registered account for {} with {}",
        cfg.email, cfg.directory
    ));
    Ok(account)
}

async fn ari_window(account: &Account, id: &str) -> Option<(SystemTime, SystemTime)> {
    let (aki, serial) = id.split_once('.')?;
    let cert_id = instant_acme::CertificateIdentifier {
        authority_key_identifier: aki.to_string().into(),
        serial: serial.to_string().into(),
    };
    let (info, _) = account.renewal_info(&cert_id).await.ok()?;
    let w = info.suggested_window;
    Some((SystemTime::from(w.start), SystemTime::from(w.end)))
}

/// Runs one order through HTTP-01; returns the new private key and chain, both PEM.
async fn issue(
    cfg: &Config,
    opts: &Options,
    account: &Account,
    current: Option<&CertInfo>,
) -> Result<(String, String), String> {
    let identifiers = [Identifier::Dns(cfg.domain.clone())];
    let replaces = current.and_then(|c| c.ari_id.as_deref()).and_then(|id| {
        let (aki, serial) = id.split_once('.')?;
        Some(instant_acme::CertificateIdentifier {
            authority_key_identifier: aki.to_string().into(),
            serial: serial.to_string().into(),
        })
    });
    let mut new = NewOrder::new(&identifiers);
    if let Some(r) = replaces {
        new = new.replaces(r);
    }
    let mut order = match account.new_order(&new).await {
        Ok(o) => o,
        // A CA without ARI support refuses `replaces`: order without it.
        Err(instant_acme::Error::Unsupported(_)) => account
            .new_order(&NewOrder::new(&identifiers))
            .await
            .map_err(|e| explain(&e, cfg))?,
        Err(e) => return Err(explain(&e, cfg)),
    };
    let challenge_dir = opts.webroot.join(".well-known").join("acme-challenge");
    let mut written = Vec::new();
    let result = async {
        let mut authorizations = order.authorizations();
        while let Some(a) = authorizations.next().await {
            let mut a = a.map_err(|e| explain(&e, cfg))?;
            match a.status {
                AuthorizationStatus::Valid => continue,
                AuthorizationStatus::Pending => {}
                other => return Err(format!("the CA's authorization is {other:?}")),
            }
            let mut challenge = a
                .challenge(ChallengeType::Http01)
                .ok_or("the CA offers no http-01 challenge for this domain")?;
            let path = challenge_dir.join(&challenge.token);
            let body = challenge.key_authorization();
            atomic::replace(
                &path,
                body.as_str().as_bytes(),
                &atomic::Options {
                    mode: 0o644,
                    ..Default::default()
                },
            )
            .map_err(|e| format!("cannot write the challenge for nginx to serve: {e}"))?;
            written.push(path);
            challenge.set_ready().await.map_err(|e| explain(&e, cfg))?;
        }
        let state = order
            .poll_ready(&RetryPolicy::new().timeout(POLL_TIMEOUT))
            .await
            .map_err(|e| explain(&e, cfg))?;
        if state != OrderStatus::Ready {
            return Err(challenge_failure(&mut order, cfg).await);
        }
        let key = order.finalize().await.map_err(|e| explain(&e, cfg))?;
        let chain = order
            .poll_certificate(&RetryPolicy::new().timeout(POLL_TIMEOUT))
            .await
            .map_err(|e| explain(&e, cfg))?;
        Ok((key, chain))
    }
    .await;
    for p in written {
        let _ = std::fs::remove_file(p);
    }
    result
}

/// Finds the validation error the CA recorded, and says what usually causes it.
async fn challenge_failure(order: &mut instant_acme::Order, cfg: &Config) -> String {
    let mut detail = String::from("the CA marked the order invalid");
    let mut authorizations = order.authorizations();
    while let Some(Ok(mut a)) = authorizations.next().await {
        if let Ok(state) = a.refresh().await {
            for c in &state.challenges {
                if let Some(err) = &c.error {
                    detail = err.detail.clone().unwrap_or_else(|| err.to_string());
                }
            }
        }
    }
    validation_failed(cfg, &detail)
}

fn validation_failed(cfg: &Config, detail: &str) -> String {
    format!(
        "validation of {} failed: {detail}. The CA must reach http://{}/.well-known/acme-challenge/ on port 80: \
         check the DNS record of LETSENCRYPT_DOMAIN and that port 80 is forwarded to the web container's HTTP port",
        cfg.domain, cfg.domain
    )
}

/// Puts an instant-acme error in an operator's words.
fn explain(e: &instant_acme::Error, cfg: &Config) -> String {
    match e {
        instant_acme::Error::Api(p) => {
            let kind = p
                .r#type
                .as_deref()
                .unwrap_or("")
                .rsplit(':')
                .next()
                .unwrap_or("");
            let detail = p.detail.clone().unwrap_or_default();
            match kind {
                "rateLimited" => format!("the CA rate-limits this account or domain: {detail}"),
                "invalidContact" | "unsupportedContact" => {
                    format!("the CA rejects LETSENCRYPT_EMAIL={}: {detail}", cfg.email)
                }
                "unauthorized" | "connection" | "dns" | "incorrectResponse" | "tls" => {
                    validation_failed(cfg, &detail)
                }
                "rejectedIdentifier" | "malformed" if detail.contains(&cfg.domain) => {
                    format!(
                        "the CA will not issue for LETSENCRYPT_DOMAIN={}: {detail}",
                        cfg.domain
                    )
                }
                _ => format!("the CA refused: {detail} ({kind})"),
            }
        }
        instant_acme::Error::Timeout(_) => "the CA did not finish in time".into(),
        other => {
            let mut text = other.to_string();
            let mut src = std::error::Error::source(other);
            while let Some(s) = src {
                text = format!("{text}: {s}");
                src = s.source();
            }
            format!("cannot talk to the ACME server {}: {text}", cfg.directory)
        }
    }
}

/// Writes key and chain as `*.new`, then renames both; a crash between the two renames is
/// finished by `finish_interrupted_swap` on the next run, so key and chain always match.
fn save(dir: &Path, key: &str, chain: &str) -> Result<(), String> {
    let key_new = dir.join("key.pem.new");
    let chain_new = dir.join("fullchain.pem.new");
    atomic::replace(
        &key_new,
        key.as_bytes(),
        &atomic::Options {
            mode: 0o600,
            ..Default::default()
        },
    )?;
    atomic::replace(
        &chain_new,
        chain.as_bytes(),
        &atomic::Options {
            mode: 0o644,
            ..Default::default()
        },
    )?;
    finish_interrupted_swap(dir);
    if key_new.exists() || chain_new.exists() {
        return Err(format!(
            "cannot move the new certificate into {}",
            dir.display()
        ));
    }
    Ok(())
}

fn finish_interrupted_swap(dir: &Path) {
    let chain_new = dir.join("fullchain.pem.new");
    if !chain_new.exists() {
        let _ = std::fs::remove_file(dir.join("key.pem.new"));
        return;
    }
    let key_new = dir.join("key.pem.new");
    if key_new.exists() && std::fs::rename(&key_new, dir.join("key.pem")).is_err() {
        return;
    }
    let _ = std::fs::rename(&chain_new, dir.join("fullchain.pem"));
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// The HTTP client for the CA: system roots plus SSL_CERT_FILE; remembers Retry-After; every
/// request bounded in time (`timeout`) and size (BODY_LIMIT).
fn http_client(
    retry_after: Arc<Mutex<Option<Duration>>>,
    timeout: Duration,
) -> Result<Http, String> {
    let mut roots = rustls::RootCertStore::empty();
    let mut files = vec![PathBuf::from("/etc/ssl/certs/ca-certificates.crt")];
    if let Some(extra) = std::env::var_os("SSL_CERT_FILE") {
        files.push(PathBuf::from(extra));
    }
    for f in &files {
        let Ok(pem) = std::fs::read(f) else { continue };
        for der in rustls_pki_types::pem::PemObject::pem_slice_iter(&pem).flatten() {
            let der: rustls_pki_types::CertificateDer<'static> = der;
            let _ = roots.add(der);
        }
    }
    if roots.is_empty() {
        return Err(
            "no trusted CA certificates (install ca-certificates or set SSL_CERT_FILE)".into(),
        );
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut tcp = HttpConnector::new();
    // The TLS layer above decides the scheme; the TCP layer must let https:// through.
    tcp.enforce_http(false);
    tcp.set_connect_timeout(Some(CONNECT_TIMEOUT.min(timeout)));
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(tcp);
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(connector);
    Ok(Http {
        client,
        retry_after,
        timeout,
    })
}

struct Http {
    client: hyper_util::client::legacy::Client<
        hyper_rustls::HttpsConnector<HttpConnector>,
        BodyWrapper<Bytes>,
    >,
    retry_after: Arc<Mutex<Option<Duration>>>,
    timeout: Duration,
}

/// Why a request to the CA got no usable answer; the URL is the one requested.
#[derive(Debug)]
enum HttpError {
    /// No complete answer (headers and body) within the request timeout.
    Timeout { url: String, after: Duration },
    /// The body is larger than BODY_LIMIT; reading stopped there.
    TooLarge { url: String, limit: usize },
    /// Connecting, TLS or HTTP failed; the cause is the source.
    Transport {
        url: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Timeout { url, after } => write!(
                f,
                "{url} did not answer completely within {}",
                duration::show(*after)
            ),
            HttpError::TooLarge { url, limit } => write!(
                f,
                "{url} sent an answer larger than {} KiB, refused (ACME answers are a few KiB)",
                limit / 1024
            ),
            HttpError::Transport { url, .. } => write!(f, "{url}"),
        }
    }
}

impl std::error::Error for HttpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HttpError::Transport { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

/// Reads a body frame by frame, keeping at most `limit` bytes; the first frame past it ends
/// the read (and drops the connection), so a CA streaming gigabytes costs one frame of memory.
async fn read_bounded<B>(mut body: B, url: &str, limit: usize) -> Result<Bytes, HttpError>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let too_large = || HttpError::TooLarge {
        url: url.to_string(),
        limit,
    };
    // A declared Content-Length above the limit is refused before any of it is read.
    if body.size_hint().lower() > limit as u64 {
        return Err(too_large());
    }
    let mut kept = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.map_err(|e| HttpError::Transport {
            url: url.to_string(),
            source: Box::new(e),
        })?;
        if let Ok(data) = frame.into_data() {
            if kept.len() + data.len() > limit {
                return Err(too_large());
            }
            kept.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(kept))
}

impl HttpClient for Http {
    fn request(
        &self,
        req: http::Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let url = req.uri().to_string();
        let fut = self.client.request(req);
        let retry_after = self.retry_after.clone();
        let timeout = self.timeout;
        Box::pin(async move {
            let exchange = async {
                let rsp = fut.await.map_err(|e| HttpError::Transport {
                    url: url.clone(),
                    source: Box::new(e),
                })?;
                let (parts, body) = rsp.into_parts();
                Ok((parts, read_bounded(body, &url, BODY_LIMIT).await?))
            };
            let answer = match tokio::time::timeout(timeout, exchange).await {
                Ok(answer) => answer,
                Err(_) => Err(HttpError::Timeout {
                    url: url.clone(),
                    after: timeout,
                }),
            };
            let (mut parts, body) = answer.map_err(|e| instant_acme::Error::Other(Box::new(e)))?;
            let name = http::header::RETRY_AFTER;
            let asked = parts
                .headers
                .get(&name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            match asked {
                Some(wait) => {
                    if !parts.status.is_success() {
                        if let Ok(mut slot) = retry_after.lock() {
                            *slot = Some(wait);
                        }
                    }
                    let handed_on = wait.min(RETRY_AFTER_HANDED_ON).as_secs();
                    parts
                        .headers
                        .insert(name, http::HeaderValue::from(handed_on));
                }
                None => {
                    parts.headers.remove(name);
                }
            }
            Ok(BytesResponse {
                parts,
                body: Box::new(body),
            })
        })
    }
}

fn write_status(status: &Status) {
    if let Ok(text) = serde_json::to_vec(status) {
        let _ = atomic::replace(
            &status_path(),
            &text,
            &atomic::Options {
                mode: 0o644,
                ..Default::default()
            },
        );
    }
}

fn slug(url: &str) -> String {
    url.trim_start_matches("https://")
        .trim_start_matches("http://")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub fn show_time(t: SystemTime) -> String {
    let secs = unix(t) as i64;
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| secs.to_string())
}

/// A number in [0, 1) from the kernel's random source, for jitter.
fn fraction() -> f64 {
    let mut b = [0u8; 8];
    // SAFETY: getrandom writes at most 8 bytes into the array we own.
    unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
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

    #[test]
    fn retry_after_reads_seconds_and_dates_without_overflow() {
        let now = SystemTime::UNIX_EPOCH + secs(1_784_000_000);
        let parse = |v| parse_retry_after(v, now);
        assert_eq!(parse("120"), Some(secs(120)));
        assert_eq!(parse(" 0 "), Some(Duration::ZERO));
        assert_eq!(parse("18446744073709551615"), Some(secs(u64::MAX)));
        assert_eq!(
            parse("99999999999999999999999999999"),
            Some(secs(u64::MAX)),
            "saturates"
        );
        let in_an_hour = httpdate::fmt_http_date(now + secs(3600));
        assert_eq!(parse(&in_an_hour), Some(secs(3600)));
        assert_eq!(
            parse("Thu, 01 Jan 1970 00:00:00 GMT"),
            Some(Duration::ZERO),
            "past"
        );
        assert!(parse("Fri, 31 Dec 9999 23:59:59 GMT").is_some());
        for bad in ["", "-5", "1.5", "soon", "12 h"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn account_files_are_named_after_the_directory() {
        assert_eq!(
            slug("https://acme-v02.api.letsencrypt.org/directory"),
            "acme-v02.api.letsencrypt.org_directory"
        );
        assert_eq!(slug("https://127.0.0.1:14000/dir"), "127.0.0.1_14000_dir");
    }
}
