//! What each variable type is and what its values may look like: the one place deciding
//! whether a text is a valid value of a `Type` (`Type::parse`), used by the environment, the
//! schemas' defaults and `jinit acme` alike.
//!
//! Over 500 lines: the last 65 are its tests (each type's refusals, the forms templates get).

use minijinja::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    Bool,
    Int,
    /// A non-negative decimal number: `0.8`, `0.01`, `2`.
    Decimal,
    Port,
    String,
    List,
    Url,
    Host,
    /// An IPv4 or IPv6 network: `172.16.0.0/12`, `fd00::/8`.
    Cidr,
    Enum(Vec<String>),
    /// A password of ours: may come from NAME_FILE, never logged, checked for strength when
    /// required and filled by `jinit gen-secrets`.
    Secret,
    Duration,
    Path,
}

impl Type {
    pub fn word(&self) -> &'static str {
        match self {
            Type::Bool => "bool",
            Type::Int => "int",
            Type::Decimal => "decimal",
            Type::Port => "port",
            Type::String => "string",
            Type::List => "list",
            Type::Url => "url",
            Type::Host => "host",
            Type::Cidr => "cidr",
            Type::Enum(_) => "enum",
            Type::Secret => "secret",
            Type::Duration => "duration",
            Type::Path => "path",
        }
    }
}

/// What a value may look like beyond its type (schema keys `chars`, `items`, `also`, `raw`):
/// narrow enough that it cannot carry the syntax of the file it is written into.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Shape {
    /// `chars`: the only characters a string, each list item, a URL or a path may hold
    /// (for URLs and paths it replaces the type's own set).
    pub chars: Option<Charset>,
    /// `items`: the type every item of a list must have.
    pub items: Option<Type>,
    /// `also`: literal words accepted besides the type's values (`auto` for a number).
    pub also: Vec<String>,
    /// `raw = true`: a snippet written into a config file verbatim, control characters
    /// included. Its description must say so; no template may escape it.
    pub raw: bool,
}

/// A set of characters written as in a regular expression's brackets: `A-Za-z0-9._-`
/// (a `-` first or last is itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charset {
    /// As written in the schema, for messages and docs.
    pub text: String,
    ranges: Vec<(char, char)>,
}

impl Charset {
    pub fn new(text: &str) -> Charset {
        let chars: Vec<char> = text.chars().collect();
        let mut ranges = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            if i + 2 < chars.len() && chars[i + 1] == '-' {
                ranges.push((chars[i], chars[i + 2]));
                i += 3;
            } else {
                ranges.push((chars[i], chars[i]));
                i += 1;
            }
        }
        Charset {
            text: text.to_string(),
            ranges,
        }
    }

    /// What makes this set useless or unsafe, for a schema's `chars`.
    pub fn problem(&self) -> Option<String> {
        let text = &self.text;
        if self.ranges.is_empty() {
            return Some("an empty set of characters allows nothing".into());
        }
        if self
            .ranges
            .iter()
            .any(|(a, b)| a.is_control() || b.is_control())
        {
            return Some(format!(
                "{text:?}: control characters cannot be allowed (use raw = true)"
            ));
        }
        self.ranges
            .iter()
            .find(|(a, b)| b < a)
            .map(|(a, b)| format!("{text:?}: the range {a}-{b} runs backwards"))
    }

    /// The set for messages and docs: a space in it is easy to miss, so it is named.
    pub fn describe(&self) -> String {
        if self.text.contains(' ') {
            format!("{} and spaces", self.text.replace(' ', ""))
        } else {
            self.text.clone()
        }
    }

    pub fn contains(&self, c: char) -> bool {
        self.ranges.iter().any(|(a, b)| (*a..=*b).contains(&c))
    }

    /// The first character of `s` outside the set.
    pub fn first_outside(&self, s: &str) -> Option<char> {
        s.chars().find(|c| !self.contains(*c))
    }
}

