//! Looks up users and groups in /etc/passwd and /etc/group by reading the files.
//!
//! jinit is linked statically, and glibc's getpwnam in a static binary needs the shared NSS
//! modules at run time; reading the files keeps the binary self-contained. Containers have no
//! other user database.

use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    /// Supplementary groups, the primary one included.
    pub groups: Vec<u32>,
}

/// Why a unit's `user` or `group` cannot be used; `key` names the spec key to blame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error("unknown user {name:?} (not in {etc}/passwd)")]
    User { name: String, etc: String },
    #[error("unknown group {name:?} (not in {etc}/group)")]
    Group { name: String, etc: String },
}

impl LookupError {
    pub fn key(&self) -> &'static str {
        match self {
            LookupError::User { .. } => "user",
            LookupError::Group { .. } => "group",
        }
    }
}

/// Resolves `user` (name or numeric uid) and an optional `group` override.
pub fn resolve(user: Option<&str>, group: Option<&str>) -> Result<Option<Account>, LookupError> {
    resolve_in(Path::new("/etc"), user, group)
}

pub fn resolve_in(
    etc: &Path,
    user: Option<&str>,
    group: Option<&str>,
) -> Result<Option<Account>, LookupError> {
    if user.is_none() && group.is_none() {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string(etc.join("passwd")).unwrap_or_default();
    let groups = std::fs::read_to_string(etc.join("group")).unwrap_or_default();
    let mut account = match user {
        Some(u) => find_user(&passwd, u).ok_or_else(|| LookupError::User {
            name: u.to_string(),
            etc: etc.display().to_string(),
        })?,
        None => Account {
            name: "root".into(),
            uid: nix::unistd::getuid().as_raw(),
            gid: nix::unistd::getgid().as_raw(),
            home: "/".into(),
            groups: Vec::new(),
        },
    };
    if let Some(g) = group {
        account.gid = find_group(&groups, g).ok_or_else(|| LookupError::Group {
            name: g.to_string(),
            etc: etc.display().to_string(),
        })?;
        account.groups = vec![account.gid];
    } else if user.is_some() {
        account.groups = member_of(&groups, &account.name, account.gid);
    }
    Ok(Some(account))
}

fn find_user(passwd: &str, user: &str) -> Option<Account> {
    let numeric = user.parse::<u32>().ok();
    for line in passwd.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 {
            continue;
        }
        let (Ok(uid), Ok(gid)) = (f[2].parse::<u32>(), f[3].parse::<u32>()) else {
            continue;
        };
        if f[0] == user || numeric == Some(uid) {
            return Some(Account {
                name: f[0].to_string(),
                uid,
                gid,
                home: f[5].to_string(),
                groups: Vec::new(),
            });
        }
    }
    // A bare uid that has no passwd entry is still a valid identity to run as.
    numeric.map(|uid| Account {
        name: user.to_string(),
        uid,
        gid: uid,
        home: "/".into(),
        groups: Vec::new(),
    })
}

fn find_group(group: &str, name: &str) -> Option<u32> {
    let numeric = name.parse::<u32>().ok();
    group
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            let gid = f.get(2)?.parse::<u32>().ok()?;
            (f[0] == name || numeric == Some(gid)).then_some(gid)
        })
        .next()
        .or(numeric)
}

fn member_of(group: &str, user: &str, primary: u32) -> Vec<u32> {
    let mut out = vec![primary];
    for line in group.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 4 {
            continue;
        }
        let Ok(gid) = f[2].parse::<u32>() else {
            continue;
        };
        if f[3].split(',').any(|m| m == user) && !out.contains(&gid) {
            out.push(gid);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn etc() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("passwd"),
            "root:x:0:0:root:/root:/bin/sh\njitsi:x:1000:1000::/home/jitsi:/bin/false\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("group"),
            "root:x:0:\njitsi:x:1000:\naudio:x:29:jitsi,other\n",
        )
        .unwrap();
        d
    }

    #[test]
    fn resolves_names_numbers_and_groups() {
        let d = etc();
        let a = resolve_in(d.path(), Some("jitsi"), None).unwrap().unwrap();
        assert_eq!((a.uid, a.gid), (1000, 1000));
        assert_eq!(a.groups, vec![1000, 29]);
        let a = resolve_in(d.path(), Some("1000"), Some("audio"))
            .unwrap()
            .unwrap();
        assert_eq!((a.uid, a.gid, a.groups), (1000, 29, vec![29]));
        let a = resolve_in(d.path(), Some("4242"), None).unwrap().unwrap();
        assert_eq!(a.uid, 4242);
    }

    #[test]
    fn unknown_names_are_errors() {
        let d = etc();
        let e = resolve_in(d.path(), Some("nobody-here"), None).unwrap_err();
        assert_eq!(e.key(), "user");
        assert!(
            e.to_string().contains("unknown user \"nobody-here\""),
            "{e}"
        );
        let e = resolve_in(d.path(), Some("jitsi"), Some("wheel")).unwrap_err();
        assert_eq!(e.key(), "group");
        assert!(e.to_string().contains("unknown group \"wheel\""), "{e}");
        // A user whose name says "group" is still the user's problem (the key used to be
        // guessed from the message's text).
        let e = resolve_in(d.path(), Some("group"), None).unwrap_err();
        assert_eq!(e.key(), "user", "{e}");
    }
}
