//! The environment, parsed once by type against the schema.
//!
//! Every variable is read here and nowhere else: booleans have one spelling table, an empty
//! value means unset, secrets may come from `NAME_FILE`, renamed variables feed their
//! replacement, removed ones only warn. All problems are collected and reported together.
//! Reads files only for `NAME_FILE` secrets; never logs a secret's value.
//!
//! Over 500 lines: half of it is its tests (every type, the spellings, `_FILE`, renamed and
//! removed names, look-alike typos).

use crate::config::envfile;
use crate::config::schema::{Kind, Schema, Var};
use crate::config::types::{weak, Type, Typed};
use crate::problem::Problem;
use minijinja::Value;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// Every declared variable, typed (Unset when not given and no default).
    pub values: BTreeMap<String, Typed>,
    /// The raw environment (process environment with the env file on top).
    pub raw: BTreeMap<String, String>,
    pub warnings: Vec<String>,
    /// Paths read for `NAME_FILE` secrets, to watch for changes.
    pub secret_files: Vec<std::path::PathBuf>,
    /// The env file's own variables (empty without one), in file order.
    pub file: envfile::Vars,
}

impl Environment {
    /// The context for templates and `if` expressions: raw strings, typed values on top.
    pub fn context(&self) -> Value {
        let mut map: BTreeMap<String, Value> = self
            .raw
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.clone())))
            .collect();
        for (k, v) in &self.values {
            map.insert(k.clone(), v.to_value());
        }
        Value::from_serialize(&map)
    }

    #[cfg(test)]
    pub fn get(&self, name: &str) -> Option<&Typed> {
        self.values.get(name)
    }
}

/// Reads the process environment with an optional env file on top; also returns the env
/// file's own variables (what the units get on top of the container's environment), so the
/// file is read once per (re)load and the two can never disagree.
pub fn raw_environment(
    env_file: Option<&std::path::Path>,
) -> Result<(BTreeMap<String, String>, envfile::Vars), Problem> {
    let mut raw: BTreeMap<String, String> = std::env::vars().collect();
    let file = match env_file {
        Some(path) => envfile::read(path)?,
        None => Vec::new(),
    };
    raw.extend(file.iter().cloned());
    Ok((raw, file))
}

/// Validates the raw environment against the schema; `require` lists the variables this
/// image cannot run without.
pub fn resolve(
    schema: &Schema,
    raw: &BTreeMap<String, String>,
    require: &[String],
) -> Result<Environment, Vec<Problem>> {
    let (env, problems) = resolve_all(schema, raw, require, Scope::Image);
    if problems.is_empty() {
        Ok(env)
    } else {
        Err(problems)
    }
}

/// Whose variables a schema holds: the wording of the "no such variable" warnings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The schemas one image loads.
    Image,
    /// Every component's schema (`jinit check-env`).
    Stack,
}

/// Like `resolve`, but returns the environment (its warnings and every value that parsed)
/// together with the problems, so that a failing start still shows the warnings that often
/// explain it: a required JVB_AUTH_PASSWORD next to "JVB_AUTH_PASWORD is set ...".
pub fn resolve_all(
    schema: &Schema,
    raw: &BTreeMap<String, String>,
    require: &[String],
    scope: Scope,
) -> (Environment, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut env = Environment {
        raw: raw.clone(),
        ..Environment::default()
    };
    // Given values: NAME, or NAME_FILE for secrets; empty means unset.
    let mut given: BTreeMap<&str, String> = BTreeMap::new();
    // Secrets whose NAME_FILE cannot be read here (Scope::Stack): set, but not checkable.
    let mut elsewhere: BTreeSet<String> = BTreeSet::new();
    for v in &schema.vars {
        if let Some(text) = read_given(v, raw, scope, &mut env, &mut elsewhere, &mut problems) {
            given.insert(&v.name, text);
        }
    }
    // Renamed and removed variables.
    for v in &schema.vars {
        let Some(text) = given.get(v.name.as_str()).cloned() else {
            continue;
        };
        match &v.kind {
            Kind::ReplacedBy(new) => {
                if given.contains_key(new.as_str()) {
                    env.warnings.push(format!(
                        "{} is deprecated and ignored because {new} is set; remove {} from your .env",
                        v.name, v.name
                    ));
                } else {
                    env.warnings.push(format!(
                        "{} is deprecated: its value is used for {new}; rename it in your .env",
                        v.name
                    ));
                    given.insert(new.as_str(), text);
                }
            }
            Kind::Removed(why) => env.warnings.push(format!(
                "{} no longer does anything and is ignored: {why}",
                v.name
            )),
            Kind::Value { .. } => {}
        }
    }
    for v in &schema.vars {
        let Kind::Value {
            ty, shape, default, ..
        } = &v.kind
        else {
            continue;
        };
        let text = given
            .get(v.name.as_str())
            .cloned()
            .or_else(|| default.clone());
        let typed = match text {
            None => Typed::Unset,
            // parse_declared never shows a secret's value.
            Some(t) => match ty.parse_shaped(shape, &t) {
                Ok(typed) => typed,
                Err(e) => {
                    problems.push(Problem::new(&v.name, e));
                    Typed::Unset
                }
            },
        };
        env.values.insert(v.name.clone(), typed);
    }
    check_required(schema, require, &elsewhere, &mut env, &mut problems);
    warn_unknown(schema, raw, scope, &mut env.warnings);
    (env, problems)
}

