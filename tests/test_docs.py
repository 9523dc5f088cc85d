"""The documentation site: it builds with `mkdocs build --strict`, its generated tables agree with
the code, and every code sample in docs/ and README.md runs.

Sample conventions (an HTML comment on the line before a fenced block, blank lines allowed):

- a ```python block runs, unless marked ``<!-- no-run -->`` (it is still compiled);
- a ```bash/```sh block runs only when marked ``<!-- run -->``;
- ``<!-- file: PATH -->`` writes the block to PATH instead of running it;
- ``<!-- output -->`` before a ```text block: every line of it must appear, in order, in what the
  previous block printed (``...`` inside a line matches anything);
- ``<!-- session: NAME [redis] [rabbitmq] -->`` on its own line starts a new group of samples,
  run with those pytest markers;
- ``<!-- copy: SRC DEST -->`` on its own line copies SRC of the repository into the session's
  directory (the example plugin the guide builds step by step).

A page's samples run top to bottom as one bash script per session, in a temporary directory, so
``export`` and files carry over; files written by earlier sessions of the page are written first.
The backends' operator pages (docs/backends/huey.md, ...), written by each backend's authors, show
configuration fragments: their Python samples run after ``import queuekit``. Samples that print a
backend-not-installed error are skipped outside CI (tox's core env has no siblings).
"""

from __future__ import annotations

import html.parser
import importlib.util
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from queuekit.base import CAPABILITIES, capability_row

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SERVICES = ("redis", "rabbitmq", "postgres")
SHELLS = ("bash", "sh", "shell")

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})\s*(?P<info>[\w+-]*)[^\n]*$")
_COMMENT = re.compile(r"^<!--\s*(?P<body>.*?)\s*-->\s*$")
_DIRECTIVE = re.compile(
    r"^(no-run|run|output|test-command|file:\s*\S+|session:\s*[\w-]+(\s+\w+)*)$"
)


def _hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("queuekit_docs", DOCS / "hooks/queuekit_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hook = _hook()

#: The backends' operator pages, written by each backend's authors: their samples are
#: configuration fragments that assume ``import queuekit``.
FRAGMENT_PAGES = {f"docs/{hook.PAGES[name]}" for name in hook.PACKAGES}
FRAGMENT_PRELUDE = "import queuekit\n"


# -- reading samples out of markdown -----------------------------------------------------------


@dataclass
class Block:
    """One fenced code block and the directive written before it."""

    page: str
    line: int
    lang: str
    code: str
    directive: str = ""

    @property
    def file(self) -> str | None:
        return (
            self.directive.split(":", 1)[1].strip() if self.directive.startswith("file:") else None
        )

    @property
    def runs(self) -> bool:
        if self.directive in ("no-run", "output", "copy") or self.file:
            return False
        if self.lang == "python":
            return True
        return self.lang in SHELLS and self.directive == "run"


@dataclass
class Session:
    """Samples of one page that run together, in one directory, with these markers."""

    page: str
    name: str
    needs: tuple[str, ...] = ()
    blocks: list[Block] = field(default_factory=list)
    earlier_files: list[Block] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.page}:{self.name}"


def parse(text: str, page: str) -> tuple[list[Block], list[Session]]:
    """Every fenced block of a markdown text, and its sessions of samples."""
    lines = text.splitlines()
    blocks: list[Block] = []
    sessions = [Session(page, "main")]
    directive = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        comment = _COMMENT.match(line.strip())
        fence = _FENCE.match(line)
        if comment and comment.group("body").startswith("session:"):
            words = comment.group("body").split(":", 1)[1].split()
            unknown = [w for w in words[1:] if w not in SERVICES]
            if not words or unknown:
                raise ValueError(f"{page}:{i + 1}: bad session directive {line.strip()!r}")
            files = [b for s in sessions for b in s.blocks if b.file]
            sessions.append(Session(page, words[0], tuple(words[1:]), [], files))
            directive = ""
        elif comment and comment.group("body").startswith("copy:"):
            words = comment.group("body").split(":", 1)[1].split()
            if len(words) != 2 or not (ROOT / words[0]).exists():
                raise ValueError(f"{page}:{i + 1}: copy needs an existing SRC and a DEST")
            sessions[-1].blocks.append(Block(page, i + 1, "copy", " ".join(words), "copy"))
            directive = ""
        elif comment:
            directive = comment.group("body")
        elif fence:
            indent, marker = len(fence.group("indent")), fence.group("fence")
            body: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(marker):
                body.append(lines[i][indent:] if lines[i][:indent].isspace() else lines[i])
                i += 1
            lang = fence.group("info").lower()
            block = Block(page, i - len(body), lang, "\n".join(body) + "\n", directive)
            blocks.append(block)
            sessions[-1].blocks.append(block)
            directive = ""
        elif line.strip():
            directive = ""
        i += 1
    return blocks, [s for s in sessions if any(b.runs for b in s.blocks)]


