//! An image's configuration, loaded and checked as one: spec, variable schemas, environment,
//! templates. Everything wrong with any of them is reported together before anything starts.

use crate::config::environ::{self, Environment};
use crate::config::render::{self, Rendered};
use crate::config::schema::Schema;
use crate::config::store;
use crate::problem::{Problem, Problems};
use crate::spec::plan::{self, Plan};
use crate::spec::Spec;
use std::path::{Path, PathBuf};

pub struct Image {
    pub spec: Spec,
    pub schema: Schema,
    pub env_file: Option<PathBuf>,
    pub env: Environment,
    jinja: Option<minijinja::Environment<'static>>,
    root: Option<PathBuf>,
}

pub struct Paths<'a> {
    pub spec: &'a Path,
    pub templates: &'a Path,
    pub env_file: Option<&'a Path>,
    /// `jinit render --root`: prefix for every file the spec names.
    pub root: Option<&'a Path>,
    /// Starting for real (`jinit` as PID 1, not `check` or `render`): check the `writable`
    /// directories and create the missing secrets of `generate-secrets`.
    pub boot: bool,
}

impl Image {
    /// Loads everything it can; returns the image with every problem found so far (spec,
    /// schemas, environment, templates), or an error when nothing usable was read.
    pub fn load(p: &Paths) -> Result<(Image, Vec<Problem>), Problems> {
        let (spec, mut problems) = Spec::load(p.spec)?;
        let schema = if spec.schemas.is_empty() {
            Schema::default()
        } else {
            match Schema::load(p.templates, &spec.schemas) {
                Ok(s) => s,
                Err(e) => {
                    problems.extend(e.list);
                    Schema::default()
                }
            }
        };
        if p.boot {
            for dir in &spec.writable {
                if let Err(e) = crate::sys::writable::check(dir) {
                    problems.push(Problem::new("", e));
                }
            }
        }
        let (env, list) = environment(&spec, &schema, p.env_file, p.boot);
        problems.extend(list);
        let jinja = if spec.renders.is_empty() {
            None
        } else {
            match render::environment(p.templates, p.root) {
                Ok(j) => Some(j),
                Err(list) => {
                    problems.extend(list);
                    None
                }
            }
        };
        let image = Image {
            spec,
            schema,
            env_file: p.env_file.map(Path::to_path_buf),
            env,
            jinja,
            root: p.root.map(Path::to_path_buf),
        };
        Ok((image, problems))
    }

    /// Decides which units run and as whom.
    pub fn plan(&self) -> Result<Plan, Vec<Problem>> {
        plan::plan(&self.spec, &self.env.context())
    }

    pub fn render(&self) -> Result<Vec<Rendered>, Vec<Problem>> {
        match &self.jinja {
            None => Ok(Vec::new()),
            Some(j) => render::render(&self.spec, j, &self.env, self.root.as_deref()),
        }
    }

    /// Reads the environment again (env file, `_FILE` secrets); keeps the old one on error.
    pub fn reload_env(&mut self) -> Result<(), Vec<Problem>> {
        let (env, problems) = environment(&self.spec, &self.schema, self.env_file.as_deref(), true);
        if !problems.is_empty() {
            return Err(problems);
        }
        self.env = env;
        Ok(())
    }

    /// Variables of the env file, passed to every unit (they override the container's): as
    /// read with the environment now in force.
    pub fn unit_env(&self) -> Vec<(String, String)> {
        self.env.file.clone()
    }

    /// Names of jinit's environment (and env file) that no unit gets unless its `pass-env`
    /// names them: every variable the schemas declare a secret, and any other whose name says
    /// it is one (…_PASSWORD, …_PASSWD, …_SECRET, …_TOKEN, …_PRIVATE_KEY).
    pub fn secret_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .schema
            .vars
            .iter()
            .filter(|v| v.is_secret())
            .map(|v| v.name.clone())
            .collect();
        let given = std::env::vars_os()
            .filter_map(|(k, _)| k.into_string().ok())
            .chain(self.unit_env().into_iter().map(|(k, _)| k));
        for name in given {
            if looks_secret(&name) && !names.contains(&name) {
                names.push(name);
            }
        }
        names.sort();
        names
    }

    /// Inputs whose change calls for a re-render.
    pub fn inputs(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = self.spec.watch.clone();
        for u in &self.spec.units {
            out.extend(u.on_change.iter().flat_map(|c| c.paths.iter().cloned()));
        }
        for r in &self.spec.renders {
            out.extend(r.append.iter().cloned());
        }
        out.extend(self.env.secret_files.iter().cloned());
        out.extend(self.env_file.iter().cloned());
        out.sort();
        out.dedup();
        out
    }
}

/// The process environment and env file, the stored secrets they do not give (created first
/// with `generate-secrets` when `generate`), resolved against the schema. Returns what
/// resolved together with the problems (a failing start still shows the warnings).
fn environment(
    spec: &Spec,
    schema: &Schema,
    env_file: Option<&Path>,
    generate: bool,
) -> (Environment, Vec<Problem>) {
    let (mut raw, file) = match environ::raw_environment(env_file) {
        Ok(read) => read,
        Err(e) => return (Environment::default(), vec![e]),
    };
    if let Some(dir) = &spec.secrets_dir {
        let how = if generate && spec.generate_secrets {
            store::Use::Generate
        } else if spec.generate_secrets {
            store::Use::ReadAll
        } else {
            store::Use::Read(&spec.require)
        };
        match store::apply(schema, &mut raw, dir, how) {
            Ok(created) if !created.is_empty() => crate::log::info(&format!(
                "generated {} and stored {} in {}",
                if created.len() == 1 {
                    "a secret"
                } else {
                    "secrets"
                },
                created.join(", "),
                dir.display()
            )),
            Ok(_) => {}
            Err(list) => return (Environment::default(), list),
        }
    }
    let (mut env, mut problems) =
        environ::resolve_all(schema, &raw, &spec.require, environ::Scope::Image);
    env.file = file;
    if let Some(dir) = &spec.secrets_dir {
        for p in problems.iter_mut() {
            if p.message.starts_with(environ::EMPTY_SECRET)
                && !raw.contains_key(&format!("{}_FILE", p.at))
            {
                p.message = store::missing_hint(dir, &p.at);
            }
        }
    }
    (env, problems)
}

fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["_PASSWORD", "_PASSWD", "_SECRET", "_TOKEN", "_PRIVATE_KEY"]
        .iter()
        .any(|s| upper.ends_with(s))
}
