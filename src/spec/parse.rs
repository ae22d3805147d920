//! Reading `jinit.toml` into a `Spec`: the vocabulary's keys and types, unknown keys, names,
//! durations and dependency cycles, every problem collected in one pass.
//!
//! Over 500 lines: the last 170 are its tests (each key's errors, as an operator sees them).

use super::fields::Fields;
use super::order;
use super::types::*;
use crate::problem::{Problem, Problems};
use nix::sys::signal::Signal;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::{Table, Value};

impl Spec {
    /// Reads and parses a spec. Fails only when there is nothing to go on (unreadable file,
    /// malformed TOML); otherwise returns the best-effort spec with its problems, so later
    /// checks (commands, users, environment) can report theirs in the same run.
    pub fn load(path: &Path) -> Result<(Spec, Vec<Problem>), Problems> {
        let what = format!("the spec {}", path.display());
        let text = crate::bounded::read_to_string(
            path,
            crate::bounded::CONFIG_MAX,
            crate::bounded::Links::Follow,
        )
        .map_err(|e| Problems {
            what: what.clone(),
            list: vec![Problem::new(
                "",
                format!("cannot read it: {e} (give the spec with --spec PATH or JINIT_SPEC)"),
            )],
        })?;
        Spec::parse_lenient(&text, path).map_err(|list| Problems { what, list })
    }

    /// Parses and checks a spec's text; returns every problem found.
    #[cfg(test)]
    pub fn parse(text: &str, path: &Path) -> Result<Spec, Vec<Problem>> {
        match Spec::parse_lenient(text, path)? {
            (spec, problems) if problems.is_empty() => Ok(spec),
            (_, problems) => Err(problems),
        }
    }

    fn parse_lenient(text: &str, path: &Path) -> Result<(Spec, Vec<Problem>), Vec<Problem>> {
        let table: Table = match text.parse() {
            Ok(t) => t,
            Err(e) => return Err(vec![toml_problem(text, &e)]),
        };
        let mut problems = Vec::new();
        let mut top = Fields::new(&table, "", &mut problems);
        let jinit = top.table("jinit").cloned();
        let services = top.table("service").cloned();
        let oneshots = top.table("oneshot").cloned();
        let renders = top.array_of_tables("render");
        top.finish();

        let mut spec = Spec {
            path: path.to_path_buf(),
            kill_delay: DEFAULT_KILL_DELAY,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            stop_timeout: DEFAULT_STOP_TIMEOUT,
            schemas: Vec::new(),
            require: Vec::new(),
            watch: Vec::new(),
            secrets_dir: None,
            generate_secrets: false,
            writable: Vec::new(),
            renders: Vec::new(),
            units: Vec::new(),
        };
        if let Some(t) = &jinit {
            let mut f = Fields::new(t, "jinit", &mut problems);
            spec.kill_delay = f
                .duration("kill-delay", KILL_DELAY_RANGE)
                .unwrap_or(DEFAULT_KILL_DELAY);
            spec.shutdown_grace = f
                .duration("shutdown-grace", SHUTDOWN_GRACE_RANGE)
                .unwrap_or(DEFAULT_SHUTDOWN_GRACE);
            spec.stop_timeout = f
                .duration("stop-timeout", STOP_TIMEOUT_RANGE)
                .unwrap_or(DEFAULT_STOP_TIMEOUT);
            spec.schemas = f.strings("schemas").unwrap_or_default();
            spec.require = f.strings("require").unwrap_or_default();
            spec.watch = f
                .strings("watch")
                .unwrap_or_default()
                .into_iter()
                .map(PathBuf::from)
                .collect();
            spec.secrets_dir = f.string("secrets-dir").map(PathBuf::from);
            spec.generate_secrets = f.bool("generate-secrets").unwrap_or(false);
            spec.writable = f
                .strings("writable")
                .unwrap_or_default()
                .into_iter()
                .map(PathBuf::from)
                .collect();
            for (key, path) in spec
                .secrets_dir
                .iter()
                .map(|p| ("secrets-dir", p))
                .chain(spec.writable.iter().map(|p| ("writable", p)))
            {
                if !path.is_absolute() {
                    f.problem(key, format!("{} is not an absolute path", path.display()));
                }
            }
            if spec.generate_secrets && spec.secrets_dir.is_none() {
                f.problem(
                    "generate-secrets",
                    "needs `secrets-dir`: the directory the secrets are created in",
                );
            }
            f.finish();
        }
        let kill_delay = spec.kill_delay;
        for (kind, group) in [(Kind::Service, &services), (Kind::Oneshot, &oneshots)] {
            let Some(group) = group else { continue };
            for (name, value) in group {
                let at = format!("{}.{}", kind.word(), name);
                if let Some(unit) = parse_unit(kind, name, value, &at, kill_delay, &mut problems) {
                    spec.units.push(unit);
                }
            }
        }
        for (i, t) in renders.iter().enumerate() {
            let at = format!("render[{i}]");
            spec.renders.push(parse_render(t, &at, &mut problems));
        }
        check_names(&spec, &services, &oneshots, &mut problems);
        check_drain_budget(&spec, &mut problems);
        spec.units.sort_by(|a, b| a.name.cmp(&b.name));
        Ok((spec, problems))
    }

