//! What `jinit-config plan` hands PID 1: the plan for this host, the settings the units need,
//! the inputs to watch and what the render wrote, as one JSON document on the helper's
//! stdout (a memory file PID 1 reads once the helper has exited).
//!
//! The split keeps PID 1 small: the spec parser, the variable schemas, the environment's
//! checks and the template engine live in `jinit-config` alone, which PID 1 runs at boot and
//! for every re-render. PID 1 reads this document with serde_json and nothing else.

use super::plan::Plan;
use serde::{Deserialize, Serialize};
use std::io::{Read, Seek};
use std::path::PathBuf;
use std::time::Duration;

/// The helper binary, found beside `jinit` (else on PATH).
pub const CONFIG_BINARY: &str = "jinit-config";

/// Upper limit of the document PID 1 reads: a plan of hundreds of units is far below it.
pub const MAX_BYTES: u64 = 8 << 20;

/// Unknown fields are refused: a jinit-config of another build must not pass for this one's.
#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    /// Why nothing was written: the spec, the environment or a template is broken (every
    /// problem, in words). The files in place are kept.
    pub error: Option<String>,
    /// The units for this host, or None when the environment gives no valid plan
    /// (`plan_error` says why; the units keep the plan they have).
    pub plan: Option<Plan>,
    pub plan_error: Option<String>,
    pub shutdown_grace: Duration,
    pub stop_timeout: Duration,
    /// Extra environment for every unit (from JINIT_ENV_FILE).
    pub base_env: Vec<(String, String)>,
    /// Variables withheld from units that do not name them in `pass-env`.
    pub secrets: Vec<String>,
    /// Files whose change calls for a re-render.
    pub inputs: Vec<PathBuf>,
    /// The files that changed on disk, and the units to reload for them.
    pub changed: Vec<String>,
    pub reload: Vec<String>,
    /// Files that could not be written or failed their validation (each old file kept).
    pub problems: Vec<String>,
}

/// Reads the document the helper wrote to `file` (from its start), bounded by `MAX_BYTES`.
pub fn read(file: &mut std::fs::File) -> Result<Outcome, String> {
    file.rewind()
        .map_err(|e| format!("cannot read {CONFIG_BINARY}'s answer: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {CONFIG_BINARY}'s answer: {e}"))?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(format!(
            "{CONFIG_BINARY}'s answer is larger than {MAX_BYTES} bytes"
        ));
    }
    if bytes.is_empty() {
        return Err(format!("{CONFIG_BINARY} gave no answer"));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| format!("{CONFIG_BINARY}'s answer is unreadable: {e}"))
}

/// One anonymous memory file, twice: PID 1's descriptor to read the answer from, and the
/// helper's stdout (nothing on disk to clean up, no pipe to drain while it runs).
pub fn answer_files() -> std::io::Result<(std::fs::File, std::fs::File)> {
    use std::os::fd::FromRawFd;
    // SAFETY: memfd_create with a NUL-terminated name; the descriptor is new and owned here.
    let fd = unsafe { libc::memfd_create(c"jinit-plan".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a valid descriptor nothing else owns.
    let ours = unsafe { std::fs::File::from_raw_fd(fd) };
    let theirs = ours.try_clone()?;
    Ok((ours, theirs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::plan::Planned;
    use crate::spec::Spec;
    use std::io::Write;

    fn answer(bytes: &[u8]) -> Result<Outcome, String> {
        let (mut ours, mut theirs) = answer_files().unwrap();
        theirs.write_all(bytes).unwrap();
        read(&mut ours)
    }

    #[test]
    fn a_plan_reaches_pid1_as_planned() {
        let spec = Spec::parse(
            r#"
[jinit]
stop-timeout = "60s"

[service.web]
command = ["nginx", "-g", "daemon off;"]
stop-signal = "QUIT"
reload-signal = "HUP"
on-change = { paths = ["/certs"], signal = "USR2" }
ready = { exec = ["true"] }
drain = ["sleep", "1"]
env = { A = "1" }

[oneshot.setup]
command = ["true"]
"#,
            std::path::Path::new("t.toml"),
        )
        .unwrap();
        let units: Vec<Planned> = spec
            .units
            .iter()
            .map(|u| Planned {
                spec: u.clone(),
                enabled: u.name == "web",
                account: None,
            })
            .collect();
        let sent = Outcome {
            plan: Some(Plan { units }),
            base_env: vec![("X".into(), "y".into())],
            changed: vec!["/etc/nginx/nginx.conf".into()],
            ..Outcome::default()
        };
        let got = answer(&serde_json::to_vec(&sent).unwrap()).unwrap();
        let (sent, got) = (sent.plan.unwrap().units, got.plan.unwrap().units);
        assert_eq!(got.len(), 2);
        for (s, g) in sent.iter().zip(&got) {
            assert_eq!(s.spec, g.spec);
            assert_eq!(s.enabled, g.enabled);
        }
        let web = &got.iter().find(|p| p.spec.name == "web").unwrap().spec;
        assert_eq!(web.stop_signal, nix::sys::signal::Signal::SIGQUIT);
        assert_eq!(web.reload_signal, Some(nix::sys::signal::Signal::SIGHUP));
    }

    #[test]
    fn a_bad_answer_is_refused_in_words() {
        let mut doc = serde_json::to_value(Outcome::default()).unwrap();
        doc["plan"] = serde_json::json!({ "units": [] });
        assert!(answer(doc.to_string().as_bytes()).is_ok());
        // A field this build does not know (a jinit-config of another build).
        let mut other = doc.clone();
        other["units"] = serde_json::json!([]);
        let e = answer(other.to_string().as_bytes()).err().unwrap();
        assert!(e.contains("unknown field `units`"), "{e}");
        // A signal number that does not exist, an empty answer, garbage.
        let spec = Spec::parse(
            "[service.a]\ncommand = [\"x\"]\n",
            std::path::Path::new("t"),
        )
        .unwrap()
        .units
        .remove(0);
        let mut unit = serde_json::to_value(Planned {
            spec,
            enabled: true,
            account: None,
        })
        .unwrap();
        unit["spec"]["stop_signal"] = serde_json::json!(999);
        doc["plan"] = serde_json::json!({ "units": [unit] });
        let e = answer(doc.to_string().as_bytes()).err().unwrap();
        assert!(e.contains("no signal 999"), "{e}");
        assert!(answer(b"").err().unwrap().contains("gave no answer"));
        assert!(answer(b"{").err().unwrap().contains("unreadable"));
    }
}
