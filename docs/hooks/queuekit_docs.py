"""MkDocs hook: the tables that must agree with the code are generated from it at build time.

A page asks for a table with a marker on a line of its own:

    <!-- queuekit: matrix -->               every backend's capability flags and delivery
    <!-- queuekit: capabilities NAME -->    one backend's flags with its capability notes
    <!-- queuekit: options NAME -->         one backend's own options (options_schema)
    <!-- queuekit: common-options -->       the options every backend takes (common_options)
    <!-- queuekit: environment -->          every QUEUEKIT_* variable of the first-party backends
    <!-- queuekit: source PATH [QUALNAME] --> a file of the repository, or one class/function

Backends are resolved through ``queuekit.registry``, exactly as ``create_queue`` resolves them,
so a table can only show what the installed code declares. A first-party backend that cannot be
imported is an error: the site is never built with a hole in the matrix.

The hook also publishes the backend distributions' READMEs as pages (``backends/NAME-package.md``)
and rewrites links that point out of ``docs/`` (``../../backends/rq/README.md``) to those pages,
or to plain text naming the file in the repository.
"""

from __future__ import annotations

import ast
import logging
import posixpath
import re
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from queuekit.base import CAPABILITIES, BaseQueue, capability_row
from queuekit.config import DEFAULT_PREFIX
from queuekit.options import Option
from queuekit.registry import FIRST_PARTY, get_backend, install_hint

log = logging.getLogger("mkdocs.hooks.queuekit_docs")

ROOT = Path(__file__).resolve().parents[2]

#: The backends the documentation covers, in the order every table lists them.
BACKENDS = ("memory", "sqlite", *FIRST_PARTY)

#: Column titles of the capability flags.
TITLES = {
    "delay": "delay",
    "priority": "priority",
    "results": "results",
    "retries": "retries",
    "timeout": "timeout",
    "named_queues": "named queues",
    "bulk": "bulk",
    "cancel": "cancel",
    "unique": "unique",
    "failed_store": "failed store",
}

YES, NO = "✓", "—"

#: Page of each backend in the site (relative to docs/).
PAGES = {name: f"backends/{name}.md" for name in BACKENDS}

#: Sibling distributions whose README is published as a page.
PACKAGES = {name: f"backends/{name}-package.md" for name in FIRST_PARTY}

_MARKER = re.compile(
    r"^<!--[ \t]*queuekit:[ \t]*([\w-]+)((?:[ \t]+[^\s>]+)*)[ \t]*-->[ \t]*$", re.M
)
_LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]+)\]\((?P<target>[^)\s]+)\)")


# -- what the code declares ----------------------------------------------------------------------


def backend_class(name: str) -> type[BaseQueue]:
    """The class ``name`` resolves to, or an error naming what to install."""
    try:
        return get_backend(name)
    except Exception as exc:
        raise RuntimeError(
            f"The documentation needs backend {name!r}, which cannot be loaded ({exc}); "
            f"install it ({install_hint(name)}) before building the site."
        ) from exc


def schema(cls: type[BaseQueue]) -> dict[str, tuple[Option, bool]]:
    """Every option ``cls`` accepts: name -> (option, is it one of the common options)."""
    merged = {key: (spec, True) for key, spec in cls.common_options.items()}
    merged.update({key: (spec, False) for key, spec in cls.options_schema.items()})
    return merged


# -- rendering -----------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"`{value:g}`"
    if isinstance(value, str):
        return f"`{value}`" if value else '`""`'
    return f"`{value!r}`"


def _type(spec: Option) -> str:
    if spec.type is object:
        return "object"
    return spec.type.__name__


def _meaning(spec: Option) -> str:
    text = spec.help
    if spec.choices:
        text += "; one of " + ", ".join(f"`{c}`" for c in spec.choices)
    return _cell(text)


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _link(name: str, from_page: str | None) -> str:
    if from_page is None:
        return f"`{name}`"
    return f"[`{name}`]({posixpath.relpath(PAGES[name], posixpath.dirname(from_page))})"


def capability_matrix(from_page: str | None = None) -> str:
    """The capability flags and delivery of every documented backend, one row each."""
    rows = []
    for name in BACKENDS:
        row = capability_row(backend_class(name))
        flags = [YES if row[flag] else NO for flag in CAPABILITIES]
        rows.append([_link(name, from_page), *flags, f"{row['delivery']}"])
    return _table(["backend", *(TITLES[f] for f in CAPABILITIES), "delivery"], rows)


