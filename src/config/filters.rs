//! The escaping filters of templates: each writes a value as a literal of one config
//! language, so that no value can add syntax to the file (`|lua`, `|hocon`, `|nginx`,
//! `|properties`), and `|b64encode`.

use minijinja::value::ValueKind;
use minijinja::{Error, ErrorKind, Value};

/// `{{ x|lua }}`: a Lua literal (quoted string, number, boolean, nil or list table).
pub fn lua(v: Value) -> Result<Value, Error> {
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
pub fn hocon(v: Value) -> Result<Value, Error> {
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
pub fn nginx(v: Value) -> Result<Value, Error> {
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
pub fn properties(v: Value) -> Result<Value, Error> {
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

pub fn b64encode(v: String) -> String {
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
