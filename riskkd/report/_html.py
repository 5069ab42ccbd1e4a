"""HTML building blocks of the report: escaped tables, embedded images, the page.

Everything is escaped except the HTML fragments callers pass on purpose, and the page
references no external resource: the style sheet is inline and images are ``data:`` URIs.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1150px; color: #222;
       padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f4f4f4; }
tr.highlight td { background: #fff4c2; font-weight: 600; }
.keyfigures { display: flex; gap: 1.5em; flex-wrap: wrap; margin: 0.8em 0; }
.keyfigure { background: #fff4c2; border: 1px solid #e5c94f; padding: 0.6em 1em; }
.keyfigure .value { font-size: 1.5em; font-weight: 700; }
.keyfigure .name { font-size: 0.85em; color: #555; }
.plots { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; } figcaption { font-size: 0.85em; color: #555; }
img { max-width: 100%; }
.note { font-size: 0.85em; color: #555; }
"""


def fmt(value: Any) -> str:
    """A cell's text: floats to 6 significant digits, NaN/None empty, the rest as ``str``."""
    if value is None:
        return ""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return str(value)


def table(
    frame: pd.DataFrame,
    *,
    highlight: Iterable[Any] = (),
    index: bool = True,
    formats: Mapping[Any, str] | None = None,
) -> str:
    """``frame`` as an HTML table, every cell escaped.

    Parameters
    ----------
    frame : DataFrame
    highlight : iterable, default=()
        Index labels of the rows to highlight.
    index : bool, default=True
        Show the index as the first column (headed by its name).
    formats : mapping of column to str, default=None
        ``str.format`` specs of some columns (e.g. ``{"row %": "{:.1f}"}``); others use
        :func:`fmt`.
    """
    formats = dict(formats or {})
    marked = set(highlight)
    head = [str(frame.index.name or "")] if index else []
    head += [str(c) for c in frame.columns]
    header = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    rows = []
    columns = list(frame.columns)
    values = frame.to_numpy(dtype=object)
    for label, cells in zip(frame.index, values, strict=True):
        texts = [fmt(label)] if index else []
        for column, cell in zip(columns, cells, strict=True):
            missing = cell is None or (isinstance(cell, float) and math.isnan(cell))
            spec = formats.get(column)
            texts.append(fmt(cell) if spec is None or missing else spec.format(cell))
        css = ' class="highlight"' if label in marked else ""
        body = "".join(f"<td>{html.escape(t)}</td>" for t in texts)
        rows.append(f"<tr{css}>{body}</tr>")
    return f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def key_values(items: Mapping[str, Any], header: tuple[str, str] = ("name", "value")) -> str:
    """A two-column table of ``items``."""
    frame = pd.DataFrame({header[1]: list(items.values())}, index=list(items.keys()))
    frame.index.name = header[0]
    return table(frame)


def key_figures(items: Mapping[str, str]) -> str:
    """Highlighted boxes: name -> already formatted value."""
    boxes = "".join(
        f'<div class="keyfigure"><div class="value">{html.escape(value)}</div>'
        f'<div class="name">{html.escape(name)}</div></div>'
        for name, value in items.items()
    )
    return f'<div class="keyfigures">{boxes}</div>'


def figures(pngs: Mapping[str, bytes], captions: Mapping[str, str]) -> str:
    """PNG images embedded as ``data:image/png;base64`` URIs, with captions."""
    parts = []
    for name, png in pngs.items():
        data = base64.b64encode(png).decode("ascii")
        caption = html.escape(captions.get(name, name))
        parts.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(name)}">'
            f"<figcaption>{caption}</figcaption></figure>"
        )
    return f'<div class="plots">{"".join(parts)}</div>'


def paragraph(text: str, css: str | None = None) -> str:
    """Escaped text in a ``<p>``."""
    attribute = f' class="{css}"' if css else ""
    return f"<p{attribute}>{html.escape(text)}</p>"


def page(title: str, sections: Iterable[tuple[str, str]], intro: str = "") -> str:
    """The whole document: ``title``, an ``intro`` fragment, then each (heading, fragment)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        intro,
    ]
    for heading, fragment in sections:
        parts += [f"<section><h2>{html.escape(heading)}</h2>", fragment, "</section>"]
    parts.append("</body></html>")
    return "\n".join(parts)
