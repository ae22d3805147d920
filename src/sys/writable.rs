//! The boot-time check of the directories an image writes to (its volumes): each must be a
//! directory that this process's user can create files in. A volume the service user cannot
//! write (a host directory Docker created as root, a copied one owned by someone else) is
//! otherwise found only by the service, which often names neither the path nor the fix.
//!
//! The message names the path, its owner and mode, the user that needs to write, the host
//! side of the mount when /proc/self/mountinfo shows it, and the fix.

use nix::unistd::{access, AccessFlags};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Ok, or what is wrong with `path` and how to fix it.
pub fn check(path: &Path) -> Result<(), String> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return Err(format!("{} cannot be used: {e}", path.display())),
    };
    if !meta.is_dir() {
        return Err(format!("{} is not a directory", path.display()));
    }
    match access(path, AccessFlags::W_OK | AccessFlags::X_OK) {
        Ok(()) => return Ok(()),
        Err(nix::errno::Errno::EROFS) => {
            return Err(format!(
                "{} is on a read-only file system: mount a writable volume there (docker-compose.yml does)",
                path.display()
            ))
        }
        Err(_) => {}
    }
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    Err(describe(path, &meta, (uid, gid), mount_source(path)))
}

fn describe(
    path: &Path,
    meta: &std::fs::Metadata,
    (uid, gid): (u32, u32),
    host: Option<(String, String)>,
) -> String {
    let (at, dir) = match host {
        Some((root, fs)) => (format!(" (on the Docker host: {root}, on {fs})"), root),
        None => (String::new(), "<the host directory>".to_string()),
    };
    format!(
        "{} is not writable by uid {uid} (the user this container runs as): it belongs to uid {}, gid {}, mode {:04o}{at}. \
         Fix it on the Docker host with `sudo chown -R {uid}:{gid} {dir}`, or keep this data in the named volumes of docker-compose.yml, which take the image's owner",
        path.display(),
        meta.uid(),
        meta.gid(),
        meta.mode() & 0o7777,
    )
}

/// For the mount whose mount point is `path`: the directory of its source file system that is
/// mounted there (for a bind mount, the host directory relative to its file system's root)
/// and that file system's source.
fn mount_source(path: &Path) -> Option<(String, String)> {
    let text = crate::bounded::read_to_string(
        Path::new("/proc/self/mountinfo"),
        crate::bounded::CONFIG_MAX,
        crate::bounded::Links::Follow,
    )
    .ok()?;
    let want = path.to_str()?;
    parse_mountinfo(&text, want)
}

fn parse_mountinfo(text: &str, mount_point: &str) -> Option<(String, String)> {
    // Later lines win: a mount over another one is listed after it.
    text.lines().rev().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let fields: Vec<&str> = left.split(' ').collect();
        if unescape(fields.get(4)?) != mount_point {
            return None;
        }
        let source = right.split(' ').nth(1).unwrap_or("?");
        Some((unescape(fields.get(3)?), unescape(source)))
    })
}

/// mountinfo writes space, tab, newline and backslash as \ooo octal escapes.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let digits = bytes.get(i + 1..i + 4).unwrap_or_default();
        if bytes[i] == b'\\'
            && digits.len() == 3
            && digits.iter().all(|d| (b'0'..=b'7').contains(d))
        {
            let value = digits.iter().fold(0u32, |n, d| n * 8 + u32::from(d - b'0'));
            if let Ok(b) = u8::try_from(value) {
                out.push(b);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    // Shown to a person: a byte that is not UTF-8 becomes U+FFFD.
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const INFO: &str = "\
22 1 0:21 / / rw,relatime - overlay overlay rw,lowerdir=/x
30 22 8:1 /home/ana/jitsi\\040cfg/prosody/data /var/lib/prosody rw,relatime - ext4 /dev/sda1 rw
31 22 8:1 /var/lib/docker/volumes/jitsi_secrets/_data /secrets rw,relatime - ext4 /dev/sda1 rw
";

    #[test]
    fn finds_the_host_side_of_a_bind_mount() {
        assert_eq!(
            parse_mountinfo(INFO, "/var/lib/prosody"),
            Some((
                "/home/ana/jitsi cfg/prosody/data".to_string(),
                "/dev/sda1".to_string()
            ))
        );
        assert_eq!(
            parse_mountinfo(INFO, "/secrets").unwrap().0,
            "/var/lib/docker/volumes/jitsi_secrets/_data"
        );
        assert_eq!(parse_mountinfo(INFO, "/storage"), None);
        assert_eq!(parse_mountinfo("garbage\n\n - \n", "/x"), None);
    }

    #[test]
    fn unescape_survives_hostile_fields() {
        assert_eq!(unescape("a\\040b"), "a b");
        assert_eq!(unescape("\\"), "\\");
        assert_eq!(unescape("\\04"), "\\04");
        assert_eq!(unescape("\\999x"), "\\999x");
        assert_eq!(unescape("\\377"), "\u{fffd}");
    }

    #[test]
    fn a_writable_directory_passes_and_others_are_named() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(check(dir.path()), Ok(()));
        let file = dir.path().join("f");
        std::fs::write(&file, "").unwrap();
        assert!(check(&file).unwrap_err().contains("is not a directory"));
        let gone = dir.path().join("gone");
        assert!(check(&gone).unwrap_err().contains("gone cannot be used"));
    }

    /// (As root access() allows every directory, so check() itself is exercised as uid 1000
    /// by the stack and Docker suites; here the message.)
    #[test]
    fn an_unwritable_directory_names_owner_mode_host_path_and_fix() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o750)).unwrap();
        let meta = std::fs::metadata(dir.path()).unwrap();
        let host = Some((
            "/home/ana/cfg/prosody/data".to_string(),
            "/dev/sda1".to_string(),
        ));
        let text = describe(Path::new("/var/lib/prosody"), &meta, (1000, 1000), host);
        assert!(
            text.starts_with("/var/lib/prosody is not writable by uid 1000"),
            "{text}"
        );
        let owner = format!(
            "belongs to uid {}, gid {}, mode 0750",
            meta.uid(),
            meta.gid()
        );
        assert!(text.contains(&owner), "{text}");
        assert!(
            text.contains("on the Docker host: /home/ana/cfg/prosody/data, on /dev/sda1"),
            "{text}"
        );
        assert!(
            text.contains("`sudo chown -R 1000:1000 /home/ana/cfg/prosody/data`"),
            "{text}"
        );
        let text = describe(Path::new("/storage"), &meta, (1000, 1000), None);
        assert!(
            text.contains("`sudo chown -R 1000:1000 <the host directory>`"),
            "{text}"
        );
    }
}
