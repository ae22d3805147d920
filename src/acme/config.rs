//! The variables of `jinit acme` (ENABLE_LETSENCRYPT, LETSENCRYPT_*), read through their
//! declarations in the web image's schema: the same types, defaults, `required-if` rules and
//! messages as everywhere else, and no second list of what they may hold.

use super::types::{LETSENCRYPT, LETSENCRYPT_STAGING, REQUEST_TIMEOUT};
use crate::config::environ::{self, Scope};
use crate::config::schema::Schema;
use crate::config::types::Typed;
use crate::duration;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

pub(super) struct Config {
    pub domain: String,
    pub email: String,
    pub directory: String,
    /// For one request to the CA (REQUEST_TIMEOUT unless JINIT_ACME_TIMEOUT says otherwise).
    pub timeout: Duration,
}

/// The web image's schema, where the variables below are declared (compiled in: `jinit acme`
/// runs wherever the web image runs it, with or without a templates directory).
const WEB_SCHEMA: &str = include_str!("../../templates/web/schema.toml");
const VARS: [&str; 5] = [
    "ENABLE_LETSENCRYPT",
    "LETSENCRYPT_DOMAIN",
    "LETSENCRYPT_EMAIL",
    "LETSENCRYPT_USE_STAGING",
    "LETSENCRYPT_ACME_SERVER",
];

/// Reads the configuration from `raw` (the process environment): None when
/// ENABLE_LETSENCRYPT is off, or every problem, each starting with the variable's name.
pub(super) fn read(raw: &BTreeMap<String, String>) -> Result<Option<Config>, Vec<String>> {
    let mut problems = Vec::new();
    let mut schema = Schema::parse(WEB_SCHEMA, Path::new("templates/web/schema.toml"))
        .map_err(|p| vec![p.to_string()])?;
    schema.vars.retain(|v| VARS.contains(&v.name.as_str()));
    if schema.vars.len() != VARS.len() {
        return Err(vec![format!(
            "templates/web/schema.toml must declare {}",
            VARS.join(", ")
        )]);
    }
    let (env, list) = environ::resolve_all(&schema, raw, &[], Scope::Image);
    problems.extend(list.iter().map(|p| p.to_string()));
    let text = |name: &str| match env.values.get(name) {
        Some(Typed::Str(s)) => Some(s.clone()),
        _ => None,
    };
    let flag = |name: &str| matches!(env.values.get(name), Some(Typed::Bool(true)));
    if !flag("ENABLE_LETSENCRYPT") && problems.is_empty() {
        return Ok(None);
    }
    let domain = text("LETSENCRYPT_DOMAIN").unwrap_or_default();
    let email = text("LETSENCRYPT_EMAIL").unwrap_or_default();
    // What a schema's character set cannot say: an address has an `@` between two parts.
    if !email.is_empty()
        && !email
            .split_once('@')
            .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty())
    {
        problems.push(format!(
            "LETSENCRYPT_EMAIL: {email:?} is not an email address"
        ));
    }
    let directory = match text("LETSENCRYPT_ACME_SERVER") {
        Some(url) => url,
        None if flag("LETSENCRYPT_USE_STAGING") => LETSENCRYPT_STAGING.into(),
        None => LETSENCRYPT.into(),
    };
    // jinit's own knob, for tests that must not wait 30 s for a CA that never answers.
    let timeout = match raw
        .get("JINIT_ACME_TIMEOUT")
        .filter(|t| !t.is_empty())
        .map(|t| duration::parse(t))
    {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn read_with(vars: &[(&str, &str)]) -> Result<Option<Config>, Vec<String>> {
        read(
            &vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn off_unless_enabled() {
        assert!(read_with(&[]).unwrap().is_none());
        assert!(
            read_with(&[("ENABLE_LETSENCRYPT", "0"), ("LETSENCRYPT_DOMAIN", "x")])
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn values_are_checked_as_the_schema_declares_them() {
        let e = read_with(&[("ENABLE_LETSENCRYPT", "yes")])
            .err()
            .unwrap()
            .join("\n");
        assert!(e.contains("LETSENCRYPT_DOMAIN: required"), "{e}");
        assert!(e.contains("LETSENCRYPT_EMAIL: required"), "{e}");
        let e = read_with(&[("ENABLE_LETSENCRYPT", "maybe")])
            .err()
            .unwrap()
            .join("\n");
        assert!(e.starts_with("ENABLE_LETSENCRYPT:"), "{e}");
        let e = read_with(&[
            ("ENABLE_LETSENCRYPT", "1"),
            ("LETSENCRYPT_DOMAIN", "meet example.com"),
            ("LETSENCRYPT_EMAIL", "ops\n@x"),
        ])
        .err()
        .unwrap()
        .join("\n");
        assert!(e.contains("LETSENCRYPT_DOMAIN:"), "{e}");
        assert!(e.contains("LETSENCRYPT_EMAIL:"), "{e}");
        let e = read_with(&[
            ("ENABLE_LETSENCRYPT", "1"),
            ("LETSENCRYPT_DOMAIN", "meet.example.com"),
            ("LETSENCRYPT_EMAIL", "ops.example.com"),
        ])
        .err()
        .unwrap()
        .join("\n");
        assert!(e.contains("is not an email address"), "{e}");
    }

    #[test]
    fn staging_and_own_directories() {
        let base = [
            ("ENABLE_LETSENCRYPT", "true"),
            ("LETSENCRYPT_DOMAIN", "meet.example.com"),
            ("LETSENCRYPT_EMAIL", "ops@example.com"),
        ];
        let c = read_with(&base).unwrap().unwrap();
        assert_eq!(c.directory, LETSENCRYPT);
        assert_eq!(c.timeout, REQUEST_TIMEOUT);
        let mut staging = base.to_vec();
        staging.push(("LETSENCRYPT_USE_STAGING", "1"));
        assert_eq!(
            read_with(&staging).unwrap().unwrap().directory,
            LETSENCRYPT_STAGING
        );
        let mut own = staging.clone();
        own.push(("LETSENCRYPT_ACME_SERVER", "https://127.0.0.1:14000/dir"));
        own.push(("JINIT_ACME_TIMEOUT", "2s"));
        let c = read_with(&own).unwrap().unwrap();
        assert_eq!(c.directory, "https://127.0.0.1:14000/dir");
        assert_eq!(c.timeout, Duration::from_secs(2));
    }
}
