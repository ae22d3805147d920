//! The one reader of env files (`JINIT_ENV_FILE`, `jinit check-env FILE`): `KEY=value` lines
//! as Compose reads `.env` (comments, blank lines, `export`, quotes, inline comments).

use crate::bounded;
use crate::problem::Problem;
use std::path::Path;

/// An env file's variables in file order.
pub type Vars = Vec<(String, String)>;

/// Reads an env file (bounded, like every config input); the problem names JINIT_ENV_FILE.
pub fn read(path: &Path) -> Result<Vars, Problem> {
    let text = bounded::read_to_string(path, bounded::CONFIG_MAX, bounded::Links::Follow).map_err(
        |e| {
            Problem::new(
                "JINIT_ENV_FILE",
                format!("cannot read {}: {e}", path.display()),
            )
        },
    )?;
    Ok(parse(&text))
}

/// `KEY=value` lines as docker-compose reads `.env`: comments, blank lines, optional quotes.
pub fn parse(text: &str) -> Vec<(String, String)> {
    parse_lines(text)
        .into_iter()
        .map(|(_, k, v)| (k, v))
        .collect()
}

/// `parse` with the (1-based) line number of each variable.
pub fn parse_lines(text: &str) -> Vec<(usize, String, String)> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                return None;
            }
            let line = line.strip_prefix("export ").unwrap_or(line);
            let (k, v) = line.split_once('=')?;
            Some((i + 1, k.trim().to_string(), value(v.trim())))
        })
        .collect()
}

/// One value as Compose reads it: the text between matching quotes, or an unquoted text up
/// to an inline comment (a `#` after whitespace: `ENABLE_AUTH=1  # on` is `1`).
fn value(v: &str) -> String {
    if let Some(q) = v.chars().next().filter(|c| *c == '"' || *c == '\'') {
        if let Some(end) = v[1..].find(q) {
            return v[1..1 + end].to_string();
        }
    }
    let mut prev_space = false;
    for (i, c) in v.char_indices() {
        if c == '#' && prev_space {
            return v[..i].trim_end().to_string();
        }
        prev_space = c.is_whitespace();
    }
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_inline_comments_and_quotes_as_compose_reads_them() {
        let pairs =
            parse("A=1 # on\nB=\"x # not a comment\" # but this is\nC=a#b\nD='q' \nE=\"open\n");
        assert_eq!(
            pairs,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "x # not a comment".into()),
                ("C".into(), "a#b".into()),
                ("D".into(), "q".into()),
                ("E".into(), "\"open".into())
            ]
        );
    }

    #[test]
    fn env_file_syntax() {
        let pairs = parse("# c\n\nA=1\nexport B = \"two words\"\nC='x'\nbad line\n");
        assert_eq!(
            pairs,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "x".into())
            ]
        );
        let _ = Path::new("");
    }
}
