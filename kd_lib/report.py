"""Results tables that read well on the website and
compare well under nbval.

A :class:`Table` shown as a cell's last expression renders as an HTML table
on the site (it wraps to the page's width instead of running off its edge)
and keeps an aligned plain-text form, which is what nbval compares.
"""

from __future__ import annotations

import html
import re

from .pipeline import format_table

__all__ = ["Table"]


# A cell that reads as a number ("96.5", "+0.6", "-3", "2,018", "12 %",
# "96.5 ± 1.1"): right-aligned on the site, so digits line up down a column.
NUMERIC_CELL = re.compile(r"^[+\-\u2212]?[\d,.]+( ?%)?( ± [\d.]+( ?%)?)?$")


class Table:
    """``headers`` (one per column) and ``rows`` (lists of cells, any type;
    shown with ``str``).

    ``text_widths`` (one per column) caps the column widths of the text
    form, wrapping longer cells onto more lines: for tables with long
    prose cells, whose text form would otherwise run wider than the code
    column. The HTML form always wraps to the page.
    """

    def __init__(
        self,
        headers: list[str],
        rows: list[list],
        caption: str | None = None,
        text_widths: list[int] | None = None,
    ):
        if not headers:
            raise ValueError("headers must not be empty")
        if text_widths is not None and (
            len(text_widths) != len(headers)
            or not all(isinstance(w, int) and w > 0 for w in text_widths)
        ):
            raise ValueError(
                f"text_widths must be {len(headers)} positive integers, "
                f"got {text_widths!r}"
            )
        for i, row in enumerate(rows):
            if len(row) != len(headers):
                raise ValueError(
                    f"row {i} has {len(row)} cells, expected {len(headers)}"
                )
        self.headers = [str(h) for h in headers]
        self.rows = [[str(c) for c in row] for row in rows]
        self.caption = caption
        self.text_widths = text_widths

    def __repr__(self) -> str:
        text = format_table(
            self.headers, self.rows, widths=self.text_widths
        )
        return f"{self.caption}\n{text}" if self.caption else text

    def _repr_html_(self) -> str:
        def cells(tag, values):
            return "".join(
                f'<{tag} class="num">{html.escape(v)}</{tag}>'
                if tag == "td" and NUMERIC_CELL.match(v)
                else f"<{tag}>{html.escape(v)}</{tag}>"
                for v in values
            )

        caption = (
            f"<caption>{html.escape(self.caption)}</caption>"
            if self.caption
            else ""
        )
        body = "".join(f"<tr>{cells('td', row)}</tr>" for row in self.rows)
        return (
            f'<table class="kd-table">{caption}'
            f"<thead><tr>{cells('th', self.headers)}</tr></thead>"
            f"<tbody>{body}</tbody></table>"
        )
