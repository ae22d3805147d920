//! Variable schemas: what each environment variable of a component means, as data.
//!
//! One source of truth for validation, rendering, `env.example` and the README's variable
//! reference. A variable is declared once across all schema files. Its type and `Shape` say
//! what its values may hold, narrowly enough that no value can carry the syntax of a file it
//! is written into. Pure parsing, no env access.
//!
//! Over 500 lines: a third of it is its tests (every schema key and its refusals).

use crate::config::types::{Charset, Shape, Type};
use crate::problem::{Problem, Problems};
use crate::spec::fields::Fields;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// What a declared name is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Value {
        ty: Type,
        shape: Shape,
        /// The default, written as it would be in the environment.
        default: Option<String>,
        required: bool,
        required_if: Option<String>,
        /// A secret given by a third party (SIP or LDAP password): no strength rules, not generated.
        external: bool,
    },
    /// Renamed: the old name's value is used for the new one, with a warning.
    ReplacedBy(String),
    /// The feature is gone; setting it only produces this message.
    Removed(String),
}

#[derive(Debug, Clone)]
pub struct Var {
    pub name: String,
    pub kind: Kind,
    pub description: String,
    pub section: String,
    pub example: Option<String>,
    /// The schema file that declares it, for messages and docs.
    pub file: PathBuf,
    /// `stored = false`: a secret shared with somebody outside the stack (a token issuer),
    /// which the generated-secrets store must not invent where nobody would find it.
    pub stored: bool,
}

impl Var {
    pub fn ty(&self) -> Option<&Type> {
        match &self.kind {
            Kind::Value { ty, .. } => Some(ty),
            _ => None,
        }
    }

    pub fn is_secret(&self) -> bool {
        matches!(self.ty(), Some(Type::Secret))
    }
}

#[derive(Debug, Clone, Default)]
pub struct Schema {
    /// In declaration order: files in the order given, variables in file order.
    pub vars: Vec<Var>,
}

impl Schema {
    /// Loads schema files (paths relative to `dir`) and checks them together.
    pub fn load(dir: &Path, files: &[String]) -> Result<Schema, Problems> {
        let mut problems = Vec::new();
        let mut schema = Schema::default();
        for f in files {
            let path = dir.join(f);
            match crate::bounded::read_to_string(
                &path,
                crate::bounded::CONFIG_MAX,
                crate::bounded::Links::Follow,
            ) {
                Ok(text) => schema.add(&text, &path, &mut problems),
                Err(e) => problems.push(Problem::new(
                    path.display().to_string(),
                    format!("cannot read schema: {e}"),
                )),
            }
        }
        schema.check(&mut problems);
        if problems.is_empty() {
            Ok(schema)
        } else {
            Err(Problems {
                what: "the variable schemas".into(),
                list: problems,
            })
        }
    }

    /// One schema file's text, checked like a loaded one (`jinit acme` compiles the web
    /// image's in).
    pub fn parse(text: &str, path: &Path) -> Result<Schema, Problems> {
        let mut problems = Vec::new();
        let mut schema = Schema::default();
        schema.add(text, path, &mut problems);
        schema.check(&mut problems);
        if problems.is_empty() {
            Ok(schema)
        } else {
            Err(Problems {
                what: format!("the variable schema {}", path.display()),
                list: problems,
            })
        }
    }

    /// Every `schema.toml` one level below `dir` (`templates/<component>/schema.toml`), with
    /// `common` first: the whole project's variables, for docs and `gen-secrets`.
    pub fn load_all(dir: &Path) -> Result<Schema, Problems> {
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .map_err(|e| Problems {
                what: format!("the templates directory {}", dir.display()),
                list: vec![Problem::new("", e.to_string())],
            })?
            .flatten()
            .filter(|e| e.path().join("schema.toml").is_file())
            .map(|e| format!("{}/schema.toml", e.file_name().to_string_lossy()))
            .collect();
        files.sort_by_key(|f| (!f.starts_with("common/"), f.clone()));
        Schema::load(dir, &files)
    }

    pub fn get(&self, name: &str) -> Option<&Var> {
        self.vars.iter().find(|v| v.name == name)
    }

    fn add(&mut self, text: &str, path: &Path, problems: &mut Vec<Problem>) {
        let file = path.display().to_string();
        let table: Table = match text.parse() {
            Ok(t) => t,
            Err(e) => {
                let line = e
                    .span()
                    .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
                    .unwrap_or(0);
                problems.push(Problem::new(
                    format!("{file}:{line}"),
                    format!("not valid TOML: {}", e.message().trim().replace('\n', "; ")),
                ));
                return;
            }
        };
        let mut top = Fields::new(&table, "", problems);
        let vars = top.table("var").cloned().unwrap_or_default();
        top.finish();
        for (name, value) in &vars {
            let at = format!("{file}: var.{name}");
            let Some(t) = value.as_table() else {
                problems.push(Problem::new(at, "must be a table"));
                continue;
            };
            if let Some(var) = parse_var(name, t, &at, path, problems) {
                if let Some(other) = self.get(name) {
                    problems.push(Problem::new(
                        at,
                        format!("declared again (first in {})", other.file.display()),
                    ));
                } else {
                    self.vars.push(var);
                }
            }
        }
    }

