"""Hostile values: no environment value may add a directive, key or statement to a config file.

For every image and every variable it declares (but `raw` ones, which are snippets by design),
jinit renders with a value full of config syntax (quotes, `;`, `{`, `}`, `]]`, `--`, `#`,
`${...}`, `<!--#`, a backslash; once with a line break, once without). Each variable must either
be refused with a problem that names it, or come out as data: every rendered file is read by
its real parser (nginx -t, luac, node, pyhocon, javaproperties) and reduced to a *shape*, the
directives, keys or statements it holds with the values that do not come from a hostile
variable. The shape must equal the clean render's, the values of hostile variables aside.

Fast by batching: one render with every variable hostile lists all refused ones at once (jinit
reports every problem together), one render with the accepted ones hostile is parsed. Only
when that shape differs is each accepted variable rendered alone, to name the culprit.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import Callable

import javaproperties
from pyhocon import ConfigFactory, ConfigTree

import jinit_cli
from jinit_cli import RenderError

HERE = Path(__file__).resolve().parent
MARK = "HOSTILE"
PAYLOAD = MARK + " q'x\" ; } { ]] [[ -- # ${" + MARK + "} <!--#echo var=\"x\" --> `y` //*/ %u"
HOSTILE = "<hostile>"
# A line break before a new key or directive; without one, a trailing backslash, which would
# escape a closing quote or join the next line of a properties file; without spaces (which
# URLs refuse before looking at other characters); and only characters a URL may hold (so
# URLs are accepted and reach nginx), several of them syntax somewhere.
VARIANTS = {"newline": PAYLOAD + "\nx = 1;\norg.jitsi.jigasi.ENABLE_SIP=false", "one-line": PAYLOAD + " \\",
            "no-spaces": PAYLOAD.replace(" ", "") + "\\", "url-characters": MARK + "]]--#[[=&!%?@:,*()~[x]"}

# Per image, environments that switch on the features whose templates read the variables
# (the variables themselves get clean values from their schema examples or defaults).
BASES: dict[str, list[dict[str, str]]] = {
    "web": [{"ENABLE_AUTH": "1", "AUTH_TYPE": "jwt", "ENABLE_GUESTS": "1", "ENABLE_RECORDING": "1",
             "ENABLE_LIVESTREAMING": "1", "ENABLE_LETSENCRYPT": "1"}],
    "prosody": [{"ENABLE_AUTH": "1", "AUTH_TYPE": "jwt", "ENABLE_GUESTS": "1", "ENABLE_RECORDING": "1",
                 "PROSODY_ENABLE_METRICS": "1"},
                {"ENABLE_AUTH": "1", "AUTH_TYPE": "ldap", "LDAP_USE_TLS": "1", "LDAP_START_TLS": "1"}],
    "jicofo": [{"ENABLE_AUTH": "1", "ENABLE_RECORDING": "1", "ENABLE_OCTO": "1"}],
    "jvb": [{"ENABLE_OCTO": "1", "COLIBRI_REST_ENABLED": "1"}],
    "jigasi": [{"ENABLE_AUTH": "1", "JIGASI_ENABLE_SDES_SRTP": "1"}],
    "turn": [{"ENABLE_LETSENCRYPT": "1"}],
    "prometheus": [{"JINIT_METRICS_PORT": "9105"}],
}


class Different(Exception):
    pass


# ---------------------------------------------------------------- values

def clean_value(decl: dict) -> str:
    t = decl["type"]
    for key in ("example", "default"):
        if str(decl.get(key, "")).strip():
            return jinit_cli.env_text(decl[key])
    return {"secret": "clean-secret-0123456789", "list": "a,b", "url": "https://x.example",
            "path": "/x", "host": "x.example", "cidr": "10.0.0.0/8", "decimal": "0.5", "int": "1", "port": "1", "duration": "1s"}.get(
        t, decl.get("values", ["x"])[0])


def hostile_value(decl: dict, clean: str, payload: str) -> str:
    """The payload in the place where the variable's own syntax would let it through."""
    t = decl["type"]
    if t == "list":
        # As many items as the clean value, so both renders have lists of the same length (a
        # comma is the list's own separator, not syntax of a config file).
        payload = payload.replace(",", "")
        return ",".join(f"{item.strip()}{payload}" for item in clean.split(",") if item.strip())
    if t == "url":
        return f"https://x.example/{payload}"
    if t == "path":
        return f"/x/{payload}"
    return f"{clean}{payload}"


