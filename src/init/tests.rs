//! The supervisor's decisions, tested against a fake operating system (`os::fake`): no
//! process is started, no signal sent, time is whatever the test says. The integration tests
//! in tests/ check the same behaviour with real processes.

use super::control::Request;
use super::os::fake::Fake;
use super::probe::Report;
use super::supervise::{Settings, Supervisor};
use crate::spec::plan::{Plan, Planned};
use crate::spec::Spec;
use nix::sys::signal::Signal;
use std::path::Path;
use std::time::{Duration, Instant};

fn plan_of(spec: &Spec, disabled: &[&str]) -> Plan {
    Plan {
        units: spec
            .units
            .iter()
            .map(|u| Planned {
                spec: u.clone(),
                enabled: !disabled.contains(&u.name.as_str()),
                account: None,
            })
            .collect(),
    }
}

fn parse(text: &str) -> Spec {
    Spec::parse(text, Path::new("test.toml")).expect("a valid spec")
}

fn supervisor(text: &str, disabled: &[&str]) -> Supervisor<Fake> {
    let spec = parse(text);
    let settings = Settings {
        shutdown_grace: spec.shutdown_grace,
        stop_timeout: spec.stop_timeout,
        base_env: Vec::new(),
        secrets: Vec::new(),
    };
    let (tx, _) = tokio::sync::mpsc::unbounded_channel();
    Supervisor::new(
        plan_of(&spec, disabled),
        settings,
        None,
        tx,
        Fake::default(),
    )
}

impl Supervisor<Fake> {
    /// The process started as `argv0` ends with `code`, and jinit hears SIGCHLD.
    fn exit(&mut self, argv0: &str, code: i32, now: Instant) {
        let pid = self.units.os.pid_of(argv0);
        self.units.os.exit(pid, code);
        self.signal(Signal::SIGCHLD, now);
    }

    fn signal(&mut self, sig: Signal, now: Instant) {
        self.on_signal(sig, now);
        self.pump(now);
    }

    fn index(&self, name: &str) -> usize {
        self.units
            .slots
            .iter()
            .position(|s| s.unit.name() == name)
            .unwrap()
    }

    fn state(&self, name: &str) -> &'static str {
        let slot = self
            .units
            .slots
            .iter()
            .find(|s| s.unit.name() == name)
            .unwrap();
        slot.unit.state.word()
    }

    fn request(&mut self, req: Request, now: Instant) -> (bool, String) {
        let resp = self.on_control(req, now);
        self.pump(now);
        (resp.ok, resp.message)
    }
}

const CHAIN: &str = r#"
    [oneshot.setup]
    command = ["setup"]
    [service.prosody]
    command = ["prosody"]
    after = ["setup"]
    ready = { tcp = "127.0.0.1:5222" }
    [service.web]
    command = ["nginx"]
    after = ["prosody"]
"#;

#[test]
fn starts_in_dependency_order_and_waits_for_readiness() {
    let now = Instant::now();
    let mut sup = supervisor(CHAIN, &[]);
    sup.pump(now);
    assert_eq!(sup.units.os.started(), ["setup"]);
    sup.exit("setup", 0, now);
    assert_eq!(sup.units.os.started(), ["setup", "prosody"]);
    assert_eq!(sup.state("prosody"), "starting");
    assert_eq!(
        sup.units.os.probes.len(),
        1,
        "prosody's readiness probe runs"
    );
    sup.pump(now);
    assert_eq!(
        sup.units.os.started(),
        ["setup", "prosody"],
        "web waits for prosody"
    );
    let pid = sup.units.os.pid_of("prosody");
    let unit = sup.index("prosody");
    sup.units.on_probe(
        Report::Done {
            unit,
            pid,
            ok: true,
        },
        now,
    );
    sup.pump(now);
    assert_eq!(sup.state("prosody"), "ready");
    assert_eq!(sup.units.os.started(), ["setup", "prosody", "nginx"]);
    assert_eq!(sup.request(Request::Health, now), (true, "healthy".into()));
}

#[test]
fn a_failed_oneshot_stops_everything_with_its_code() {
    let now = Instant::now();
    let mut sup = supervisor(CHAIN, &[]);
    sup.pump(now);
    sup.exit("setup", 3, now);
    assert_eq!(
        sup.units.os.started(),
        ["setup"],
        "nothing after a failed setup starts"
    );
    assert_eq!(sup.finished(), Some(3));
}

