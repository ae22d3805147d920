//! Property tests (test builds only): random and mutated specs, `.env` files, variable values
//! and durations through the same pure functions `jinit check`, `jinit check-env` and
//! `jinit render` use.
//!
//! Every case must finish within `LIMIT` without a panic, and every refusal must say where
//! (a key path, `line N`, a variable or `template:line`). Starts no process and writes no
//! file; reads the repository's specs, schemas and templates, and the host's /etc/passwd
//! and PATH the way `jinit check` does.
//!
//! Over 500 lines: tests only (compiled with `cargo test`, never into jinit).

use crate::config::environ::{self, Scope};
use crate::config::schema::{Kind, Schema};
use crate::config::types::Type;
use crate::problem::Problem;
use crate::spec::{Spec, UnitSpec};
use crate::{config::render, duration, spec::order, spec::plan};
use minijinja::Value;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::Duration;

/// The longest one case may take (debug build, shared 2-core machine): far above any real
/// case, far below a test run's patience.
const LIMIT: Duration = Duration::from_secs(20);

/// The images' real specs: the starting points of the mutations.
const SPECS: [(&str, &str); 5] = [
    ("jicofo", include_str!("../images/jicofo/jinit.toml")),
    ("jigasi", include_str!("../images/jigasi/jinit.toml")),
    ("jvb", include_str!("../images/jvb/jinit.toml")),
    ("prosody", include_str!("../images/prosody/jinit.toml")),
    ("web", include_str!("../images/web/jinit.toml")),
];

/// The same cases on every run of the test command, so a failure is never a fluke of one
/// CI run: `JINIT_FUZZ_SEED=N` explores other cases, `JINIT_FUZZ_SEED=random` new ones each
/// run (report a failure with the minimal input it prints).
fn config(cases: u32) -> ProptestConfig {
    use proptest::test_runner::RngSeed;
    let rng_seed = match std::env::var("JINIT_FUZZ_SEED").ok().as_deref() {
        Some("random") => RngSeed::Random,
        Some(n) => RngSeed::Fixed(n.parse().unwrap_or(FUZZ_SEED)),
        None => RngSeed::Fixed(FUZZ_SEED),
    };
    ProptestConfig {
        cases,
        rng_seed,
        // Failures print their minimal input; no regression files in the source tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

const FUZZ_SEED: u64 = 0x6a69_6e69_7400_0009;

fn templates() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("templates")
}

/// Runs `f` on its own thread and fails the case when it has not returned within `LIMIT`,
/// so a hang is a failing case with its input, not a stuck test run. A panic in `f` fails
/// the case too (the default hook has printed its message).
fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, TestCaseError> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(LIMIT) {
        Ok(v) => Ok(v),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(TestCaseError::fail(format!(
            "still running after {LIMIT:?}"
        ))),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(TestCaseError::fail("panicked")),
    }
}

/// Every problem names where it is and what is wrong.
fn all_named(problems: &[Problem]) -> Result<(), TestCaseError> {
    for p in problems {
        prop_assert!(!p.at.trim().is_empty(), "problem without a place: {p:?}");
        prop_assert!(
            !p.message.trim().is_empty(),
            "problem without a message: {p:?}"
        );
    }
    Ok(())
}

// ------------------------------------------------------------------ strategies

/// Text an operator might write, or anything at all.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9_.-]{0,10}",
        "[0-9]{12,40}",
        "-?[0-9]{1,6}(\\.[0-9]{1,3})?(ms|s|m|h|d|x|)",
        "\\PC{0,24}",
        any::<String>(),
        Just(String::new()),
        Just("{{ NOPE }}".to_string()),
        Just("{% if %}".to_string()),
    ]
}

fn duration_text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec("[0-9]{1,25}(\\.[0-9]{0,5})?(ms|s|m|h|d|x|us|)", 1..4)
            .prop_map(|parts| parts.concat()),
        " ?[0-9.]{0,8}[a-z]{0,3} ?",
        text(),
    ]
}

fn signal_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "(SIG|sig)?(TERM|QUIT|HUP|USR1|USR2|KILL|INT|WINCH|CONT|STOP|FOO|term|hup)",
        "-?[0-9]{1,12}",
        text(),
    ]
}