def tested(image: str) -> dict[str, dict]:
    """The image's variables with a type, less the raw snippets."""
    return {name: decl for name, decl in jinit_cli.image_schema(image).items()
            if "type" in decl and not decl.get("raw")}


# ---------------------------------------------------------------- shapes

def marked(value: str) -> str:
    """A value that came from a hostile variable (Jigasi stores passwords base64-encoded) is
    compared by position only."""
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8", "replace")
    except ValueError:
        decoded = ""
    return HOSTILE if MARK in value or MARK in decoded else value


def nginx_shape(text: str) -> Counter:
    """(block path/directive, arguments) of an nginx file, tokenised as ngx_conf_read_token
    does: `#` starts a comment only at a token's start, quotes group, a backslash escapes,
    `}` inside a word and `{` after `$` are part of the word."""
    out: Counter = Counter()
    stack: list[str] = []
    words: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n":
            i += 1
        elif c == "#":
            # Only reached at a token's start (inside a word it is part of the word).
            newline = text.find("\n", i)
            i = newline if newline >= 0 else n
        elif c == ";":
            out["/".join(stack + [words[0] if words else "?"]), marked(" ".join(words[1:]))] += 1
            words = []
            i += 1
        elif c == "{":
            name = words[0] if words else "?"
            out["/".join(stack + [name + "{"]), marked(" ".join(words[1:]))] += 1
            stack.append(name)
            words = []
            i += 1
        elif c == "}":
            if not stack:
                raise Different("unbalanced } in nginx config")
            stack.pop()
            i += 1
        elif c in "\"'":
            j, word = i + 1, []
            while j < n and text[j] != c:
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                word.append(text[j])
                j += 1
            words.append("".join(word))
            i = j + 1
        else:
            j, variable = i, False
            while j < n:
                ch = text[j]
                if ch == "{" and variable:
                    j += 1
                    continue
                variable = ch == "$"
                if ch in " \t\r\n;{":
                    break
                if ch == "\\":
                    j += 1
                j += 1
            words.append(text[i:j])
            i = j
    if stack:
        raise Different(f"unclosed nginx blocks {stack}")
    return out


def lua_shape(path: Path) -> Counter:
    r = subprocess.run(["luac5.4", "-p", "-o", "/dev/null", str(path)], capture_output=True, text=True,
                       timeout=30)
    if r.returncode:
        raise Different(f"luac5.4 -p: {r.stderr}")
    r = subprocess.run(["lua5.4", str(HERE / "config_shape.lua"), str(path)], capture_output=True, text=True,
                       timeout=30)
    if r.returncode:
        raise Different(f"the config does not run in the sandbox: {r.stderr}")
    out: Counter = Counter()
    for line in r.stdout.splitlines():
        key, _, value = line.partition("\t")
        out[key, marked(value)] += 1
    return out


def tree_shape(value, path: str, out: Counter) -> None:
    if isinstance(value, (dict, ConfigTree)):
        out[path, "{}"] += 1
        for k in value:
            tree_shape(value[k], f"{path}.{k}" if path else str(k), out)
    elif isinstance(value, list):
        out[path, "[]"] += 1
        for item in value:
            tree_shape(item, path + "[]", out)
    else:
        # A HOCON duration ("45 seconds") parses to a relativedelta: compared as its text.
        out[path, marked(json.dumps(value, default=str) if not hasattr(value, "tokens") else str(value))] += 1


def js_shape(path: Path, name: str) -> Counter:
    r = subprocess.run(["node", str(HERE / "eval_config.js"), name, str(path), "--ssi"], capture_output=True,
                       text=True, timeout=30)
    if r.returncode:
        raise Different(f"node: {r.stderr}")
    out: Counter = Counter()
    tree_shape(json.loads(r.stdout), "", out)
    # nginx runs server-side includes over config.js: a value must not add one.
    out["<!--# directives", str(path.read_text().count("<!--#"))] += 1
    return out


def hocon_shape(path: Path) -> Counter:
    try:
        tree = ConfigFactory.parse_string(path.read_text(), resolve=False)
    except Exception as e:  # noqa: BLE001 - a parse error is the finding
        raise Different(f"pyhocon: {e}") from None
    out: Counter = Counter()
    tree_shape(tree, "", out)
    return out


def properties_shape(path: Path) -> Counter:
    # parse(), not load(): a key given twice (the later one wins in Java) counts twice.
    return Counter((e.key, marked(e.value)) for e in javaproperties.parse(path.read_text())
                   if isinstance(e, javaproperties.KeyValue))


