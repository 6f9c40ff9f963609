"""MkDocs hook: the pages that are the README's sections, and
benchmarks/README.md, included at build time (one text, two places).

A page line ``--8<-- "README.md:python"`` becomes the README's lines between
``<!-- --8<-- [start:python] -->`` and ``[end:python]``; ``--8<-- "FILE"``
the whole file. Links to files of the repository become links to the pages
that include them.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = {"](docs/": "](", "](benchmarks/README.md": "](benchmarks.md"}
INCLUDE = re.compile(r'^--8<-- "([^":]+)(?::(\w+))?"$', re.M)


def _included(match: re.Match) -> str:
    text = (ROOT / match[1]).read_text()
    if match[2]:
        start, end = f"<!-- --8<-- [start:{match[2]}] -->", f"<!-- --8<-- [end:{match[2]}] -->"
        if start not in text or end not in text:
            raise ValueError(f"{match[1]} has no section {match[2]!r}")
        text = text.split(start, 1)[1].split(end, 1)[0]
    return re.sub(r"^<!-- --8<-- \[\w+:\w+\] -->\n", "", text, flags=re.M)


def on_page_markdown(markdown: str, **kwargs) -> str:
    markdown = INCLUDE.sub(_included, markdown)
    for repository, site in PAGES.items():
        markdown = markdown.replace(repository, site)
    return markdown
