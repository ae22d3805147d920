//! One round against the CA: the storage lock, the account, the renewal window (ARI), the
//! order with its HTTP-01 challenge, and the CA's errors explained in the operator's terms.

use super::cert::{self, CertInfo};
use super::config::Config;
use super::http::http_client;
use super::store::{finish_interrupted_swap, save, slug};
use super::types::*;
use crate::sys::atomic;
use crate::{init::control, log};
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// One round: returns when the certificate is next due, or why this round failed.
pub(super) async fn attempt(
    cfg: &Config,
    opts: &Options,
    status: &mut Status,
) -> Result<SystemTime, Failure> {
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
    match crate::init::client::call(&control::Request::Reload { unit: None }) {
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
        let mut seen = 0;
        while let Some(a) = authorizations.next().await {
            // One authorization per name asked for; a CA listing more is not followed.
            seen += 1;
            if seen > identifiers.len() {
                return Err(format!(
                    "the CA's order lists more authorizations than the {} name(s) asked for",
                    identifiers.len()
                ));
            }
            let mut a = a.map_err(|e| explain(&e, cfg))?;
            match a.status {
                AuthorizationStatus::Valid => continue,
                AuthorizationStatus::Pending => {}
                other => return Err(format!("the CA's authorization is {other:?}")),
            }
            let mut challenge = a
                .challenge(ChallengeType::Http01)
                .ok_or("the CA offers no http-01 challenge for this domain")?;
            let path = challenge_dir.join(token_file(&challenge.token)?);
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
    };
    let result = tokio::time::timeout(ORDER_TIMEOUT, result)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "the CA did not complete the order within {} s",
                ORDER_TIMEOUT.as_secs()
            ))
        });
    for p in written {
        let _ = std::fs::remove_file(p);
    }
    result
}

/// The challenge token as a file name in the webroot: the CA chooses it, and RFC 8555 makes it
/// base64url, so anything else ("../", "/", an empty or huge name) is refused before a file is
/// written.
fn token_file(token: &str) -> Result<&str, String> {
    let ok = !token.is_empty()
        && token.len() <= TOKEN_MAX
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(token)
    } else {
        let shown: String = token.chars().take(64).collect();
        Err(format!(
            "the CA sent an http-01 token that is not base64url ({shown:?}, {} bytes): refused, nothing written",
            token.len()
        ))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_plain_file_names() {
        for good in ["evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA", "a", "A_b-9"] {
            assert_eq!(token_file(good), Ok(good));
        }
        let long = "a".repeat(TOKEN_MAX + 1);
        for bad in [
            "",
            "..",
            "../../etc/passwd",
            "/etc/passwd",
            "a/b",
            "a b",
            "a\0b",
            "tok.en",
            &long,
        ] {
            let e = token_file(bad).unwrap_err();
            assert!(
                e.contains("not base64url") && e.contains("nothing written"),
                "{bad:?}: {e}"
            );
        }
    }
}