    fn check(&self, problems: &mut Vec<Problem>) {
        for v in &self.vars {
            if let Kind::ReplacedBy(new) = &v.kind {
                match self.get(new).map(|n| &n.kind) {
                    Some(Kind::Value { .. }) => {}
                    _ => problems.push(Problem::new(
                        format!("{}: var.{}.replaced-by", v.file.display(), v.name),
                        format!("{new:?} is not a declared variable"),
                    )),
                }
            }
        }
    }
}

fn parse_var(
    name: &str,
    t: &Table,
    at: &str,
    file: &Path,
    problems: &mut Vec<Problem>,
) -> Option<Var> {
    let mut f = Fields::new(t, at, problems);
    let description = f.string("description").unwrap_or_default();
    let section = f.string("section").unwrap_or_else(|| "Other".into());
    let example = f.string("example");
    let replaced_by = f.string("replaced-by");
    let removed = f.string("removed");
    let ty_word = f.string("type");
    let values = f.strings("values");
    let default = f.value("default").cloned();
    let required = f.bool("required").unwrap_or(false);
    let required_if = f.string("required-if");
    let external = f.bool("external").unwrap_or(false);
    let chars = f.string("chars");
    let items = f.string("items");
    let also = f.strings("also").unwrap_or_default();
    let raw = f.bool("raw").unwrap_or(false);
    let stored = f.bool("stored").unwrap_or(true);
    let kind = match (replaced_by, removed, ty_word) {
        (Some(new), None, None) => Kind::ReplacedBy(new),
        (None, Some(msg), None) => Kind::Removed(msg),
        (None, None, Some(word)) => {
            let ty = match word.as_str() {
                "enum" => match &values {
                    Some(v) if !v.is_empty() => Type::Enum(v.clone()),
                    _ => {
                        f.problem("values", "an enum needs a non-empty list of values");
                        Type::Enum(Vec::new())
                    }
                },
                other => Type::from_word(other).unwrap_or_else(|| {
                    f.problem("type", format!("unknown type {other:?}"));
                    Type::String
                }),
            };
            let shape = parse_shape(&ty, chars, items, also, raw, &mut f);
            let default = default.and_then(|d| match default_text(&d) {
                Some(text) => match ty.parse_shaped(&shape, &text) {
                    Ok(_) => Some(text),
                    Err(e) => {
                        f.problem("default", e);
                        None
                    }
                },
                None => {
                    f.problem("default", "must be a string, integer or boolean");
                    None
                }
            });
            if required_if.is_some() && required {
                f.problem(
                    "required-if",
                    "give either required or required-if, not both",
                );
            }
            Kind::Value {
                ty,
                shape,
                default,
                required,
                required_if,
                external,
            }
        }
        _ => {
            f.problem(
                "type",
                "give exactly one of type, replaced-by (renamed variable) or removed (feature gone)",
            );
            f.finish();
            return None;
        }
    };
    f.finish();
    Some(Var {
        name: name.to_string(),
        kind,
        description,
        section,
        example,
        file: file.to_path_buf(),
        stored,
    })
}

/// Reads `chars`, `items`, `also` and `raw`, refusing the ones that mean nothing for `ty`.
fn parse_shape(
    ty: &Type,
    chars: Option<String>,
    items: Option<String>,
    also: Vec<String>,
    raw: bool,
    f: &mut Fields,
) -> Shape {
    let textual = matches!(
        ty,
        Type::String | Type::Secret | Type::List | Type::Url | Type::Path
    );
    let chars = chars.and_then(|c| {
        if !textual {
            f.problem("chars", format!("a {} has no character set", ty.word()));
            return None;
        }
        let set = Charset::new(&c);
        match set.problem() {
            Some(p) => {
                f.problem("chars", p);
                None
            }
            None => Some(set),
        }
    });
    let items = items.and_then(|word| match (ty, Type::from_word(&word)) {
        (Type::List, Some(t)) if !matches!(t, Type::List | Type::Secret | Type::String) => Some(t),
        (Type::List, _) => {
            f.problem(
                "items",
                format!("{word:?} is not an item type (use chars for strings)"),
            );
            None
        }
        _ => {
            f.problem("items", "only a list has items");
            None
        }
    });
    if raw && !matches!(ty, Type::String) {
        f.problem("raw", "only a string can be raw");
    }
    Shape {
        chars,
        items,
        also,
        raw,
    }
}

