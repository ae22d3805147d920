//! What `jinit acme` keeps on disk: key and chain swapped as a pair, the status file that
//! `jinit status` shows, and the account file named after the CA's directory.

use super::types::{status_path, Status};
use crate::sys::atomic;
use std::path::Path;

/// Writes key and chain as `*.new`, then renames both; a crash between the two renames is
/// finished by `finish_interrupted_swap` on the next run, so key and chain always match.
pub(super) fn save(dir: &Path, key: &str, chain: &str) -> Result<(), String> {
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

pub(super) fn finish_interrupted_swap(dir: &Path) {
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

pub(super) fn write_status(status: &Status) {
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

pub(super) fn slug(url: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_files_are_named_after_the_directory() {
        assert_eq!(
            slug("https://acme-v02.api.letsencrypt.org/directory"),
            "acme-v02.api.letsencrypt.org_directory"
        );
        assert_eq!(slug("https://127.0.0.1:14000/dir"), "127.0.0.1_14000_dir");
    }
}