fn read_given(
    v: &Var,
    raw: &BTreeMap<String, String>,
    scope: Scope,
    env: &mut Environment,
    elsewhere: &mut BTreeSet<String>,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    let direct = raw.get(&v.name).filter(|s| !s.is_empty());
    if !v.is_secret() {
        return direct.cloned();
    }
    let file_var = format!("{}_FILE", v.name);
    let file = raw.get(&file_var).filter(|s| !s.is_empty());
    match (direct, file) {
        (Some(_), Some(_)) => {
            problems.push(Problem::new(
                &v.name,
                format!("both {} and {file_var} are set: keep one", v.name),
            ));
            None
        }
        (Some(d), None) => Some(d.clone()),
        (None, Some(path)) => {
            let path = std::path::PathBuf::from(path);
            env.secret_files.push(path.clone());
            match crate::bounded::read_to_string(
                &path,
                crate::bounded::SECRET_MAX,
                crate::bounded::Links::Follow,
            ) {
                // Secret files conventionally end with a newline that is not part of it.
                Ok(s) => {
                    Some(s.trim_end_matches(['\n', '\r']).to_string()).filter(|s| !s.is_empty())
                }
                // `jinit check-env` runs in its own container: a secret file mounted into the
                // service that uses it is checked there, at its start.
                Err(_) if scope == Scope::Stack => {
                    elsewhere.insert(v.name.clone());
                    None
                }
                Err(e) => {
                    problems.push(Problem::new(
                        &file_var,
                        format!("cannot read {}: {e}", path.display()),
                    ));
                    None
                }
            }
        }
        (None, None) => None,
    }
}

fn check_required(
    schema: &Schema,
    require: &[String],
    elsewhere: &BTreeSet<String>,
    env: &mut Environment,
    problems: &mut Vec<Problem>,
) {
    let ctx = env.context();
    let required_here: BTreeSet<&str> = require.iter().map(String::as_str).collect();
    for name in &required_here {
        if schema.get(name).is_none() {
            problems.push(Problem::new(
                *name,
                "listed in the spec's `require` but declared in no loaded schema",
            ));
        }
    }
    for v in &schema.vars {
        let Kind::Value {
            ty,
            required,
            required_if,
            external,
            ..
        } = &v.kind
        else {
            continue;
        };
        let needed = *required
            || required_here.contains(v.name.as_str())
            || match required_if {
                None => false,
                Some(expr) => match crate::spec::plan::condition(expr, &ctx) {
                    Ok(b) => b,
                    Err(e) => {
                        problems.push(Problem::new(&v.name, format!("required-if: {e}")));
                        false
                    }
                },
            };
        let value = env.values.get(&v.name).cloned().unwrap_or(Typed::Unset);
        if elsewhere.contains(&v.name) {
            continue;
        }
        if !needed {
            // A secret of ours that is given must be strong even where it is optional.
            if let (Type::Secret, Typed::Str(s), false) = (ty, &value, *external) {
                if let Some(why) = weak(s) {
                    problems.push(Problem::new(&v.name, format!("{why}; {GEN_HINT}")));
                }
            }
            continue;
        }
        let because = required_if
            .as_ref()
            .filter(|_| !*required && !required_here.contains(v.name.as_str()))
            .map(|e| format!(" (because {e})"))
            .unwrap_or_default();
        match (ty, value) {
            (Type::Secret, Typed::Unset) if !external => problems.push(Problem::new(
                &v.name,
                format!("{EMPTY_SECRET}{because}; {GEN_HINT}"),
            )),
            (Type::Secret, Typed::Str(s)) if !external => {
                if let Some(why) = weak(&s) {
                    problems.push(Problem::new(&v.name, format!("{why}; {GEN_HINT}")));
                }
            }
            (_, Typed::Unset) => problems.push(Problem::new(
                &v.name,
                format!(
                    "required but not set{because}{}",
                    if v.description.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", v.description)
                    }
                ),
            )),
            _ => {}
        }
    }
}