def ldap_shape(path: Path) -> Counter:
    out: Counter = Counter()
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.strip().partition(" ")
            out[key, marked(value.strip())] += 1
    return out


def yaml_shape(path: Path) -> Counter:
    """A YAML file (prometheus.yml) as the tree PyYAML reads: every mapping key and list item."""
    import yaml
    try:
        tree = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise Different(f"YAML: {e}") from None
    out: Counter = Counter()
    tree_shape(tree, "", out)
    return out


def coturn_shape(path: Path) -> Counter:
    """turnserver.conf as coturn reads it (read_config_file): blank and `#` lines skipped, the
    key ends at the first space, tab or `=`, the value is the rest of the line."""
    out: Counter = Counter()
    for line in path.read_text().split("\n"):
        line = line.strip(" \t\r")
        if not line or line.startswith("#"):
            continue
        key, _, value = re.sub(r"[ \t=]", "\0", line, count=1).partition("\0")
        out[key, marked(value.strip(" \t"))] += 1
    return out


def file_shape(dest: str, path: Path) -> Counter:
    name = Path(dest).name
    if name == "turnserver.conf":
        return coturn_shape(path)
    if "/nginx/" in dest:
        return nginx_shape(path.read_text())
    if name.endswith(".lua"):
        return lua_shape(path)
    if name == "config.js":
        return js_shape(path, "config")
    if name == "interface_config.js":
        return js_shape(path, "interfaceConfig")
    if name == "ldap.conf":
        return ldap_shape(path)
    if name.endswith(".conf"):
        return hocon_shape(path)
    if name.endswith(".properties"):
        return properties_shape(path)
    if name.endswith(".yml"):
        return yaml_shape(path)
    raise Different(f"no parser for {dest}: add one to hostile.file_shape")


def shapes(rendered: jinit_cli.Rendered) -> dict[str, Counter]:
    return {dest: file_shape(dest, path) for dest, path in rendered.files.items()}


def compare(clean: dict[str, Counter], hostile: dict[str, Counter]) -> list[str]:
    """The same keys (directives, statements), each as often; a value that did not come from a
    hostile variable must be one the clean render has at that key."""
    problems = []
    for dest in sorted(set(clean) | set(hostile)):
        a, b = clean.get(dest, Counter()), hostile.get(dest, Counter())
        keys_a, keys_b = Counter(), Counter()
        for (key, _), n in a.items():
            keys_a[key] += n
        for (key, _), n in b.items():
            keys_b[key] += n
        extra, lost = keys_b - keys_a, keys_a - keys_b
        if extra or lost:
            problems.append(f"{dest}: appears {sorted(extra)[:5]}, disappears {sorted(lost)[:5]}")
        changed = [(key, value) for (key, value), n in (b - a).items() if value != HOSTILE]
        if changed:
            problems.append(f"{dest}: values the clean render does not have: {sorted(changed)[:5]}")
    return problems


# ---------------------------------------------------------------- the check

PROBLEM = re.compile(r"^  - ([A-Za-z0-9_./:-]+?)(?: \(line \d+\))?: ", re.M)


def refused_names(error: str) -> set[str]:
    return set(PROBLEM.findall(error))