def doc_pages() -> list[Path]:
    """The markdown pages whose samples must run: docs/ (not the hooks) and README.md."""
    pages = sorted(p for p in DOCS.rglob("*.md") if "hooks" not in p.relative_to(DOCS).parts)
    return [ROOT / "README.md", *pages]


def all_sessions() -> list[Session]:
    found = []
    for path in doc_pages():
        found += parse(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))[1]
    return found


# -- running samples ---------------------------------------------------------------------------


def _heredoc(code: str) -> str:
    assert "QUEUEKIT_DOCS_EOF" not in code
    return f"<<'QUEUEKIT_DOCS_EOF'\n{code}QUEUEKIT_DOCS_EOF\n"


def script(session: Session) -> str:
    """The bash script that runs a session: files are written, samples run, output delimited."""
    parts = [
        "set -euo pipefail",
        "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT",
    ]
    for block in [*session.earlier_files, *session.blocks]:
        if block.lang == "copy":
            source, dest = block.code.split()
            parts.append(f'cp -r "{ROOT / source}" {dest}')
        elif block.file:
            parts.append(
                f'mkdir -p "$(dirname {block.file})"\ncat > {block.file} {_heredoc(block.code)}'
            )
        elif block.runs:
            parts.append(f"echo '@@sample {block.line}@@'")
            if block.lang == "python":
                code = (
                    FRAGMENT_PRELUDE + block.code if session.page in FRAGMENT_PAGES else block.code
                )
                parts.append(f"python - {_heredoc(code)}")
            else:
                parts.append(block.code)
    return "\n".join(parts) + "\n"


