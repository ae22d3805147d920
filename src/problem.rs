//! What is wrong with a spec, an environment or a template: every problem with where it is
//! (key path, variable name or `template:line`), collected and reported at once.

use std::fmt;

/// Exit code for a spec, environment or template that cannot be used.
pub const EXIT_INVALID: i32 = 2;

/// One problem found in a spec, environment or template, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Key path (`service.web.after`), variable name or `template:line`.
    pub at: String,
    pub message: String,
}

impl Problem {
    pub fn new(at: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            at: at.into(),
            message: message.into(),
        }
    }
}

/// `at: message`, or the message alone when there is no place to name.
impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.at.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.at, self.message)
        }
    }
}

/// Every problem of one validation, reported together so an operator fixes them in one go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems {
    pub what: String,
    pub list: Vec<Problem>,
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.list.len();
        writeln!(
            f,
            "{} has {} problem{}:",
            self.what,
            n,
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.list {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}