/// The "no such variable" warnings for the names of `raw` alone (`jinit check-env
/// --names-from`: the names of .env, whose values reach the check through Compose).
pub fn unknown_names(schema: &Schema, raw: &BTreeMap<String, String>, scope: Scope) -> Vec<String> {
    let mut warnings = Vec::new();
    warn_unknown(schema, raw, scope, &mut warnings);
    warnings
}

/// jinit's own settings (main.rs), read from the same environment but not by any schema.
const JINIT_OWN: [&str; 5] = [
    "JINIT_SPEC",
    "JINIT_TEMPLATES",
    "JINIT_ENV_FILE",
    "JINIT_SOCKET",
    crate::log::FORMAT_VAR,
];

/// `jinit check-env` reads every variable named so as a comma-separated list of more required
/// names: a compose overlay (jigasi.yml) adds what its service cannot start without.
pub const CHECK_REQUIRE_PREFIX: &str = "JINIT_CHECK_REQUIRE_";

/// Variables that look like this image's (same prefix as a declared one) but are not declared
/// would otherwise be ignored without a word: a typo such as ENABLE_LETSENCRPYT.
fn warn_unknown(
    schema: &Schema,
    raw: &BTreeMap<String, String>,
    scope: Scope,
    warnings: &mut Vec<String>,
) {
    let owner = match scope {
        Scope::Image => "this image has no such variable",
        Scope::Stack => "no Jitsi image has such a variable",
    };
    let prefix = |n: &str| n.split('_').next().unwrap_or("").to_string();
    let prefixes: BTreeSet<String> = schema.vars.iter().map(|v| prefix(&v.name)).collect();
    for (name, value) in raw {
        if value.is_empty() {
            continue;
        }
        let base = name.strip_suffix("_FILE").unwrap_or(name);
        if schema.get(name).is_some() || schema.get(base).is_some_and(Var::is_secret) {
            continue;
        }
        if !name.contains('_')
            || !prefixes.contains(&prefix(name))
            || JINIT_OWN.contains(&&**name)
            || name.starts_with(CHECK_REQUIRE_PREFIX)
        {
            continue;
        }
        let near = schema
            .vars
            .iter()
            .map(|v| (distance(&v.name, name), &v.name))
            .filter(|(d, _)| *d <= 2)
            .min();
        warnings.push(match near {
            Some((_, n)) => {
                format!("{name} is set but {owner} (did you mean {n}?)")
            }
            None => format!("{name} is set but {owner}; it is ignored"),
        });
    }
}