impl Type {
    /// The types named by one word (an enum also needs `values`).
    pub fn from_word(word: &str) -> Option<Type> {
        Some(match word {
            "bool" => Type::Bool,
            "int" => Type::Int,
            "port" => Type::Port,
            "string" => Type::String,
            "list" => Type::List,
            "url" => Type::Url,
            "host" => Type::Host,
            "decimal" => Type::Decimal,
            "cidr" => Type::Cidr,
            "secret" => Type::Secret,
            "duration" => Type::Duration,
            "path" => Type::Path,
            _ => return None,
        })
    }
}

/// Published example passwords (old env.example files, docs, tutorials): refused as secrets.
const EXAMPLE_SECRETS: [&str; 14] = [
    "passw0rd",
    "s3cr37",
    "changeme",
    "change-me",
    "changeit",
    "password",
    "secret",
    "jitsi",
    "admin",
    "example",
    "letmein",
    "123456",
    "12345678",
    "qwerty",
];
pub const MIN_SECRET_LEN: usize = 16;

/// One typed value, as templates see it.
#[derive(Debug, Clone, PartialEq)]
pub enum Typed {
    Unset,
    Bool(bool),
    Int(i64),
    Str(String),
    List(Vec<String>),
}

impl Typed {
    pub fn to_value(&self) -> Value {
        match self {
            Typed::Unset => Value::from(()),
            Typed::Bool(b) => Value::from(*b),
            Typed::Int(i) => Value::from(*i),
            Typed::Str(s) => Value::from(s.clone()),
            Typed::List(l) => Value::from(l.clone()),
        }
    }
}

/// Characters a URL may hold: RFC 3986's, less the ones that end or open something in the
/// files URLs are written into (`'` `;` `$`); `"` `\` `<` `>` `{` `}` `` ` `` and spaces are
/// not URL characters at all.
pub const URL_CHARS: &str = "A-Za-z0-9._~:/?#[]@!&()*+,=%-";
/// Characters a path may hold: no quotes, spaces, `;`, `{`, `}`, `#` or `$`, which would end
/// a value or start a comment, block or variable in some config file.
pub const PATH_CHARS: &str = "A-Za-z0-9._~/+@:,=%-";

impl Type {
    /// Parses one value of a type with no further shape; the error names the accepted forms.
    pub fn parse(&self, text: &str) -> Result<Typed, String> {
        self.parse_shaped(&Shape::default(), text)
    }

