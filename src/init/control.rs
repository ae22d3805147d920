//! The control socket: `jinit status|health|metrics|restart|reload` talk to the running
//! supervisor (their side is `client`); `metrics` is answered with the text in `message`.
//!
//! One JSON request line in, one JSON response out, then the connection closes. Owns the
//! socket file: binds it (never over a live one), brings it back when it was deleted (on
//! SIGHUP and `jinit reload`), and removes it at exit only while it is still the file this
//! jinit bound. It never acts on a request itself: the supervisor does.
//!
//! # Who may do what
//! The socket is owner-only (its directory 0700 when it is jinit's own, the socket 0600), and a
//! peer whose uid (SO_PEERCRED) is neither 0 nor jinit's is refused. `status`, `health`, `metrics`
//! and `reload` of every unit are open to every peer: a reload only applies the current inputs,
//! which a unit could also trigger by changing a watched file (`jinit acme` reloads this way after
//! a renewal). `restart UNIT` and `reload UNIT` are refused to jinit's own descendants, that is the
//! units and their children, or any orphan re-parented to jinit: a service must not restart its
//! neighbours. This is a guard against accidents and simple misuse, not a security boundary: the
//! services share jinit's uid and can signal jinit and each other directly.
//!
//! # Limits
//! A request line longer than `MAX_REQUEST` gets an error answer; a client that sends no full
//! line within `IDLE_TIMEOUT` is answered and closed; beyond `MAX_CLIENTS` open connections a
//! new one is told so and closed at once; a failing accept (EMFILE) is retried with backoff
//! (`accept`).

use super::accept::AcceptFailures;
use crate::log;
use crate::sink::Sink;
use serde::{Deserialize, Serialize};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::sync::{oneshot, Notify, Semaphore};

pub const DEFAULT_SOCKET: &str = "/run/jinit/jinit.sock";

/// Longest request line; the longest real one (a reload naming a unit) is under 100 bytes.
pub const MAX_REQUEST: usize = 4096;
/// How long a client may take to send its request line, and to take the answer.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once; more are refused at once, so idle ones cannot pile up.
pub const MAX_CLIENTS: usize = 16;
/// Input read and dropped after the answer, so that closing does not reset the connection.
const DRAIN_MAX: u64 = 64 << 10;
/// Client side: the longest answer read (`status` of every unit is a few kB).
pub const MAX_ANSWER: u64 = 1 << 20;
/// Client side: how long to wait for the connection and the answer. A reload re-renders and
/// may run validators (`nginx -t`) before it answers.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Request {
    Status,
    Health,
    Metrics,
    Restart { unit: String },
    Reload { unit: Option<String> },
}

impl Request {
    /// Whether the request acts on one named unit (refused to jinit's descendants).
    fn names_a_unit(&self) -> bool {
        matches!(
            self,
            Request::Restart { .. } | Request::Reload { unit: Some(_) }
        )
    }
}

#[derive(Debug, Serialize, Deserialize, Default)]
pub struct Response {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub units: Vec<UnitStatus>,
    /// For `health`: the `health` probes of the ready services, which the client asks itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<HealthCheck>,
}

/// One service's `health` probe, as `jinit health` asks it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct HealthCheck {
    pub unit: String,
    /// "tcp", "http" or "file".
    pub kind: String,
    pub target: String,
}

impl Response {
    fn refusal(message: String) -> Response {
        Response {
            ok: false,
            message,
            ..Response::default()
        }
    }
}

#[derive(Debug, Serialize, Deserialize, Clone)]
pub struct UnitStatus {
    pub name: String,
    pub kind: String,
    pub state: String,
    pub pid: Option<i32>,
    pub uptime_secs: Option<f64>,
    pub restarts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

pub fn socket_path() -> PathBuf {
    std::env::var_os("JINIT_SOCKET")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET))
}

/// Why the socket could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// Something answers on the path: another jinit, most likely. Its pid when the kernel
    /// can tell (0 when it lives in another PID namespace).
    #[error(
        "{} is already running on {}: talk to it with `jinit status`, `jinit restart UNIT` or \
         `jinit reload`, or set JINIT_SOCKET to run a second instance",
        another(*pid),
        path.display()
    )]
    Served { path: PathBuf, pid: Option<i32> },
    #[error(transparent)]
    Io(io::Error),
}

impl BindError {
    /// The refusal as the operator reads it; `doing` is what failed ("lock", "create").
    pub fn describe(&self, doing: &str, path: &Path) -> String {
        match self {
            BindError::Served { .. } => self.to_string(),
            BindError::Io(e) => format!(
                "cannot {doing} the control socket {}: {e} (set JINIT_SOCKET to a writable path)",
                path.display()
            ),
        }
    }
}

fn another(pid: Option<i32>) -> String {
    match pid {
        Some(p) if p > 0 => format!("another jinit (pid {p})"),
        _ => "another jinit".to_string(),
    }
}

