"""Every example of README.md and docs/*.md runs, against the demo data.

Each block fenced ```sql, ```python or ```console is an item, run in its own
database: a clone of one migrated with python/connection_summary/demo.sql loaded.

* ```sql: run by psql (`-X -q -v ON_ERROR_STOP=1`, autocommit, as a user would
  paste it); it must succeed. When an untagged block follows it (only blank
  lines between), that block is its output, compared as below.
* ```python: run by this interpreter with $DATABASE_URL set to the database;
  it must exit 0. Every Python block must also pass `mypy --strict`.
* ```console: a transcript. Each `$ command` line runs in bash (one shell per
  block, in a temporary directory, stderr merged into stdout) with $DSN set to
  the database and the virtualenv's and PostgreSQL's bin directories first on
  PATH; the lines up to the next `$ ` line are its output.

Output is compared modulo what changes from run to run: timestamps, ages and
durations (`2h55m ago`, `12 ms`), cursors, pids, runs of spaces and the width
of psql's `---+---` rulers, and the line numbers in psql's `psql:FILE:LINE:`
prefixes. A shown output line that is only `…` or `[...]` stands for any number
of lines; `…` within a line stands for any text.

Markers, HTML comments on the lines right above a block's opening fence
(visible in the Markdown source, invisible when rendered):

* `<!-- docs-test: skip (reason) -->` -- the block is not run; the reason is
  required. For what cannot run here (make, pip, other hosts, cluster-wide
  roles), used sparingly.
* `<!-- docs-test: empty database -->` -- run against a new, empty database
  instead of the demo data (migration transcripts).
* `<!-- docs-test: setup SQL -->` -- run SQL on the block's database first (to
  stage, say, an interrupted index build that a transcript shows).
* `<!-- docs-test: signature -->` -- a ```sql block that shows function
  signatures (`connection_summary.f(p_a type DEFAULT x, ...) RETURNS type`)
  rather than a statement: each must equal the installed function's parameter
  names, types, defaults and result.

An unmarked block that fails fails the test.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

import connection_summary
from connection_summary import migrate

from .conftest import Server, create_database, drop_database
from .test_migrations import psql_binary

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
DEMO_SQL = Path(connection_summary.__file__).with_name("demo.sql")
RUN = ("sql", "python", "console")
_FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
_MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*(.*?)\s*-->\s*$")
_SKIP = re.compile(r"^skip\s*\((.+)\)$")
_SETUP = re.compile(r"^setup\s+(.+)$", re.DOTALL)


@dataclass
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    end: int  # index of the line after the closing fence, 0-based
    lang: str
    text: str
    markers: list[str] = field(default_factory=list)
    output: str | None = None  # an untagged block right after a sql block

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}:{self.lang}"

    @property
    def skip_reason(self) -> str | None:
        for m in self.markers:
            if match := _SKIP.match(m):
                return match.group(1)
        return None

    @property
    def empty_database(self) -> bool:
        return "empty database" in self.markers

    @property
    def signature(self) -> bool:
        return "signature" in self.markers

    @property
    def setup(self) -> list[str]:
        return [match.group(1) for m in self.markers if (match := _SETUP.match(m))]


def parse(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown file, with their markers."""
    lines = path.read_text().splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        indent, lang, start = fence.group(1), fence.group(2), i
        j = i + 1
        while j < len(lines) and lines[j].strip() != "```":
            j += 1
        body = "\n".join(line.removeprefix(indent) for line in lines[i + 1:j])
        markers: list[str] = []
        k = start - 1
        while k >= 0 and (marker := _MARKER.match(lines[k])):
            markers.insert(0, marker.group(1))
            k -= 1
        for m in markers:
            if not (_SKIP.match(m) or _SETUP.match(m) or m in ("empty database", "signature")):
                raise AssertionError(f"{path}:{k + 2}: unknown docs-test marker {m!r}")
        previous = blocks[-1] if blocks else None
        between = lines[previous.end:start] if previous else []
        if (lang == "" and previous is not None and previous.lang == "sql"
                and previous.output is None and not any(s.strip() for s in between)):
            previous.output = body
        else:
            blocks.append(Block(path, start + 1, j + 1, lang, body, markers))
        i = j + 1
    return blocks


