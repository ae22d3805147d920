//! Renders the spec's `[[render]]` entries from templates and writes them atomically.
//!
//! Rendering is strict: an undefined name is an error, and every error of every template is
//! collected with its template name and line before anything is written. Writing goes through
//! `atomic`; a failed validation keeps the previous file. Never starts or signals units: it
//! returns which units' inputs changed and the supervisor decides.

use crate::config::environ::Environment;
use crate::problem::Problem;
use crate::spec::{RenderSpec, Spec};
use crate::sys::atomic::{self, Change};
use minijinja::value::ValueKind;
use minijinja::{Environment as Jinja, Error, ErrorKind, UndefinedBehavior, Value};
use std::path::{Path, PathBuf};

pub const DEFAULT_TEMPLATES: &str = "/etc/jinit/templates";

/// One rendered entry, not yet written.
pub struct Rendered {
    pub index: usize,
    /// Destination on disk (under `--root` when given).
    pub dest: PathBuf,
    /// None when the entry's `if` is false: the file must not exist.
    pub content: Option<Vec<u8>>,
}

/// What `apply` did.
#[derive(Default)]
pub struct Applied {
    /// Indices of entries whose file changed on disk.
    pub changed: Vec<usize>,
    /// Indices of entries that could not be written (their old file is kept).
    pub failed: Vec<usize>,
    pub problems: Vec<Problem>,
}

/// Prefixes an absolute path with the root given to `jinit render --root`.
pub fn under_root(root: Option<&Path>, path: &Path) -> PathBuf {
    match root {
        Some(r) => r.join(path.strip_prefix("/").unwrap_or(path)),
        None => path.to_path_buf(),
    }
}

/// Builds the template environment with every template of `dir` and jinit's helpers.
pub fn environment(dir: &Path, root: Option<&Path>) -> Result<Jinja<'static>, Vec<Problem>> {
    let mut env = Jinja::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    // Config files are not HTML: escaping is explicit, with |lua, |hocon, |tojson, |nginx or
    // |properties.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    // Config languages (HOCON, JavaScript, Lua) spell booleans in lower case, not Python's way.
    env.set_formatter(|out, state, value| {
        if value.kind() == ValueKind::Bool {
            out.write_str(if value.is_true() { "true" } else { "false" })
                .map_err(|_| Error::new(ErrorKind::WriteFailure, "cannot write output"))
        } else {
            minijinja::escape_formatter(out, state, value)
        }
    });
    env.add_filter("lua", lua);
    env.add_filter("hocon", hocon);
    env.add_filter("nginx", nginx);
    env.add_filter("properties", properties);
    env.add_filter("b64encode", b64encode);
    let root = root.map(Path::to_path_buf);
    env.add_function("file_exists", move |path: String| -> bool {
        under_root(root.as_deref(), Path::new(&path)).is_file()
    });
    let mut problems = Vec::new();
    let mut files = Vec::new();
    collect_files(dir, dir, &mut files);
    if files.is_empty() {
        problems.push(Problem::new(
            dir.display().to_string(),
            "no templates found (set --templates DIR or JINIT_TEMPLATES)",
        ));
    }
    for (name, path) in files {
        match crate::bounded::read_to_string(
            &path,
            crate::bounded::CONFIG_MAX,
            crate::bounded::Links::Follow,
        ) {
            Ok(source) => {
                if let Err(e) = env.add_template_owned(name.clone(), source) {
                    problems.push(template_problem(&e, &name, None));
                }
            }
            Err(e) => problems.push(Problem::new(name, format!("cannot read: {e}"))),
        }
    }
    if problems.is_empty() {
        Ok(env)
    } else {
        Err(problems)
    }
}

fn collect_files(base: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        if path.is_dir() {
            collect_files(base, &path, out);
        } else if path.file_name().is_some_and(|n| n != "schema.toml") {
            if let Ok(rel) = path.strip_prefix(base) {
                out.push((rel.to_string_lossy().into_owned(), path.clone()));
            }
        }
    }
}