def environment() -> dict[str, str]:
    """The environment samples run in: this interpreter's bin first, no QUEUEKIT_* leaking in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUEUEKIT_", "PI_JOB_QUEUE"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    return env


def check_output(session: Session, printed: str) -> None:
    """Each ``<!-- output -->`` block's lines appear in order in its sample's output."""
    outputs = dict(re.findall(r"@@sample (\d+)@@\n(.*?)(?=@@sample \d+@@|\Z)", printed, re.S))
    last: Block | None = None
    for block in session.blocks:
        if block.directive == "output":
            assert last is not None, f"{session.page}:{block.line}: output follows no sample"
            shown = outputs.get(str(last.line), "").splitlines()
            expect_lines(block.code.splitlines(), shown, f"{session.page}:{block.line}")
        elif block.runs:
            last = block


def expect_lines(expected: list[str], shown: list[str], where: str) -> None:
    """Every non-empty expected line (``...`` is a wildcard) matches a later shown line; runs of
    spaces count as one, so column widths do not matter."""
    position = 0
    shown = [" ".join(line.split()) for line in shown]
    for want in (" ".join(line.split()) for line in expected):
        if not want:
            continue
        pattern = re.compile(".*".join(re.escape(part) for part in want.split("...")))
        while position < len(shown) and not pattern.fullmatch(shown[position]):
            position += 1
        assert position < len(shown), (
            f"{where}: the documented output line {want!r} was not printed; the sample "
            f"printed:\n" + "\n".join(shown)
        )
        position += 1


def run_session(session: Session, directory: Path, timeout: float = 60) -> str:
    """Run a session's script in ``directory``; fail with its output if any sample fails."""
    done = subprocess.run(
        ["bash", "-c", script(session)],
        cwd=directory,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        if "is not installed. Install it with" in done.stderr and not os.environ.get("CI"):
            pytest.skip(f"{session.id} needs a backend that is not installed here")
        raise AssertionError(
            f"A sample of {session.id} failed (exit {done.returncode}). Fix it, or mark a block "
            f"that cannot run here with <!-- no-run --> (docs/contributing-docs.md).\n--- stdout\n"
            f"{done.stdout}\n--- stderr\n{done.stderr}"
        )
    check_output(session, done.stdout)
    return done.stdout


def _params() -> Iterator[Any]:
    for session in all_sessions():
        marks = [getattr(pytest.mark, need) for need in session.needs]
        yield pytest.param(session, id=session.id, marks=marks)


@pytest.mark.parametrize("session", list(_params()))
def test_sample_runs(session: Session, tmp_path: Path) -> None:
    """Every runnable sample of the session runs without error and prints its documented output."""
    run_session(session, tmp_path)


def test_every_python_sample_compiles() -> None:
    """Python blocks that do not run (and the backends' READMEs, published as pages) still compile."""
    pages = [*doc_pages(), *sorted(ROOT.glob("backends/*/README.md"))]
    count = 0
    for path in pages:
        blocks, _ = parse(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
        for block in blocks:
            if block.lang == "python":
                compile(block.code, f"{block.page}:{block.line}", "exec")
                count += 1
    assert count > 20


def test_directives_before_blocks_are_known() -> None:
    """A comment right before a code block is a directive the runner understands (no typos)."""
    for path in doc_pages():
        blocks, _ = parse(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
        for block in blocks:
            if block.directive and not block.directive.startswith("queuekit:"):
                assert _DIRECTIVE.match(block.directive), (
                    f"{block.page}:{block.line}: unknown sample directive {block.directive!r}"
                )


def test_runner_reports_a_failing_sample(tmp_path: Path) -> None:
    """A sample that raises fails its session, so a broken example cannot pass unnoticed."""
    _, sessions = parse("```python\nraise SystemExit('broken sample')\n```\n", "x.md")
    with pytest.raises(AssertionError, match="broken sample"):
        run_session(sessions[0], tmp_path)


def test_runner_checks_documented_output(tmp_path: Path) -> None:
    """Documented output that the sample does not print fails; wildcards and files work."""
    page = textwrap.dedent(
        """\
        <!-- file: pkg/data.py -->
        ```python
        VALUE = 41
        ```

        ```python
        from pkg.data import VALUE
        print("id", "abc123", VALUE + 1)
        ```

        <!-- output -->
        ```text
        id ... 42
        ```

        <!-- session: second -->
        <!-- run -->
        ```bash
        python -c "from pkg.data import VALUE; print(VALUE)"
        ```

        <!-- output -->
        ```text
        40
        ```
        """
    )
    first, second = parse(page, "x.md")[1]
    assert [b.file for b in second.earlier_files] == ["pkg/data.py"]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    run_session(first, tmp_path / "a")
    with pytest.raises(AssertionError, match="'40' was not printed"):
        run_session(second, tmp_path / "b")


# -- the site ------------------------------------------------------------------------------------


class _Tables(html.parser.HTMLParser):
    """Every <table> of an HTML page as rows of cell texts (header row first)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables(page: Path) -> list[list[list[str]]]:
    parser = _Tables()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.tables


def require_docs_tools() -> None:
    """Skip outside CI when mkdocs or a first-party backend is missing; CI installs them all."""
    missing = [m for m in ("mkdocs", "material", "mkdocstrings") if not importlib.util.find_spec(m)]
    for name in hook.BACKENDS:
        try:
            hook.backend_class(name)
        except RuntimeError:
            missing.append(f"queuekit[{name}]")
    if missing:
        message = f"the docs build needs {', '.join(missing)} (bash scripts/install.sh)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built once with `mkdocs build --strict` as CI builds it."""
    require_docs_tools()
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    log = done.stdout + done.stderr
    warnings = [line for line in log.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert done.returncode == 0 and not warnings, (
        f"mkdocs build --strict failed (a new page goes into `nav:` in mkdocs.yml; see "
        f"docs/contributing-docs.md):\n{log}"
    )
    return out


def test_site_builds_strictly(site: Path) -> None:
    """`mkdocs build --strict` succeeds without a warning and renders the API reference."""
    assert (site / "index.html").exists()
    reference = (site / "reference/queuekit/index.html").read_text(encoding="utf-8")
    assert "register_app" in reference and "QueueError" in reference


def _flag(cell: str) -> bool:
    assert cell in (hook.YES, hook.NO), f"a capability cell reads {cell!r}"
    return cell == hook.YES


def test_capability_matrix_page_matches_the_code(site: Path) -> None:
    """The matrix in the built overview page shows exactly each backend class's declarations."""
    found = tables(site / "backends/index.html")
    matrix = [t for t in found if t[0][0] == "backend" and t[0][-1] == "delivery"]
    assert len(matrix) == 1, "the overview page shows one capability matrix"
    header, *rows = matrix[0]
    assert header[1:] == [*(hook.TITLES[f] for f in CAPABILITIES), "delivery"]
    assert [row[0] for row in rows] == list(hook.BACKENDS)
    for name, *cells in rows:
        declared = capability_row(hook.backend_class(name))
        shown = {flag: _flag(cell) for flag, cell in zip(CAPABILITIES, cells, strict=False)}
        shown_delivery = cells[-1]
        assert shown == {f: declared[f] for f in CAPABILITIES}, name
        assert shown_delivery == declared["delivery"], name


@pytest.mark.parametrize("name", hook.BACKENDS)
def test_backend_page_matches_the_code(site: Path, name: str) -> None:
    """Each backend's page lists its declared options with defaults, and its capability flags."""
    cls = hook.backend_class(name)
    found = tables(site / f"backends/{name}/index.html")
    options = [t for t in found if t[0][:3] == ["option", "type", "default"]]
    capabilities = [t for t in found if t[0] == ["capability", name, "how"]]
    assert len(options) == 1 and len(capabilities) == 1, f"{name}: one table of each"
    own = {k: spec for k, (spec, common) in hook.schema(cls).items() if not common}
    assert [row[0] for row in options[0][1:]] == list(own)
    for row in options[0][1:]:
        assert row[1] == hook._type(own[row[0]]), (name, row)
        assert row[2] == hook._default(own[row[0]].default).strip("`"), (name, row)
        assert row[4] == f"QUEUEKIT_{row[0].upper()}"
    declared = capability_row(cls)
    rows = {row[0]: row[1] for row in capabilities[0][1:]}
    assert {f: _flag(rows[hook.TITLES[f]]) for f in CAPABILITIES} == {
        f: declared[f] for f in CAPABILITIES
    }
    assert rows["delivery"] == declared["delivery"]


def test_configuration_page_lists_every_option_and_variable(site: Path) -> None:
    """The configuration reference names every option of every backend and its variable."""
    page = (site / "configuration/index.html").read_text(encoding="utf-8")
    for name in hook.BACKENDS:
        for key in hook.schema(hook.backend_class(name)):
            assert f"<code>{key}</code>" in page, (name, key)
            assert f"<code>QUEUEKIT_{key.upper()}</code>" in page, (name, key)
    for text in ("PI_JOB_QUEUE_CLASS", "EDUMFA_JOB_QUEUE_CLASS", "QUEUEKIT_BACKEND"):
        assert text in page


def test_package_pages_are_published_with_working_links(site: Path) -> None:
    """The backends' READMEs are pages of the site, and links into the repository are rewritten."""
    for name in hook.PACKAGES:
        page = (site / f"backends/{name}-package/index.html").read_text(encoding="utf-8")
        assert f"queuekit-{name}" in page
        assert "../../README.md" not in page and "/README.md" not in page


_CAPABILITY_WORDS = {
    "delay": "delay",
    "delay / eta": "delay",
    "priority": "priority",
    "results": "results",
    "retries": "retries",
    "timeout": "timeout",
    "named queues": "named_queues",
    "bulk": "bulk",
    "cancel": "cancel",
    "unique": "unique",
    "failed store": "failed_store",
    "delivery": "delivery",
}


@pytest.mark.parametrize("name", list(hook.PACKAGES))
def test_package_readme_agrees_with_the_code(name: str) -> None:
    """A backend README's hand-written capability table and options agree with its class."""
    require_docs_tools()
    text = (ROOT / "backends" / name / "README.md").read_text(encoding="utf-8")
    cls = hook.backend_class(name)
    declared = capability_row(cls)
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        key = _CAPABILITY_WORDS.get(cells[0].strip("*").strip()) if line.startswith("|") else None
        if key and len(cells) >= 2:
            rows[key] = " ".join(cells[1:3])
    assert set(rows) == {*CAPABILITIES, "delivery"}, f"{name}: README capability table"
    for flag in CAPABILITIES:
        absent = rows[flag].lstrip("*").lower().startswith("absent")
        assert absent is not declared[flag], f"{name} README says {flag}: {rows[flag]!r}"
    said = re.search(r"at-(?:most|least)-once", rows["delivery"])
    assert said and said.group(0) == declared["delivery"], f"{name} README delivery"
    for key, (_spec, common) in hook.schema(cls).items():
        if common:
            continue
        assert f"`{key}`" in text, f"{name} README does not mention the option {key!r}"


def test_markers_fail_loudly() -> None:
    """An unknown marker, backend or quoted name in a page is an error, never an empty table."""
    with pytest.raises(ValueError, match="Unknown queuekit marker"):
        hook.expand("<!-- queuekit: options nosuch -->\n")
    with pytest.raises(RuntimeError, match="cannot be loaded"):
        hook.backend_class("nosuch")
    assert "| `lease` |" in hook.expand("<!-- queuekit: options sqlite -->\n", "backends/sqlite.md")
    with pytest.raises(ValueError, match=r"has no 'SpoolQueue\._gone'"):
        hook.source("tests/plugin/queuekit_spool/__init__.py", "SpoolQueue._gone")
    with pytest.raises(ValueError, match="no file"):
        hook.source("tests/plugin/nothing.py")
    quoted = hook.source("tests/plugin/queuekit_spool/__init__.py", "SpoolQueue:head")
    assert "supports_delay" in quoted and "def " not in quoted