/// Levenshtein distance, for "did you mean" hints.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// How the problem of a required secret that nobody gave starts (the secrets store replaces
/// the rest of it with where the generated one should have been).
pub const EMPTY_SECRET: &str = "required secret is empty";
const GEN_HINT: &str = "leave it empty (prosody then generates one in the secrets volume) or generate strong ones with `./gen-secrets.sh` (fills the empty secrets of .env) or `jinit gen-secrets`";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::types::{Charset, Shape};

    fn schema() -> Schema {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("s.toml"),
            r#"
            [var.ENABLE_LE]
            type = "bool"
            default = false
            [var.LE_DOMAIN]
            type = "host"
            required-if = "ENABLE_LE"
            [var.HTTP_PORT]
            type = "port"
            default = 8000
            [var.NAMES]
            type = "list"
            [var.AUTH]
            type = "enum"
            values = ["internal", "jwt"]
            default = "internal"
            [var.URL]
            type = "url"
            [var.PASS]
            type = "secret"
            required = true
            [var.SIP_PASS]
            type = "secret"
            external = true
            [var.OLD_PORT]
            replaced-by = "HTTP_PORT"
            [var.GONE]
            removed = "use nothing"
            "#,
        )
        .unwrap();
        Schema::load(dir.path(), &["s.toml".into()]).unwrap()
    }

    fn raw(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut m: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        m.entry("PASS".into())
            .or_insert_with(|| "a-strong-secret-of-32-characters".into());
        m
    }

    fn errors(pairs: &[(&str, &str)]) -> String {
        resolve(&schema(), &raw(pairs), &[])
            .expect_err("should be refused")
            .iter()
            .map(|p| format!("{}: {}", p.at, p.message))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn booleans_have_one_spelling_table() {
        for (text, want) in [
            ("1", true),
            ("TRUE", true),
            ("Yes", true),
            ("on", true),
            ("0", false),
            ("False", false),
            ("no", false),
            ("OFF", false),
        ] {
            assert_eq!(Type::Bool.parse(text).unwrap(), Typed::Bool(want), "{text}");
        }
        let e = Type::Bool.parse("maybe").unwrap_err();
        assert!(e.contains("1/0, true/false, yes/no or on/off"), "{e}");
    }

    fn shape(chars: Option<&str>, items: Option<Type>, also: &[&str], raw: bool) -> Shape {
        Shape {
            chars: chars.map(Charset::new),
            items,
            also: also.iter().map(|w| w.to_string()).collect(),
            raw,
        }
    }

    #[test]
    fn control_characters_are_refused_unless_raw() {
        let plain = Shape::default();
        for (ty, text) in [
            (Type::String, "jigasi\norg.jitsi.jigasi.ENABLE_SIP=false"),
            (Type::List, "a,b\rc"),
            (Type::Url, "https://x.example/\u{7f}"),
            (Type::Path, "/etc/ca.pem\tx"),
            (Type::String, "nul\u{0}"),
        ] {
            let e = ty.parse_shaped(&plain, text).unwrap_err();
            assert!(e.contains("contains the control character U+00"), "{e}");
        }
        let e = Type::Secret
            .parse_shaped(&plain, "a-long-secret-with\na-new-line")
            .unwrap_err();
        assert!(
            e.starts_with("the value contains the control character U+000A"),
            "{e}"
        );
        assert!(!e.contains("secret-with"), "a secret is never shown: {e}");
        // Surrounding white space is trimmed from the other types, as before.
        assert_eq!(Type::Bool.parse("true\r\n").unwrap(), Typed::Bool(true));
        assert_eq!(
            Type::Url.parse("https://x.example\n").unwrap(),
            Typed::Str("https://x.example".into())
        );
        let raw = shape(None, None, &[], true);
        assert_eq!(
            Type::String.parse_shaped(&raw, "a = 1\nb = 2").unwrap(),
            Typed::Str("a = 1\nb = 2".into())
        );
    }

    #[test]
    fn urls_and_paths_hold_only_their_own_characters() {
        for good in [
            "https://meet.example.com/p/?a=1&b=%20#top",
            "http://[::1]:5280",
            "ldap://h/dc=x,dc=y",
        ] {
            Type::Url.parse(good).unwrap();
        }
        for (bad, c) in [
            ("https://x/\";y", "'\"'"),
            ("https://x/;y", "';'"),
            ("https://x/'y", "'\\''"),
            ("https://x/${y}", "'$'"),
            ("https://x/{y}", "'{'"),
            ("https://x/<y>", "'<'"),
            ("https://x/`y`", "'`'"),
            ("https://x/\\y", "'\\\\'"),
        ] {
            let e = Type::Url.parse(bad).unwrap_err();
            assert!(
                e.contains(&format!("contains {c}: only the characters ")),
                "{bad}: {e}"
            );
        }
        Type::Path
            .parse("/etc/ssl/certs/ca-certificates.crt")
            .unwrap();
        for bad in ["/a b", "/a;b", "/a\"b", "/a{b}", "/a#b", "/a$b", "/a'b"] {
            let e = Type::Path.parse(bad).unwrap_err();
            assert!(e.contains("only the characters A-Za-z0-9"), "{bad}: {e}");
        }
        assert!(Type::Path
            .parse("etc/x")
            .unwrap_err()
            .contains("not an absolute path"));
    }

    #[test]
    fn chars_items_and_also_narrow_a_type() {
        let name = shape(Some("A-Za-z0-9._-"), None, &[], false);
        Type::String.parse_shaped(&name, "jvb-1.eu_west").unwrap();
        let e = Type::String.parse_shaped(&name, "a b").unwrap_err();
        assert_eq!(
            e,
            "\"a b\" contains a space: only the characters A-Za-z0-9._- are allowed here"
        );
        let e = Type::String
            .parse_shaped(&name, "jigasi\norg.x=1")
            .unwrap_err();
        assert!(
            e.ends_with("U+000A (line feed): only the characters A-Za-z0-9._- are allowed here"),
            "{e}"
        );
        let spaced = shape(Some("a-z "), None, &[], false);
        let e = Type::String.parse_shaped(&spaced, "a;b").unwrap_err();
        assert!(
            e.ends_with("only the characters a-z and spaces are allowed here"),
            "{e}"
        );
        let e = Type::List.parse_shaped(&name, "ok, no;t").unwrap_err();
        assert!(e.contains("contains ';'"), "{e}");
        let hosts = shape(None, Some(Type::Host), &[], false);
        assert_eq!(
            Type::List
                .parse_shaped(&hosts, "192.0.2.1, jvb.example")
                .unwrap(),
            Typed::List(vec!["192.0.2.1".into(), "jvb.example".into()])
        );
        let e = Type::List
            .parse_shaped(&hosts, "192.0.2.1, a;b")
            .unwrap_err();
        assert!(e.contains("\"a;b\" is not a host name"), "{e}");
        let auto = shape(None, None, &["auto"], false);
        assert_eq!(
            Type::Int.parse_shaped(&auto, "auto").unwrap(),
            Typed::Str("auto".into())
        );
        assert_eq!(Type::Int.parse_shaped(&auto, "4").unwrap(), Typed::Int(4));
        let e = Type::Int.parse_shaped(&auto, "1; env X=1").unwrap_err();
        assert_eq!(e, "\"1; env X=1\" is not a whole number or auto");
    }

    #[test]
    fn typed_values_and_defaults() {
        let env = resolve(
            &schema(),
            &raw(&[("NAMES", "a, b,,c"), ("ENABLE_LE", "")]),
            &[],
        )
        .unwrap();
        assert_eq!(env.get("HTTP_PORT"), Some(&Typed::Int(8000)));
        assert_eq!(
            env.get("ENABLE_LE"),
            Some(&Typed::Bool(false)),
            "empty means unset"
        );
        assert_eq!(
            env.get("NAMES"),
            Some(&Typed::List(vec!["a".into(), "b".into(), "c".into()]))
        );
        assert_eq!(env.get("URL"), Some(&Typed::Unset));
    }

    #[test]
    fn every_bad_value_is_reported_at_once() {
        let all = errors(&[
            ("ENABLE_LE", "maybe"),
            ("HTTP_PORT", "80000"),
            ("AUTH", "ldap"),
            ("URL", "meet.example.com"),
        ]);
        assert!(
            all.contains("ENABLE_LE: \"maybe\" is not a boolean"),
            "{all}"
        );
        assert!(
            all.contains("HTTP_PORT: \"80000\" is not a port number"),
            "{all}"
        );
        assert!(
            all.contains("AUTH: \"ldap\" is not one of: internal, jwt"),
            "{all}"
        );
        assert!(
            all.contains("URL: \"meet.example.com\" is not a URL"),
            "{all}"
        );
    }

    #[test]
    fn required_if_names_its_reason() {
        let all = errors(&[("ENABLE_LE", "true")]);
        assert!(
            all.contains("LE_DOMAIN: required but not set (because ENABLE_LE)"),
            "{all}"
        );
    }

    #[test]
    fn weak_and_example_secrets_are_refused_without_showing_them() {
        let all = errors(&[("PASS", "passw0rd")]);
        assert!(all.contains("PASS: is a published example value"), "{all}");
        assert!(!all.contains("passw0rd"), "{all}");
        let all = errors(&[("PASS", "short-one")]);
        assert!(all.contains("shorter than 16 characters"), "{all}");
        let all = errors(&[("PASS", "")]);
        assert!(all.contains("PASS: required secret is empty"), "{all}");
        assert!(all.contains("gen-secrets"), "{all}");
        // A third party's password is not ours to judge.
        resolve(&schema(), &raw(&[("SIP_PASS", "1234")]), &[]).unwrap();
        // An optional secret of ours, once given, must be strong too.
        let mut s = schema();
        s.vars.push(crate::config::schema::Var {
            name: "OPT".into(),
            kind: Kind::Value {
                ty: Type::Secret,
                shape: Shape::default(),
                default: None,
                required: false,
                required_if: None,
                external: false,
            },
            description: String::new(),
            section: String::new(),
            example: None,
            file: "t".into(),
            stored: true,
        });
        assert!(
            resolve(&s, &raw(&[]), &[]).is_ok(),
            "unset optional secret is fine"
        );
        let e = resolve(&s, &raw(&[("OPT", "passw0rd")]), &[]).unwrap_err();
        assert!(e[0].message.contains("published example"), "{e:?}");
    }

    #[test]
    fn secrets_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pass");
        std::fs::write(&f, "from-a-file-and-long-enough\n").unwrap();
        let mut r = raw(&[]);
        r.remove("PASS");
        r.insert("PASS_FILE".into(), f.display().to_string());
        let env = resolve(&schema(), &r, &[]).unwrap();
        assert_eq!(
            env.get("PASS"),
            Some(&Typed::Str("from-a-file-and-long-enough".into()))
        );
        assert_eq!(env.secret_files, vec![f.clone()]);
        r.insert("PASS".into(), "x".repeat(20));
        let e = resolve(&schema(), &r, &[]).unwrap_err();
        assert!(e[0].message.contains("both PASS and PASS_FILE"), "{e:?}");
        r.remove("PASS");
        r.insert("PASS_FILE".into(), "/nonexistent/secret".into());
        let e = resolve(&schema(), &r, &[]).unwrap_err();
        assert_eq!(e[0].at, "PASS_FILE");
        assert!(
            e[0].message.contains("cannot read /nonexistent/secret"),
            "{e:?}"
        );
    }

    #[test]
    fn renamed_and_removed_variables_warn() {
        let env = resolve(&schema(), &raw(&[("OLD_PORT", "9000"), ("GONE", "1")]), &[]).unwrap();
        assert_eq!(env.get("HTTP_PORT"), Some(&Typed::Int(9000)));
        let w = env.warnings.join("\n");
        assert!(
            w.contains("OLD_PORT is deprecated: its value is used for HTTP_PORT"),
            "{w}"
        );
        assert!(
            w.contains("GONE no longer does anything and is ignored: use nothing"),
            "{w}"
        );
        let env = resolve(
            &schema(),
            &raw(&[("OLD_PORT", "9000"), ("HTTP_PORT", "9001")]),
            &[],
        )
        .unwrap();
        assert_eq!(env.get("HTTP_PORT"), Some(&Typed::Int(9001)));
        assert!(env.warnings[0].contains("ignored because HTTP_PORT is set"));
    }

    #[test]
    fn spec_require_makes_variables_mandatory() {
        let e = resolve(&schema(), &raw(&[]), &["URL".into(), "NOPE".into()]).unwrap_err();
        let all: Vec<String> = e
            .iter()
            .map(|p| format!("{}: {}", p.at, p.message))
            .collect();
        assert!(
            all.iter()
                .any(|l| l.starts_with("URL: required but not set")),
            "{all:?}"
        );
        assert!(
            all.iter()
                .any(|l| l.starts_with("NOPE: listed in the spec")),
            "{all:?}"
        );
    }

    #[test]
    fn lookalike_variables_are_not_ignored_silently() {
        let env = resolve(
            &schema(),
            &raw(&[
                ("ENABLE_LR", "1"),
                ("HTTP_PROT", "80"),
                ("PATH", "/bin"),
                ("PASS_FILE_X", ""),
            ]),
            &[],
        )
        .unwrap();
        let w = env.warnings.join("\n");
        assert!(
            w.contains(
                "ENABLE_LR is set but this image has no such variable (did you mean ENABLE_LE?)"
            ),
            "{w}"
        );
        assert!(
            w.contains(
                "HTTP_PROT is set but this image has no such variable (did you mean HTTP_PORT?)"
            ),
            "{w}"
        );
        assert!(!w.contains("PATH"), "{w}");
    }
}