def capability_table(name: str) -> str:
    """One backend's flags, each with the backend's own note on how it provides it."""
    cls = backend_class(name)
    row = capability_row(cls)
    notes: Mapping[str, str] = cls.capability_notes
    rows = [
        [TITLES[flag], YES if row[flag] else NO, _cell(notes.get(flag, ""))]
        for flag in CAPABILITIES
    ]
    rows.append(["delivery", f"**{row['delivery']}**", _cell(notes.get("delivery", ""))])
    return _table(["capability", name, "how"], rows)


def options_table(name: str, from_page: str | None = None) -> str:
    """The options backend ``name`` declares beyond the common ones, with their variables."""
    cls = backend_class(name)
    rows = [
        [f"`{key}`", _type(spec), _default(spec.default), _meaning(spec), _var(key)]
        for key, (spec, common) in schema(cls).items()
        if not common
    ]
    table = _table(["option", "type", "default", "meaning", "variable"], rows)
    page = from_page or PAGES[name]
    target = (
        ""
        if page == "configuration.md"
        else posixpath.relpath("configuration.md", posixpath.dirname(page))
    )
    note = (
        f"\n\n`{name}` also takes the [common options]({target}#common-options) "
        f"(`url`, `default_queue`, ...)."
    )
    if cls.accepts_extra_options:
        note += (
            f" `{name}` also passes options it does not declare on to its engine (see its "
            f"package page); any other key is still checked by the engine."
        )
    return table + note


def _var(key: str) -> str:
    return f"`{DEFAULT_PREFIX}{key.upper()}`"


def common_options_table() -> str:
    """The options ``BaseQueue.common_options`` gives every backend."""
    rows = [
        [f"`{key}`", _type(spec), _default(spec.default), _meaning(spec), _var(key)]
        for key, spec in BaseQueue.common_options.items()
    ]
    return _table(["option", "type", "default", "meaning", "variable"], rows)


def environment_table() -> str:
    """Every ``QUEUEKIT_*`` variable a first-party backend reads, and which backends read it."""
    users: dict[str, list[str]] = {}
    for name in BACKENDS:
        for key, (_spec, common) in schema(backend_class(name)).items():
            if not common:
                users.setdefault(key, []).append(name)
    rows = [
        [f"`{DEFAULT_PREFIX}BACKEND`", "the backend: an alias or a class path (also `CLASS`)"],
        *(
            [_var(key), "every backend: " + _cell(spec.help)]
            for key, spec in BaseQueue.common_options.items()
        ),
        *([_var(key), ", ".join(f"`{n}`" for n in names)] for key, names in sorted(users.items())),
    ]
    return _table(["variable", "read by"], rows)


_LANGUAGES = {".py": "python", ".toml": "toml", ".md": "markdown", ".cfg": "ini", ".sh": "bash"}


