"""Render the Sphinx roles of httpcache's docstrings as Markdown in the API reference.

The docstrings name other objects the reStructuredText way (``:class:`Entry```,
``:meth:`close```, ``:class:`~httpcache.FileStorage```), which Markdown would print as is.
This griffe extension, loaded by mkdocstrings (``extensions:`` in mkdocs.yml), rewrites each
role when a docstring is loaded: a role naming a public name of httpcache (``Entry``,
``httpcache.Entry``, ``~httpcache.Entry``) becomes a link to its entry in docs/api.md, any
other one plain code (``close``). The sources are not changed.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|func|meth|attr|exc|mod|data|obj|const):`(?P<target>[^`]+)`")


def _public_names() -> frozenset[str]:
    # Read __all__ from the source rather than importing the package (no optional imports).
    init = Path(__file__).resolve().parents[1] / "httpcache" / "__init__.py"
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets
        ):
            return frozenset(ast.literal_eval(node.value))
    return frozenset()


_PUBLIC = _public_names()


def markdown_roles(text: str, public: frozenset[str] = _PUBLIC) -> str:
    """Return ``text`` with every Sphinx role rewritten as a Markdown link or code span."""

    def replace(match: re.Match[str]) -> str:
        target = match["target"].strip()
        shown = target.removeprefix("~")
        name = shown.removeprefix("httpcache.")
        if target.startswith("~"):
            shown = shown.rpartition(".")[2]
        if name in public:
            return f"[`{shown}`][httpcache.{name}]"
        return f"`{shown}`"

    return _ROLE.sub(replace, text)


class SphinxRoles(griffe.Extension):
    """Rewrite the Sphinx roles of every loaded docstring (see the module docstring)."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rewrite ``obj``'s docstring, if it has one, when griffe creates the object."""
        if obj.docstring is not None:
            obj.docstring.value = markdown_roles(obj.docstring.value)
