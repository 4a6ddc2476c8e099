"""Results tables that read well on the website and compare well under nbval.

A :class:`Table` shown as a cell's last expression renders as an HTML table on
the site (it wraps to the page's width instead of running off its edge) and
keeps an aligned plain-text form, which is what nbval compares.
"""
from __future__ import annotations

import html

from .pipeline import format_table

__all__ = ["Table"]


class Table:
    """``headers`` (one per column) and ``rows`` (lists of cells, any type; shown with ``str``)."""

    def __init__(self, headers: list[str], rows: list[list], caption: str | None = None):
        if not headers:
            raise ValueError("headers must not be empty")
        for i, row in enumerate(rows):
            if len(row) != len(headers):
                raise ValueError(f"row {i} has {len(row)} cells, expected {len(headers)}")
        self.headers = [str(h) for h in headers]
        self.rows = [[str(c) for c in row] for row in rows]
        self.caption = caption

    def __repr__(self) -> str:
        text = format_table(self.headers, self.rows)
        return f"{self.caption}\n{text}" if self.caption else text

    def _repr_html_(self) -> str:
        def cells(tag, values):
            return "".join(f"<{tag}>{html.escape(v)}</{tag}>" for v in values)

        caption = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        body = "".join(f"<tr>{cells('td', row)}</tr>" for row in self.rows)
        return (f'<table class="kd-table">{caption}<thead><tr>{cells("th", self.headers)}</tr></thead>'
                f"<tbody>{body}</tbody></table>")