/// Any TOML value, two levels deep.
fn toml_value() -> impl Strategy<Value = toml::Value> {
    let leaf = prop_oneof![
        text().prop_map(toml::Value::String),
        duration_text().prop_map(toml::Value::String),
        any::<i64>().prop_map(toml::Value::Integer),
        any::<bool>().prop_map(toml::Value::Boolean),
        (-1e300f64..1e300).prop_map(toml::Value::Float),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(toml::Value::Array),
            prop::collection::btree_map("[a-z-]{1,8}", inner, 0..4)
                .prop_map(|m| toml::Value::Table(m.into_iter().collect())),
        ]
    })
}

const UNIT_NAMES: [&str; 10] = ["a", "b", "c", "d", "web", "db", "x.y", "bad name", "", "é"];
const UNIT_KEYS: [&str; 20] = [
    "command",
    "after",
    "user",
    "group",
    "env",
    "cwd",
    "stdin",
    "if",
    "ready",
    "ready-timeout",
    "on-success",
    "on-failure",
    "stop-signal",
    "kill-delay",
    "reload-signal",
    "creates",
    "every",
    "colour",
    "after ",
    "Command",
];

/// A plausible value for one unit key, or a random one.
fn unit_value(key: &'static str) -> BoxedStrategy<toml::Value> {
    use toml::Value as V;
    let strings = |s: BoxedStrategy<String>| {
        prop::collection::vec(s, 0..4)
            .prop_map(|v| V::Array(v.into_iter().map(V::String).collect()))
            .boxed()
    };
    let plausible: BoxedStrategy<V> = match key {
        "command" => strings(prop_oneof!["true", "sh", "/bin/true", "no-such-cmd", text()].boxed()),
        "after" => strings(
            prop_oneof![
                prop::sample::select(UNIT_NAMES.to_vec()).prop_map(String::from),
                text()
            ]
            .boxed(),
        ),
        "user" | "group" => prop_oneof!["root", "nobody", "65534", "0", text()]
            .prop_map(V::String)
            .boxed(),
        "ready" => (
            prop::sample::select(vec!["tcp", "http", "exec", "file", "udp"]),
            text(),
        )
            .prop_map(|(k, v)| {
                let mut t = toml::Table::new();
                let v = match k {
                    "exec" => V::Array(vec![V::String(v)]),
                    "tcp" => V::String(format!("127.0.0.1:{v}")),
                    "http" => V::String(format!("http://127.0.0.1/{v}")),
                    _ => V::String(v),
                };
                t.insert(k.into(), v);
                V::Table(t)
            })
            .boxed(),
        "on-success" | "on-failure" => prop_oneof!["restart", "shutdown", "ignore", text()]
            .prop_map(V::String)
            .boxed(),
        "stop-signal" | "reload-signal" => signal_text().prop_map(V::String).boxed(),
        "ready-timeout" | "kill-delay" | "every" => duration_text().prop_map(V::String).boxed(),
        "if" => prop_oneof!["A", "not A", "B == 'x'", "A and", text()]
            .prop_map(V::String)
            .boxed(),
        "env" => prop::collection::btree_map("[A-Z_]{1,6}", text(), 0..3)
            .prop_map(|m| V::Table(m.into_iter().map(|(k, v)| (k, V::String(v))).collect()))
            .boxed(),
        _ => text().prop_map(V::String).boxed(),
    };
    prop_oneof![4 => plausible, 1 => toml_value()].boxed()
}

