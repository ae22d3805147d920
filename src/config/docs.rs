//! Generates `env.example` and the README's variable reference from the schemas, so the
//! documentation cannot drift from what jinit accepts (a test compares the committed files).

use crate::config::schema::{self, Kind, Schema, Var};
use crate::config::types::{Shape, Type};

/// The line above every generated secret in env.example; `gen-secrets.sh` looks for it.
pub const SECRET_MARK: &str = "# Secret: leave empty here, ./gen-secrets.sh fills it.";

pub fn env_example(schema: &Schema) -> String {
    let mut out = String::from(
        "# Jitsi Meet on Docker: configuration.\n\
         # Copy to .env, run ./gen-secrets.sh, then `docker-compose up -d`.\n\
         # Generated from templates/*/schema.toml by `jinit docs env-example`: edit those, not this.\n\
         # A commented-out line shows the default; an empty value means \"unset\".\n",
    );
    for (section, vars) in schema::by_section(schema) {
        let live: Vec<&&Var> = vars
            .iter()
            .filter(|v| matches!(v.kind, Kind::Value { .. }))
            .collect();
        if live.is_empty() {
            continue;
        }
        out.push_str(&format!("\n#\n# {section}\n#\n"));
        for v in live {
            out.push('\n');
            for line in wrap(&v.description, 96) {
                out.push_str(&format!("# {line}\n"));
            }
            let Kind::Value {
                ty,
                shape,
                default,
                required,
                required_if,
                external,
            } = &v.kind
            else {
                continue;
            };
            let mut facts = vec![type_text(ty, shape)];
            if *required {
                facts.push("required".into());
            }
            if let Some(expr) = required_if {
                facts.push(format!("required when {expr}"));
            }
            if *ty == Type::Secret {
                facts.push(format!("or {}_FILE=/path", v.name));
            }
            // Our own secrets get no example: gen-secrets fills them.
            let shows_example = *ty != Type::Secret || *external;
            if v.example.is_some() && shows_example {
                facts.push(match default {
                    Some(d) => format!("default {d}; an example below"),
                    None => "unset by default; an example below".into(),
                });
            }
            out.push_str(&format!("# ({})\n", facts.join("; ")));
            if *ty == Type::Secret && !external {
                out.push_str(SECRET_MARK);
                out.push('\n');
                out.push_str(&format!("{}=\n", v.name));
            } else if let Some(example) = &v.example {
                // Commented out: copying env.example must not switch anything on.
                out.push_str(&format!("#{}={}\n", v.name, example));
            } else {
                out.push_str(&format!(
                    "#{}={}\n",
                    v.name,
                    default.as_deref().unwrap_or("")
                ));
            }
        }
    }
    let gone: Vec<&Var> = schema
        .vars
        .iter()
        .filter(|v| !matches!(v.kind, Kind::Value { .. }))
        .collect();
    if !gone.is_empty() {
        out.push_str(
            "\n#\n# Deprecated and removed variables (still accepted, with a warning)\n#\n",
        );
        for v in gone {
            let what = match &v.kind {
                Kind::ReplacedBy(new) => format!("renamed to {new}"),
                Kind::Removed(why) => format!("removed: {why}"),
                Kind::Value { .. } => continue,
            };
            out.push_str(&format!("# {}: {}\n", v.name, what));
        }
    }
    out
}

/// A Markdown table per section, for README.md.
pub fn reference(schema: &Schema) -> String {
    let mut out = String::new();
    for (section, vars) in schema::by_section(schema) {
        out.push_str(&format!(
            "\n#### {section}\n\n| Variable | Type | Default | Description |\n|---|---|---|---|\n"
        ));
        for v in vars {
            let (ty, default) = match &v.kind {
                Kind::Value {
                    ty,
                    shape,
                    default,
                    required,
                    required_if,
                    ..
                } => {
                    let mut t = type_text(ty, shape).replace('|', "\\|");
                    if *required {
                        t.push_str(", required");
                    } else if let Some(e) = required_if {
                        t.push_str(&format!(", required when `{e}`"));
                    }
                    let d = default
                        .as_deref()
                        .map(|d| format!("`{d}`"))
                        .unwrap_or_default();
                    (t, d)
                }
                Kind::ReplacedBy(new) => (format!("renamed to `{new}`"), String::new()),
                Kind::Removed(_) => ("removed".into(), String::new()),
            };
            let mut desc = v.description.replace('\n', " ").replace('|', "\\|");
            if let Kind::Removed(why) = &v.kind {
                desc = format!("{desc} {why}").trim().to_string();
            }
            out.push_str(&format!(
                "| `{}` | {} | {} | {} |\n",
                v.name, ty, default, desc
            ));
        }
    }
    out
}

/// The type as the docs name it, with the shape that narrows it.
fn type_text(ty: &Type, shape: &Shape) -> String {
    let mut text = match (ty, &shape.items) {
        (Type::Enum(values), _) => format!("one of {}", values.join(", ")),
        (Type::List, Some(item)) => format!("comma-separated {} list", item.word()),
        (Type::List, None) => "comma-separated list".into(),
        (other, _) => other.word().into(),
    };
    for word in &shape.also {
        text.push_str(&format!(" or {word}"));
    }
    if let Some(chars) = &shape.chars {
        text.push_str(&format!(" of characters {}", chars.describe()));
    }
    if shape.raw {
        text.push_str(", raw: written verbatim");
    }
    text
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for para in text.lines() {
        let mut line = String::new();
        for word in para.split_whitespace() {
            if !line.is_empty() && line.len() + 1 + word.len() > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        if !line.is_empty() {
            lines.push(line);
        }
    }
    lines
}