#[test]
fn a_crashed_service_restarts_after_its_backoff() {
    let now = Instant::now();
    let mut sup = supervisor("[service.a]\ncommand = [\"a\"]\n", &[]);
    sup.pump(now);
    sup.exit("a", 1, now);
    assert_eq!(sup.state("a"), "backoff");
    let at = sup.next_deadline().expect("a restart is scheduled");
    assert!(
        at > now && at <= now + Duration::from_secs(1),
        "first backoff about 0.5 s"
    );
    sup.on_deadlines(at - Duration::from_millis(1));
    assert_eq!(
        sup.units.os.started().len(),
        1,
        "not before the backoff ends"
    );
    sup.on_deadlines(at);
    sup.pump(at);
    assert_eq!(sup.units.os.started(), ["a", "a"]);
    let status = sup.on_control(Request::Status, at);
    assert_eq!(status.units[0].restarts, 1);
    // The crashed process's group got TERM (its orphaned helpers end with it), and KILL
    // before the new process started.
    let first = sup.units.os.spawned[0].0;
    let to_first: Vec<Signal> = sup
        .units
        .os
        .signals
        .iter()
        .filter(|(p, _)| *p == first)
        .map(|(_, s)| *s)
        .collect();
    assert!(
        to_first.is_empty(),
        "the fake process was gone: {to_first:?}"
    );
}

const THREE: &str = r#"
    [service.db]
    command = ["db"]
    [service.app]
    command = ["app"]
    after = ["db"]
    [service.web]
    command = ["web"]
    after = ["app"]
"#;

#[test]
fn shutdown_stops_in_reverse_dependency_order_and_exits_0() {
    let now = Instant::now();
    let mut sup = supervisor(THREE, &[]);
    sup.pump(now);
    assert_eq!(sup.units.os.started(), ["db", "app", "web"]);
    sup.signal(Signal::SIGTERM, now);
    assert_eq!(
        sup.units.os.signalled(Signal::SIGTERM),
        ["web"],
        "dependents stop first"
    );
    assert_eq!(sup.finished(), None);
    sup.signal(Signal::SIGCHLD, now);
    assert_eq!(sup.units.os.signalled(Signal::SIGTERM), ["web", "app"]);
    sup.signal(Signal::SIGCHLD, now);
    sup.signal(Signal::SIGCHLD, now);
    assert_eq!(
        sup.units.os.signalled(Signal::SIGTERM),
        ["web", "app", "db"]
    );
    assert!(
        sup.units.os.leftover_signals.is_empty(),
        "nothing was left over"
    );
    assert_eq!(sup.finished(), Some(0));
    let (ok, message) = sup.request(Request::Health, now);
    assert!(!ok && message == "stopping", "{message}");
}

#[test]
fn a_unit_ignoring_term_is_killed_then_leftovers_get_term_and_kill() {
    let now = Instant::now();
    let mut sup = supervisor(
        "[jinit]\nkill-delay = \"3s\"\nshutdown-grace = \"2s\"\nstop-timeout = \"20s\"\n\
         [service.a]\ncommand = [\"a\"]\n",
        &[],
    );
    sup.pump(now);
    let pid = sup.units.os.pid_of("a");
    sup.units.os.stubborn(pid);
    sup.units.os.orphans = 1;
    sup.signal(Signal::SIGTERM, now);
    assert_eq!(sup.state("a"), "stopping");
    let kill_at = sup.next_deadline().expect("kill-delay");
    assert_eq!(kill_at, now + Duration::from_secs(3));
    sup.on_deadlines(kill_at);
    sup.signal(Signal::SIGCHLD, kill_at);
    assert_eq!(sup.units.os.signalled(Signal::SIGKILL), ["a"]);
    assert_eq!(
        sup.units.os.leftover_signals,
        [Signal::SIGTERM, Signal::SIGCONT],
        "the orphan gets TERM once every unit is down"
    );
    assert_eq!(sup.finished(), None, "an orphan is still alive");
    let grace_end = sup.next_deadline().expect("shutdown-grace");
    assert_eq!(grace_end, kill_at + Duration::from_secs(2));
    sup.on_deadlines(grace_end);
    sup.signal(Signal::SIGCHLD, grace_end);
    assert_eq!(sup.units.os.leftover_signals.last(), Some(&Signal::SIGKILL));
    assert_eq!(sup.finished(), Some(0));
}