    #[cfg(test)]
    pub fn unit(&self, name: &str) -> Option<&UnitSpec> {
        self.units.iter().find(|u| u.name == name)
    }
}

/// Unit names are unique across services and oneshots; `after` and `reload` name real units;
/// the dependency graph has no cycle. Linear in the size of the spec: names are looked up in
/// one map (the first unit of a name, like `Spec::unit`), never by scanning the units.
fn check_names(
    spec: &Spec,
    services: &Option<Table>,
    oneshots: &Option<Table>,
    problems: &mut Vec<Problem>,
) {
    if let (Some(s), Some(o)) = (services, oneshots) {
        for name in s.keys().filter(|n| o.contains_key(*n)) {
            problems.push(Problem::new(
                format!("oneshot.{name}"),
                format!("a service is also called {name:?}: unit names must be unique"),
            ));
        }
    }
    let mut by_name: HashMap<&str, &UnitSpec> = HashMap::with_capacity(spec.units.len());
    for u in &spec.units {
        by_name.entry(u.name.as_str()).or_insert(u);
    }
    for u in &spec.units {
        for dep in &u.after {
            if !by_name.contains_key(dep.as_str()) {
                problems.push(Problem::new(
                    format!("{}.{}.after", u.kind.word(), u.name),
                    format!("unknown unit {dep:?}"),
                ));
            } else if dep == &u.name {
                problems.push(Problem::new(
                    format!("{}.{}.after", u.kind.word(), u.name),
                    "a unit cannot wait for itself",
                ));
            }
        }
    }
    for cycle in order::find_cycles(&spec.units) {
        problems.push(Problem::new(
            format!(
                "{}.{}.after",
                by_name
                    .get(cycle[0].as_str())
                    .map_or("unit", |u| u.kind.word()),
                cycle[0]
            ),
            format!("dependency cycle: {}", cycle.join(" -> ")),
        ));
    }
    for (i, r) in spec.renders.iter().enumerate() {
        if let Some(unit) = &r.reload {
            if !by_name.contains_key(unit.as_str()) {
                problems.push(Problem::new(
                    format!("render[{i}].reload"),
                    format!("unknown unit {unit:?}"),
                ));
            }
        }
    }
}

/// A drain, then the stop signal's kill-delay, then the leftovers' grace must fit the whole
/// stop's `stop-timeout`: otherwise the orchestrator's window would end every drain early.
fn check_drain_budget(spec: &Spec, problems: &mut Vec<Problem>) {
    for u in spec.units.iter().filter(|u| u.drain.is_some()) {
        let need = u.drain_timeout + u.kill_delay + spec.shutdown_grace;
        if need > spec.stop_timeout {
            let show = crate::duration::show;
            problems.push(Problem::new(
                format!("service.{}.drain-timeout", u.name),
                format!(
                    "{} plus kill-delay {} plus shutdown-grace {} exceed [jinit] stop-timeout {}: \
                     raise stop-timeout to at least {} (and the orchestrator's stop window above \
                     it: docker stop -t, stop_grace_period) or shorten the drain",
                    show(u.drain_timeout),
                    show(u.kill_delay),
                    show(spec.shutdown_grace),
                    show(spec.stop_timeout),
                    show(need)
                ),
            ));
        }
    }
}

