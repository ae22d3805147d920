//! The only module that replaces files: temp file in the same directory, fsync, rename.
//!
//! A reader (nginx, prosody, a human) sees the old file or the new one, never a half-written
//! one; a failed write or validation leaves the old file untouched. Unchanged content is not
//! rewritten, so mtimes and inotify watchers only see real changes.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Unchanged,
    Written,
}

/// Checks a new file (given its temporary path) before it replaces the old one.
pub type Validator<'a> = &'a dyn Fn(&Path) -> Result<(), String>;

pub struct Options<'a> {
    pub mode: u32,
    pub owner: Option<(u32, u32)>,
    pub validate: Option<Validator<'a>>,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options {
            mode: 0o644,
            owner: None,
            validate: None,
        }
    }
}

/// A new file written next to its destination, not yet in place.
#[derive(Debug)]
pub struct Staged {
    pub tmp: PathBuf,
    pub dest: PathBuf,
}

/// Replaces `dest` with `content` unless it already holds exactly that.
pub fn replace(dest: &Path, content: &[u8], opts: &Options) -> Result<Change, String> {
    let Some(staged) = stage(dest, content, opts.mode, opts.owner)? else {
        return Ok(Change::Unchanged);
    };
    if let Some(check) = opts.validate {
        if let Err(e) = check(&staged.tmp) {
            discard(staged);
            return Err(e);
        }
    }
    commit(staged)
}

/// Writes `content` to a temporary file beside `dest` (None when `dest` already holds exactly
/// that); `commit` moves it in place, `discard` removes it. For validation that must not
/// block the caller: the validator reads the temporary file in between.
pub fn stage(
    dest: &Path,
    content: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<Option<Staged>, String> {
    let opts = Options {
        mode,
        owner,
        validate: None,
    };
    // Never through a symlink (or a FIFO, a device) at the destination: whatever it is, it is
    // not our file and gets replaced by one; the rename replaces the link, not its target.
    let limit = content.len() as u64;
    if let Ok(old) = crate::bounded::read(dest, limit, crate::bounded::Links::Refuse) {
        let same_mode = fs::symlink_metadata(dest)
            .map(|m| m.permissions().mode() & 0o7777 == opts.mode)
            .unwrap_or(false);
        if old == content && same_mode {
            return Ok(None);
        }
    }
    let dir = dest
        .parent()
        .ok_or_else(|| format!("{} has no directory", dest.display()))?;
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let tmp = temp_path(dest);
    if let Err(e) = write_temp(&tmp, content, &opts) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(Some(Staged {
        tmp,
        dest: dest.to_path_buf(),
    }))
}

/// Moves a staged file in place.
pub fn commit(staged: Staged) -> Result<Change, String> {
    if let Err(e) = fs::rename(&staged.tmp, &staged.dest) {
        let _ = fs::remove_file(&staged.tmp);
        return Err(format!("cannot replace {}: {e}", staged.dest.display()));
    }
    // The rename is durable only once the directory entry is on disk.
    if let Some(Ok(d)) = staged.dest.parent().map(File::open) {
        let _ = d.sync_all();
    }
    Ok(Change::Written)
}

/// Drops a staged file; the destination stays as it was.
pub fn discard(staged: Staged) {
    let _ = fs::remove_file(&staged.tmp);
}

/// Removes a file that should no longer exist (its render condition became false).
pub fn remove(dest: &Path) -> Result<Change, String> {
    match fs::remove_file(dest) {
        Ok(()) => Ok(Change::Written),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Change::Unchanged),
        Err(e) => Err(format!("cannot remove {}: {e}", dest.display())),
    }
}

/// Writes `content` to `dest` only if nothing is there yet: written and synced beside it, then
/// linked in place (link, unlike rename, fails on an existing name). Returns whether this
/// call created it; false when another writer was first.
pub fn create_new(dest: &Path, content: &[u8], mode: u32) -> Result<bool, String> {
    let tmp = temp_path(dest);
    let opts = Options {
        mode,
        ..Options::default()
    };
    if let Err(e) = write_temp(&tmp, content, &opts) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    let linked = fs::hard_link(&tmp, dest);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(format!("cannot create {}: {e}", dest.display())),
    }
}

fn temp_path(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // The real name stays the suffix: validators pick their parser by extension
    // (`prosodyctl check config` wants `.cfg.lua`).
    dest.with_file_name(format!(".jinit-tmp-{}.{name}", std::process::id()))
}

fn write_temp(tmp: &Path, content: &[u8], opts: &Options) -> Result<(), String> {
    let _ = fs::remove_file(tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(opts.mode)
        .open(tmp)
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    f.write_all(content)
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    // The umask may have narrowed the mode given to open.
    fs::set_permissions(tmp, fs::Permissions::from_mode(opts.mode))
        .map_err(|e| format!("cannot set the mode of {}: {e}", tmp.display()))?;
    if let Some((uid, gid)) = opts.owner {
        std::os::unix::fs::chown(tmp, Some(uid), Some(gid))
            .map_err(|e| format!("cannot change the owner of {}: {e}", tmp.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_skips_unchanged_and_keeps_old_on_failed_validation() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("sub/a.conf");
        assert_eq!(
            replace(&f, b"one", &Options::default()).unwrap(),
            Change::Written
        );
        assert_eq!(
            replace(&f, b"one", &Options::default()).unwrap(),
            Change::Unchanged
        );
        let refuse = |_: &Path| Err("nginx: bad directive".to_string());
        let opts = Options {
            validate: Some(&refuse),
            ..Options::default()
        };
        assert_eq!(
            replace(&f, b"two", &opts).unwrap_err(),
            "nginx: bad directive"
        );
        assert_eq!(fs::read(&f).unwrap(), b"one");
        let leftovers: Vec<_> = fs::read_dir(f.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left behind");
        let opts = Options {
            mode: 0o600,
            ..Options::default()
        };
        assert_eq!(
            replace(&f, b"one", &opts).unwrap(),
            Change::Written,
            "mode change counts"
        );
        assert_eq!(
            fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn unwritable_destination_is_an_error_naming_the_path() {
        let e = replace(
            Path::new("/proc/jinit-test/x.conf"),
            b"x",
            &Options::default(),
        )
        .unwrap_err();
        assert!(e.contains("/proc/jinit-test"), "{e}");
    }
}
