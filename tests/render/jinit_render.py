"""Stand-in for `jinit render`, used until the Rust binary has that subcommand.

It implements the contract of templates/*/schema.toml and images/*/jinit.toml closely
enough to render every image's configuration into a scratch root, with the Python
binding of the same template engine (PyPI `minijinja`) in strict-undefined mode:

    python3 tests/render/jinit_render.py --spec images/web/jinit.toml \
        --templates templates --root /tmp/x  [VAR=value ...]

The environment is os.environ plus the VAR=value arguments. Files go to <root>/<dest>;
`append` and `file_exists()` read under <root>; the rendered argv of every oneshot and
service is written to <root>/jinit-commands.json for inspection.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import sys
import tomllib
from pathlib import Path

import minijinja

SCHEMA_KEYS = {"type", "default", "description", "section", "required", "required-if", "values",
               "replaced-by", "removed", "example", "external"}
TYPES = {"bool", "int", "port", "string", "list", "url", "host", "enum", "secret", "duration", "path"}
EXAMPLE_SECRETS = {"passw0rd", "s3cr37", "changeme", "password", "secret", "my_jitsi_app_secret"}
TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


class ConfigError(Exception):
    """A problem an operator (or a template author) must fix; message says what."""


def load_schema_file(path: Path) -> dict[str, dict]:
    data = tomllib.loads(path.read_text())
    unknown_top = set(data) - {"var"}
    if unknown_top:
        raise ConfigError(f"{path}: unknown top-level keys {sorted(unknown_top)}")
    out = {}
    for name, spec in data.get("var", {}).items():
        bad = set(spec) - SCHEMA_KEYS
        if bad:
            raise ConfigError(f"{path}: var.{name}: unknown keys {sorted(bad)}")
        if "removed" not in spec and "replaced-by" not in spec and spec.get("type") not in TYPES:
            raise ConfigError(f"{path}: var.{name}: type must be one of {sorted(TYPES)}")
        out[name] = dict(spec, _file=str(path))
    return out


def load_schemas(templates: Path, files: list[str]) -> dict[str, dict]:
    schema: dict[str, dict] = {}
    for rel in files:
        for name, spec in load_schema_file(templates / rel).items():
            if name in schema:
                raise ConfigError(f"{name} declared twice: {schema[name]['_file']} and {spec['_file']}")
            schema[name] = spec
    return schema


def parse_value(name: str, spec: dict, raw: str):
    """Parse one environment string by the variable's type (raises ConfigError)."""
    t = spec["type"]
    if t == "bool":
        v = raw.strip().lower()
        if v in TRUE:
            return True
        if v in FALSE:
            return False
        raise ConfigError(f"{name}={raw!r}: expected a boolean (true/false, 1/0)")
    if t in ("int", "port"):
        try:
            n = int(raw.strip())
        except ValueError:
            raise ConfigError(f"{name}={raw!r}: expected an integer") from None
        if t == "port" and not 1 <= n <= 65535:
            raise ConfigError(f"{name}={raw!r}: expected a port (1-65535)")
        return n
    if t == "list":
        return [item.strip() for item in raw.split(",") if item.strip()]
    if t == "enum":
        if raw not in spec["values"]:
            raise ConfigError(f"{name}={raw!r}: expected one of {spec['values']}")
        return raw
    if t == "url" and not re.match(r"^[a-z][a-z0-9+.-]*://[^\s/]+", raw):
        raise ConfigError(f"{name}={raw!r}: expected a URL")
    if t == "host" and not re.match(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$", raw):
        raise ConfigError(f"{name}={raw!r}: expected a host name")
    if t == "secret" and not spec.get("external"):
        if len(raw) < 16 or raw.lower() in EXAMPLE_SECRETS:
            raise ConfigError(f"{name}: secret too weak (at least 16 characters, not an example value)")
    return raw


def typed_default(name: str, spec: dict):
    if "default" not in spec:
        return None
    d = spec["default"]
    t = spec["type"]
    if t == "list":
        return parse_value(name, spec, d)
    if t == "bool" and not isinstance(d, bool):
        raise ConfigError(f"{name}: default of a bool must be a TOML bool")
    if t in ("int", "port") and not isinstance(d, int):
        raise ConfigError(f"{name}: default of an {t} must be a TOML integer")
    if t not in ("bool", "int", "port") and not isinstance(d, str):
        raise ConfigError(f"{name}: default of a {t} must be a string")
    return d


def make_environment(templates: Path, root: Path | None) -> minijinja.Environment:
    def loader(name: str):
        p = templates / name
        return p.read_text() if p.is_file() else None

    env = minijinja.Environment(loader=loader, undefined_behavior="strict")

    # Same output as jinit's filters (src/render.rs): lists "{ a, b }" / "[ a, b ]", empty
    # lists "{}" / "[]", none as nil / null.
    def lua(v):
        if v is None:
            return "nil"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (list, tuple)):
            return "{ " + ", ".join(lua(x) for x in v) + " }" if v else "{}"
        if isinstance(v, int):
            return str(v)
        out = []
        for c in str(v):
            out.append({'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r"}.get(c)
                       or (f"\\{ord(c):03}" if ord(c) < 0x20 else c))
        return '"' + "".join(out) + '"'

    def hocon(v):
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (list, tuple)):
            return "[ " + ", ".join(hocon(x) for x in v) + " ]" if v else "[]"
        if isinstance(v, int):
            return str(v)
        return json.dumps(str(v), ensure_ascii=False)

    def b64encode(v):
        return base64.b64encode(str(v).encode()).decode()

    def file_exists(path):
        p = Path(str(path))
        if root is not None and p.is_absolute():
            p = root / p.relative_to("/")
        return p.exists()

    env.add_filter("lua", lua)
    env.add_filter("hocon", hocon)
    env.add_filter("b64encode", b64encode)
    env.add_function("file_exists", file_exists)
    return env


