"""A clone with nothing beside it installs and tests itself: no tracked file that the suite, the benchmark, the app,
the Makefile or CI runs names a path outside the repository.

A file that reads ``../shared/...``, climbs past the root with ``Path(__file__).parents[N]`` or names this machine's
directories (``/work/...``) works on the machine it was written on and fails everywhere else, typically at
collection. ``.ci/run`` proves the same from the other side by running the suite in a clone with nothing beside it;
this check names the offending line before anything runs.
"""

from __future__ import annotations

import io
import posixpath
import re
import subprocess
import tokenize
import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What runs: the suite, the benchmark, the app, how they are built and CI.
SCOPE = ("tests", "bench", "metadock", "Makefile", ".ci", "pyproject.toml")
# bench/results/ records where past benchmark runs kept their data; nothing reads those paths back. This file's own
# examples of ways out (WAYS_OUT below) are the patterns themselves.
# metadock/apidocs/static/ holds third-party builds (Swagger UI, Scalar) served as they are; their minified source is
# full of "../" that are string literals, never a path anything here opens.
NOT_READ = ("bench/results/", "tests/test_checkout.py", "metadock/apidocs/static/")

# `Path(__file__).parents[N]`, `.parent.parent…` and `os.path.dirname(dirname(__file__))`: how far up a file climbs.
PARENTS_INDEX = re.compile(r"__file__\)(?:\.resolve\(\)|\.absolute\(\))?\.parents\[(\d+)\]")
PARENT_CHAIN = re.compile(r"__file__\)(?:\.resolve\(\)|\.absolute\(\))?((?:\.parent\b)+)")
DIRNAME_CHAIN = re.compile(r"((?:(?:os\.path\.)?dirname\(\s*)+)(?:(?:os\.path\.)?(?:abspath|realpath)\(\s*)?__file__")
# The shell's `$(dirname "$0")/..`: the script's own directory, then one level up per `/..`.
SCRIPT_DIR = re.compile(r"""\$\(dirname\s+"?\$(?:0|\{BASH_SOURCE\[0\]\})"?\)((?:/\.\.)*)""")
# A path-like run of characters with a slash (a lone `..` is Lua's concatenation or a range in prose); one whose
# `..` segments climb above where it starts leaves the checkout.
PATH_LIKE = re.compile(r"[\w.%~-]*(?:/[\w.%~-]*)+")
# Directories that exist on this machine (the work tree, shared/, home directories, local package mirrors) and
# nowhere else. /tmp, /usr, /etc and /proc are the system's, the same on every machine.
# Not after "<": "</root>" closes an XML element in a test payload.
MACHINE_DIRS = re.compile(r"(?<![\w.<-])/(?:work|home|Users|root|opt|mnt)(?=/|\b)")
# Path-traversal probes are hostile input sent to the server, never opened by the test itself.
PROBE_TARGETS = ("etc/passwd",)


@dataclass(frozen=True)
class Offence:
    path: str
    line: int
    text: str
    why: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.why}: {self.text.strip()}"


def climbs_out(levels_up: int, path: str) -> bool:
    """Whether going ``levels_up`` directories above the file at ``path`` (relative to the root) leaves the root:
    ``tests/x.py`` may climb to ``tests`` (1) and the root (2), not past it."""
    return levels_up > len(PurePosixPath(path).parts)


def escaping_paths(text: str) -> list[str]:
    """The relative paths in ``text`` whose ``..`` segments climb above the directory they start from."""
    found = []
    for token in PATH_LIKE.findall(text):
        segments = token.split("/")
        if ".." not in segments or (token.startswith("/") and segments[1] != ".."):
            continue
        # `{ROOT}/..` or `$DIR/..`: what comes before is unknown, so it counts as the root (where the suite runs).
        normal = posixpath.normpath(token.lstrip("/"))
        if (normal == ".." or normal.startswith("../")) and not normal.endswith(PROBE_TARGETS):
            found.append(token)
    return found


def python_strings(source: str) -> list[tuple[int, str]]:
    """Each string literal with its line: in Python, only literals can name a path (`from .. import` does not)."""
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return [(token.start[0], token.string) for token in tokens if token.type == tokenize.STRING]


def offences(path: str, source: str) -> list[Offence]:
    """Every place in ``source`` (the file at ``path``, relative to the root) that names a path outside the root."""
    lines = source.splitlines()
    found: list[Offence] = []
    for number, line in enumerate(lines, start=1):
        climbs = [int(index) + 1 for index in PARENTS_INDEX.findall(line)]
        climbs += [chain.count(".parent") for chain in PARENT_CHAIN.findall(line)]
        climbs += [chain.count("dirname(") for chain in DIRNAME_CHAIN.findall(line)]
        climbs += [1 + ups.count("/..") for ups in SCRIPT_DIR.findall(line)]
        if any(climbs_out(levels, path) for levels in climbs):
            found.append(Offence(path, number, line, "climbs above the repository root from its own file"))
    # Python's code is full of dots; only its string literals are paths. Other files (Makefile, shell) are all text.
    if path.endswith(".py"):
        literals = python_strings(source)
    else:  # the script-relative climb was judged above; the rest of the line is judged like any other text
        literals = [(number, SCRIPT_DIR.sub("dir", line)) for number, line in enumerate(lines, start=1)]
    for number, literal in literals:
        if escaping_paths(literal):
            found.append(Offence(path, number, lines[number - 1], "a relative path that leaves the repository"))
        if MACHINE_DIRS.search(literal):
            found.append(Offence(path, number, lines[number - 1], "an absolute path on this machine only"))
    return found


