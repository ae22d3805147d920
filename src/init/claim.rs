//! A running jinit's hold on its control socket's path, taken before anything is rendered and
//! kept until it exits.

use super::control::{check_free, prepare_dir, BindError};
use std::path::Path;

/// A running jinit's hold on its socket path: an exclusive lock on `SOCKET.lock`, kept until
/// it exits (the kernel drops it with the process). Looking for an answer on the socket and
/// binding it are two steps: two jinits started at the same instant could both find the path
/// free, and the later one would replace the other's socket. Only the lock's holder binds.
pub struct Claim {
    _lock: nix::fcntl::Flock<std::fs::File>,
}

/// Takes the claim on `path`, before anything is rendered; refuses like `check_free` when
/// another jinit holds it (naming its pid when it answers on the socket).
pub fn claim(path: &Path) -> Result<Claim, BindError> {
    use std::os::unix::fs::OpenOptionsExt;
    prepare_dir(path)?;
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&name)
        .map_err(BindError::Io)?;
    match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(lock) => {
            check_free(path)?;
            Ok(Claim { _lock: lock })
        }
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
            Err(check_free(path).err().unwrap_or_else(|| BindError::Served {
                path: path.to_path_buf(),
                pid: None,
            }))
        }
        Err((_, e)) => Err(BindError::Io(e.into())),
    }
}
