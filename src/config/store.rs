//! The generated-secrets store: one directory (in Compose, the `secrets` named volume that
//! every container of the stack mounts) holding one file per secret, `DIR/NAME`, mode 0600.
//!
//! A secret the environment gives (`NAME` or `NAME_FILE`) always wins. For one it does not
//! give, the image reads `DIR/NAME` as if `NAME_FILE=DIR/NAME` were set, so the file is read,
//! checked and watched exactly like a Docker secret. The image with `generate-secrets`
//! (prosody, the first service to start) creates the missing files: at boot and at every
//! reload, so a removed file is replaced at once by a new value (a rotation) that every
//! container watching it picks up. An image that only reads the store takes from it just the
//! secrets it cannot run without (its `require`): jicofo reads Jicofo's password, not the
//! bridge's. Only the secrets jinit may generate are stored (the
//! schemas' `secret` variables that are not `external`); values are never logged.

use crate::config::schema::Schema;
use crate::config::secrets;
use crate::problem::Problem;
use crate::sys::atomic;
use std::collections::BTreeMap;
use std::path::Path;

/// What `apply` does with the store.
pub enum Use<'a> {
    /// Create the missing secrets, then read every one.
    Generate,
    /// Read every stored one, create none (`jinit check` in the generating image).
    ReadAll,
    /// Read only these (the image's `require`).
    Read(&'a [String]),
}

/// Points the environment at the stored secrets it does not give; with `Use::Generate`,
/// creates those that are not stored yet. Returns the created names (for the log) or the
/// problems.
pub fn apply(
    schema: &Schema,
    raw: &mut BTreeMap<String, String>,
    dir: &Path,
    how: Use,
) -> Result<Vec<String>, Vec<Problem>> {
    let generate = matches!(how, Use::Generate);
    let mut created = Vec::new();
    let mut problems = Vec::new();
    for name in secrets::names(schema) {
        if schema.get(&name).is_some_and(|v| !v.stored) {
            continue;
        }
        if let Use::Read(wanted) = how {
            if !wanted.contains(&name) {
                continue;
            }
        }
        let file_var = format!("{name}_FILE");
        let given = |k: &str| raw.get(k).is_some_and(|v| !v.is_empty());
        if given(&name) || given(&file_var) {
            continue;
        }
        let path = dir.join(&name);
        let exists = path.symlink_metadata().is_ok();
        if !exists && generate {
            match create(&path) {
                Ok(true) => created.push(name.clone()),
                Ok(false) => {}
                Err(e) => {
                    problems.push(Problem::new(
                        &name,
                        format!(
                            "cannot store a generated secret in {}: {e}; the secrets volume must be writable by uid {}",
                            path.display(),
                            nix::unistd::geteuid()
                        ),
                    ));
                    continue;
                }
            }
        } else if !exists {
            // Not an error by itself: the image's `require` decides whether it is needed,
            // and `missing_hint` explains the store then.
            continue;
        }
        raw.insert(file_var, path.to_string_lossy().into_owned());
    }
    if problems.is_empty() {
        Ok(created)
    } else {
        Err(problems)
    }
}

/// What to add to "required secret is empty" when the store is in use but lacks the file.
pub fn missing_hint(dir: &Path, name: &str) -> String {
    format!(
        "not in the environment, and {} does not exist: the prosody container creates it at its first start (run the whole stack, e.g. `docker compose up -d`, so that prosody and this container share the `secrets` volume), or set {name} in .env",
        dir.join(name).display()
    )
}

/// Writes a new secret to `path` unless a file is there already (another writer won).
fn create(path: &Path) -> Result<bool, String> {
    let value = secrets::generate()? + "\n";
    atomic::create_new(path, value.as_bytes(), 0o600)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn schema() -> Schema {
        Schema::parse(
            r#"
[var.A_PASSWORD]
type = "secret"
[var.B_PASSWORD]
type = "secret"
[var.THIRD_PARTY]
type = "secret"
external = true
[var.PLAIN]
type = "string"
[var.ISSUER_SECRET]
type = "secret"
stored = false
"#,
            Path::new("test.toml"),
        )
        .unwrap()
    }

    #[test]
    fn generates_once_and_points_the_environment_at_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut raw = BTreeMap::new();
        let created = apply(&schema(), &mut raw, dir.path(), Use::Generate).unwrap();
        assert_eq!(created, vec!["A_PASSWORD", "B_PASSWORD"]);
        let a = dir.path().join("A_PASSWORD");
        assert_eq!(raw["A_PASSWORD_FILE"], a.to_string_lossy());
        let first = std::fs::read_to_string(&a).unwrap();
        assert_eq!(first.trim_end().len(), 32);
        assert_eq!(a.metadata().unwrap().permissions().mode() & 0o777, 0o600);
        assert!(!dir.path().join("THIRD_PARTY").exists());
        assert!(!dir.path().join("PLAIN").exists());
        assert!(!dir.path().join("ISSUER_SECRET").exists());
        assert!(!raw.contains_key("ISSUER_SECRET_FILE"));
        // Again: nothing new, the same values.
        let mut raw = BTreeMap::new();
        assert!(apply(&schema(), &mut raw, dir.path(), Use::Generate)
            .unwrap()
            .is_empty());
        assert_eq!(std::fs::read_to_string(&a).unwrap(), first);
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn a_given_value_wins_and_a_removed_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let mut raw = BTreeMap::from([("A_PASSWORD".to_string(), "x".repeat(40))]);
        let created = apply(&schema(), &mut raw, dir.path(), Use::Generate).unwrap();
        assert_eq!(created, vec!["B_PASSWORD"]);
        assert!(!raw.contains_key("A_PASSWORD_FILE"));
        let b = dir.path().join("B_PASSWORD");
        let old = std::fs::read_to_string(&b).unwrap();
        std::fs::remove_file(&b).unwrap();
        apply(&schema(), &mut BTreeMap::new(), dir.path(), Use::Generate).unwrap();
        assert_ne!(std::fs::read_to_string(&b).unwrap(), old);
    }

    #[test]
    fn a_reader_uses_what_it_requires_and_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("A_PASSWORD"), "y".repeat(32)).unwrap();
        std::fs::write(dir.path().join("B_PASSWORD"), "z".repeat(32)).unwrap();
        let wanted = ["A_PASSWORD".to_string(), "C_PASSWORD".to_string()];
        let mut raw = BTreeMap::new();
        assert!(apply(&schema(), &mut raw, dir.path(), Use::Read(&wanted))
            .unwrap()
            .is_empty());
        assert!(raw.contains_key("A_PASSWORD_FILE"));
        // Stored, but not this image's: not read.
        assert!(!raw.contains_key("B_PASSWORD_FILE"));
        std::fs::remove_file(dir.path().join("A_PASSWORD")).unwrap();
        let mut raw = BTreeMap::new();
        apply(&schema(), &mut raw, dir.path(), Use::Read(&wanted)).unwrap();
        assert!(!raw.contains_key("A_PASSWORD_FILE"));
        assert!(!dir.path().join("A_PASSWORD").exists());
    }

    #[test]
    fn an_unwritable_store_is_named() {
        let mut raw = BTreeMap::new();
        let err = apply(
            &schema(),
            &mut raw,
            Path::new("/proc/no-such-dir"),
            Use::Generate,
        )
        .unwrap_err();
        assert_eq!(err.len(), 2);
        assert!(
            err[0].message.contains("/proc/no-such-dir/A_PASSWORD"),
            "{err:?}"
        );
        assert!(err[0].message.contains("writable by uid"), "{err:?}");
    }
}