/// Fails when something already answers on `path`; a socket nobody answers on (connection
/// refused) is stale, and no file at all is free.
pub(super) fn check_free(path: &Path) -> Result<(), BindError> {
    match connect(path, Duration::from_secs(2)) {
        Ok(stream) => Err(BindError::Served {
            path: path.to_path_buf(),
            pid: peer_pid(&stream),
        }),
        // A full backlog: a server is there, only too busy to accept.
        Err(e) if e.kind() == io::ErrorKind::TimedOut => Err(BindError::Served {
            path: path.to_path_buf(),
            pid: None,
        }),
        Err(_) => Ok(()),
    }
}

/// The pid of the process at the other end (for a client: the one that called listen).
fn peer_pid(stream: &UnixStream) -> Option<i32> {
    let mut cred: libc::ucred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt(SO_PEERCRED) writes at most `len` bytes into `cred`, which we own.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some(cred.pid)
}

/// The socket file this jinit bound, known by device and inode: the path alone could name
/// a file someone else created since. Dropping it removes the file only if it is still ours.
pub struct Socket {
    path: PathBuf,
    listener: UnixListener,
    dev: u64,
    ino: u64,
}

impl Socket {
    /// Whether the path still names the socket we bound.
    fn is_ours(&self) -> bool {
        std::fs::symlink_metadata(&self.path)
            .is_ok_and(|m| m.dev() == self.dev && m.ino() == self.ino)
    }

    /// Binds the socket again when its file was deleted or replaced by a dead one; leaves a
    /// live one alone.
    fn restore(&mut self) {
        if self.is_ours() {
            return;
        }
        match bind(&self.path) {
            Ok(new) => {
                // The old listener closes here; its file is already gone.
                *self = new;
                log::info(&format!(
                    "the control socket {} was gone: created it again",
                    self.path.display()
                ));
            }
            Err(e) => log::warn(&format!(
                "cannot create the control socket {} again: {e}",
                self.path.display()
            )),
        }
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        if self.is_ours() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The socket's directory, created when missing.
pub(super) fn prepare_dir(path: &Path) -> Result<(), BindError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(BindError::Io)?;
        // Only tighten a directory we own alone; /tmp must stay as it is.
        if dir.file_name().is_some_and(|n| n == "jinit") {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(BindError::Io)?;
        }
    }
    Ok(())
}

/// Binds the socket (inside the runtime), replacing a stale one from an earlier run. Refuses
/// when something answers on the path, and never removes anything but a socket. The caller
/// holds the path's `claim::Claim`.
pub fn bind(path: &Path) -> Result<Socket, BindError> {
    prepare_dir(path)?;
    check_free(path)?;
    if std::fs::symlink_metadata(path).is_ok_and(|m| {
        use std::os::unix::fs::FileTypeExt;
        m.file_type().is_socket()
    }) {
        let _ = std::fs::remove_file(path);
    }
    let listener = UnixListener::bind(path).map_err(BindError::Io)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(BindError::Io)?;
    let meta = std::fs::symlink_metadata(path).map_err(BindError::Io)?;
    Ok(Socket {
        path: path.to_path_buf(),
        listener,
        dev: meta.dev(),
        ino: meta.ino(),
    })
}

/// One accepted request and where its answer goes.
pub struct Call {
    pub request: Request,
    pub reply: oneshot::Sender<Response>,
}

/// Accepts connections until dropped (which removes the socket if it is still ours), handing
/// each request to the supervisor. `restore` asks it to bring a deleted socket back.
pub async fn serve<S: Sink<Call> + Clone>(mut socket: Socket, tx: S, restore: Arc<Notify>) {
    let slots = Arc::new(Semaphore::new(MAX_CLIENTS));
    let mut failures = AcceptFailures::new("control socket");
    loop {
        let accepted = tokio::select! {
            r = socket.listener.accept() => r,
            () = restore.notified() => {
                socket.restore();
                continue;
            }
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                failures.failed(&e).await;
                continue;
            }
        };
        failures.accepted();
        match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                let tx = tx.clone();
                let restore = restore.clone();
                tokio::spawn(async move {
                    handle(stream, tx, restore).await;
                    drop(slot);
                });
            }
            Err(_) => {
                // Best effort, without waiting: the client learns why it was closed.
                let mut out = answer_line(&Response::refusal(format!(
                    "busy: {MAX_CLIENTS} connections are open, try again"
                )));
                out.truncate(out.len().min(4096));
                let _ = stream.try_write(&out);
            }
        }
    }
}

