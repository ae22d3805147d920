//! The layout promised in README.md ("Architecture"): no import circles among src modules,
//! main.rs only dispatches, and no source file grows past 500 lines without saying why.

use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_import_circles() {
    let out = Command::new("python3")
        .args(["tests/modgraph.py", "src"])
        .current_dir(ROOT)
        .output()
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("0 import circle(s)"), "{text}");
}

#[test]
fn the_checker_finds_a_circle() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir(src.join("a")).unwrap();
    std::fs::write(src.join("main.rs"), "mod a;\nmod b;\n").unwrap();
    std::fs::write(src.join("a/mod.rs"), "pub mod c;\npub struct A;\n").unwrap();
    std::fs::write(src.join("a/c.rs"), "use crate::b::B;\n").unwrap();
    std::fs::write(src.join("b.rs"), "pub struct B;\nuse crate::{a::c::C};\n").unwrap();
    let out = Command::new("python3")
        .args([&format!("{ROOT}/tests/modgraph.py"), src.to_str().unwrap()])
        .output()
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("circle: a::c <-> b"), "{text}");
}

#[test]
fn main_dispatches_and_long_files_say_why() {
    let mut files = Vec::new();
    sources(&Path::new(ROOT).join("src"), &mut files);
    assert!(files.len() > 40, "{files:?}");
    let mut unexplained = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let lines = text.lines().count();
        if f.ends_with("src/main.rs") {
            assert!(lines < 150, "main.rs has {lines} lines");
        }
        if lines > 500 && !text.contains("//! Over 500 lines: ") {
            unexplained.push(format!("{} ({lines} lines)", f.display()));
        }
    }
    assert!(
        unexplained.is_empty(),
        "over 500 lines without a reason: {unexplained:?}"
    );
}

/// PID 1's modules leave the configuration to `jinit-config` (README.md, "Images"): the spec
/// parser, schemas and template engine stay out of the `jinit` binary. tests/ci.sh checks the
/// built binary too (size, no crate paths of minijinja or toml).
#[test]
fn pid1_modules_leave_the_configuration_to_jinit_config() {
    let src = Path::new(ROOT).join("src");
    let mut files = vec![
        src.join("main.rs"),
        src.join("cli/run.rs"),
        src.join("cli/client.rs"),
    ];
    sources(&src.join("init"), &mut files);
    sources(&src.join("sys"), &mut files);
    let mut found = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for needle in [
            "crate::config",
            "minijinja",
            "toml::",
            "spec::parse",
            "cli::config",
        ] {
            if text.contains(needle) {
                found.push(format!("{} uses {needle}", f.display()));
            }
        }
    }
    assert!(files.len() > 20, "{files:?}");
    assert!(found.is_empty(), "{found:#?}");
}