/// Renders every entry into memory; reports all problems of all templates at once.
pub fn render(
    spec: &Spec,
    jinja: &Jinja,
    env: &Environment,
    root: Option<&Path>,
) -> Result<Vec<Rendered>, Vec<Problem>> {
    let ctx = env.context();
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (index, r) in spec.renders.iter().enumerate() {
        let dest = under_root(root, &r.dest);
        let enabled = match &r.condition {
            None => true,
            Some(expr) => match crate::spec::plan::condition(expr, &ctx) {
                Ok(b) => b,
                Err(e) => {
                    problems.push(Problem::new(format!("render[{index}].if"), e));
                    continue;
                }
            },
        };
        if !enabled {
            out.push(Rendered {
                index,
                dest,
                content: None,
            });
            continue;
        }
        match render_one(r, jinja, &ctx, root) {
            Ok(content) => out.push(Rendered {
                index,
                dest,
                content: Some(content),
            }),
            Err(p) => problems.push(p),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

fn render_one(
    r: &RenderSpec,
    jinja: &Jinja,
    ctx: &Value,
    root: Option<&Path>,
) -> Result<Vec<u8>, Problem> {
    let tmpl = jinja
        .get_template(&r.template)
        .map_err(|_| Problem::new(&r.template, "no such template in the templates directory"))?;
    let mut text = tmpl
        .render(ctx)
        .map_err(|e| template_problem(&e, &r.template, Some((jinja, ctx))))?
        .into_bytes();
    for extra in &r.append {
        // upstream's custom-* hooks: appended verbatim when the operator provides them.
        let path = under_root(root, extra);
        if let Ok(bytes) = crate::bounded::read(
            &path,
            crate::bounded::CONFIG_MAX,
            crate::bounded::Links::Follow,
        ) {
            if !text.ends_with(b"\n") && !text.is_empty() {
                text.push(b'\n');
            }
            text.extend_from_slice(&bytes);
        }
    }
    Ok(text)
}

/// Names the template and line of the innermost error (an included template's own line).
/// With the environment and context of a render, an undefined value is named too: minijinja
/// reports only "undefined value" and the span of the expression that failed.
fn template_problem(e: &Error, fallback: &str, render: Option<(&Jinja, &Value)>) -> Problem {
    // The innermost error of an include or macro call is the one in the operator's text.
    let mut inner = e;
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(err) = s.downcast_ref::<Error>() {
            if err.name().is_some() && err.line().is_some() {
                inner = err;
            }
        }
        source = s.source();
    }
    let at = match (inner.name(), inner.line()) {
        (Some(n), Some(l)) => format!("{n}:{l}"),
        (Some(n), None) => n.to_string(),
        (None, _) => fallback.to_string(),
    };
    let message = if inner.kind() == ErrorKind::UndefinedError {
        let what = render
            .and_then(|(jinja, ctx)| undefined_in(inner, jinja, ctx))
            .or_else(|| inner.detail().map(str::to_string))
            .unwrap_or_else(|| inner.kind().to_string());
        format!("{what} (a variable that no loaded schema declares, or a typo)")
    } else {
        inner
            .detail()
            .or(e.detail())
            .map(str::to_string)
            .unwrap_or_else(|| inner.kind().to_string())
    };
    Problem::new(if at.is_empty() { fallback.into() } else { at }, message)
}

/// What was undefined in a failed render: "undefined variable NAME", "undefined attribute
/// A.b" (a dotted path whose first part is defined), or, when no name of the template's can
/// be blamed (a loop variable's attribute, a subscript), the expression that failed.
fn undefined_in(e: &Error, jinja: &Jinja, ctx: &Value) -> Option<String> {
    let tmpl = jinja.get_template(e.name()?).ok()?;
    let source = tmpl.source();
    let expr = e.range().and_then(|r| source.get(r)).map(str::trim);
    let line = e
        .line()
        .and_then(|l| source.lines().nth(l.checked_sub(1)?))
        .unwrap_or("");
    // Names used but not set in the template, as dotted paths ("A.b.c"), cut at the first
    // part the context lacks.
    let mut undefined: Vec<String> = tmpl
        .undeclared_variables(true)
        .iter()
        .filter_map(|path| first_undefined(path, ctx))
        .collect();
    undefined.sort();
    undefined.dedup();
    let blamed = |text: &str| -> Vec<&String> {
        undefined
            .iter()
            .filter(|name| mentions(text, name))
            .collect()
    };
    let mut names = expr.map(blamed).unwrap_or_default();
    if names.is_empty() {
        names = blamed(line);
    }
    if names.is_empty() {
        return expr
            .filter(|x| !x.is_empty())
            .map(|x| format!("undefined value in `{x}`"));
    }
    let (attrs, vars): (Vec<&String>, Vec<&String>) =
        names.into_iter().partition(|n| n.contains('.'));
    let mut parts = Vec::new();
    if !vars.is_empty() {
        let list: Vec<&str> = vars.iter().map(|s| s.as_str()).collect();
        let s = if list.len() == 1 { "" } else { "s" };
        parts.push(format!("undefined variable{s} {}", list.join(", ")));
    }
    if !attrs.is_empty() {
        let list: Vec<&str> = attrs.iter().map(|s| s.as_str()).collect();
        let s = if list.len() == 1 { "" } else { "s" };
        parts.push(format!("undefined attribute{s} {}", list.join(", ")));
    }
    Some(parts.join("; "))
}

/// The shortest prefix of a dotted path (`A.b.c`) that is undefined in `ctx`, if any.
fn first_undefined(path: &str, ctx: &Value) -> Option<String> {
    let mut parts = path.split('.');
    let first = parts.next()?;
    let mut value = ctx.get_attr(first).ok()?;
    let mut end = first.len();
    if value.is_undefined() {
        return Some(first.to_string());
    }
    for part in parts {
        end += 1 + part.len();
        value = value.get_attr(part).unwrap_or(Value::UNDEFINED);
        if value.is_undefined() {
            return Some(path[..end].to_string());
        }
    }
    None
}

/// Whether `text` uses `name` as a whole name: not as part of a longer identifier, and
/// for a dotted path not followed by more of the path's own characters.
fn mentions(text: &str, name: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(name).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + name.len()..].chars().next();
        !before.is_some_and(|c| ident(c) || c == '.') && !after.is_some_and(ident)
    })
}