async fn handle<S: Sink<Call>>(stream: tokio::net::UnixStream, tx: S, restore: Arc<Notify>) {
    let cred = stream.peer_cred().ok();
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let response = match read_request(&mut reader).await {
        Err(message) => Response::refusal(message),
        Ok(req) => match refusal(&req, cred) {
            Some(message) => Response::refusal(message),
            None => {
                if matches!(req, Request::Reload { .. }) {
                    restore.notify_one();
                }
                let (reply, answer) = oneshot::channel();
                if !tx.deliver(Call {
                    request: req,
                    reply,
                }) {
                    return;
                }
                answer.await.unwrap_or_default()
            }
        },
    };
    let out = answer_line(&response);
    let sent = async {
        write.write_all(&out).await?;
        write.shutdown().await
    };
    if let Ok(Ok(())) = tokio::time::timeout(IDLE_TIMEOUT, sent).await {
        // Closing a Unix socket with unread input resets the connection, and the client
        // may lose the answer (an overlong line is still arriving): drain a bounded amount.
        let mut rest = (&mut reader).take(DRAIN_MAX);
        let _ = tokio::time::timeout(
            IDLE_TIMEOUT,
            tokio::io::copy(&mut rest, &mut tokio::io::sink()),
        )
        .await;
    }
}

/// Reads one request line, bounded in length and time.
async fn read_request(
    reader: &mut BufReader<tokio::net::unix::OwnedReadHalf>,
) -> Result<Request, String> {
    let mut line = Vec::new();
    let mut reader = reader.take(MAX_REQUEST as u64 + 1);
    match tokio::time::timeout(IDLE_TIMEOUT, reader.read_until(b'\n', &mut line)).await {
        Err(_) => {
            return Err(format!(
                "no request line within {}",
                crate::duration::show(IDLE_TIMEOUT)
            ))
        }
        Ok(Err(e)) => return Err(format!("cannot read the request: {e}")),
        Ok(Ok(_)) => {}
    }
    if line.len() > MAX_REQUEST {
        return Err(format!("request longer than {MAX_REQUEST} bytes"));
    }
    serde_json::from_slice(&line).map_err(|e| format!("bad request: {e}"))
}

/// Why a peer may not make this request, if it may not (see the module doc).
fn refusal(req: &Request, cred: Option<tokio::net::unix::UCred>) -> Option<String> {
    let Some(cred) = cred else {
        return Some("permission denied: the peer's credentials are unknown".into());
    };
    let me = nix::unistd::geteuid().as_raw();
    if cred.uid() != 0 && cred.uid() != me {
        return Some(format!(
            "permission denied: uid {} is neither root nor jinit's uid {me}",
            cred.uid()
        ));
    }
    let pid = cred.pid().unwrap_or(0);
    if req.names_a_unit() && pid > 0 && crate::sys::leftovers::is_ours(pid) {
        return Some(format!(
            "permission denied: process {pid} was started by jinit; a unit may not restart \
             or reload other units (a reload of all units is allowed)"
        ));
    }
    None
}

fn answer_line(response: &Response) -> Vec<u8> {
    let mut out = serde_json::to_vec(response).unwrap_or_default();
    out.push(b'\n');
    out
}

/// connect(2) with a deadline. On a Unix stream socket, connect waits for room in the
/// server's backlog for as long as the socket's send timeout (SO_SNDTIMEO), then fails with
/// EAGAIN: set that timeout first. std's `UnixStream::connect` cannot.
pub fn connect(path: &Path, limit: Duration) -> io::Result<UnixStream> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    // SAFETY: an all-zero sockaddr_un is valid (family 0, empty path); filled in below.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    if bytes.len() >= addr.sun_path.len() || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "socket path too long or not a path",
        ));
    }
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (dst, src) in addr.sun_path.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    // SAFETY: socket(2) only; the descriptor is owned by the UnixStream at once.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh socket nobody else owns.
    let stream = unsafe { UnixStream::from_raw_fd(fd) };
    stream.set_write_timeout(Some(limit))?;
    let len = std::mem::size_of::<libc::sa_family_t>() + bytes.len() + 1;
    // SAFETY: connect(2) reads `len` bytes of `addr`, which we own and which is that long.
    let rc = unsafe {
        libc::connect(
            fd,
            (&addr as *const libc::sockaddr_un).cast(),
            len as libc::socklen_t,
        )
    };
    if rc != 0 {
        let e = io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::EAGAIN) => io::Error::new(
                io::ErrorKind::TimedOut,
                "jinit accepts no connections (its backlog is full)",
            ),
            _ => e,
        });
    }
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_requests_naming_a_unit_are_guarded() {
        assert!(Request::Restart { unit: "web".into() }.names_a_unit());
        assert!(Request::Reload {
            unit: Some("web".into())
        }
        .names_a_unit());
        assert!(!Request::Reload { unit: None }.names_a_unit());
        assert!(!Request::Status.names_a_unit());
        assert!(!Request::Health.names_a_unit());
        assert!(!Request::Metrics.names_a_unit());
    }
}