fn unit_table() -> impl Strategy<Value = toml::Table> {
    prop::collection::vec(
        prop::sample::select(UNIT_KEYS.to_vec()).prop_flat_map(|k| (Just(k), unit_value(k))),
        0..8,
    )
    .prop_map(|pairs| pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// A whole spec as a TOML table: `[jinit]`, services, oneshots (names may collide, `after`
/// may form cycles) and `[[render]]` entries.
fn spec_table() -> impl Strategy<Value = toml::Table> {
    use toml::Value as V;
    let jinit = prop::collection::vec(
        (
            prop::sample::select(vec![
                "kill-delay",
                "shutdown-grace",
                "stop-timeout",
                "schemas",
                "require",
                "watch",
                "nope",
            ]),
            prop_oneof![
                duration_text().prop_map(V::String),
                prop::collection::vec(text(), 0..3)
                    .prop_map(|v| V::Array(v.into_iter().map(V::String).collect())),
                toml_value(),
            ],
        ),
        0..5,
    );
    let units = || {
        prop::collection::btree_map(
            prop_oneof![
                prop::sample::select(UNIT_NAMES.to_vec()).prop_map(String::from),
                text()
            ],
            unit_table(),
            0..6,
        )
    };
    let render = prop::collection::vec(
        prop::collection::vec(
            (
                prop::sample::select(vec![
                    "template", "dest", "mode", "owner", "validate", "reload", "append", "if", "x",
                ]),
                prop_oneof![
                    prop_oneof!["web/meet.conf", "/run/x", "0644", "0999", "root:root", "a"]
                        .prop_map(V::String),
                    text().prop_map(V::String),
                    toml_value(),
                ],
            ),
            0..6,
        ),
        0..3,
    );
    (jinit, units(), units(), render, any::<u8>()).prop_map(
        |(jinit, services, oneshots, render, odd)| {
            let mut top = toml::Table::new();
            let table = |pairs: Vec<(&str, V)>| {
                V::Table(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            };
            top.insert("jinit".into(), table(jinit));
            let group = |m: BTreeMap<String, toml::Table>| {
                V::Table(m.into_iter().map(|(k, v)| (k, V::Table(v))).collect())
            };
            top.insert("service".into(), group(services));
            top.insert("oneshot".into(), group(oneshots));
            top.insert(
                "render".into(),
                V::Array(render.into_iter().map(table).collect()),
            );
            // Now and then a section of the wrong type or an unknown one.
            match odd % 8 {
                0 => {
                    top.insert("service".into(), V::String("x".into()));
                }
                1 => {
                    top.insert("render".into(), V::Table(toml::Table::new()));
                }
                2 => {
                    top.insert("servise".into(), V::Table(toml::Table::new()));
                }
                _ => {}
            }
            top
        },
    )
}

/// TOML text for a table; every key and string quoted, nested tables inline.
fn emit(top: &toml::Table) -> String {
    fn quote(s: &str) -> String {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if (c as u32) < 0x20 || c == '\u{7f}' => {
                    out.push_str(&format!("\\u{:04X}", c as u32))
                }
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }
    fn value(v: &toml::Value) -> String {
        match v {
            toml::Value::String(s) => quote(s),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => format!("{f:?}"),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Datetime(d) => d.to_string(),
            toml::Value::Array(a) => {
                format!("[{}]", a.iter().map(value).collect::<Vec<_>>().join(", "))
            }
            toml::Value::Table(t) => format!(
                "{{ {} }}",
                t.iter()
                    .map(|(k, v)| format!("{} = {}", quote(k), value(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
    let mut out = String::new();
    for (k, v) in top {
        out.push_str(&format!("{} = {}\n", quote(k), value(v)));
    }
    out
}

/// One edit of a spec's text.
#[derive(Debug, Clone)]
enum Edit {
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    InsertLine(usize, String),
    /// Replaces what follows the `=` of a line.
    ReplaceValue(usize, String),
    /// Inserts text at a character position.
    InsertText(usize, String),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let i = any::<usize>;
    let line = prop_oneof![
        Just("after = [\"nginx\"]".to_string()),
        Just("after = [\"a\", \"a\"]".to_string()),
        Just("[service.nginx]".to_string()),
        Just("[oneshot.nginx]".to_string()),
        Just("[[render]]".to_string()),
        Just("[jinit]".to_string()),
        duration_text().prop_map(|d| format!("kill-delay = {d:?}")),
        duration_text().prop_map(|d| format!("ready-timeout = {d:?}")),
        duration_text().prop_map(|d| format!("every = {d:?}")),
        signal_text().prop_map(|s| format!("stop-signal = {s:?}")),
        "[0-9]{10,30}".prop_map(|n| format!("kill-delay = {n}")),
        text().prop_map(|t| format!("command = [{t:?}]")),
        text().prop_map(|t| format!("if = {t:?}")),
        text(),
    ];
    let value = prop_oneof![
        duration_text().prop_map(|d| format!("{d:?}")),
        signal_text().prop_map(|s| format!("{s:?}")),
        "[0-9]{10,30}",
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just("true".to_string()),
        text(),
        toml_value().prop_map(|v| {
            let mut t = toml::Table::new();
            t.insert("k".into(), v);
            emit(&t)
                .trim_end()
                .trim_start_matches("\"k\" = ")
                .to_string()
        }),
    ];
    prop_oneof![
        i().prop_map(Edit::DeleteLine),
        i().prop_map(Edit::DuplicateLine),
        (i(), i()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
        (i(), line).prop_map(|(a, l)| Edit::InsertLine(a, l)),
        (i(), value).prop_map(|(a, v)| Edit::ReplaceValue(a, v)),
        (i(), text()).prop_map(|(a, t)| Edit::InsertText(a, t)),
        i().prop_map(Edit::Truncate),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let mut text_edits = Vec::new();
    for e in edits {
        let n = lines.len().max(1);
        match e {
            Edit::DeleteLine(i) if !lines.is_empty() => {
                lines.remove(i % n);
            }
            Edit::DuplicateLine(i) if !lines.is_empty() => {
                let l = lines[i % n].clone();
                lines.insert(i % n, l);
            }
            Edit::SwapLines(a, b) if !lines.is_empty() => lines.swap(a % n, b % n),
            Edit::InsertLine(i, l) => lines.insert(i % (lines.len() + 1), l.clone()),
            Edit::ReplaceValue(i, v) if !lines.is_empty() => {
                let l = &mut lines[i % n];
                if let Some(eq) = l.find('=') {
                    l.replace_range(eq + 1.., &format!(" {v}"));
                }
            }
            _ => text_edits.push(e.clone()),
        }
    }
    let mut out = lines.join("\n");
    for e in text_edits {
        let chars = out.chars().count() + 1;
        match e {
            Edit::InsertText(i, t) => {
                let at = out
                    .char_indices()
                    .nth(i % chars)
                    .map_or(out.len(), |(b, _)| b);
                out.insert_str(at, &t);
            }
            Edit::Truncate(i) => {
                let at = out
                    .char_indices()
                    .nth(i % chars)
                    .map_or(out.len(), |(b, _)| b);
                out.truncate(at);
            }
            _ => {}
        }
    }
    out
}

/// Parses a spec the way `jinit check` does, then checks the dependency functions and, when
/// the spec is valid, plans it against the host with `ctx`.
fn check_spec(text: String, ctx: Value) -> Result<(), TestCaseError> {
    let outcome = bounded(move || {
        let parsed = Spec::parse(&text, Path::new("fuzz.toml"));
        let planned = parsed.as_ref().ok().map(|spec| {
            let cycles = order::find_cycles(&spec.units);
            let deps = order::dependencies(&spec.units);
            let dependents = order::dependents(&spec.units);
            let plan = plan::plan(spec, &ctx).map(|_| ());
            (cycles, deps, dependents, plan)
        });
        (parsed.map(|s| s.units.len()), planned)
    })?;
    match outcome {
        (Err(problems), _) => {
            prop_assert!(!problems.is_empty());
            all_named(&problems)?;
        }
        (Ok(n), Some((cycles, deps, dependents, plan))) => {
            prop_assert!(cycles.is_empty(), "a valid spec has no cycle: {cycles:?}");
            prop_assert_eq!(deps.len(), n);
            // Each edge appears once in each direction.
            let forward: usize = deps.iter().map(Vec::len).sum();
            let backward: usize = dependents.iter().map(Vec::len).sum();
            prop_assert_eq!(forward, backward);
            if let Err(problems) = plan {
                all_named(&problems)?;
            }
        }
        (Ok(_), None) => unreachable!(),
    }
    Ok(())
}

fn small_ctx() -> Value {
    Value::from_serialize(serde_json::json!({"A": true, "B": "x", "DISABLE_HTTPS": false}))
}

// ------------------------------------------------------------------ the dependency graph

/// The recursive search `order::find_cycles` replaced, kept as the oracle: the iterative one
/// must report the same cycles in the same order (on graphs small enough to recurse).
fn cycles_oracle(units: &[UnitSpec]) -> Vec<Vec<String>> {
    fn visit<'a>(
        name: &'a str,
        index: &BTreeMap<&'a str, &'a UnitSpec>,
        mark: &mut BTreeMap<&'a str, u8>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match mark.get(name) {
            Some(2) => return None,
            Some(1) => {
                let from = path.iter().position(|n| *n == name).unwrap_or(0);
                let mut cycle: Vec<String> = path[from..].iter().map(|s| s.to_string()).collect();
                cycle.push(name.to_string());
                return Some(cycle);
            }
            _ => {}
        }
        let unit = index.get(name)?;
        mark.insert(name, 1);
        path.push(name);
        for dep in &unit.after {
            if let Some((dep_name, _)) = index.get_key_value(dep.as_str()) {
                if let Some(c) = visit(dep_name, index, mark, path) {
                    return Some(c);
                }
            }
        }
        path.pop();
        mark.insert(name, 2);
        None
    }
    let mut index: BTreeMap<&str, &UnitSpec> = BTreeMap::new();
    for u in units {
        index.entry(u.name.as_str()).or_insert(u);
    }
    let mut mark = BTreeMap::new();
    let mut cycles = Vec::new();
    let names: Vec<&str> = index.keys().copied().collect();
    for start in names {
        let mut path = Vec::new();
        if let Some(cycle) = visit(start, &index, &mut mark, &mut path) {
            for name in path {
                mark.insert(name, 2);
            }
            cycles.push(cycle);
        }
    }
    cycles
}

/// Whether the graph has a cycle at all (Kahn: a cycle is what cannot be sorted).
fn has_cycle(deps: &[Vec<usize>]) -> bool {
    let mut waiting: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut dependents = vec![Vec::new(); deps.len()];
    for (i, d) in deps.iter().enumerate() {
        for &j in d {
            dependents[j].push(i);
        }
    }
    let mut ready: Vec<usize> = (0..deps.len()).filter(|&i| waiting[i] == 0).collect();
    let mut sorted = 0;
    while let Some(j) = ready.pop() {
        sorted += 1;
        for &i in &dependents[j] {
            waiting[i] -= 1;
            if waiting[i] == 0 {
                ready.push(i);
            }
        }
    }
    sorted < deps.len()
}

fn graph() -> impl Strategy<Value = Vec<UnitSpec>> {
    (1usize..24).prop_flat_map(|n| {
        // Names may repeat (a service and a oneshot of one name), `after` may name units
        // that do not exist.
        let names = prop::collection::vec(0..n + 2, n);
        let afters = prop::collection::vec(prop::collection::vec(0..n + 3, 0..4), n);
        (names, afters).prop_map(|(names, afters)| {
            let template = Spec::parse("[service.t]\ncommand = [\"true\"]\n", Path::new("t"))
                .expect("a valid spec")
                .units
                .remove(0);
            names
                .into_iter()
                .zip(afters)
                .map(|(name, after)| {
                    let mut u = template.clone();
                    u.name = format!("u{name}");
                    u.after = after.into_iter().map(|a| format!("u{a}")).collect();
                    u
                })
                .collect()
        })
    })
}

// ------------------------------------------------------------------ environments

/// Every component's variables, as `jinit check-env` loads them.
fn all_schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| Schema::load_all(&templates()).expect("the repository's schemas"))
}

/// Per variable: 0 unset, 1 one of the random texts, otherwise a value valid for its type;
/// `n` picks which. (A random text per variable would make generating a case, not checking
/// it, the slow part.)
type Choice = (u8, u64);

/// Choices for `len` variables, and the random texts they pick from.
fn choices(len: usize) -> impl Strategy<Value = (Vec<Choice>, Vec<String>)> {
    (
        prop::collection::vec((0u8..12, any::<u64>()), len),
        prop::collection::vec(text(), 1..8),
    )
}

fn valid_value(ty: &Type, n: u64) -> String {
    const BOOLS: [&str; 8] = ["1", "0", "true", "false", "yes", "no", "on", "off"];
    match ty {
        Type::Bool => BOOLS[(n % 8) as usize].into(),
        Type::Int => ((n as i64) % 100_000).to_string(),
        Type::Decimal => format!("{}.{}", n % 10, n % 1000),
        Type::Port => (1 + n % 65535).to_string(),
        Type::String => format!("value-{n}"),
        Type::List => (0..n % 4)
            .map(|i| format!("item{i}"))
            .collect::<Vec<_>>()
            .join(","),
        Type::Url => format!("https://host{}.example.com", n % 100),
        Type::Host => match n % 3 {
            0 => format!("h{}.example.com", n % 1000),
            1 => format!("10.0.{}.{}", n % 256, (n / 256) % 256),
            _ => "[::1]".into(),
        },
        Type::Cidr => match n % 2 {
            0 => format!("10.{}.0.0/{}", n % 256, 8 + n % 25),
            _ => format!("fd{:02x}::/{}", n % 256, 8 + n % 121),
        },
        Type::Enum(values) => values[(n as usize) % values.len().max(1)].clone(),
        Type::Secret => format!("a-strong-generated-secret-{n:020}"),
        Type::Duration => format!("{}s", 1 + n % 3600),
        Type::Path => format!("/p/{}", n % 10),
    }
}

/// A raw environment for `schema`'s variables from `choices`, plus `extra` names (typos,
/// unknown names) with random values. No `_FILE` secret: reading a random path could block.
fn raw_env(
    schema: &Schema,
    (choices, randoms): &(Vec<Choice>, Vec<String>),
    extra: &[(String, String)],
) -> BTreeMap<String, String> {
    let mut raw = BTreeMap::new();
    for (v, (pick, n)) in schema.vars.iter().zip(choices) {
        let value = match (pick, &v.kind) {
            (0, _) => continue,
            (1, _) => randoms[(*n as usize) % randoms.len()].clone(),
            // An old name's value would stand in for its new name's: unset when valid.
            (_, Kind::ReplacedBy(_) | Kind::Removed(_)) => continue,
            (
                _,
                Kind::Value {
                    ty, shape, default, ..
                },
            ) => {
                // A valid value of the type, unless the variable's shape narrows it further:
                // then its default or example, or nothing.
                let candidates = [
                    Some(valid_value(ty, *n)),
                    default.clone(),
                    v.example.clone(),
                ];
                match candidates
                    .into_iter()
                    .flatten()
                    .find(|c| ty.parse_shaped(shape, c).is_ok())
                {
                    Some(c) => c,
                    None => continue,
                }
            }
        };
        raw.insert(v.name.clone(), value);
    }
    for (k, v) in extra {
        if !k.ends_with("_FILE") {
            raw.insert(k.clone(), v.clone());
        }
    }
    raw
}

/// Problems of an environment are at a variable: declared, required by the spec, or the
/// `_FILE` of a secret.
fn at_variables(
    problems: &[Problem],
    schema: &Schema,
    require: &[String],
) -> Result<(), TestCaseError> {
    all_named(problems)?;
    for p in problems {
        let known = schema.get(&p.at).is_some()
            || require.contains(&p.at)
            || p.at
                .strip_suffix("_FILE")
                .is_some_and(|n| schema.get(n).is_some());
        prop_assert!(known, "problem at an unknown variable: {p:?}");
    }
    Ok(())
}

fn env_line() -> impl Strategy<Value = String> {
    let name = "[A-Z][A-Z0-9_]{0,20}";
    prop_oneof![
        (name, "[^\"'#\n\r]{0,20}").prop_map(|(k, v)| format!("{k}={v}")),
        (name, "[^\"\n\r]{0,20}").prop_map(|(k, v)| format!("{k}=\"{v}\"")),
        (name, "[^'\n\r]{0,20}").prop_map(|(k, v)| format!("export {k} = '{v}'  # c")),
        (name, text()).prop_map(|(k, v)| format!("{k}={v}")),
        Just("# a comment".to_string()),
        Just(String::new()),
        Just("=".to_string()),
        "\\PC{0,30}",
        any::<String>(),
    ]
}

// ------------------------------------------------------------------ images

/// One image as `jinit render` loads it: spec, its schemas, the templates.
struct Image {
    name: &'static str,
    spec: Spec,
    schema: Schema,
    jinja: minijinja::Environment<'static>,
}

fn images() -> &'static [Arc<Image>] {
    static IMAGES: OnceLock<Vec<Arc<Image>>> = OnceLock::new();
    IMAGES.get_or_init(|| {
        let dir = templates();
        let jinja = render::environment(&dir, None).expect("the repository's templates");
        SPECS
            .iter()
            .map(|(name, text)| {
                let spec = Spec::parse(text, Path::new(name)).expect("the image's spec");
                let schema = Schema::load(&dir, &spec.schemas).expect("the image's schemas");
                Arc::new(Image {
                    name,
                    spec,
                    schema,
                    jinja: jinja.clone(),
                })
            })
            .collect()
    })
}

// ------------------------------------------------------------------ the properties

proptest! {
    #![proptest_config(config(600))]

    /// Generated specs: every key of the vocabulary with plausible and random values,
    /// colliding names, `after` graphs with cycles and unknown names, wrong section types.
    #[test]
    fn generated_specs_are_checked_or_refused_with_a_key(top in spec_table()) {
        let text = emit(&top);
        prop_assert!(text.parse::<toml::Table>().is_ok(), "the emitter writes TOML:\n{text}");
        check_spec(text, small_ctx())?;
    }

    /// The images' real specs under edits: lines deleted, duplicated, swapped, inserted,
    /// values replaced (durations, signals, huge numbers, any TOML), text inserted, cut off.
    #[test]
    fn mutated_image_specs_are_checked_or_refused_with_a_key(
        which in 0..SPECS.len(),
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        let text = apply(SPECS[which].1, &edits);
        check_spec(text, small_ctx())?;
    }
}

proptest! {
    #![proptest_config(config(1000))]

    /// The iterative cycle search reports what the recursive one did, each cycle is real and
    /// disjoint from the others, and there is one exactly when the graph cannot be sorted.
    #[test]
    fn cycle_search_matches_the_recursive_one(units in graph()) {
        let (found, oracle, deps) = bounded(move || {
            (order::find_cycles(&units), cycles_oracle(&units), order::dependencies(&units))
        })?;
        prop_assert_eq!(&found, &oracle);
        let mut seen = BTreeSet::new();
        for cycle in &found {
            prop_assert_eq!(cycle.first(), cycle.last());
            for name in &cycle[1..] {
                prop_assert!(seen.insert(name.clone()), "{name} in two cycles: {found:?}");
            }
        }
        // A unit that repeats a name is never looked up, so it is in no cycle either way.
        prop_assert_eq!(has_cycle(&deps), !found.is_empty(), "{:?}", found);
    }

    /// `.env` text as docker-compose would meet it, and anything else: parsed without a
    /// panic, then checked against every component's schema as `jinit check-env` does.
    #[test]
    fn env_files_go_through_check_env(
        lines in prop::collection::vec(env_line(), 0..20),
        require in prop::collection::vec(prop_oneof!["[A-Z_]{1,12}", "PUBLIC_URL", "XMPP_DOMAIN"], 0..3),
    ) {
        let text = lines.join("\n");
        let (entries, problems, require) = bounded(move || {
            let schema = all_schema();
            let entries = crate::config::envfile::parse_lines(&text);
            let raw: BTreeMap<String, String> =
                entries.iter().filter(|(_, k, _)| !k.ends_with("_FILE")).map(|(_, k, v)| (k.clone(), v.clone())).collect();
            let (_env, problems) = environ::resolve_all(schema, &raw, &require, Scope::Stack);
            let _ = environ::unknown_names(schema, &raw, Scope::Stack);
            (entries, problems, require)
        })?;
        let mut last = 0;
        for (n, k, _) in &entries {
            prop_assert!(*n > last, "line numbers rise: {entries:?}");
            last = *n;
            prop_assert!(!k.contains('\n'));
        }
        at_variables(&problems, all_schema(), &require)?;
    }
}

proptest! {
    // resolve_all over every schema of the stack costs ~15 ms a case in a debug build.
    #![proptest_config(config(400))]

    /// Random values for every variable of the stack (mostly valid for their type, some
    /// random text, some unset) and unknown look-alike names.
    #[test]
    fn random_values_go_through_check_env(
        choices in choices(all_schema().vars.len()),
        extra in prop::collection::vec(("[A-Z]{2,8}_[A-Z_]{1,12}", text()), 0..4),
    ) {
        let problems = bounded(move || {
            let schema = all_schema();
            let raw = raw_env(schema, &choices, &extra);
            environ::resolve_all(schema, &raw, &[], Scope::Stack).1
        })?;
        at_variables(&problems, all_schema(), &[])?;
    }
}

proptest! {
    #![proptest_config(config(3000))]

    /// Every type's parser on random text: a value or a message, never a panic.
    #[test]
    fn values_of_every_type_parse_or_explain(t in prop_oneof![text(), duration_text()], n in any::<u64>()) {
        let types = [
            Type::Bool, Type::Int, Type::Port, Type::String, Type::List, Type::Url, Type::Host,
            Type::Cidr, Type::Decimal, Type::Enum(vec!["a".into(), "b".into()]), Type::Enum(Vec::new()), Type::Secret,
            Type::Duration, Type::Path,
        ];
        for ty in &types {
            if let Err(e) = ty.parse(&t) {
                prop_assert!(!e.is_empty());
            }
            // A valid value of the type is accepted.
            if !matches!(ty, Type::Enum(v) if v.is_empty()) {
                let valid = valid_value(ty, n);
                prop_assert!(ty.parse(&valid).is_ok(), "{ty:?} {valid:?}");
            }
        }
    }

    /// Durations: random text parses to at most `MAX` or is refused with its text named;
    /// sums of whole units parse to exactly their value.
    #[test]
    fn durations_parse_within_bounds(t in duration_text(), parts in prop::collection::vec((0u64..100_000, 0usize..5), 1..4)) {
        match duration::parse(&t) {
            Ok(d) => {
                prop_assert!(d <= duration::MAX);
                let _ = duration::show(d);
                let _ = duration::within(d, Duration::ZERO, Duration::from_secs(3600));
            }
            Err(e) => prop_assert!(e.contains(&format!("{:?}", t)) || e.starts_with("empty"), "{e}"),
        }
        const UNITS: [(&str, u64); 5] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)];
        let text: String = parts.iter().map(|(n, u)| format!("{n}{}", UNITS[*u].0)).collect();
        let ms: u64 = parts.iter().map(|(n, u)| n * UNITS[*u].1).sum();
        match duration::parse(&text) {
            Ok(d) => prop_assert_eq!(d.as_millis(), ms as u128, "{}", text),
            Err(e) => {
                prop_assert!(Duration::from_millis(ms) > duration::MAX, "{text}: {e}");
                prop_assert!(e.contains("too long"), "{e}");
            }
        }
    }

    /// Signal names and numbers: a signal or a message naming the text.
    #[test]
    fn signals_parse_or_explain(t in signal_text()) {
        if let Err(e) = crate::spec::parse_signal(&t) {
            prop_assert!(!e.is_empty());
        }
    }
}

proptest! {
    #![proptest_config(config(300))]

    /// Each image rendered as `jinit render` does, and planned as `jinit check` does, with
    /// random values for its variables: files, or problems at a variable, `render[i]` or
    /// `template:line`; never a panic. In a third of the cases every variable gets a valid
    /// value, and then every file must render.
    #[test]
    fn images_render_or_name_the_template(
        which in 0..SPECS.len(),
        mut choices in choices(images().iter().map(|i| i.schema.vars.len()).max().unwrap_or(0)),
        all_valid in prop::bool::weighted(0.33),
        extra in prop::collection::vec(("[A-Z]{2,8}_[A-Z_]{1,12}", text()), 0..3),
    ) {
        if all_valid {
            for (pick, _) in &mut choices.0 {
                *pick = 2;
            }
        }
        let image = images()[which].clone();
        let (env_problems, rendered, planned) = bounded(move || {
            let raw = raw_env(&image.schema, &choices, &extra);
            let (env, problems) =
                environ::resolve_all(&image.schema, &raw, &image.spec.require, Scope::Image);
            let rendered = render::render(&image.spec, &image.jinja, &env, None)
                .map(|files| files.len());
            let planned = plan::plan(&image.spec, &env.context()).map(|_| ());
            (problems, rendered, planned)
        })?;
        let image = &images()[which];
        if all_valid {
            prop_assert!(env_problems.is_empty(), "{}: {env_problems:?}", image.name);
        }
        at_variables(&env_problems, &image.schema, &image.spec.require)?;
        if let Err(problems) = &planned {
            all_named(problems)?;
        }
        match rendered {
            Ok(n) => prop_assert_eq!(n, image.spec.renders.len()),
            Err(problems) => {
                all_named(&problems)?;
                for p in &problems {
                    let at_template = p.at.contains(':')
                        || p.at.starts_with("render[")
                        || image.spec.renders.iter().any(|r| r.template == p.at);
                    prop_assert!(at_template, "{}: {p:?}", image.name);
                    // With a valid environment the templates must render.
                    prop_assert!(!env_problems.is_empty(), "{}: valid environment, yet {p:?}", image.name);
                }
            }
        }
    }
}
