//! Typed reads out of one TOML table with every problem collected, shared by the spec and
//! schema parsers. Remembers which keys were read so `finish` can report the unknown ones.

use super::types::{http_target, parse_signal, socket_addr, OnChange, Policy, Ready};
use crate::duration;
use crate::problem::Problem;
use nix::sys::signal::Signal;
use std::path::PathBuf;
use std::time::Duration;
use toml::{Table, Value};

/// Reads typed fields out of one TOML table, remembering which keys were used so that
/// `finish` can report the unknown ones. Problems carry the full key path.
pub struct Fields<'a> {
    table: &'a Table,
    at: String,
    used: Vec<&'static str>,
    problems: &'a mut Vec<Problem>,
    /// How many problems there were before this table: only later ones can be at its keys,
    /// so `problems_at` looks at those alone (a spec with a problem in each of 50,000 units
    /// must not rescan all earlier ones for every unit).
    first_problem: usize,
}

impl<'a> Fields<'a> {
    pub fn new(table: &'a Table, at: &str, problems: &'a mut Vec<Problem>) -> Self {
        Fields {
            table,
            at: at.to_string(),
            used: Vec::new(),
            first_problem: problems.len(),
            problems,
        }
    }

    pub fn path(&self, key: &str) -> String {
        if self.at.is_empty() {
            key.to_string()
        } else {
            format!("{}.{}", self.at, key)
        }
    }

    pub fn problem(&mut self, key: &str, message: impl Into<String>) {
        let at = self.path(key);
        self.problems.push(Problem::new(at, message));
    }

    pub fn problems_at(&self, key: &str) -> bool {
        let at = self.path(key);
        self.problems[self.first_problem..]
            .iter()
            .any(|p| p.at == at)
    }

