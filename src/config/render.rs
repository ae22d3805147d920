//! Renders the spec's `[[render]]` entries from templates and writes them atomically.
//!
//! Rendering is strict: an undefined name is an error, and every error of every template is
//! collected with its template name and line before anything is written (`apply` writes).
//! The escaping filters (`|lua`, `|hocon`, `|nginx`, `|properties`) are in `filters`.

use super::filters;
use crate::config::environ::Environment;
use crate::problem::Problem;
use crate::spec::{RenderSpec, Spec};
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
    env.add_filter("lua", filters::lua);
    env.add_filter("hocon", filters::hocon);
    env.add_filter("nginx", filters::nginx);
    env.add_filter("properties", filters::properties);
    env.add_filter("b64encode", filters::b64encode);
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