/// A changed file waiting for its validation command before it replaces the old one.
#[derive(Debug)]
pub struct Validation {
    pub index: usize,
    pub staged: atomic::Staged,
    /// The entry's `validate` command with `{}` replaced by the staged file.
    pub argv: Vec<String>,
}

/// Writes rendered files; `validate` runs each entry's validation command first (here, and
/// waiting for it: before the supervisor's loop, or in `jinit render`).
pub fn apply(spec: &Spec, rendered: &[Rendered], validate: bool) -> Applied {
    let (mut applied, pending) = apply_unvalidated(spec, rendered, validate);
    let results = pending
        .into_iter()
        .map(|v| {
            let result = run_validate(&v.argv);
            (v, result)
        })
        .collect();
    finish_validated(spec, results, &mut applied);
    applied
}

/// The first half of `apply`, for a caller that must not wait for validation commands (the
/// supervisor's loop): writes every file without one at once, and stages each changed file
/// with one, returned with the command to run. `finish_validated` completes the job.
pub fn apply_unvalidated(
    spec: &Spec,
    rendered: &[Rendered],
    validate: bool,
) -> (Applied, Vec<Validation>) {
    let mut applied = Applied::default();
    let mut pending = Vec::new();
    for r in rendered {
        let entry = &spec.renders[r.index];
        let at = || format!("render[{}] {}", r.index, entry.dest.display());
        let result = match &r.content {
            None => atomic::remove(&r.dest),
            Some(content) => {
                let owner = match entry.owner.as_deref().map(parse_owner).transpose() {
                    Ok(o) => o,
                    Err(e) => {
                        applied.failed.push(r.index);
                        applied.problems.push(Problem::new(at(), e));
                        continue;
                    }
                };
                let mode = entry.mode.unwrap_or(0o644);
                match (&entry.validate, validate) {
                    (Some(argv), true) => match atomic::stage(&r.dest, content, mode, owner) {
                        Ok(Some(staged)) => {
                            let tmp = staged.tmp.display().to_string();
                            pending.push(Validation {
                                index: r.index,
                                argv: argv.iter().map(|a| a.replace("{}", &tmp)).collect(),
                                staged,
                            });
                            continue;
                        }
                        Ok(None) => Ok(Change::Unchanged),
                        Err(e) => Err(e),
                    },
                    _ => atomic::replace(
                        &r.dest,
                        content,
                        &atomic::Options {
                            mode,
                            owner,
                            validate: None,
                        },
                    ),
                }
            }
        };
        record(&mut applied, r.index, at(), result);
    }
    (applied, pending)
}