fn default_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Integer(i) => Some(i.to_string()),
        Value::Boolean(b) => Some(b.to_string()),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .map(|v| v.join(",")),
        _ => None,
    }
}

/// Variables grouped by section, sections in order of first appearance.
pub fn by_section(schema: &Schema) -> Vec<(String, Vec<&Var>)> {
    let mut order: Vec<String> = Vec::new();
    let mut groups: BTreeMap<String, Vec<&Var>> = BTreeMap::new();
    for v in &schema.vars {
        if !order.contains(&v.section) {
            order.push(v.section.clone());
        }
        groups.entry(v.section.clone()).or_default().push(v);
    }
    order
        .into_iter()
        .map(|s| {
            let vars = groups.remove(&s).unwrap_or_default();
            (s, vars)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Schema, Vec<String>> {
        let mut problems = Vec::new();
        let mut s = Schema::default();
        s.add(text, Path::new("t/schema.toml"), &mut problems);
        s.check(&mut problems);
        if problems.is_empty() {
            Ok(s)
        } else {
            Err(problems
                .into_iter()
                .map(|p| format!("{}: {}", p.at, p.message))
                .collect())
        }
    }

    #[test]
    fn reads_types_defaults_and_deprecations() {
        let s = load(
            r#"
            [var.HTTP_PORT]
            type = "port"
            default = 8000
            [var.ENABLE_X]
            type = "bool"
            default = false
            [var.MODE]
            type = "enum"
            values = ["a", "b"]
            default = "a"
            [var.OLD]
            replaced-by = "HTTP_PORT"
            [var.GONE]
            removed = "nothing uses it"
            "#,
        )
        .unwrap();
        assert_eq!(s.vars.len(), 5);
        let Kind::Value { default, .. } = &s.get("HTTP_PORT").unwrap().kind else {
            panic!()
        };
        assert_eq!(default.as_deref(), Some("8000"));
        assert_eq!(
            s.get("OLD").unwrap().kind,
            Kind::ReplacedBy("HTTP_PORT".into())
        );
    }

    #[test]
    fn reports_bad_declarations_together() {
        let p = load(
            r#"
            [var.A]
            type = "port"
            default = 70000
            [var.B]
            type = "enum"
            [var.C]
            replaced-by = "NOPE"
            [var.D]
            type = "colour"
            [var.E]
            type = "bool"
            colour = "x"
            "#,
        )
        .unwrap_err();
        let all = p.join("\n");
        assert!(all.contains("var.A.default"), "{all}");
        assert!(all.contains("var.B.values"), "{all}");
        assert!(all.contains("\"NOPE\" is not a declared variable"), "{all}");
        assert!(all.contains("unknown type \"colour\""), "{all}");
        assert!(all.contains("var.E.colour: unknown key"), "{all}");
    }

    #[test]
    fn reads_shapes_and_checks_defaults_against_them() {
        let s = load(
            r#"
            [var.USER]
            type = "string"
            chars = "A-Za-z0-9._-"
            default = "focus"
            [var.IPS]
            type = "list"
            items = "host"
            default = ""
            [var.WORKERS]
            type = "int"
            also = ["auto"]
            default = "auto"
            [var.SNIPPET]
            type = "string"
            raw = true
            "#,
        )
        .unwrap();
        let shape = |name: &str| match &s.get(name).unwrap().kind {
            Kind::Value { shape, .. } => shape.clone(),
            _ => panic!(),
        };
        assert!(shape("USER").chars.unwrap().contains('_'));
        assert_eq!(shape("IPS").items, Some(Type::Host));
        assert_eq!(shape("WORKERS").also, vec!["auto".to_string()]);
        assert!(shape("SNIPPET").raw);
    }

    #[test]
    fn reports_shapes_that_mean_nothing() {
        let p = load(
            r#"
            [var.A]
            type = "int"
            chars = "0-9"
            [var.B]
            type = "string"
            chars = "z-a"
            [var.C]
            type = "string"
            items = "host"
            [var.D]
            type = "list"
            items = "secret"
            [var.E]
            type = "list"
            raw = true
            [var.F]
            type = "string"
            chars = "a-z"
            default = "has space"
            "#,
        )
        .unwrap_err();
        let all = p.join("\n");
        assert!(
            all.contains("var.A.chars: a int has no character set"),
            "{all}"
        );
        assert!(
            all.contains("var.B.chars: \"z-a\": the range z-a runs backwards"),
            "{all}"
        );
        assert!(all.contains("var.C.items: only a list has items"), "{all}");
        assert!(
            all.contains("var.D.items: \"secret\" is not an item type"),
            "{all}"
        );
        assert!(all.contains("var.E.raw: only a string can be raw"), "{all}");
        assert!(
            all.contains("var.F.default: \"has space\" contains a space"),
            "{all}"
        );
    }
}
