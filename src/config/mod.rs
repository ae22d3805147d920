//! Configuration from the environment: typed variables, templates and the files they render.
//! - `types`: what each variable `Type` accepts (`Type::parse`), and the typed values.
//! - `schema`: the variable schemas (`schema.toml`).
//! - `environ`: the environment (and the env file) resolved against the schemas; `envfile`:
//!   the one env-file reader.
//! - `image`: spec + schemas + environment + templates, loaded and checked as one.
//! - `render`: templates to files, with their validations. `docs`: env.example and the
//!   README reference. `secrets`: `jinit gen-secrets`. `store`: the generated-secrets
//!   store (`secrets-dir`).

pub mod apply;
pub mod docs;
pub mod envfile;
pub mod environ;
pub mod filters;
pub mod image;
pub mod render;
pub mod schema;
pub mod secrets;
pub mod store;
pub mod types;