    /// Parses a declared variable's value: its type, then its shape (schema keys `chars`,
    /// `items`, `also`, `raw`). Control characters are refused unless the declaration says
    /// `raw = true`: a line break starts a new directive, key or statement in every config
    /// file a template writes. A secret's value never appears in an error.
    pub fn parse_shaped(&self, shape: &Shape, text: &str) -> Result<Typed, String> {
        let ty = self;
        let t = text.trim();
        if shape.also.iter().any(|w| w == t) {
            return Ok(Typed::Str(t.to_string()));
        }
        let shown = if *ty == Type::Secret {
            "the value".to_string()
        } else {
            format!("{text:?}")
        };
        // Strings and secrets are kept verbatim, the other types trimmed: check what is kept. The
        // non-text types refuse a control character inside by their own syntax.
        let kept = match ty {
            Type::String | Type::Secret => text,
            Type::List | Type::Url | Type::Path => t,
            _ => "",
        };
        if !shape.raw {
            if let Some(c) = kept.chars().find(|c| c.is_control()) {
                let allowed = match (ty, &shape.chars) {
                    (_, Some(cs)) => Some(cs),
                    (Type::Url, None) => Some(&*URL),
                    (Type::Path, None) => Some(&*PATH),
                    _ => None,
                };
                let hint = match allowed {
                    Some(cs) => format!("only the characters {} are allowed here", cs.describe()),
                    None => "line breaks, tabs and other control characters are not allowed".into(),
                };
                return Err(format!(
                    "{shown} contains the control character {}: {hint}",
                    control_name(c)
                ));
            }
        }
        let also = if shape.also.is_empty() {
            String::new()
        } else {
            format!(" or {}", shape.also.join(", "))
        };
        match ty {
            Type::Bool => match t.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Ok(Typed::Bool(true)),
                "0" | "false" | "no" | "off" => Ok(Typed::Bool(false)),
                _ => Err(format!(
                    "{text:?} is not a boolean (use 1/0, true/false, yes/no or on/off)"
                )),
            },
            Type::Int => t
                .parse::<i64>()
                .map(Typed::Int)
                .map_err(|_| format!("{text:?} is not a whole number{also}")),
            Type::Decimal => {
                let (whole, frac) = t.split_once('.').unwrap_or((t, "0"));
                let digits = |s: &str| {
                    !s.is_empty() && s.len() <= 9 && s.bytes().all(|b| b.is_ascii_digit())
                };
                if digits(whole) && digits(frac) {
                    Ok(Typed::Str(t.to_string()))
                } else {
                    Err(format!(
                        "{text:?} is not a decimal number (write e.g. 0.8 or 2){also}"
                    ))
                }
            }
            Type::Port => match t.parse::<i64>() {
                Ok(p) if (1..=65535).contains(&p) => Ok(Typed::Int(p)),
                _ => Err(format!("{text:?} is not a port number (1-65535){also}")),
            },
            Type::List => {
                let items: Vec<String> = t
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect();
                for item in &items {
                    if let Some(it) = &shape.items {
                        it.parse(item).map_err(|e| format!("in {text:?}: {e}"))?;
                    }
                    allowed(&format!("{text:?}"), item, shape.chars.as_ref())?;
                }
                Ok(Typed::List(items))
            }
            Type::Url => {
                let ok = t.split_once("://").is_some_and(|(scheme, rest)| {
                    !scheme.is_empty()
                        && scheme
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                        && !rest.is_empty()
                        && !rest.starts_with('/')
                        && !t.contains(char::is_whitespace)
                });
                if !ok {
                    return Err(format!(
                        "{text:?} is not a URL (write e.g. https://meet.example.com)"
                    ));
                }
                allowed(&shown, t, Some(shape.chars.as_ref().unwrap_or(&URL)))?;
                Ok(Typed::Str(t.to_string()))
            }
            Type::Host => {
                if is_host(t) {
                    Ok(Typed::Str(t.to_string()))
                } else {
                    Err(format!(
                        "{text:?} is not a host name or IP address (no scheme, port or path)"
                    ))
                }
            }
            Type::Cidr => {
                let ok = t.split_once('/').is_some_and(|(addr, bits)| {
                    let max = match addr.parse::<std::net::IpAddr>() {
                        Ok(std::net::IpAddr::V4(_)) => 32,
                        Ok(std::net::IpAddr::V6(_)) => 128,
                        Err(_) => return false,
                    };
                    bits.len() <= 3
                        && bits.bytes().all(|b| b.is_ascii_digit())
                        && bits.parse::<u8>().is_ok_and(|b| b <= max)
                });
                if ok {
                    Ok(Typed::Str(t.to_string()))
                } else {
                    Err(format!(
                        "{text:?} is not a network in CIDR notation (write e.g. 172.16.0.0/12 or fd00::/8)"
                    ))
                }
            }
            Type::Enum(values) => {
                if values.iter().any(|v| v == t) {
                    Ok(Typed::Str(t.to_string()))
                } else {
                    Err(format!("{text:?} is not one of: {}", values.join(", ")))
                }
            }
            // Templates get one number and one unit, which every config language here reads.
            Type::Duration => crate::duration::parse(t).and_then(|d| {
                crate::duration::whole(d)
                    .map(Typed::Str)
                    .ok_or_else(|| format!("{text:?} is finer than a millisecond"))
            }),
            Type::Path => {
                if !t.starts_with('/') {
                    return Err(format!("{text:?} is not an absolute path"));
                }
                allowed(&shown, t, Some(shape.chars.as_ref().unwrap_or(&PATH)))?;
                Ok(Typed::Str(t.to_string()))
            }
            // Strings and secrets are taken verbatim: spaces may matter in a password.
            Type::String | Type::Secret => {
                allowed(&shown, text, shape.chars.as_ref())?;
                Ok(Typed::Str(text.to_string()))
            }
        }
    }
}