def examples() -> list[Block]:
    return [b for path in DOCS for b in parse(path) if b.lang in RUN]


# --- comparing output modulo times, durations and cursors ----------------------------------

_NORMALIZE = [
    (re.compile(r"v1\.[A-Za-z0-9_-]+\.[0-9a-f]+"), "<cursor>"),
    (re.compile(r"\d{4}-\d\d-\d\d(?:[ T]\d\d:\d\d(?::\d\d(?:\.\d+)?)?)?"
                r"(?:Z|[+-]\d\d(?::?\d\d)?)?(?: UTC)?"), "<time>"),
    (re.compile(r"\b\d+(?:\.\d+)?\s?(?:ms|s)\b"), "<duration>"),
    (re.compile(r"\b\d+[dhms](?:\d+[hms])*\b"), "<duration>"),
    (re.compile(r"\bpid \d+"), "pid <pid>"),
    (re.compile(r"^(psql:[^:\s]+:)\d+:"), "\\1<line>:"),
    (re.compile(r"-{2,}"), "-"),
    (re.compile(r"\s+"), " "),
]
_ANY_LINES = {"…", "[...]"}


def normalize(line: str) -> str:
    for pattern, replacement in _NORMALIZE:
        line = pattern.sub(replacement, line)
    return line.strip()


def _lines(text: str) -> list[str]:
    out = [normalize(line) for line in text.splitlines()]
    while out and not out[-1]:
        out.pop()
    while out and not out[0]:
        out.pop(0)
    return out


def matches(shown: str, actual: str) -> bool:
    """Does `actual` output match what a doc shows (with `…` lines as wildcards)?"""
    want, got = _lines(shown), _lines(actual)
    memo: dict[tuple[int, int], bool] = {}

    def match(i: int, j: int) -> bool:
        if (i, j) not in memo:
            if i == len(want):
                result = j == len(got)
            elif want[i] in _ANY_LINES:
                result = match(i + 1, j) or (j < len(got) and match(i, j + 1))
            else:
                result = j < len(got) and _same(want[i], got[j]) and match(i + 1, j + 1)
            memo[(i, j)] = result
        return memo[(i, j)]

    return match(0, 0)


def _same(shown: str, actual: str) -> bool:
    if "…" not in shown:
        return shown == actual
    pattern = ".*".join(re.escape(part) for part in shown.split("…"))
    return re.fullmatch(pattern, actual) is not None


def _diff(shown: str, actual: str) -> str:
    import difflib
    return "\n".join(difflib.unified_diff(_lines(shown), _lines(actual), "shown (normalized)",
                                          "actual (normalized)", lineterm=""))


# --- databases --------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def demo_template(server: Server) -> Iterator[str]:
    """A database migrated to head with the demo data loaded (a template to clone)."""
    name = create_database(server, prefix="cs_docs_template")
    conninfo = server.conninfo(name)
    migrate(conninfo)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(DEMO_SQL.read_text().encode())
    try:
        yield name
    finally:
        drop_database(server, name)


def _roles(conninfo: str) -> set[str]:
    with psycopg.connect(conninfo) as conn:
        return {str(r[0]) for r in conn.execute("select rolname from pg_roles").fetchall()}


@pytest.fixture
def block_db(request: pytest.FixtureRequest, server: Server) -> Iterator[str]:
    """The block's own database; roles a block creates (cluster-wide) are dropped after it."""
    block: Block = request.param
    if block.skip_reason:
        pytest.skip(f"docs-test: skip ({block.skip_reason})")
    template = None if block.empty_database else request.getfixturevalue("demo_template")
    name = create_database(server, template=template, prefix="cs_docs")
    conninfo = server.conninfo(name)
    roles_before = _roles(conninfo)
    try:
        for setup in block.setup:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                conn.execute(setup.encode())
        yield conninfo
    finally:
        new_roles = sorted(_roles(server.conninfo("postgres")) - roles_before)
        if new_roles:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                for role in new_roles:
                    conn.execute(sql.SQL("drop owned by {}").format(
                        sql.Identifier(role)))
        drop_database(server, name)
        if new_roles:
            with psycopg.connect(server.conninfo("postgres"), autocommit=True) as conn:
                for role in new_roles:
                    conn.execute(sql.SQL("drop role {}").format(
                        sql.Identifier(role)))


