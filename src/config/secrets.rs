//! `jinit gen-secrets`: strong random values for the secrets the schemas declare.
//!
//! Prints `NAME=value` lines, or fills the empty secrets of an existing env file in place,
//! leaving every other line exactly as it was. Never prints a secret that was already set.

use crate::config::schema::{Kind, Schema};
use crate::config::types::Type;
use crate::sys::atomic;
use std::path::Path;

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const LENGTH: usize = 32;

/// Names of the secrets jinit may generate (not third-party passwords).
pub fn names(schema: &Schema) -> Vec<String> {
    schema
        .vars
        .iter()
        .filter(|v| {
            matches!(
                &v.kind,
                Kind::Value {
                    ty: Type::Secret,
                    external: false,
                    ..
                }
            )
        })
        .map(|v| v.name.clone())
        .collect()
}

/// 32 characters from [A-Za-z0-9] (about 190 bits): safe in .env files, URLs and Lua strings.
pub fn generate() -> Result<String, String> {
    let mut out = String::with_capacity(LENGTH);
    let mut buf = [0u8; 64];
    while out.len() < LENGTH {
        // SAFETY: getrandom writes at most buf.len() bytes into the buffer we own.
        let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(format!(
                "cannot read random bytes: {}",
                std::io::Error::last_os_error()
            ));
        }
        for &b in &buf[..n as usize] {
            // Rejection sampling keeps every character equally likely (248 = 4 * 62).
            if (b as usize) < 248 && out.len() < LENGTH {
                out.push(ALPHABET[b as usize % ALPHABET.len()] as char);
            }
        }
    }
    Ok(out)
}

/// Fills `NAME=` lines of secrets with generated values; appends secrets missing entirely.
/// Returns the names that were filled.
pub fn fill(path: &Path, names: &[String]) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut filled = Vec::new();
    let mut seen = Vec::new();
    let mut out = String::with_capacity(text.len() + 64 * names.len());
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let key = body.split_once('=').map(|(k, _)| k.trim());
        if let Some(k) = key.filter(|k| names.iter().any(|n| n == k)) {
            seen.push(k.to_string());
            let value = body.split_once('=').map(|(_, v)| v.trim()).unwrap_or("");
            if value.is_empty() || value == "\"\"" || value == "''" {
                out.push_str(&format!("{k}={}", generate()?));
                out.push_str(&line[body.len()..]);
                if !line.ends_with('\n') {
                    out.push('\n');
                }
                filled.push(k.to_string());
                continue;
            }
        }
        out.push_str(line);
    }
    let missing: Vec<&String> = names.iter().filter(|n| !seen.contains(n)).collect();
    if !missing.is_empty() {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str("\n# Added by jinit gen-secrets\n");
        for n in missing {
            out.push_str(&format!("{n}={}\n", generate()?));
            filled.push(n.clone());
        }
    }
    if !filled.is_empty() {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(0o600);
        atomic::replace(
            path,
            out.as_bytes(),
            &atomic::Options {
                mode,
                ..Default::default()
            },
        )?;
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_long_and_pass_the_strength_rules() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_eq!(a.len(), LENGTH);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| ALPHABET.contains(&c)));
        assert_eq!(crate::config::types::weak(&a), None);
    }

    #[test]
    fn fills_only_empty_secrets_and_keeps_everything_else() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join(".env");
        let original = "# comment\nHTTP_PORT=8000\nJVB_AUTH_PASSWORD=\nJICOFO_AUTH_PASSWORD=already-set-by-me-long\n\nTZ=UTC";
        std::fs::write(&f, original).unwrap();
        let names = vec![
            "JVB_AUTH_PASSWORD".to_string(),
            "JICOFO_AUTH_PASSWORD".into(),
            "JIGASI_XMPP_PASSWORD".into(),
        ];
        let filled = fill(&f, &names).unwrap();
        assert_eq!(filled, vec!["JVB_AUTH_PASSWORD", "JIGASI_XMPP_PASSWORD"]);
        let text = std::fs::read_to_string(&f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0..2], ["# comment", "HTTP_PORT=8000"]);
        assert!(lines[2].starts_with("JVB_AUTH_PASSWORD=") && lines[2].len() == 18 + LENGTH);
        assert_eq!(
            lines[3..6],
            ["JICOFO_AUTH_PASSWORD=already-set-by-me-long", "", "TZ=UTC"]
        );
        assert!(text.contains("\nJIGASI_XMPP_PASSWORD="));
        // A second run changes nothing.
        assert!(fill(&f, &names).unwrap().is_empty());
        assert_eq!(std::fs::read_to_string(&f).unwrap(), text);
    }
}
