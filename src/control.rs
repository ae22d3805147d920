//! The control socket: `jinit status|health|restart|reload` talk to the running supervisor.
//!
//! One JSON request line in, one JSON response out, then the connection closes. The socket is
//! owner-only (its directory 0700, the socket 0600): it can restart services, so it must not
//! be reachable by the unprivileged users the services run as.

use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot};

pub const DEFAULT_SOCKET: &str = "/run/jinit/jinit.sock";

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Request {
    Status,
    Health,
    Restart { unit: String },
    Reload { unit: Option<String> },
}

#[derive(Debug, Serialize, Deserialize, Default)]
pub struct Response {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub units: Vec<UnitStatus>,
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

/// Binds the socket, replacing a stale one from an earlier run.
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
        // Only tighten a directory we own alone; /tmp must stay as it is.
        if dir.file_name().is_some_and(|n| n == "jinit") {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Accepts connections forever, handing each request to the supervisor.
pub async fn serve(listener: UnixListener, tx: mpsc::UnboundedSender<crate::supervise::Event>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let tx = tx.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            let mut reader = BufReader::new(read);
            if reader.read_line(&mut line).await.is_err() {
                return;
            }
            let response = match serde_json::from_str::<Request>(&line) {
                Ok(req) => {
                    let (reply, answer) = oneshot::channel();
                    if tx
                        .send(crate::supervise::Event::Control(req, reply))
                        .is_err()
                    {
                        return;
                    }
                    answer.await.unwrap_or_default()
                }
                Err(e) => Response {
                    ok: false,
                    message: format!("bad request: {e}"),
                    units: Vec::new(),
                },
            };
            let mut out = serde_json::to_string(&response).unwrap_or_default();
            out.push('\n');
            let _ = write.write_all(out.as_bytes()).await;
        });
    }
}

/// Client side: sends one request to the running jinit.
pub fn call(request: &Request) -> Result<Response, String> {
    let path = socket_path();
    let mut stream = UnixStream::connect(&path).map_err(|e| {
        format!(
            "cannot reach jinit at {}: {e} (is jinit running in spec mode? JINIT_SOCKET sets the path)",
            path.display()
        )
    })?;
    let mut line = serde_json::to_string(request).map_err(|e| e.to_string())?;
    line.push('\n');
    stream
        .write_all(line.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut text = String::new();
    stream
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| format!("bad answer from jinit: {e}"))
}

/// The human table of `jinit status`.
pub fn table(units: &[UnitStatus]) -> String {
    let mut out = format!(
        "{:<20} {:<8} {:<9} {:>7} {:>9} {:>8}  {}\n",
        "UNIT", "KIND", "STATE", "PID", "UPTIME", "RESTARTS", "DETAIL"
    );
    for u in units {
        let pid = u.pid.map_or("-".to_string(), |p| p.to_string());
        let up = u.uptime_secs.map_or("-".to_string(), |s| {
            crate::duration::show(std::time::Duration::from_secs_f64(s))
        });
        out.push_str(&format!(
            "{:<20} {:<8} {:<9} {:>7} {:>9} {:>8}  {}\n",
            u.name,
            u.kind,
            u.state,
            pid,
            up,
            u.restarts,
            u.detail.as_deref().unwrap_or("")
        ));
    }
    out
}