/// The second half of `apply`: each staged file whose validation passed replaces the old one;
/// the others are dropped and the old file is kept.
pub fn finish_validated(
    spec: &Spec,
    results: Vec<(Validation, Result<(), String>)>,
    applied: &mut Applied,
) {
    for (v, result) in results {
        let at = format!(
            "render[{}] {}",
            v.index,
            spec.renders[v.index].dest.display()
        );
        let result = match result {
            Ok(()) => atomic::commit(v.staged),
            Err(e) => {
                atomic::discard(v.staged);
                Err(e)
            }
        };
        record(applied, v.index, at, result);
    }
    applied.changed.sort_unstable();
    applied.failed.sort_unstable();
}

fn record(applied: &mut Applied, index: usize, at: String, result: Result<Change, String>) {
    match result {
        Ok(Change::Written) => applied.changed.push(index),
        Ok(Change::Unchanged) => {}
        Err(e) => {
            applied.failed.push(index);
            applied
                .problems
                .push(Problem::new(at, format!("{e}; the previous file is kept")));
        }
    }
}

/// How long a validation command may take before it is killed and counts as failed.
pub const VALIDATE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

fn parse_owner(text: &str) -> Result<(u32, u32), String> {
    let (user, group) = match text.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (text, None),
    };
    let account = crate::sys::users::resolve(Some(user), group)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("bad owner {text:?}"))?;
    Ok((account.uid, account.gid))
}

fn run_validate(argv: &[String]) -> Result<(), String> {
    match crate::sys::spawn::run_captured(argv, VALIDATE_TIMEOUT) {
        Ok((0, _)) => Ok(()),
        Ok((code, output)) => Err(format!(
            "validation `{}` failed (exit code {code}): {}",
            argv.join(" "),
            output.trim()
        )),
        Err(e) => Err(format!("cannot run validation `{}`: {e}", argv.join(" "))),
    }
}

/// `{{ x|lua }}`: a Lua literal (quoted string, number, boolean, nil or list table).
fn lua(v: Value) -> Result<Value, Error> {
    literal(
        &v,
        &|s| {
            let mut out = String::from("\"");
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    c if (c as u32) < 0x20 => out.push_str(&format!("\\{:03}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        },
        ("{ ", ", ", " }"),
        "nil",
    )
    .map(Value::from_safe_string)
}

/// `{{ x|hocon }}`: a HOCON literal (HOCON quoted strings are JSON strings).
fn hocon(v: Value) -> Result<Value, Error> {
    literal(
        &v,
        &|s| serde_json::to_string(s).unwrap_or_default(),
        ("[ ", ", ", " ]"),
        "null",
    )
    .map(Value::from_safe_string)
}

/// `{{ x|nginx }}`: one nginx argument. Numbers and plain words (host names, addresses, URLs,
/// paths) as they are; anything else double-quoted, so `;`, `{`, `}`, `#` and spaces stay
/// inside the argument. nginx has no escape for `$` (a variable in many directives) nor for
/// a line break, so those are refused: a schema type must keep them out.
fn nginx(v: Value) -> Result<Value, Error> {
    if v.kind() == ValueKind::Number {
        return Ok(Value::from_safe_string(v.to_string()));
    }
    let Some(s) = v.as_str() else {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("|nginx writes strings and numbers, not a {}", v.kind()),
        ));
    };
    if let Some(c) = s.chars().find(|c| *c == '$' || c.is_control()) {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("|nginx cannot quote {c:?} in {s:?}"),
        ));
    }
    let bare = |c: char| c.is_ascii_alphanumeric() || "._:/=@%+,~[]-".contains(c);
    if !s.is_empty() && s.chars().all(bare) {
        return Ok(Value::from_safe_string(s.to_string()));
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Ok(Value::from_safe_string(out))
}

/// `{{ x|properties }}`: a Java properties key or value (java.util.Properties.load).
/// Backslash escapes for the characters that end or split an entry (line breaks, `=`, `:`,
/// `#`, `!`, a leading space); everything outside printable ASCII as `\uXXXX`, since
/// `load(InputStream)` reads ISO 8859-1.
fn properties(v: Value) -> Result<Value, Error> {
    if matches!(v.kind(), ValueKind::Number | ValueKind::Bool) {
        return Ok(Value::from_safe_string(v.to_string()));
    }
    let Some(s) = v.as_str() else {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "|properties writes strings, numbers and booleans, not a {}",
                v.kind()
            ),
        ));
    };
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{c}' => out.push_str("\\f"),
            '=' | ':' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            ' ' if i == 0 => out.push_str("\\ "),
            ' '..='~' => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04X}"));
                }
            }
        }
    }
    Ok(Value::from_safe_string(out))
}