fn parse_unit(
    kind: Kind,
    name: &str,
    value: &Value,
    at: &str,
    kill_delay: Duration,
    problems: &mut Vec<Problem>,
) -> Option<UnitSpec> {
    let Some(table) = value.as_table() else {
        problems.push(Problem::new(at, "must be a table"));
        return None;
    };
    if !valid_name(name) {
        problems.push(Problem::new(
            at,
            "unit names use letters, digits, '-', '_' and '.' only",
        ));
    }
    let mut f = Fields::new(table, at, problems);
    let command = f.strings("command");
    if command.is_none() && !f.problems_at("command") {
        f.problem(
            "command",
            "missing: give the argv to run, e.g. [\"nginx\", \"-g\", \"daemon off;\"]",
        );
    }
    if matches!(&command, Some(c) if c.is_empty()) {
        f.problem("command", "must not be empty");
    }
    let (default_success, default_failure) = match kind {
        Kind::Service => (Policy::Restart, Policy::Restart),
        Kind::Oneshot => (Policy::Ignore, Policy::Shutdown),
    };
    let mut unit = UnitSpec {
        name: name.to_string(),
        kind,
        command: command.unwrap_or_default(),
        user: f.string("user"),
        group: f.string("group"),
        env: f.string_table("env").unwrap_or_default(),
        pass_env: f.strings("pass-env").unwrap_or_default(),
        cwd: f.string("cwd").map(PathBuf::from),
        stdin: f.string("stdin"),
        after: f.strings("after").unwrap_or_default(),
        condition: f.string("if"),
        ready: None,
        ready_timeout: DEFAULT_READY_TIMEOUT,
        health: None,
        on_success: f.policy("on-success").unwrap_or(default_success),
        on_failure: f.policy("on-failure").unwrap_or(default_failure),
        stop_signal: f.signal("stop-signal").unwrap_or(Signal::SIGTERM),
        kill_delay: f
            .duration("kill-delay", KILL_DELAY_RANGE)
            .unwrap_or(kill_delay),
        reload_signal: None,
        on_change: None,
        creates: None,
        every: None,
        drain: None,
        drain_timeout: DEFAULT_DRAIN_TIMEOUT,
    };
    match kind {
        Kind::Service => {
            unit.ready = f.ready("ready");
            unit.ready_timeout = f
                .duration("ready-timeout", READY_TIMEOUT_RANGE)
                .unwrap_or(DEFAULT_READY_TIMEOUT);
            unit.health = f.ready("health");
            if matches!(unit.health, Some(Ready::Exec(_))) {
                f.problem(
                    "health",
                    "takes tcp, http or file: `jinit health` asks it itself, outside the supervisor, which alone may run commands",
                );
                unit.health = None;
            }
            unit.reload_signal = f.signal("reload-signal");
            unit.on_change = f.on_change("on-change");
            unit.drain = f.strings("drain");
            if matches!(&unit.drain, Some(c) if c.is_empty()) {
                f.problem("drain", "must not be empty");
            }
            if let Some(t) = f.duration("drain-timeout", DRAIN_TIMEOUT_RANGE) {
                unit.drain_timeout = t;
                if unit.drain.is_none() {
                    f.problem("drain-timeout", "needs `drain`: the command it limits");
                }
            }
        }
        Kind::Oneshot => {
            unit.creates = f.string("creates").map(PathBuf::from);
            unit.every = f.duration("every", EVERY_RANGE);
        }
    }
    f.finish();
    Some(unit)
}

