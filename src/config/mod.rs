//! Configuration from the environment: typed variables, templates and the files they render.
//! - `schema`: the variable schemas (`schema.toml`) and what each `Type` accepts.
//! - `environ`: the environment (and the env file) resolved against the schemas.
//! - `image`: spec + schemas + environment + templates, loaded and checked as one.
//! - `render`: templates to files, with their validations. `docs`: env.example and the
//!   README reference. `secrets`: `jinit gen-secrets`.

pub mod docs;
pub mod environ;
pub mod image;
pub mod render;
pub mod schema;
pub mod secrets;
