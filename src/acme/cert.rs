//! Certificates as data: what a PEM chain says (validity, names, ARI identity) and when it is
//! due for renewal. Pure: no I/O, no clock of its own.

use std::time::{Duration, SystemTime};
use x509_parser::prelude::*;

#[derive(Debug, Clone)]
pub struct CertInfo {
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    pub names: Vec<String>,
    /// The ACME Renewal Information identifier (`base64url(AKI).base64url(serial)`), when the
    /// certificate has an Authority Key Identifier.
    pub ari_id: Option<String>,
}

/// Reads the leaf (first) certificate of a PEM chain.
pub fn inspect(pem: &[u8]) -> Result<CertInfo, String> {
    let (_, block) = parse_x509_pem(pem).map_err(|e| format!("not a PEM certificate: {e}"))?;
    let (_, cert) = parse_x509_certificate(&block.contents)
        .map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let v = cert.validity();
    let to_time =
        |t: &ASN1Time| SystemTime::UNIX_EPOCH + Duration::from_secs(t.timestamp().max(0) as u64);
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                GeneralName::DNSName(d) => names.push(d.to_string()),
                GeneralName::IPAddress(ip) if ip.len() == 4 => {
                    names.push(std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]).to_string())
                }
                _ => {}
            }
        }
    }
    let ari_id = instant_acme::CertificateIdentifier::try_from(
        &rustls_pki_types::CertificateDer::from(block.contents.clone()),
    )
    .ok()
    .map(|id| id.to_string());
    Ok(CertInfo {
        not_before: to_time(&v.not_before),
        not_after: to_time(&v.not_after),
        names,
        ari_id,
    })
}

impl CertInfo {
    pub fn covers(&self, domain: &str) -> bool {
        self.names.iter().any(|n| n.eq_ignore_ascii_case(domain))
    }

    /// When to renew: at a random point of the CA's suggested window (ARI) when there is one,
    /// otherwise once less than a third of the lifetime remains. `pick` in [0, 1). A window
    /// that reaches past `renew_by` (a CA's mistake, or a hostile one) is not followed there:
    /// the certificate must not expire waiting for it.
    pub fn renew_at(&self, ari_window: Option<(SystemTime, SystemTime)>, pick: f64) -> SystemTime {
        match ari_window {
            Some((start, end)) => match end.duration_since(start) {
                Ok(width) => start
                    .checked_add(width.mul_f64(pick.clamp(0.0, 1.0)))
                    .unwrap_or(start)
                    .min(self.renew_by()),
                Err(_) => start.min(self.renew_by()),
            },
            None => {
                let lifetime = self
                    .not_after
                    .duration_since(self.not_before)
                    .unwrap_or_default();
                self.not_after - lifetime / 3
            }
        }
    }

    /// The latest point a retry may be put off to: a sixth of the lifetime before expiry, half
    /// of the one-third renewal window, so that a few more tries still fit before it expires.
    pub fn renew_by(&self) -> SystemTime {
        let lifetime = self
            .not_after
            .duration_since(self.not_before)
            .unwrap_or_default();
        self.not_after
            .checked_sub(lifetime / 6)
            .unwrap_or(self.not_after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(days_total: u64, days_left: u64) -> CertInfo {
        let now = SystemTime::now();
        let day = Duration::from_secs(86400);
        CertInfo {
            not_before: now - day * (days_total - days_left) as u32,
            not_after: now + day * days_left as u32,
            names: vec!["meet.example.com".into()],
            ari_id: None,
        }
    }

    #[test]
    fn renews_in_the_last_third_without_ari() {
        let now = SystemTime::now();
        assert!(
            info(90, 40).renew_at(None, 0.5) > now,
            "40 of 90 days left: not yet"
        );
        assert!(
            info(90, 29).renew_at(None, 0.5) <= now,
            "29 of 90 days left: due"
        );
        // Let's Encrypt's shorter lifetimes: 64 days (2027) and 45 days (2028).
        assert!(info(64, 22).renew_at(None, 0.5) > now);
        assert!(info(45, 14).renew_at(None, 0.5) <= now);
    }

    #[test]
    fn ari_window_wins_and_is_sampled() {
        let c = info(90, 60);
        let start = SystemTime::now() - Duration::from_secs(10);
        let end = start + Duration::from_secs(1000);
        assert_eq!(c.renew_at(Some((start, end)), 0.0), start);
        assert_eq!(
            c.renew_at(Some((start, end)), 0.5),
            start + Duration::from_secs(500)
        );
        assert!(
            c.renew_at(Some((start, end)), 0.0) <= SystemTime::now(),
            "CA asks for early renewal"
        );
    }

    #[test]
    fn an_ari_window_past_expiry_is_not_followed_there() {
        let day = Duration::from_secs(86400);
        let c = info(90, 20);
        let start = c.not_after + day * 365;
        assert_eq!(c.renew_at(Some((start, start + day)), 0.5), c.renew_by());
        assert_eq!(c.renew_at(Some((start + day, start)), 0.5), c.renew_by());
        // A window that ends before renew_by is followed as it is.
        let early = SystemTime::now();
        assert_eq!(c.renew_at(Some((early, early + day)), 0.0), early);
    }

    #[test]
    fn retries_are_put_off_at_most_until_a_sixth_of_the_lifetime_is_left() {
        let day = Duration::from_secs(86400);
        let c = info(90, 20);
        assert_eq!(c.renew_by(), c.not_after - day * 15);
        // Inside the renewal window (the last third), before expiry.
        assert!(c.renew_by() > c.renew_at(None, 0.5));
        assert!(c.renew_by() < c.not_after);
        let short = info(6, 2);
        assert_eq!(short.renew_by(), short.not_after - day);
    }

    #[test]
    fn inspects_a_real_certificate() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["meet.example.com".into()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2026, 1, 1);
        params.not_after = rcgen::date_time_ymd(2026, 4, 1);
        let cert = params.self_signed(&key).unwrap();
        let i = inspect(cert.pem().as_bytes()).unwrap();
        assert!(i.covers("MEET.example.com"));
        assert!(!i.covers("other.example.com"));
        let days = i.not_after.duration_since(i.not_before).unwrap().as_secs() / 86400;
        assert_eq!(days, 90);
        assert!(inspect(b"garbage").is_err());
    }
}