    pub fn get(&mut self, key: &'static str) -> Option<&'a Value> {
        self.used.push(key);
        self.table.get(key)
    }

    pub fn wrong_type(&mut self, key: &str, want: &str, got: &Value) {
        self.problem(key, format!("must be {want}, not {}", got.type_str()));
    }

    pub fn value(&mut self, key: &'static str) -> Option<&'a Value> {
        self.get(key)
    }

    pub fn bool(&mut self, key: &'static str) -> Option<bool> {
        match self.get(key)? {
            Value::Boolean(b) => Some(*b),
            other => {
                self.wrong_type(key, "true or false", other);
                None
            }
        }
    }

    pub fn string(&mut self, key: &'static str) -> Option<String> {
        match self.get(key)? {
            Value::String(s) => Some(s.clone()),
            other => {
                self.wrong_type(key, "a string", other);
                None
            }
        }
    }

    pub fn strings(&mut self, key: &'static str) -> Option<Vec<String>> {
        let v = self.get(key)?;
        let items = v.as_array().and_then(|a| {
            a.iter()
                .map(|i| i.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
        });
        if items.is_none() {
            self.wrong_type(key, "a list of strings", v);
        }
        items
    }

    pub fn string_table(&mut self, key: &'static str) -> Option<Vec<(String, String)>> {
        let v = self.get(key)?;
        let Some(t) = v.as_table() else {
            self.wrong_type(key, "a table of strings", v);
            return None;
        };
        let mut out = Vec::new();
        for (k, v) in t {
            match v.as_str() {
                Some(s) => out.push((k.clone(), s.to_string())),
                None => {
                    let at = format!("{key}.{k}");
                    self.problem(&at, format!("must be a string, not {}", v.type_str()));
                }
            }
        }
        Some(out)
    }

    pub fn table(&mut self, key: &'static str) -> Option<&'a Table> {
        let v = self.get(key)?;
        match v.as_table() {
            Some(t) => Some(t),
            None => {
                self.wrong_type(key, "a table", v);
                None
            }
        }
    }

    pub fn array_of_tables(&mut self, key: &'static str) -> Vec<Table> {
        let Some(v) = self.get(key) else {
            return Vec::new();
        };
        match v.as_array() {
            Some(a) if a.iter().all(Value::is_table) => {
                a.iter().filter_map(|t| t.as_table().cloned()).collect()
            }
            _ => {
                self.wrong_type(key, "an array of tables ([[render]])", v);
                Vec::new()
            }
        }
    }

    /// A duration within `range` (both ends allowed); absurd values are refused here, so no
    /// deadline computed from them can overflow.
    pub fn duration(&mut self, key: &'static str, range: (Duration, Duration)) -> Option<Duration> {
        let s = self.string(key)?;
        match duration::parse(&s).and_then(|d| duration::within(d, range.0, range.1)) {
            Ok(d) => Some(d),
            Err(e) => {
                self.problem(key, e);
                None
            }
        }
    }

    pub fn signal(&mut self, key: &'static str) -> Option<Signal> {
        let s = self.string(key)?;
        match parse_signal(&s) {
            Ok(sig) => Some(sig),
            Err(e) => {
                self.problem(key, e);
                None
            }
        }
    }

    /// `{ paths = ["/abs", ...], signal = "USR2" }`.
    pub fn on_change(&mut self, key: &'static str) -> Option<OnChange> {
        let v = self.get(key)?;
        let at = self.path(key);
        let Some(t) = v.as_table() else {
            self.wrong_type(
                key,
                "a table like { paths = [\"/certs\"], signal = \"USR2\" }",
                v,
            );
            return None;
        };
        let mut f = Fields::new(t, &at, self.problems);
        let paths = f.strings("paths");
        let signal = f.signal("signal");
        let relative = paths
            .iter()
            .flatten()
            .find(|p| !p.starts_with('/'))
            .cloned();
        if let Some(p) = relative {
            f.problem("paths", format!("{p:?} must be an absolute path"));
        }
        if matches!(&paths, Some(p) if p.is_empty()) {
            f.problem("paths", "must name at least one file or directory");
        }
        for (k, missing) in [("paths", paths.is_none()), ("signal", signal.is_none())] {
            if missing && !f.problems_at(k) {
                f.problem(k, "missing");
            }
        }
        f.finish();
        Some(OnChange {
            paths: paths?.into_iter().map(PathBuf::from).collect(),
            signal: signal?,
        })
    }

    pub fn policy(&mut self, key: &'static str) -> Option<Policy> {
        let s = self.string(key)?;
        match s.as_str() {
            "restart" => Some(Policy::Restart),
            "shutdown" => Some(Policy::Shutdown),
            "ignore" => Some(Policy::Ignore),
            _ => {
                self.problem(
                    key,
                    format!("unknown policy {s:?}: use \"restart\", \"shutdown\" or \"ignore\""),
                );
                None
            }
        }
    }

    pub fn ready(&mut self, key: &'static str) -> Option<Ready> {
        let v = self.get(key)?;
        let at = self.path(key);
        let Some(t) = v.as_table() else {
            self.wrong_type(key, "a table like { tcp = \"127.0.0.1:80\" }", v);
            return None;
        };
        let mut f = Fields::new(t, &at, self.problems);
        let found = [
            f.string("tcp").map(Ready::Tcp),
            f.string("http").map(Ready::Http),
            f.strings("exec").map(Ready::Exec),
            f.string("file").map(|p| Ready::File(PathBuf::from(p))),
        ];
        f.finish();
        let mut found: Vec<Ready> = found.into_iter().flatten().collect();
        if found.len() != 1 {
            self.problems.push(Problem::new(
                at,
                "give exactly one of tcp = \"host:port\", http = \"url\", exec = [argv], file = \"path\"",
            ));
            return None;
        }
        let ready = found.pop()?;
        match &ready {
            Ready::Tcp(addr) => {
                if let Err(e) = socket_addr(addr) {
                    self.problem(key, format!("tcp: {e}"));
                }
            }
            Ready::Http(url) => {
                if let Err(e) = http_target(url) {
                    self.problem(key, format!("http: {e}"));
                }
            }
            Ready::Exec(argv) if argv.is_empty() => {
                self.problem(key, "exec probe must not be empty")
            }
            _ => {}
        }
        Some(ready)
    }

    pub fn finish(mut self) {
        self.used.sort_unstable();
        self.used.dedup();
        let known = self.used.join(", ");
        for key in self.table.keys() {
            if self.used.binary_search(&key.as_str()).is_err() {
                let at = self.path(key);
                self.problems.push(Problem::new(
                    at,
                    format!("unknown key (known here: {known})"),
                ));
            }
        }
    }
}
