"""What the render tests know about jinit: the binary under test, `jinit render`, and the
schemas and specs read as plain TOML.

Rendering is always done by the real binary (`jinit render --no-validate`), never by a
re-implementation. The environment it sees is exactly the one given (plus PATH), so a
variable set in the caller's shell or CI cannot change a result.
"""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = REPO / "templates"
IMAGES = REPO / "images"
# Reference data to check rendered files against: a copy of ../shared/reference (see
# tests/render/reference/SOURCES.md), so the tests run from the repository alone.
REFERENCE = REPO / "tests/render/reference"
SEED_VARIABLES = REPO / "tests/data/seed-variables.txt"


def jinit_binary() -> str:
    """$JINIT, or the debug build; exits with a clear message when it is missing."""
    path = os.environ.get("JINIT") or str(REPO / "target/debug/jinit")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise SystemExit(f"jinit binary not found at {path}: run `cargo build` (or set JINIT=/path/to/jinit)")
    return path


class RenderError(Exception):
    """`jinit render` refused (bad environment or template); the message is its stderr."""


@dataclass
class Rendered:
    files: dict[str, Path]              # dest (as in the spec) -> file under the root
    warnings: list[str] = field(default_factory=list)
    stderr: str = ""


def render(image: str, environ: dict[str, str], root: Path, jinit: str | None = None,
           validate: bool = False) -> Rendered:
    """`jinit render --spec images/IMAGE/jinit.toml --templates templates --root ROOT --no-validate`
    (with `validate`, the spec's validation commands run, on this host's programs)."""
    spec = IMAGES / image / "jinit.toml"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **environ}
    flags = [] if validate else ["--no-validate"]
    r = subprocess.run([jinit or jinit_binary(), "render", "--spec", str(spec), "--templates", str(TEMPLATES),
                        "--root", str(root), *flags], env=env, capture_output=True, text=True, timeout=60)
    if r.returncode:
        raise RenderError(f"jinit render {image} (exit {r.returncode}):\n{r.stderr.strip()}")
    files = {}
    for entry in spec_of(image).get("render", []):
        path = root / entry["dest"].lstrip("/")
        if path.is_file():
            files[entry["dest"]] = path
    warnings = [line.split("warning:", 1)[1].strip() for line in r.stderr.splitlines() if "warning:" in line]
    return Rendered(files, warnings, r.stderr)


def spec_of(image: str) -> dict:
    return tomllib.loads((IMAGES / image / "jinit.toml").read_text())


def images() -> list[str]:
    return sorted(p.parent.name for p in IMAGES.glob("*/jinit.toml"))


def schema_files() -> list[str]:
    """Every templates/<component>/schema.toml, relative to templates/, common first."""
    files = sorted(p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.glob("*/schema.toml"))
    return sorted(files, key=lambda f: not f.startswith("common/"))


def load_schemas(files: list[str] | None = None) -> dict[str, dict]:
    """name -> declaration (with "_file"); raises ValueError on a variable declared twice."""
    out: dict[str, dict] = {}
    for rel in files if files is not None else schema_files():
        for name, decl in tomllib.loads((TEMPLATES / rel).read_text()).get("var", {}).items():
            if name in out:
                raise ValueError(f"{name} declared in {out[name]['_file']} and {rel}")
            out[name] = dict(decl, _file=rel)
    return out


def image_schema(image: str) -> dict[str, dict]:
    return load_schemas(spec_of(image)["jinit"]["schemas"])


def env_text(value) -> str:
    """A TOML default as it would be written in the environment."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


DURATION_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def duration_ms(text: str) -> float:
    """A duration as jinit's schemas take it ("1h30m", "1.5s") or as Prometheus and HOCON write
    it ("90m"), in milliseconds; ValueError for anything else."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", text.strip())
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        raise ValueError(f"not a duration: {text!r}")
    return sum(float(n) * DURATION_UNITS[u] for n, u in parts)


def whole_duration(text: str) -> str:
    """What jinit hands a template for a `duration` variable: one whole number and the largest
    exact unit ("1h30m" -> "90m", "1.5s" -> "1500ms"; src/duration.rs `whole`)."""
    ms = round(duration_ms(text))
    if ms == 0:
        return "0s"
    unit = next(u for u in ("d", "h", "m", "s", "ms") if ms % DURATION_UNITS[u] == 0)
    return f"{ms // DURATION_UNITS[unit]}{unit}"


