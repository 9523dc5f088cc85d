"""Griffe extension: the code's docstrings use a little reStructuredText; show it as Markdown.

``:class:`~queuekit.results.JobResult``` becomes `` `JobResult` `` (Sphinx's ``~`` keeps the
last name only), and a paragraph ending in
``::`` (a literal block follows) ends in one colon, as Markdown shows the indented block as code.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|meth|func|attr|data|exc|mod|obj|const):`(~?)([^`]+)`")
_LITERAL = re.compile(r"::$", re.MULTILINE)


def markdown_docstring(text: str) -> str:
    """The docstring ``text`` with Sphinx roles as code spans and ``::`` as ``:``."""
    text = _ROLE.sub(
        lambda m: f"`{m.group(2).rsplit('.', 1)[-1] if m.group(1) else m.group(2)}`", text
    )
    return _LITERAL.sub(":", text)


class SphinxRoles(griffe.Extension):
    """Rewrite every docstring once, when its object is created."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown_docstring(obj.docstring.value)
