//! The HTTP client for the CA: system roots plus SSL_CERT_FILE, every request bounded in time
//! and size, the CA's Retry-After remembered for the loop.

use super::types::{BODY_LIMIT, CONNECT_TIMEOUT, RETRY_AFTER_HANDED_ON};
use crate::duration;
use bytes::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use instant_acme::{BodyWrapper, BytesResponse, HttpClient};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::time::SystemTime;

/// request bounded in time (`timeout`) and size (BODY_LIMIT).
pub(super) fn http_client(
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

pub(super) struct Http {
    client: hyper_util::client::legacy::Client<
        hyper_rustls::HttpsConnector<HttpConnector>,
        BodyWrapper<Bytes>,
    >,
    retry_after: Arc<Mutex<Option<Duration>>>,
    timeout: Duration,
}

/// Why a request to the CA got no usable answer; the URL is the one requested.
#[derive(Debug, thiserror::Error)]
enum HttpError {
    /// No complete answer (headers and body) within the request timeout.
    #[error("{url} did not answer completely within {}", duration::show(*after))]
    Timeout { url: String, after: Duration },
    /// The body is larger than BODY_LIMIT; reading stopped there.
    #[error("{url} sent an answer larger than {} KiB, refused (ACME answers are a few KiB)", limit / 1024)]
    TooLarge { url: String, limit: usize },
    /// Connecting, TLS or HTTP failed; the cause is the source.
    #[error("{url}")]
    Transport {
        url: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
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

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
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
}