fn parse_render(table: &Table, at: &str, problems: &mut Vec<Problem>) -> RenderSpec {
    let mut f = Fields::new(table, at, problems);
    let template = f.string("template");
    let dest = f.string("dest");
    for (key, v) in [("template", &template), ("dest", &dest)] {
        if v.is_none() && !f.problems_at(key) {
            f.problem(key, "missing");
        }
    }
    if matches!(&dest, Some(d) if !d.starts_with('/')) {
        f.problem("dest", "must be an absolute path");
    }
    let mode = f
        .string("mode")
        .and_then(|m| match u32::from_str_radix(&m, 8) {
            Ok(v) if v <= 0o7777 => Some(v),
            _ => {
                f.problem(
                    "mode",
                    format!("bad mode {m:?}: write octal digits like \"0644\""),
                );
                None
            }
        });
    let r = RenderSpec {
        template: template.unwrap_or_default(),
        dest: PathBuf::from(dest.unwrap_or_default()),
        mode,
        owner: f.string("owner"),
        validate: f.strings("validate"),
        reload: f.string("reload"),
        append: f
            .strings("append")
            .unwrap_or_default()
            .into_iter()
            .map(PathBuf::from)
            .collect(),
        condition: f.string("if"),
    };
    f.finish();
    r
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn toml_problem(text: &str, e: &toml::de::Error) -> Problem {
    let at = match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}")
        }
        None => String::new(),
    };
    Problem::new(
        at,
        format!("not valid TOML: {}", e.message().trim().replace('\n', "; ")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Spec, Vec<Problem>> {
        Spec::parse(text, Path::new("test.toml"))
    }

    fn problems(text: &str) -> Vec<String> {
        parse(text)
            .expect_err("spec should be refused")
            .into_iter()
            .map(|p| format!("{}: {}", p.at, p.message))
            .collect()
    }

    #[test]
    fn reads_the_whole_vocabulary() {
        let spec = parse(
            r#"
            [jinit]
            kill-delay = "3s"
            shutdown-grace = "1s"
            [service.web]
            command = ["nginx", "-g", "daemon off;"]
            user = "www-data"
            after = ["setup"]
            ready = { tcp = "127.0.0.1:80" }
            ready-timeout = "5s"
            on-success = "shutdown"
            stop-signal = "QUIT"
            reload-signal = "SIGHUP"
            env = { A = "1" }
            [oneshot.setup]
            command = ["true"]
            creates = "/x"
            every = "12h"
            if = "FOO == 'yes'"
            [[render]]
            template = "web/meet.conf"
            dest = "/run/meet.conf"
            mode = "0600"
            reload = "web"
            "#,
        )
        .expect("valid spec");
        assert_eq!(spec.kill_delay, Duration::from_secs(3));
        let web = spec.unit("web").unwrap();
        assert_eq!(web.kind, Kind::Service);
        assert_eq!(web.stop_signal, Signal::SIGQUIT);
        assert_eq!(web.reload_signal, Some(Signal::SIGHUP));
        assert_eq!(web.kill_delay, Duration::from_secs(3), "inherits [jinit]");
        assert_eq!(web.on_success, Policy::Shutdown);
        assert_eq!(web.on_failure, Policy::Restart);
        assert_eq!(web.ready, Some(Ready::Tcp("127.0.0.1:80".into())));
        let setup = spec.unit("setup").unwrap();
        assert_eq!(setup.on_failure, Policy::Shutdown, "oneshot default");
        assert_eq!(setup.every, Some(Duration::from_secs(43200)));
        assert_eq!(spec.renders[0].mode, Some(0o600));
    }

    #[test]
    fn secrets_store_and_writable_keys() {
        let spec = parse(
            r#"
            [jinit]
            secrets-dir = "/secrets"
            generate-secrets = true
            writable = ["/data", "/secrets"]
            "#,
        )
        .expect("valid spec");
        assert_eq!(spec.secrets_dir, Some(PathBuf::from("/secrets")));
        assert!(spec.generate_secrets);
        assert_eq!(
            spec.writable,
            vec![PathBuf::from("/data"), PathBuf::from("/secrets")]
        );
        let all = problems(
            r#"
            [jinit]
            generate-secrets = true
            writable = ["data"]
            "#,
        )
        .join("\n");
        assert!(
            all.contains("jinit.generate-secrets: needs `secrets-dir`"),
            "{all}"
        );
        assert!(
            all.contains("jinit.writable: data is not an absolute path"),
            "{all}"
        );
        let all = problems("[jinit]\nsecrets-dir = \"s\"\n").join("\n");
        assert!(
            all.contains("jinit.secrets-dir: s is not an absolute path"),
            "{all}"
        );
    }

    #[test]
    fn reports_every_problem_with_its_key_path() {
        let p = problems(
            r#"
            [jinit]
            kill-delay = "soon"
            [service.a]
            command = ["x"]
            after = ["nope"]
            stop-signal = "SIGNOPE"
            colour = "blue"
            [oneshot.b]
            ready = { tcp = "x:1" }
            "#,
        );
        let all = p.join("\n");
        assert!(
            all.contains("jinit.kill-delay: bad duration \"soon\""),
            "{all}"
        );
        assert!(
            all.contains("service.a.after: unknown unit \"nope\""),
            "{all}"
        );
        assert!(
            all.contains("service.a.stop-signal: unknown signal"),
            "{all}"
        );
        assert!(all.contains("service.a.colour: unknown key"), "{all}");
        assert!(all.contains("oneshot.b.command: missing"), "{all}");
        assert!(all.contains("oneshot.b.ready: unknown key"), "{all}");
        assert_eq!(p.len(), 6, "{all}");
    }

    #[test]
    fn names_the_cycle() {
        let p = problems(
            r#"
            [service.a]
            command = ["x"]
            after = ["b"]
            [service.b]
            command = ["x"]
            after = ["a"]
            "#,
        );
        assert!(
            p.iter()
                .any(|l| l.contains("dependency cycle: a -> b -> a")),
            "{p:?}"
        );
    }

    #[test]
    fn malformed_toml_names_the_line() {
        let p = problems("[service.a]\ncommand = = 1\n");
        assert!(p[0].starts_with("line 2: not valid TOML"), "{p:?}");
    }

    #[test]
    fn ready_needs_exactly_one_probe() {
        let p = problems(
            r#"
            [service.a]
            command = ["x"]
            ready = { tcp = "a:1", file = "/x" }
            "#,
        );
        assert!(p[0].contains("exactly one of"), "{p:?}");
    }

    #[test]
    fn signals_by_name_or_number() {
        assert_eq!(parse_signal("term").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("SIGQUIT").unwrap(), Signal::SIGQUIT);
        assert_eq!(parse_signal("1").unwrap(), Signal::SIGHUP);
        assert!(parse_signal("FOO").is_err());
        assert_eq!(signal_name(Signal::SIGUSR1), "USR1");
    }

    #[test]
    fn on_change_names_paths_and_a_signal() {
        let spec = parse(
            "[service.t]\ncommand = [\"t\"]\non-change = { paths = [\"/c\"], signal = \"USR2\" }\n",
        )
        .expect("valid");
        let c = spec.unit("t").unwrap().on_change.clone().unwrap();
        assert_eq!(c.signal, Signal::SIGUSR2);
        assert!(c.covers(Path::new("/c/live/key.pem")));
        assert!(!c.covers(Path::new("/certs")));
        let all = problems(
            "[service.t]\ncommand = [\"t\"]\non-change = { paths = [\"rel\"], signal = \"NOPE\" }\n\
             [service.u]\ncommand = [\"u\"]\non-change = { signal = \"HUP\" }\n\
             [oneshot.o]\ncommand = [\"o\"]\non-change = { paths = [\"/c\"], signal = \"HUP\" }\n",
        )
        .join("\n");
        assert!(
            all.contains("service.t.on-change.paths: \"rel\" must be an absolute path"),
            "{all}"
        );
        assert!(
            all.contains("service.t.on-change.signal: unknown signal"),
            "{all}"
        );
        assert!(all.contains("service.u.on-change.paths: missing"), "{all}");
        assert!(all.contains("oneshot.o.on-change: unknown key"), "{all}");
    }

    #[test]
    fn a_drain_must_fit_the_stop_timeout() {
        let spec = parse(
            "[jinit]\nstop-timeout = \"70s\"\nkill-delay = \"3s\"\n\
             [service.jvb]\ncommand = [\"jvb\"]\ndrain = [\"jvb-drain\", \"x\"]\n\
             drain-timeout = \"1m\"\n",
        )
        .expect("60 s + 3 s + 2 s fit 70 s");
        let jvb = spec.unit("jvb").unwrap();
        assert_eq!(
            jvb.drain.as_deref(),
            Some(&["jvb-drain".to_string(), "x".into()][..])
        );
        assert_eq!(jvb.drain_timeout, Duration::from_secs(60));
        let all = problems(
            "[service.a]\ncommand = [\"a\"]\ndrain = [\"d\"]\n\
             [service.b]\ncommand = [\"b\"]\ndrain = []\n\
             [service.c]\ncommand = [\"c\"]\ndrain-timeout = \"5s\"\n\
             [oneshot.o]\ncommand = [\"o\"]\ndrain = [\"d\"]\n",
        )
        .join("\n");
        for want in [
            "service.a.drain-timeout: 30.0s plus kill-delay 5.0s plus shutdown-grace 2.0s exceed \
             [jinit] stop-timeout 9.0s: raise stop-timeout to at least 37.0s",
            "service.b.drain: must not be empty",
            "service.c.drain-timeout: needs `drain`",
            "oneshot.o.drain: unknown key",
        ] {
            assert!(all.contains(want), "{want} in\n{all}");
        }
    }
}
