//! Reading files that an operator, a volume or a service controls: regular files only, never
//! blocking, never more than a stated size.
//!
//! jinit is PID 1: a `_FILE` secret pointing at /dev/zero must not eat the memory, a FIFO must
//! not hang the loop, and a symlink at a destination must not make it read whatever the link
//! names. Every read of such a file goes through here; it never writes.

use std::fs::OpenOptions;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// A secret (`NAME_FILE`): passwords are short; a certificate or key is not a secret here.
pub const SECRET_MAX: u64 = 64 * 1024;
/// A spec, schema, template, env file or `custom-*` file an image appends.
pub const CONFIG_MAX: u64 = 4 * 1024 * 1024;

/// Whether a symlink at the path itself is followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// Follow: Kubernetes mounts secrets as symlinks into a `..data` directory.
    Follow,
    /// Refuse (ELOOP): a destination jinit replaces is read only as the file it is.
    Refuse,
}

/// Reads at most `limit` bytes of a regular file; anything else (FIFO, device, directory,
/// socket) or a larger file is an error that says which.
pub fn read(path: &Path, limit: u64, links: Links) -> io::Result<Vec<u8>> {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, before the
    // file type can even be checked. It does not affect reads of regular files.
    let mut flags = libc::O_NONBLOCK | libc::O_NOCTTY;
    if links == Links::Refuse {
        flags |= libc::O_NOFOLLOW;
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a regular file", kind(&meta)),
        ));
    }
    if meta.len() > limit {
        return Err(too_large(limit));
    }
    let mut buf = Vec::with_capacity(meta.len() as usize);
    // The file may grow between fstat and read: read one byte more than allowed to notice.
    file.take(limit + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > limit {
        return Err(too_large(limit));
    }
    Ok(buf)
}

/// `read` as UTF-8 text.
pub fn read_to_string(path: &Path, limit: u64, links: Links) -> io::Result<String> {
    String::from_utf8(read(path, limit, links)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "is not UTF-8 text"))
}

fn too_large(limit: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("larger than the limit of {limit} bytes"),
    )
}

fn kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_within_the_limit_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("s");
        std::fs::write(&f, "secret\n").unwrap();
        assert_eq!(read_to_string(&f, 7, Links::Follow).unwrap(), "secret\n");
        let e = read(&f, 6, Links::Follow).unwrap_err();
        assert_eq!(e.to_string(), "larger than the limit of 6 bytes");
    }

    #[test]
    fn devices_fifos_and_directories_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        for (path, what) in [
            (Path::new("/dev/zero"), "a device"),
            (fifo.as_path(), "a FIFO"),
            (dir.path(), "a directory"),
        ] {
            let e = read(path, SECRET_MAX, Links::Follow).unwrap_err();
            assert_eq!(e.to_string(), format!("{what} is not a regular file"));
        }
    }

    #[test]
    fn symlinks_are_followed_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert!(read(&link, CONFIG_MAX, Links::Refuse).is_err());
        let e = read(&link, CONFIG_MAX, Links::Follow).unwrap_err();
        assert_eq!(e.to_string(), "a device is not a regular file");
        let target = dir.path().join("t");
        std::fs::write(&target, "x").unwrap();
        let good = dir.path().join("good");
        std::os::unix::fs::symlink(&target, &good).unwrap();
        assert_eq!(read(&good, 1, Links::Follow).unwrap(), b"x");
        assert!(read(&good, 1, Links::Refuse).is_err());
    }
}