def source(path: str, qualname: str | None = None) -> str:
    """A code block quoting a file of the repository, or one class, method or function of it.

    ``Class:head`` quotes a class up to its first method (docstring, flags, options). The quote
    is read when the site is built, so it always shows the code as it is; a name that is gone
    is an error.
    """
    file = ROOT / path
    if not file.is_file():
        raise ValueError(f"source: no file {path!r} in the repository")
    text = file.read_text(encoding="utf-8")
    lang = _LANGUAGES.get(file.suffix, "text")
    if qualname is None:
        return f"```{lang}\n{text.rstrip()}\n```"
    name, _, part = qualname.partition(":")
    body: list[ast.stmt] = ast.parse(text).body
    node: ast.stmt | None = None
    for word in name.split("."):
        node = next(
            (
                n
                for n in body
                if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                and n.name == word
            ),
            None,
        )
        if node is None:
            raise ValueError(f"source: {path} has no {name!r}")
        body = node.body  # type: ignore[attr-defined]
    assert isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
    start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    end = node.end_lineno or node.lineno
    if part == "head":
        methods = [n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        if methods:
            first = methods[0]
            end = min([first.lineno, *(d.lineno for d in first.decorator_list)]) - 1
    elif part:
        raise ValueError(f"source: unknown part {part!r} of {qualname!r}; only ':head' exists")
    lines = text.splitlines()[start - 1 : end]
    while lines and not lines[-1].strip():
        lines.pop()
    return f"```{lang}\n{textwrap.dedent(chr(10).join(lines))}\n```"


def render(kind: str, args: list[str], page: str | None) -> str:
    """The markdown a marker stands for; an unknown marker is an error."""
    arg = args[0] if args else None
    if kind == "matrix" and not args:
        return capability_matrix(page)
    if kind == "common-options" and not args:
        return common_options_table()
    if kind == "environment" and not args:
        return environment_table()
    if kind == "capabilities" and arg is not None and len(args) == 1:
        return capability_table(arg)
    if kind == "options" and arg in BACKENDS and len(args) == 1:
        return options_table(arg, page)
    if kind == "source" and 1 <= len(args) <= 2:
        return source(args[0], args[1] if len(args) == 2 else None)
    raise ValueError(
        f"Unknown queuekit marker {kind!r} {' '.join(args)} in {page}; use matrix, "
        f"common-options, environment, capabilities NAME, options NAME (one of "
        f"{', '.join(BACKENDS)}) or source PATH [QUALNAME]."
    )


def expand(markdown: str, page: str | None = None) -> str:
    """Replace every marker in ``markdown`` by its generated table or quote."""
    return _MARKER.sub(lambda m: render(m.group(1), m.group(2).split(), page), markdown)


# -- pages outside docs/ and links out of it -------------------------------------------------------

#: docs-relative page -> its source path in the repository, for pages that are not in docs/.
_sources: dict[str, str] = {}


def _rewrite_links(markdown: str, page: str, source: str, pages: set[str]) -> str:
    """Point links that leave docs/ at the page publishing that file, or name the file."""

    def fix(match: re.Match[str]) -> str:
        text, target = match.group("text"), match.group("target")
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith(("#", "/")):
            return match.group(0)
        path, _, anchor = target.partition("#")
        repo_path = posixpath.normpath(posixpath.join(posixpath.dirname(source), path))
        docs_page = None
        if repo_path.startswith("docs/"):
            docs_page = repo_path.removeprefix("docs/")
        elif repo_path == "README.md":
            docs_page = "index.md"
        else:
            for name, package in PACKAGES.items():
                if repo_path == f"backends/{name}/README.md":
                    docs_page = package
        if docs_page is not None and docs_page in pages:
            new = posixpath.relpath(docs_page, posixpath.dirname(page))
            return f"[{text}]({new}{'#' + anchor if anchor else ''})"
        if docs_page is not None or repo_path.startswith("../"):
            return match.group(0)  # a page that does not exist: let MkDocs report it
        if text.strip("`").rstrip("/") == repo_path.rstrip("/"):
            return f"`{repo_path}`"
        return f"{text} (`{repo_path}` in the repository)"

    return _LINK.sub(fix, markdown)


#: Appended to a backend page that has no marker of its own (the pages the backends' authors
#: write about operating them), so that every backend page shows what the code declares.
_REFERENCE = """

## Options

Declared by the backend class (`options_schema`); give them as `create_queue(...)` keywords,
`-o key=value` on the command line, or `QUEUEKIT_*` variables. The
[queuekit-{name} package page]({package}) explains them further.

<!-- queuekit: options {name} -->

## Capabilities

Declared by the backend class (`supports_*`, `delivery` and `capability_notes`):

<!-- queuekit: capabilities {name} -->
"""


# -- MkDocs events ---------------------------------------------------------------------------------


def on_files(files: Any, config: Any) -> Any:
    """Publish each sibling distribution's README as ``backends/NAME-package.md``, and give
    every first-party backend a page even before its authors wrote one."""
    from mkdocs.structure.files import File

    present = {f.src_uri for f in files}
    for name in PACKAGES:
        if PAGES[name] not in present:  # the backend's authors have not written theirs yet
            title = f"# The {name} backend\n\n`pip install 'queuekit[{name}]'`.\n"
            files.append(File.generated(config, PAGES[name], content=title))
    for name, page in PACKAGES.items():
        readme = ROOT / "backends" / name / "README.md"
        if not readme.exists():
            log.warning(
                "backends/%s/README.md is missing; the %s package page is empty", name, name
            )
            continue
        files.append(File.generated(config, page, content=readme.read_text(encoding="utf-8")))
        _sources[page] = f"backends/{name}/README.md"
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Expand the markers, and fix links that leave docs/."""
    src = page.file.src_uri
    source = _sources.get(src, f"docs/{src}")
    pages = {f.src_uri for f in files.documentation_pages()}
    markdown = _rewrite_links(markdown, src, source, pages)
    name = posixpath.splitext(posixpath.basename(src))[0]
    if name in PACKAGES and src == PAGES[name] and not _MARKER.search(markdown):
        markdown += _REFERENCE.format(name=name, package=posixpath.basename(PACKAGES[name]))
    try:
        return expand(markdown, src)
    except (RuntimeError, ValueError) as exc:
        log.error("%s", exc)  # fails `mkdocs build --strict`, names the page
        return markdown