def tracked(*pathspec: str) -> list[str]:
    """The files a clone gets: untracked files (var/, .venv/) never reach one."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--", *pathspec], check=True, capture_output=True, text=True
    ).stdout
    return [name for name in listed.split("\0") if name]


def test_no_tracked_file_names_a_path_outside_the_checkout() -> None:
    files = [name for name in tracked(*SCOPE) if not name.startswith(NOT_READ)]
    assert {"tests/test_contract.py", "Makefile", ".ci/run"} <= set(files)  # the scope is really scanned
    found = []
    for name in files:
        try:
            source = (ROOT / name).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # a binary file names no path a test could open
        found += offences(name, source)
    assert not found, "files that read outside the checkout:\n" + "\n".join(map(str, found))


def test_the_contract_the_suite_checks_is_in_the_checkout() -> None:
    from tests.test_contract import CONTRACT

    assert CONTRACT.is_file()
    assert CONTRACT.resolve().is_relative_to(ROOT)
    assert tracked(str(CONTRACT.relative_to(ROOT))) == ["contracts/patchworks-payload-metadata.openapi.json"]


# Where the lock may send an install: PyPI's index and file host, which every machine reaches; never a local mirror
# (this machine's pip is configured with file:///opt/... locations that a clone elsewhere does not have).
LOCK_HOSTS = ("https://pypi.org/simple", "https://files.pythonhosted.org/")


def test_the_lock_pins_every_package_to_a_source_any_clone_can_reach() -> None:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    packages = {package["name"]: package for package in lock["package"]}
    assert packages["metadock"]["source"] == {"editable": "."}
    assert "uv.lock" in tracked("uv.lock")
    elsewhere = []
    for name, package in packages.items():
        if name == "metadock":
            continue
        assert package.get("version"), f"{name} is not pinned to a version"
        files = [package["source"].get("registry", "")]
        files += [entry["url"] for entry in [package.get("sdist", {}), *package.get("wheels", [])] if "url" in entry]
        elsewhere += [f"{name}: {url}" for url in files if not url.startswith(LOCK_HOSTS)]
    assert not elsewhere, "locked to sources a fresh clone cannot reach:\n" + "\n".join(elsewhere)
    # Every direct dependency is in the lock, transitive ones too (litestar's msgspec, granian's click...).
    assert {"litestar", "msgspec", "granian", "sqlalchemy", "pytest", "uv", "datasette", "anyio"} <= set(packages)


# Each way out the check must catch, as it was or could be written; the first two are how tests/test_contract.py
# read the contract before it was vendored.
WAYS_OUT = [
    ("tests/test_contract.py", 'CONTRACT = Path(__file__).resolve().parents[2] / "shared" / "contracts" / "x.json"\n'),
    ("tests/test_contract.py", 'CONTRACT = Path(os.environ.get("C", "../shared/contracts/x.json"))\n'),
    ("tests/console/test_browser.py", "SCREENSHOTS = Path(__file__).parents[3] / 'var'\n"),
    ("bench/seed.py", "ROOT = Path(__file__).resolve().parent.parent.parent\n"),
    ("tests/x.py", "UP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))\n"),
    ("tests/x.py", 'DATA = ROOT / "fixtures" / "../../elsewhere/data.json"\n'),
    ("tests/x.py", 'SEEDS = f"{ROOT}/../shared/seeds"\n'),
    ("tests/x.py", 'SCHEMA = "/work/shared/contracts/x.json"\n'),
    ("tests/x.py", 'STORE = "file:///home/dev/payloads"\n'),
    ("Makefile", "\tcp ../shared/contracts/*.json contracts/\n"),
    (".ci/run", 'cd "$(dirname "$0")/../.." && ls shared\n'),
    (".ci/run", 'ls "$(dirname "$0")/../../shared"\n'),
    (".ci/run", "cd /work/main && make test\n"),
]
# What stays inside (or is the system's, or is input sent to the server) and must not be flagged.
STAYS_IN = [
    ("tests/test_contract.py", 'CONTRACT = Path(__file__).resolve().parents[1] / "contracts" / "x.json"\n'),
    ("tests/console/test_browser.py", 'SCREENSHOTS = Path(__file__).resolve().parents[2] / "var"\n'),
    ("bench/seed.py", "ROOT = Path(__file__).resolve().parent.parent\n"),
    (".ci/run", 'cd "$(dirname "$0")/.."\n'),
    ("tests/x.py", "from .. import factories\n"),
    ("tests/x.py", 'BAD = ["../../etc/passwd", "ab/cd/../../../etc/passwd", "..%2F..%2F"]\n'),
    ("tests/x.py", "HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))\n"),
    ("tests/x.py", 'SOCKET = "/tmp/seaweedfs-master.sock"\n'),
    ("tests/x.py", 'URL = "http://127.0.0.1:8000/home/work"\n'),
    ("tests/x.py", 'XML = "<root><a>1</a></root>"\n'),
    ("tests/x.py", "# see ../shared in the history of this file\nX = 1\n"),
]


@pytest.mark.parametrize(("path", "source"), WAYS_OUT)
def test_each_way_out_of_the_checkout_is_caught(path: str, source: str) -> None:
    found = offences(path, source)
    assert len(found) == 1, found
    assert (found[0].path, found[0].line) == (path, 1)


@pytest.mark.parametrize(("path", "source"), STAYS_IN)
def test_paths_inside_the_checkout_are_not_flagged(path: str, source: str) -> None:
    assert offences(path, source) == []