fn literal(
    v: &Value,
    quote: &dyn Fn(&str) -> String,
    list: (&str, &str, &str),
    none: &str,
) -> Result<String, Error> {
    match v.kind() {
        // Strict like the rest of rendering: a misspelt name must not become nil or null.
        ValueKind::Undefined => Err(Error::from(ErrorKind::UndefinedError)),
        ValueKind::None => Ok(none.to_string()),
        ValueKind::Bool => Ok(v.is_true().to_string()),
        ValueKind::Number => Ok(v.to_string()),
        ValueKind::String => Ok(quote(v.as_str().unwrap_or_default())),
        ValueKind::Seq => {
            let items: Result<Vec<String>, Error> = v
                .try_iter()?
                .map(|item| literal(&item, quote, list, none))
                .collect();
            let items = items?;
            if items.is_empty() {
                Ok(format!("{}{}", list.0.trim_end(), list.2.trim_start()))
            } else {
                Ok(format!("{}{}{}", list.0, items.join(list.1), list.2))
            }
        }
        other => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("cannot write a {other} as a config literal"),
        )),
    }
}

fn b64encode(v: String) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = v.as_bytes();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (*b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jinja_with(
        files: &[(&str, &str)],
    ) -> (tempfile::TempDir, Result<Jinja<'static>, Vec<Problem>>) {
        let d = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let p = d.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let env = environment(d.path(), None);
        (d, env)
    }

    fn render_text(template: &str, ctx: Value) -> Result<String, Problem> {
        let (_d, env) = jinja_with(&[("c/t.conf", template)]);
        let env = env.unwrap();
        let t = env.get_template("c/t.conf").unwrap();
        t.render(&ctx)
            .map_err(|e| template_problem(&e, "c/t.conf", Some((&env, &ctx))))
    }

    #[test]
    fn booleans_render_in_lower_case() {
        let ctx = Value::from_serialize(serde_json::json!({"B": true, "F": false}));
        assert_eq!(render_text("{{ B }} {{ F }}", ctx).unwrap(), "true false");
    }

    #[test]
    fn helpers_quote_for_each_language() {
        let ctx = Value::from_serialize(serde_json::json!({
            "S": "a \"b\"\n", "L": ["x", "y"], "B": true, "N": 5, "E": [], "U": null
        }));
        let out = render_text(
            "{{ S|lua }} {{ L|lua }} {{ B|lua }} {{ N|lua }} {{ E|lua }} {{ U|lua }}",
            ctx.clone(),
        )
        .unwrap();
        assert_eq!(out, r#""a \"b\"\n" { "x", "y" } true 5 {} nil"#);
        let out = render_text("{{ S|hocon }} {{ L|hocon }} {{ U|hocon }}", ctx.clone()).unwrap();
        assert_eq!(out, r#""a \"b\"\n" [ "x", "y" ] null"#);
        assert_eq!(
            render_text("{{ 'focus:pw'|b64encode }}", ctx.clone()).unwrap(),
            "Zm9jdXM6cHc="
        );
        assert_eq!(
            render_text("{{ 'ab'|b64encode }}|{{ 'a'|b64encode }}", ctx).unwrap(),
            "YWI=|YQ=="
        );
    }

    #[test]
    fn nginx_and_properties_keep_values_inside_one_argument_or_entry() {
        let ctx = Value::from_serialize(serde_json::json!({
            "W": "auto", "N": 4, "H": "x; env X=1 {\"q\"} \\ #c", "D": "a$b", "L": "a\nb",
            "P": " k=v:x#y!z\\\n\u{e9}\u{1f600}"
        }));
        assert_eq!(
            render_text("{{ W|nginx }} {{ N|nginx }} {{ H|nginx }}", ctx.clone()).unwrap(),
            r#"auto 4 "x; env X=1 {\"q\"} \\ #c""#
        );
        for bad in ["{{ D|nginx }}", "{{ L|nginx }}"] {
            let p = render_text(bad, ctx.clone()).unwrap_err();
            assert!(p.message.contains("|nginx cannot quote"), "{p:?}");
        }
        assert_eq!(
            render_text("{{ P|properties }}", ctx).unwrap(),
            r"\ k\=v\:x\#y\!z\\\n\u00E9\uD83D\uDE00"
        );
    }

    #[test]
    fn undefined_names_fail_with_template_and_line() {
        let ctx = Value::from_serialize(serde_json::json!({"A": 1}));
        let p = render_text("line one\n{{ A }}\n{{ TYPO }}\n", ctx).unwrap_err();
        assert_eq!(p.at, "c/t.conf:3");
        assert!(
            p.message
                .starts_with("undefined variable TYPO (a variable that no loaded schema"),
            "{p:?}"
        );
    }

    #[test]
    fn undefined_values_are_named_wherever_they_are_used() {
        let ctx = Value::from_serialize(serde_json::json!({
            "A": {"x": 1}, "L": [{"y": 2}], "NOPE_NOT": "set", "U": null
        }));
        for (template, what) in [
            ("{{ NOPE }}", "undefined variable NOPE"),
            ("{% if NOPE %}y{% endif %}", "undefined variable NOPE"),
            ("{{ NOPE == 1 }}", "undefined variable NOPE"),
            ("{{ NOPE.x.y }}", "undefined variable NOPE"),
            ("{{ A.x ~ NOPE }}", "undefined variable NOPE"),
            ("{{ NOPE_NOT }} {{ NOPE }}", "undefined variable NOPE"),
            ("{% set z = NOPE %}{{ z }}", "undefined variable NOPE"),
            (
                "{% macro m() %}{{ NOPE }}{% endmacro %}{{ m() }}",
                "undefined variable NOPE",
            ),
            ("{{ A.nope }}", "undefined attribute A.nope"),
            ("{{ A.x.nope }}", "undefined attribute A.x.nope"),
            // The span picks one of two undefined names on a line.
            ("{{ NOPE }} and {{ A.nope }}", "undefined variable NOPE"),
            // The config-literal filters are strict too: a typo is not nil or null.
            ("{{ NOPE|lua }}", "undefined variable NOPE"),
            ("{{ A.nope|hocon }}", "undefined attribute A.nope"),
            // No name of the template to blame: the failing expression is shown.
            (
                "{% for i in L %}{{ i.zz }}{% endfor %}",
                "undefined value in `i.zz`",
            ),
        ] {
            let p = render_text(template, ctx.clone()).unwrap_err();
            assert_eq!(p.at, "c/t.conf:1", "{template}");
            assert!(p.message.starts_with(what), "{template}: {p:?}");
        }
        // None is a value (an unset variable of the schema), not an undefined one.
        assert_eq!(render_text("{{ U|lua }}", ctx).unwrap(), "nil");
    }

    #[test]
    fn an_included_templates_undefined_name_is_named_at_its_own_line() {
        let (_d, env) = jinja_with(&[
            ("c/main.conf", "a\n{% include 'c/part.conf' %}\n"),
            ("c/part.conf", "x\ny {{ PART_TYPO }}\n"),
        ]);
        let env = env.unwrap();
        let ctx = Value::from_serialize(serde_json::json!({}));
        let e = env
            .get_template("c/main.conf")
            .unwrap()
            .render(&ctx)
            .unwrap_err();
        let p = template_problem(&e, "c/main.conf", Some((&env, &ctx)));
        assert_eq!(p.at, "c/part.conf:2");
        assert!(
            p.message.starts_with("undefined variable PART_TYPO"),
            "{p:?}"
        );
    }

    #[test]
    fn syntax_errors_are_all_reported_at_load() {
        let (_d, env) = jinja_with(&[
            ("a.conf", "{% if %}"),
            ("b.conf", "{{ x"),
            ("ok.conf", "fine"),
        ]);
        let problems = env.expect_err("broken templates");
        let at: Vec<&str> = problems.iter().map(|p| p.at.as_str()).collect();
        assert_eq!(at, vec!["a.conf:1", "b.conf:1"]);
    }

    #[test]
    fn under_root_prefixes_absolute_paths() {
        assert_eq!(
            under_root(Some(Path::new("/tmp/r")), Path::new("/run/x")),
            PathBuf::from("/tmp/r/run/x")
        );
        assert_eq!(
            under_root(None, Path::new("/run/x")),
            PathBuf::from("/run/x")
        );
    }
}