def resolve_env(schema: dict[str, dict], environ: dict[str, str], require: list[str],
                env: minijinja.Environment) -> tuple[dict, list[str]]:
    """The typed template context, or ConfigError listing every problem at once."""
    problems: list[str] = []
    warnings: list[str] = []
    raw: dict[str, str] = {}
    for name, spec in schema.items():
        value = environ.get(name)
        file_var = environ.get(name + "_FILE")
        if value is None and file_var is not None and spec.get("type") == "secret":
            try:
                value = Path(file_var).read_text().rstrip("\n")
            except OSError as e:
                problems.append(f"{name}_FILE: {e}")
        if value is None or value == "":
            continue  # empty means unset (docker-compose passes `${VAR:-}` for every variable)
        if "removed" in spec:
            warnings.append(f"{name} is no longer used: {spec['removed']}")
        elif "replaced-by" in spec:
            warnings.append(f"{name} is deprecated, use {spec['replaced-by']}")
            raw.setdefault(spec["replaced-by"], value)
        else:
            raw[name] = value
    ctx: dict[str, object] = {}
    for name, spec in schema.items():
        if "removed" in spec or "replaced-by" in spec:
            continue
        try:
            ctx[name] = parse_value(name, spec, raw[name]) if name in raw else typed_default(name, spec)
        except ConfigError as e:
            problems.append(str(e))
            ctx[name] = None
    for name, spec in schema.items():
        if "removed" in spec or "replaced-by" in spec:
            continue
        needed = spec.get("required", False) or name in require
        if not needed and "required-if" in spec:
            needed = bool(env.eval_expr(spec["required-if"], **ctx))
        if needed and ctx[name] in (None, ""):
            problems.append(f"{name} is required" + (f" (because {spec['required-if']})" if "required-if" in spec else ""))
    for name in require:
        if name not in schema:
            problems.append(f"require: {name} is not declared in any loaded schema")
    if problems:
        raise ConfigError("\n".join(problems))
    return ctx, warnings


def render_spec(spec_path: Path, templates: Path, root: Path, environ: dict[str, str]) -> dict:
    spec = tomllib.loads(spec_path.read_text())
    jinit = spec["jinit"]
    schema = load_schemas(templates, jinit["schemas"])
    env = make_environment(templates, root)
    ctx, warnings = resolve_env(schema, environ, jinit.get("require", []), env)
    written = {}
    for entry in spec.get("render", []):
        if "if" in entry and not env.eval_expr(entry["if"], **ctx):
            continue
        text = env.render_template(entry["template"], **ctx)
        if text and not text.endswith("\n"):
            text += "\n"
        for extra in entry.get("append", []):
            p = root / extra.lstrip("/")
            if p.is_file():
                text += p.read_text()
        dest = root / entry["dest"].lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text)
        written[entry["dest"]] = dest
    commands = {}
    for kind in ("oneshot", "service"):
        for name, unit in spec.get(kind, {}).items():
            enabled = bool(env.eval_expr(unit["if"], **ctx)) if "if" in unit else True
            argv = [env.render_str(a, **ctx) for a in unit["command"]]
            commands[name] = {"kind": kind, "enabled": enabled, "argv": argv}
    (root / "jinit-commands.json").write_text(json.dumps(commands, indent=2))
    return {"files": written, "commands": commands, "warnings": warnings, "context": ctx}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", required=True, type=Path)
    ap.add_argument("--templates", required=True, type=Path)
    ap.add_argument("--root", required=True, type=Path)
    ap.add_argument("assignments", nargs="*", help="VAR=value")
    args = ap.parse_args()
    environ = dict(os.environ)
    for a in args.assignments:
        k, _, v = a.partition("=")
        environ[k] = v
    try:
        result = render_spec(args.spec, args.templates, args.root, environ)
    except ConfigError as e:
        print(f"error:\n{e}", file=sys.stderr)
        return 1
    for w in result["warnings"]:
        print(f"warning: {w}", file=sys.stderr)
    for dest in result["files"]:
        print(dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