#[test]
fn the_whole_stop_fits_stop_timeout_whatever_the_kill_delay() {
    let now = Instant::now();
    let mut sup = supervisor(
        "[jinit]\nkill-delay = \"1h\"\nshutdown-grace = \"2s\"\nstop-timeout = \"9s\"\n\
         [service.a]\ncommand = [\"a\"]\n",
        &[],
    );
    sup.pump(now);
    sup.units.os.stubborn(sup.units.os.pid_of("a"));
    sup.signal(Signal::SIGTERM, now);
    assert_eq!(sup.next_deadline(), Some(now + Duration::from_secs(7)));
}

#[test]
fn a_new_plan_is_matched_to_the_running_units_by_name() {
    let now = Instant::now();
    let mut sup = supervisor(THREE, &["web"]);
    sup.pump(now);
    assert_eq!(sup.units.os.started(), ["db", "app"]);
    // The new plan lists the units in another order: app's command changed, web is enabled,
    // db is unchanged.
    let mut next = parse(&THREE.replace("command = [\"app\"]", "command = [\"app\", \"--new\"]"));
    next.units.reverse();
    sup.units.follow(plan_of(&next, &[]), "test", now);
    sup.pump(now);
    assert_eq!(
        sup.units.os.signalled(Signal::SIGTERM),
        ["app"],
        "only app restarts"
    );
    sup.signal(Signal::SIGCHLD, now);
    let started: Vec<String> = sup
        .units
        .os
        .spawned
        .iter()
        .map(|(_, a)| a.join(" "))
        .collect();
    assert_eq!(started, ["db", "app", "app --new", "web"]);
    // web disabled again by name.
    let mut again = parse(THREE);
    again.units.rotate_left(1);
    sup.units.follow(plan_of(&again, &["web"]), "test", now);
    sup.pump(now);
    assert_eq!(
        sup.units.os.signalled(Signal::SIGTERM),
        ["app", "web", "app"]
    );
}

#[test]
fn control_requests_name_what_they_refuse() {
    let now = Instant::now();
    let mut sup = supervisor(CHAIN, &["web"]);
    sup.pump(now);
    let (ok, message) = sup.request(Request::Restart { unit: "web".into() }, now);
    assert!(!ok && message == "web is disabled by its `if`", "{message}");
    let (ok, message) = sup.request(
        Request::Restart {
            unit: "prosody".into(),
        },
        now,
    );
    assert!(
        !ok && message.contains("waits for its `after` units"),
        "{message}"
    );
    let (ok, message) = sup.request(
        Request::Restart {
            unit: "nope".into(),
        },
        now,
    );
    assert!(
        !ok && message.contains("units: prosody, setup, web"),
        "{message}"
    );
    let (ok, message) = sup.request(Request::Health, now);
    assert!(!ok && message == "not ready: prosody", "{message}");
    let status = sup.on_control(Request::Status, now);
    let web = status.units.iter().find(|u| u.name == "web").unwrap();
    assert_eq!(web.detail.as_deref(), Some("if is false"));
    assert_eq!(web.state, "skipped");
}

#[test]
fn reload_signals_the_main_process_or_restarts() {
    let now = Instant::now();
    let mut sup = supervisor(
        "[service.web]\ncommand = [\"nginx\"]\nreload-signal = \"HUP\"\n\
         [service.app]\ncommand = [\"app\"]\n",
        &[],
    );
    sup.pump(now);
    let (ok, message) = sup.request(
        Request::Reload {
            unit: Some("web".into()),
        },
        now,
    );
    assert!(ok && message == "web: sent HUP", "{message}");
    assert_eq!(sup.units.os.signalled(Signal::SIGHUP), ["nginx"]);
    let (ok, message) = sup.request(
        Request::Reload {
            unit: Some("app".into()),
        },
        now,
    );
    assert!(ok && message.contains("restarting"), "{message}");
    assert_eq!(sup.units.os.signalled(Signal::SIGTERM), ["app"]);
}