def check_image(image: str, work: Path, jinit: str, prepare: Callable[[Path], None],
                real_parser: Callable[[str, Path], None]) -> str:
    """`prepare(root)` puts the files a render reads under root (package files); `real_parser(image,
    root)` runs the checks that need the rendered tree (nginx -t)."""
    decls = tested(image)
    clean = {name: clean_value(d) for name, d in decls.items()}
    counts = Counter()
    problems: list[str] = []
    for b, base in enumerate(BASES.get(image, [{}])):
        clean_env = dict(clean, **base)
        # The base's own switches stay as they are: only the other variables turn hostile.
        candidates = [name for name in decls if name not in base]

        def render(env: dict[str, str], tag: str) -> tuple[jinit_cli.Rendered, Path]:
            root = work / f"{image}-{b}-{tag}"
            prepare(root)
            return jinit_cli.render(image, env, root, jinit), root

        def shape_of(env: dict[str, str], tag: str) -> dict[str, Counter]:
            rendered, root = render(env, tag)
            real_parser(image, root)
            return shapes(rendered)

        try:
            clean_shape = shape_of(clean_env, "clean")
        except Exception as e:  # noqa: BLE001 - the harness's own environment must work
            problems.append(f"base {b}: the clean render does not parse: {type(e).__name__}: {str(e)[:800]}")
            continue
        for variant, payload in VARIANTS.items():
            hostile = {name: hostile_value(decls[name], clean[name], payload) for name in candidates}
            try:
                render(dict(clean_env, **hostile), f"{variant}-all")
                refused: set[str] = set()
            except RenderError as e:
                refused = refused_names(str(e))
                strays = refused - set(candidates)
                if strays or not refused:
                    problems.append(f"base {b} {variant}: refused for something else than a value: {e}")
                    continue
            counts["refused"] += len(refused)
            accepted = {n: v for n, v in hostile.items() if n not in refused}
            counts["accepted"] += len(accepted)
            diff = differences(lambda: shape_of(dict(clean_env, **accepted), variant), clean_shape)
            if diff:
                alone = [name for name, value in accepted.items()
                         if differences(lambda: shape_of(dict(clean_env, **{name: value}), f"alone-{name}"),
                                        clean_shape)]
                problems.append(f"base {b} {variant}: " + "; ".join(d[:800] for d in diff)
                                + f"\n  caused by {alone or 'no single variable (a combination)'}")
    if problems:
        raise AssertionError("\n".join(problems))
    return f"{len(decls)} variables: {counts['refused']} hostile values refused, {counts['accepted']} rendered as data"


def differences(shape_of: Callable[[], dict[str, Counter]], clean: dict[str, Counter]) -> list[str]:
    """What a render (rendered and parsed by `shape_of`) adds to or loses from the clean one;
    a render or parser failure is a difference too."""
    try:
        return compare(clean, shape_of())
    except (RenderError, Different) as e:
        return [f"{type(e).__name__}: {e}"]
    except Exception as e:  # noqa: BLE001 - a parser's own exception (nginx -t, pyhocon)
        return [f"{type(e).__name__}: {e}"]


def self_test(work: Path) -> None:
    """The shapes see what they are meant to catch (run by check.py's checkers check)."""
    work.mkdir(parents=True, exist_ok=True)

    def from_text(shape: Callable[[Path], Counter]) -> Callable[[str], Counter]:
        def read(text: str) -> Counter:
            path = work / "file"
            path.write_text(text)
            return shape(path)
        return read

    cases = [
        # (parser, clean, a hostile value kept as data, a hostile value that became syntax)
        (nginx_shape, 'worker_processes 1;\nhttp { resolver a valid=30s; }\n',
         'worker_processes "HOSTILE; env X=1 #";\nhttp { resolver "HOSTILE;}" valid=30s; }\n',
         'worker_processes 1; env X=1;\nhttp { resolver a valid=30s; }\n'),
        (from_text(lua_shape), 'a = "x"\nVirtualHost "h"\n  b = { "m" }\n',
         'a = "HOSTILE\\"]] --"\nVirtualHost "h"\n  b = { "HOSTILE m" }\n',
         'a = "x" b = 1\nVirtualHost "h"\n  b = { "m" }\n'),
        (from_text(properties_shape), "a=1\nb=2\n", "a=HOSTILE \\\\\nb=2\n", "a=1\nb=2\na=3\n"),
        (from_text(hocon_shape), 'a { b = "x", c = true }\n', 'a { b = "HOSTILE\\" }", c = true }\n',
         'a { b = "x", c = true }\na.c = false\n'),
        (from_text(ldap_shape), "TLS_REQCERT demand\n", "TLS_REQCERT demand\n",
         "TLS_REQCERT demand\nTLS_REQCERT never\n"),
        (from_text(yaml_shape), 'global:\n  scrape_interval: "15s"\njobs: [a]\n',
         'global:\n  scrape_interval: "HOSTILE\\"\\n  x: 1"\njobs: [a]\n',
         'global:\n  scrape_interval: "15s"\n  x: 1\njobs: [a]\n'),
    ]
    for shape, clean, as_data, as_syntax in cases:
        base = {"f": shape(clean)}
        if compare(base, {"f": shape(as_data)}):
            raise AssertionError(f"{shape}: a hostile value kept as data counts as a change: {as_data!r}")
        try:
            caught = compare(base, {"f": shape(as_syntax)})
        except Different:
            caught = True
        if not caught:
            raise AssertionError(f"{shape}: an added or overridden entry goes unnoticed: {as_syntax!r}")