def _params(lang: str) -> list[object]:
    return [pytest.param(b, id=b.id) for b in examples() if b.lang == lang]


def _env(conninfo: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "COLUMNS", "LINES") and not k.startswith("PG")}
    path = [str(Path(sys.executable).parent), str(Path(psql_binary()).parent), env["PATH"]]
    env.update(PATH=os.pathsep.join(path), DSN=conninfo, NO_COLOR="1", TZ="UTC")
    return env


# --- the tests --------------------------------------------------------------------------------

@pytest.mark.parametrize("block_db", _params("sql"), indirect=True)
def test_sql_example(block_db: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    block: Block = request.node.callspec.params["block_db"]
    if block.signature:
        check_signatures(block, block_db)
        return
    script = tmp_path / "example.sql"
    script.write_text(block.text + "\n")
    proc = subprocess.run(
        [psql_binary(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", block_db, "-f", str(script)],
        capture_output=True, text=True, timeout=300, env=_env(block_db), check=False)
    assert proc.returncode == 0, f"{block.id} failed:\n{proc.stdout}{proc.stderr}"
    if block.output is not None:
        assert matches(block.output, proc.stdout), (
            f"{block.id}: the output shown differs:\n{_diff(block.output, proc.stdout)}")


_SIGNATURE = re.compile(r"(connection_summary\.\w+)\(")
_RETURNS = re.compile(r"\s*returns\s+(setof\s+)?([\w.]+)", re.IGNORECASE)


def signatures(text: str) -> list[tuple[str, list[str], str]]:
    """(name, parameters, result) of each `connection_summary.f(...) RETURNS t` in text."""
    found = []
    for start in _SIGNATURE.finditer(text):
        depth, i, params, current = 1, start.end(), [], ""
        while depth and i < len(text):
            c = text[i]
            depth += {"(": 1, ")": -1}.get(c, 0)
            if depth == 1 and c == ",":
                params.append(current)
                current = ""
            elif depth:
                current += c
            i += 1
        params = [" ".join(p.split()) for p in [*params, current] if p.strip()]
        returns = _RETURNS.match(text, i)
        if returns:
            found.append((start.group(1), params,
                          f"{'SETOF ' if returns.group(1) else ''}{returns.group(2)}"))
    return found


_PARAMETER = re.compile(r"^(\w+)\s+(\w+)(?:\s+default\s+(.+))?$", re.IGNORECASE)
_CAST = re.compile(r"::[\w. ]+$")


def check_signatures(block: Block, conninfo: str) -> None:
    """The signatures a block shows are those of the installed functions."""
    found = signatures(block.text)
    assert found, f"{block.id}: no `connection_summary.f(...) RETURNS type` in a signature block"
    with psycopg.connect(conninfo) as conn:
        for name, parameters, shown_returns in found:
            shown = []
            for parameter in parameters:
                m = _PARAMETER.match(parameter)
                assert m, f"{block.id}: cannot read parameter {parameter!r} of {name}"
                row = conn.execute("select %s::regtype::text", [m.group(2)]).fetchone()
                assert row is not None
                default = f" DEFAULT {m.group(3)}" if m.group(3) else ""
                shown.append(f"{m.group(1)} {row[0]}{default}")
            row = conn.execute(
                "select pg_get_function_arguments(p.oid), pg_get_function_result(p.oid) "
                "from pg_proc as p where p.oid = to_regproc(%s)", [name]).fetchone()
            assert row is not None, f"{block.id}: {name} does not exist"
            arguments = [_CAST.sub("", a.strip()) for a in str(row[0]).split(",") if a.strip()]
            returns = row[1] if isinstance(row[1], str) else ""
            assert (shown, shown_returns.lower()) == (arguments, returns.lower()), (
                f"{block.id}: the signature of {name} shown differs from the installed one")


@pytest.mark.parametrize("block_db", _params("python"), indirect=True)
def test_python_example(block_db: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    block: Block = request.node.callspec.params["block_db"]
    script = tmp_path / "example.py"
    script.write_text(block.text + "\n")
    env = _env(block_db) | {"DATABASE_URL": block_db}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=300, env=env, cwd=tmp_path, check=False)
    assert proc.returncode == 0, f"{block.id} failed:\n{proc.stdout}{proc.stderr}"


@pytest.mark.parametrize("block", _params("python"))
def test_python_example_passes_mypy_strict(block: Block, tmp_path: Path) -> None:
    if block.skip_reason:
        pytest.skip(f"docs-test: skip ({block.skip_reason})")
    script = tmp_path / f"example_{block.line}.py"
    script.write_text(block.text + "\n")
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--config-file", str(ROOT / "pyproject.toml"),
         "--no-error-summary", str(script)],
        capture_output=True, text=True, timeout=600, cwd=ROOT, check=False)
    assert proc.returncode == 0, f"{block.id} fails mypy --strict:\n{proc.stdout}{proc.stderr}"


_PROMPT = "$ "


def transcript(text: str) -> list[tuple[str, str]]:
    """A console block as (command, shown output) pairs."""
    steps: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith(_PROMPT):
            steps.append((line[len(_PROMPT):], []))
        elif steps:
            steps[-1][1].append(line)
        elif line.strip():
            raise AssertionError(f"console block starts with output, not a `$ ` command: {line!r}")
    return [(command, "\n".join(output)) for command, output in steps]


@pytest.mark.parametrize("block_db", _params("console"), indirect=True)
def test_console_example(block_db: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    block: Block = request.node.callspec.params["block_db"]
    steps = transcript(block.text)
    assert steps, f"{block.id}: no `$ ` command"
    separator = "@@docs-test-step@@"
    script = ["exec 2>&1", "rc=0"]
    for command, _ in steps:
        # The next command sees the previous one's exit status (`echo $?`).
        script += [f"printf '\\n{separator}\\n'", f"(exit $rc); {command}", "rc=$?"]
    proc = subprocess.run(["bash", "-c", "\n".join(script)], capture_output=True, text=True,
                          timeout=600, env=_env(block_db), cwd=tmp_path, check=False)
    outputs = proc.stdout.split(f"\n{separator}\n")[1:]
    assert len(outputs) == len(steps), proc.stdout
    for (command, shown), actual in zip(steps, outputs, strict=True):
        assert matches(shown, actual), (
            f"{block.id}: `$ {command}` printed something else:\n{_diff(shown, actual)}")


def test_markers_are_used_sparingly() -> None:
    """Every skip names its reason; most examples run."""
    blocks = examples()
    skipped = [b for b in blocks if b.skip_reason]
    assert all(b.skip_reason and b.skip_reason.strip() for b in skipped)
    assert len(skipped) * 4 <= len(blocks), [b.id for b in skipped]


def test_normalization() -> None:
    shown = textwrap.dedent("""\
        chase-savings   Degraded       surface_failed 30m ago  unknown
        created             2026-10-04 12:26:50 UTC (59d ago)
        …
        0001     input_tables   applied  2026-11-27 08:37:03.060023+00
        """)
    actual = textwrap.dedent("""\
        chase-savings  Degraded  surface_failed 2h31m ago  unknown
        created   2027-01-04 00:00:00 UTC (1d ago)
        extra line
        another
        0001 input_tables applied 2027-01-04 00:00:01+00
        """)
    assert matches(shown, actual)
    assert not matches(shown, actual.replace("Degraded", "Healthy"))
    assert matches(" a | b \n---+----\n 1 | 2", "a | b\n-----+-\n1 | 2")
    assert matches("NOTICE:  drop cascades to … other objects",
                   "NOTICE: drop cascades to 9 other objects")
    assert not matches("drop cascades to … objects", "drop cascades to 9 other things")
    assert normalize("psql:pending.sql:138: NOTICE:  x") == "psql:pending.sql:<line>: NOTICE: x"
    assert normalize("v1.WyJjaGFzZSJd.14542ff2d24c01e93fd5a947 took 12 ms") == (
        "<cursor> took <duration>")
    assert shutil.which("bash")