static URL: std::sync::LazyLock<Charset> = std::sync::LazyLock::new(|| Charset::new(URL_CHARS));
static PATH: std::sync::LazyLock<Charset> = std::sync::LazyLock::new(|| Charset::new(PATH_CHARS));

/// Refuses the first character of `s` outside `chars`, naming it and the allowed set.
fn allowed(shown: &str, s: &str, chars: Option<&Charset>) -> Result<(), String> {
    match chars.and_then(|cs| cs.first_outside(s).map(|c| (cs, c))) {
        None => Ok(()),
        Some((cs, c)) => Err(format!(
            "{shown} contains {}: only the characters {} are allowed here",
            char_name(c),
            cs.describe()
        )),
    }
}

fn control_name(c: char) -> String {
    let what = match c {
        '\n' => " (line feed)",
        '\r' => " (carriage return)",
        '\t' => " (tab)",
        _ => "",
    };
    format!("U+{:04X}{what}", c as u32)
}

fn char_name(c: char) -> String {
    if c == ' ' {
        "a space".into()
    } else if c.is_whitespace() {
        format!("the space U+{:04X}", c as u32)
    } else {
        format!("{c:?}")
    }
}

fn is_host(t: &str) -> bool {
    if t.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    let inner = t.strip_prefix('[').and_then(|s| s.strip_suffix(']'));
    if inner.is_some_and(|s| s.parse::<std::net::Ipv6Addr>().is_ok()) {
        return true;
    }
    !t.is_empty()
        && t.len() <= 253
        && t.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

/// Why a secret is too weak, without ever showing it.
pub fn weak(secret: &str) -> Option<String> {
    let lower = secret.to_ascii_lowercase();
    if EXAMPLE_SECRETS.contains(&lower.as_str()) {
        return Some("is a published example value that attackers try first".into());
    }
    if secret.chars().count() < MIN_SECRET_LEN {
        return Some(format!(
            "is shorter than {MIN_SECRET_LEN} characters ({} given)",
            secret.chars().count()
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_reach_templates_as_one_number_and_unit() {
        let shape = Shape::default();
        for (text, want) in [("1d12h", "36h"), ("1.5s", "1500ms"), ("15s", "15s")] {
            match Type::Duration.parse_shaped(&shape, text) {
                Ok(Typed::Str(s)) => assert_eq!(s, want, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        let e = Type::Duration.parse_shaped(&shape, "0.5ms").unwrap_err();
        assert!(e.contains("finer than a millisecond"), "{e}");
    }

    #[test]
    fn decimals_are_digits_with_at_most_one_point() {
        for ok in ["0.8", "0.01", "2", "10.0"] {
            assert!(Type::Decimal.parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".5",
            "5.",
            "1.2.3",
            "-1",
            "1e3",
            "0,8",
            "NaN",
            "1234567890.1",
        ] {
            let e = Type::Decimal.parse(bad).unwrap_err();
            assert!(e.contains("not a decimal number"), "{bad}: {e}");
        }
    }

    #[test]
    fn networks_are_an_address_and_a_prefix_length_that_fits_it() {
        for ok in [
            "172.16.0.0/12",
            "10.0.0.0/8",
            "0.0.0.0/0",
            "fd00::/8",
            "::1/128",
        ] {
            assert!(Type::Cidr.parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "172.16.0.0",
            "172.16.0.0/33",
            "::/129",
            "meet.jitsi/24",
            "10.0.0.0/+8",
            "10.0.0.0/0008",
            "10.0.0.0/8\"",
            "10.0.0.0/8 x",
            "",
        ] {
            let e = Type::Cidr.parse(bad).unwrap_err();
            assert!(e.contains("CIDR notation"), "{bad}: {e}");
        }
    }
}
