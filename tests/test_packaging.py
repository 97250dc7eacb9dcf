"""The package as a user gets it: sdist and wheel built, the wheel installed in a
fresh venv, and the installed command run from an empty directory.

`python -m build` builds the sdist, then the wheel from that sdist (so the sdist
must hold everything the wheel needs). The wheel must carry sql/ and
migrations/ (as connection_summary/_sql/, where migrations._sql_root() looks
first) and demo.sql, byte for byte as in the checkout. Installed into a new venv
and run from an empty temp directory with PYTHONPATH unset, the command must
import itself from that venv, migrate a fresh database on the test server from
its own SQL files, load the demo data and read it back. It needs PyPI (or pip's
cache) for the build backend and the dependencies, as `make install` does.

The version is written once, as pyproject's `version`; the package
(`__version__`, from the installed metadata), `--version` and CHANGELOG.md
must all say it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import connection_summary
from connection_summary import cli

from .test_cli import ALICE_PILLS, BOB_PILLS, WAIT_REASON, table_rows

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
VERSION = str(PROJECT["version"])
NAME = "connection_summary"


def _checkout_files(directory: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((ROOT / directory).glob("*.sql"))}


def _run(argv: list[str | Path], *, cwd: Path, env: dict[str, str] | None = None,
         check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=180, check=False)
    if check:
        assert proc.returncode == 0, (
            f"{' '.join(map(str, argv))} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def _clean_env() -> dict[str, str]:
    """This environment without anything that could point Python at the checkout."""
    drop = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "DATABASE_URL",
            "NO_COLOR", "CONNECTION_SUMMARY_PG_BIN"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def _build(out: Path) -> tuple[Path, Path]:
    _run([sys.executable, "-m", "build", "--outdir", out, ROOT], cwd=out)
    sdists = list(out.glob("*.tar.gz"))
    wheels = list(out.glob("*.whl"))
    assert len(sdists) == 1, sdists
    assert len(wheels) == 1, wheels
    assert sdists[0].name == f"{NAME}-{VERSION}.tar.gz"
    assert wheels[0].name == f"{NAME}-{VERSION}-py3-none-any.whl"
    return sdists[0], wheels[0]


def _check_sdist(sdist: Path) -> None:
    with tarfile.open(sdist) as tar:
        prefix = f"{NAME}-{VERSION}/"
        names = {m.name.removeprefix(prefix) for m in tar.getmembers() if m.isfile()}
        for name in ("LICENSE", "CHANGELOG.md", "README.md", "pyproject.toml",
                     f"python/{NAME}/demo.sql"):
            assert name in names, name
        for directory in ("sql", "migrations"):
            for file_name, data in _checkout_files(directory).items():
                member = tar.extractfile(prefix + f"{directory}/{file_name}")
                assert member is not None, f"{directory}/{file_name}"
                assert member.read() == data, f"{directory}/{file_name} differs in the sdist"


def _check_wheel(wheel: Path) -> None:
    dist_info = f"{NAME}-{VERSION}.dist-info"
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        for directory in ("sql", "migrations"):
            expected = _checkout_files(directory)
            packed = {n.rsplit("/", 1)[1] for n in names
                      if n.startswith(f"{NAME}/_sql/{directory}/")}
            assert packed == set(expected), f"_sql/{directory}/ in the wheel"
            for file_name, data in expected.items():
                assert whl.read(f"{NAME}/_sql/{directory}/{file_name}") == data, file_name
        for file_name in ("demo.sql", "queries.sql", "py.typed"):
            assert whl.read(f"{NAME}/{file_name}") == (ROOT / "python" / NAME
                                                       / file_name).read_bytes(), file_name
        assert whl.read(f"{dist_info}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
        metadata = whl.read(f"{dist_info}/METADATA").decode()
        entry_points = whl.read(f"{dist_info}/entry_points.txt").decode()
    assert f"\nVersion: {VERSION}\n" in metadata
    assert "\nLicense-Expression: MIT\n" in metadata
    assert f"connection-summary = {NAME}.cli:main" in entry_points
    # Tests, docs and the checkout's layout stay out of the wheel.
    assert not [n for n in names if n.startswith(("tests/", "python/", "sql/", "bench/"))]


def test_one_version(capsys: pytest.CaptureFixture[str]) -> None:
    """pyproject's `version` is what the package, the command and the changelog say."""
    assert connection_summary.__version__ == VERSION, (
        "the installed metadata is stale: reinstall (`make install`, or pip install -e .)")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"connection-summary {VERSION}\n"
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "\n## [Unreleased]\n" in changelog
    assert f"\n## [{VERSION}] - " in changelog


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A temp directory for the build and the venv, removed afterwards (the venv is big)."""
    path = Path(tempfile.mkdtemp(prefix="cs-test-packaging-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.slow
def test_the_wheel_installs_in_a_fresh_venv_and_runs_from_its_own_files(
        empty_db: str, workdir: Path) -> None:
    out = workdir / "dist"
    out.mkdir()
    sdist, wheel = _build(out)
    _check_sdist(sdist)
    _check_wheel(wheel)

    venv = workdir / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=workdir)
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--quiet",
          "--disable-pip-version-check", wheel], cwd=workdir, env=_clean_env())

    empty = workdir / "empty"
    empty.mkdir()
    env = _clean_env()

    # The installed package, not the checkout: its module, its SQL, its metadata.
    proc = _run([python, "-c",
                 "import json, sys, importlib.metadata as md, connection_summary as cs\n"
                 "from connection_summary import migrations\n"
                 "dist = md.distribution('connection-summary')\n"
                 "print(json.dumps({'module': cs.__file__, 'version': cs.__version__,\n"
                 "    'sql_root': str(migrations._sql_root()), 'path': sys.path,\n"
                 "    'direct_url': dist.read_text('direct_url.json')}))"],
                cwd=empty, env=env)
    found = json.loads(proc.stdout)
    site = venv.resolve()
    assert Path(found["module"]).resolve().is_relative_to(site), found["module"]
    assert Path(found["sql_root"]).resolve() == Path(found["module"]).resolve().parent / "_sql"
    assert found["version"] == VERSION
    assert not [p for p in found["path"] if p and Path(p).resolve().is_relative_to(ROOT)]
    assert "editable" not in (found["direct_url"] or ""), found["direct_url"]

    command = venv / "bin" / "connection-summary"
    assert list(empty.iterdir()) == []

    proc = _run([command, "--version"], cwd=empty, env=env)
    assert proc.stdout == f"connection-summary {VERSION}\n"

    proc = _run([command, "migrate", "--dsn", empty_db], cwd=empty, env=env)
    applied = [line.removeprefix("applied ") for line in proc.stdout.splitlines()
               if line.startswith("applied ")]
    assert applied == list(_checkout_files("migrations")), proc.stdout
    assert "routines (functions, views, triggers): applied" in proc.stdout

    proc = _run([command, "status", "--check", "--dsn", empty_db], cwd=empty, env=env)
    assert "up to date: yes" in proc.stdout

    # `demo --dsn` loads the wheel's demo.sql into that database (it migrates first:
    # nothing left to apply).
    proc = _run([command, "demo", "--dsn", empty_db], cwd=empty, env=env)
    assert "migrated: 0 migration(s) applied, routines unchanged" in proc.stdout
    assert "the data stays there" in proc.stdout

    # Without the `embedded` extra there is no throw-away server: the error says how to
    # get one.
    proc = _run([command, "demo"], cwd=empty, env=env, check=False)
    assert proc.returncode == 4, proc.stderr
    assert "pip install 'connection-summary[embedded]'" in proc.stderr

    proc = _run([command, "overview", "alice", "--dsn", empty_db], cwd=empty, env=env)
    assert {r["CONNECTION"]: r["VERDICT"] for r in table_rows(proc.stdout)} == ALICE_PILLS
    proc = _run([command, "overview", "bob", "--dsn", empty_db], cwd=empty, env=env)
    assert {r["CONNECTION"]: r["VERDICT"] for r in table_rows(proc.stdout)} == BOB_PILLS
    proc = _run([command, "--json", "show", "alice", "chase-savings", "--dsn", empty_db],
                cwd=empty, env=env)
    assert json.loads(proc.stdout)["last_run"]["browser_surface"]["wait_reason"] == WAIT_REASON
    proc = _run([command, "diagnostics", "alice", "slack-team", "--dsn", empty_db],
                cwd=empty, env=env)
    assert "recent runs (" in proc.stdout
    assert "run-s-2" in proc.stdout
    proc = _run([command, "show", "bob", "chase-savings", "--dsn", empty_db], cwd=empty,
                env=env, check=False)
    assert proc.returncode == 3, proc.stderr

    assert list(empty.iterdir()) == [], "the commands wrote nothing to the working directory"