def expand_argv(argv: list[str], environ: dict[str, str], schema: dict[str, dict]) -> list[str]:
    """A unit's command with its `{{ NAME }}` placeholders filled in, for running it by hand.

    Only plain names are supported (what the specs use); anything else is an error here, so a
    spec growing real expressions makes this fail loudly instead of guessing.
    """
    def value(m: re.Match) -> str:
        name = m.group(1)
        if environ.get(name):
            text = environ[name]
        elif "default" in schema.get(name, {}):
            text = env_text(schema[name]["default"])
        else:
            raise KeyError(f"{name} has no value")
        return whole_duration(text) if schema.get(name, {}).get("type") == "duration" else text

    out = []
    for arg in argv:
        expanded = re.sub(r"\{\{\s*([A-Z][A-Z0-9_]*)\s*\}\}", value, arg)
        if "{{" in expanded or "{%" in expanded:
            raise ValueError(f"cannot expand {arg!r} by hand")
        out.append(expanded)
    return out


# ---------------------------------------------------------------- names a template reads

KEYWORDS = {"and", "or", "not", "in", "is", "if", "else", "elif", "endif", "for", "endfor", "set", "endset",
            "macro", "endmacro", "import", "include", "from", "as", "with", "without", "context", "call",
            "endcall", "filter", "endfilter", "block", "endblock", "extends", "raw", "endraw", "recursive",
            "ignore", "missing", "true", "false", "none", "True", "False", "None", "loop", "caller",
            "continue", "break"}
# Global functions: minijinja's own and jinit's file_exists.
GLOBALS = {"range", "dict", "namespace", "debug", "file_exists"}
TOKEN = re.compile(r"==|!=|<=|>=|[A-Za-z_][A-Za-z0-9_]*|\S")
STRING = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
TAG = re.compile(r"\{\{-?(.*?)-?\}\}|\{%-?(.*?)-?%\}", re.S)


def template_names(source: str) -> tuple[set[str], set[str]]:
    """(names read, names bound locally) in a minijinja template, over all its branches.

    A small lexer, not a parser: attribute names (after "."), filter names (after "|"), test
    names (after "is"), keyword arguments (name=) and keywords are not reads; `set`, `for`,
    `macro` (and its parameters) and `import ... as` bind names.
    """
    source = re.sub(r"\{#.*?#\}", "", source, flags=re.S)
    reads: set[str] = set()
    bound: set[str] = set()
    for m in TAG.finditer(source):
        expr = m.group(1) if m.group(1) is not None else m.group(2)
        tokens = TOKEN.findall(STRING.sub('""', expr))
        statement = m.group(2) is not None and tokens and tokens[0]
        if statement == "for":
            target = tokens[1:tokens.index("in")] if "in" in tokens else []
            bound |= {t for t in target if t != ","}
        elif statement == "macro" and len(tokens) > 1:
            bound.add(tokens[1])
            bound |= {t for t in tokens[2:] if re.fullmatch(r"[A-Za-z_]\w*", t)}
            continue
        elif statement == "set" and len(tokens) > 1:
            bound.add(tokens[1])
        elif statement in ("import", "from"):
            if "as" in tokens:
                bound.add(tokens[tokens.index("as") + 1])
            if statement == "from" and "import" in tokens:
                bound |= {t for t in tokens[tokens.index("import") + 1:] if re.fullmatch(r"[A-Za-z_]\w*", t)}
            continue
        for i, tok in enumerate(tokens):
            if not re.fullmatch(r"[A-Za-z_]\w*", tok) or tok in KEYWORDS:
                continue
            prev = tokens[i - 1] if i else ""
            if prev in (".", "|") or prev == "is" or (prev == "not" and i > 1 and tokens[i - 2] == "is"):
                continue
            if i + 1 < len(tokens) and tokens[i + 1] == "=":
                continue  # keyword argument, or the target of `set`
            if statement == "set" and i == 1:
                continue
            reads.add(tok)
    return reads - GLOBALS, bound


def expression_names(expr: str) -> set[str]:
    reads, _ = template_names("{{ " + expr + " }}" if "{{" not in expr else expr)
    return reads