#[test]
fn metrics_count_reloads_restarts_and_exits_of_each_unit() {
    let now = Instant::now();
    let mut sup = supervisor(
        "[service.web]\ncommand = [\"nginx\"]\nreload-signal = \"HUP\"\n\
         [service.app]\ncommand = [\"app\"]\n\
         [oneshot.setup]\ncommand = [\"setup\"]\nif = \"false\"\n",
        &["setup"],
    );
    sup.pump(now);
    let (ok, before) = sup.request(Request::Metrics, now);
    assert!(ok);
    for line in [
        "jinit_unit_state{unit=\"web\",kind=\"service\",state=\"ready\"} 1",
        "jinit_unit_state{unit=\"web\",kind=\"service\",state=\"starting\"} 0",
        "jinit_unit_state{unit=\"setup\",kind=\"oneshot\",state=\"skipped\"} 1",
        "jinit_unit_restarts_total{unit=\"app\"} 0",
        "jinit_unit_reloads_total{unit=\"web\"} 0",
        "jinit_unit_ready_seconds{unit=\"web\"} 0.000",
        "jinit_renders_total 0",
    ] {
        assert!(before.lines().any(|l| l == line), "{line} in\n{before}");
    }
    assert!(!before.contains("jinit_unit_last_exit_code{"), "{before}");
    assert!(!before.contains("jinit_acme_"), "no acme status file here");
    // Every sample line is `name{labels} value` or `name value`; families are announced.
    for l in before.lines().filter(|l| !l.starts_with('#')) {
        let name = l.split(['{', ' ']).next().unwrap();
        assert!(before.contains(&format!("# TYPE {name} ")), "{l}");
    }

    sup.request(
        Request::Reload {
            unit: Some("web".into()),
        },
        now,
    );
    sup.exit("app", 137, now);
    let later = now + Duration::from_secs(5);
    sup.on_deadlines(later);
    sup.pump(later);
    let (_, after) = sup.request(Request::Metrics, later);
    for line in [
        "jinit_unit_reloads_total{unit=\"web\"} 1",
        "jinit_unit_restarts_total{unit=\"app\"} 1",
        "jinit_unit_last_exit_code{unit=\"app\"} 137",
        "jinit_unit_state{unit=\"app\",kind=\"service\",state=\"ready\"} 1",
    ] {
        assert!(after.lines().any(|l| l == line), "{line} in\n{after}");
    }
}

#[test]
fn a_changed_file_under_on_change_signals_the_service_after_the_burst() {
    let now = Instant::now();
    let mut sup = supervisor(
        "[jinit]\nwatch = [\"/certs\"]\n\
         [service.turn]\ncommand = [\"turnserver\"]\n\
         on-change = { paths = [\"/certs/live\"], signal = \"USR2\" }\n\
         [service.web]\ncommand = [\"nginx\"]\n",
        &[],
    );
    sup.pump(now);
    // A renewal writes the key, then the chain: one burst, one signal.
    for name in ["key.pem", "fullchain.pem"] {
        let path = std::path::PathBuf::from("/certs/live").join(name);
        sup.on_event(super::event::Event::InputChanged(path), now);
    }
    sup.on_event(
        super::event::Event::InputChanged("/certs/other".into()),
        now,
    );
    assert!(
        sup.units.os.signalled(Signal::SIGUSR2).is_empty(),
        "not before the burst ends"
    );
    let at = sup.next_deadline().expect("the burst's quiet time");
    sup.on_deadlines(at);
    assert_eq!(sup.units.os.signalled(Signal::SIGUSR2), ["turnserver"]);
    assert_eq!(
        sup.units.os.started(),
        ["turnserver", "nginx"],
        "nothing restarted"
    );
    // A change elsewhere signals nothing.
    sup.on_event(super::event::Event::InputChanged("/certs/other".into()), at);
    let later = sup.next_deadline().unwrap();
    sup.on_deadlines(later);
    assert_eq!(sup.units.os.signalled(Signal::SIGUSR2).len(), 1);
}

#[test]
fn memory_is_given_back_a_moment_after_the_boot() {
    let now = Instant::now();
    let mut sup = supervisor("[service.a]\ncommand = [\"a\"]\n", &[]);
    sup.boot(now);
    assert_eq!(sup.units.os.started(), ["a"]);
    assert_eq!(
        sup.units.os.releases, 0,
        "not while children may still be forking"
    );
    let at = sup.next_deadline().expect("release");
    assert!(at > now);
    sup.on_deadlines(at);
    assert_eq!(sup.units.os.releases, 1);
    assert_eq!(sup.next_deadline(), None);
}
