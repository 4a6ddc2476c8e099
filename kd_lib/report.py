"""Results tables that read well on the website and compare well under
nbval, and the book's table of arms compared over seeds."""

from __future__ import annotations

import html
import re
import textwrap

from .comparison import (
    PairedDifference,
    family_note,
    mean_and_spread,
    paired_bootstrap,
    paired_difference,
    verdict,
)

__all__ = ["Table", "format_table", "arms_table", "arm_difference"]


# A cell that reads as a number ("96.5", "+0.6", "-3", "2,018", "12 %",
# "96.5 ± 1.1"): right-aligned on the site, so digits line up down a column.
NUMERIC_CELL = re.compile(r"^[+\-\u2212]?[\d,.]+( ?%)?( ± [\d.]+( ?%)?)?$")


def _check_rows(headers, rows) -> None:
    if not headers:
        raise ValueError("headers must not be empty")
    for i, row in enumerate(rows):
        if len(row) != len(headers):
            raise ValueError(
                f"row {i} has {len(row)} cells, expected {len(headers)}"
            )


def format_table(
    headers: list[str], rows: list[list], widths: list[int] | None = None
) -> str:
    """A plain-text table; ``widths`` (one per column; by default each
    column's longest cell) caps the column widths, longer cells wrapping
    onto more lines."""
    _check_rows(headers, rows)
    cells = [[str(c) for c in headers]] + [
        [str(c) for c in row] for row in rows
    ]
    if widths is None:
        widths = [
            max(len(r[j]) for r in cells) for j in range(len(headers))
        ]
    elif len(widths) != len(headers):
        raise ValueError(
            f"widths must have {len(headers)} entries, got {len(widths)}"
        )
    lines = []
    for r, row in enumerate(cells):
        wrapped = [textwrap.wrap(c, w) or [""] for c, w in zip(row, widths)]
        for k in range(max(len(w) for w in wrapped)):
            parts = [
                (w[k] if k < len(w) else "").ljust(width)
                for w, width in zip(wrapped, widths)
            ]
            lines.append("  ".join(parts).rstrip())
        if r == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


class Table:
    """``headers`` (one per column) and ``rows`` (lists of cells, any type;
    shown with ``str``). As a cell's last expression it renders as an HTML
    table on the site, wrapped to the page's width, and keeps an aligned
    plain-text form, which nbval compares. ``text_widths`` (one per column)
    caps the text form's column widths (for long prose cells), wrapping
    longer cells onto more lines."""

    def __init__(
        self,
        headers: list[str],
        rows: list[list],
        caption: str | None = None,
        text_widths: list[int] | None = None,
    ):
        _check_rows(headers, rows)
        if text_widths is not None and (
            len(text_widths) != len(headers)
            or not all(isinstance(w, int) and w > 0 for w in text_widths)
        ):
            raise ValueError(
                f"text_widths must be {len(headers)} positive integers, "
                f"got {text_widths!r}"
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


def _field(arm, key: str):
    """``key`` of a stored record (a dict) or a live result (an object);
    None for plain per-seed accuracies."""
    if isinstance(arm, dict):
        return arm.get(key)
    return getattr(arm, key, None)


def _setting(arm) -> str:
    """``"lr 3e-03, wd 0.001, ε 0.4"``, or ``""`` without a setting."""
    setting = _field(arm, "setting")
    if not setting:
        return ""
    parts = [f"lr {setting['lr']:.0e}", f"wd {setting['weight_decay']:g}"]
    for key, name in (("epsilon", "ε"), ("weight", "weight")):
        if setting.get(key):
            parts.append(f"{name} {setting[key]:g}")
    return ", ".join(parts)


def _accuracies(arm) -> list[float]:
    values = _field(arm, "test_accuracy")
    return list(arm if values is None else values)


def arm_difference(a, b) -> PairedDifference:
    """Arm ``b`` minus arm ``a``: the paired bootstrap over seeds and test
    items (:func:`kd_lib.comparison.paired_bootstrap`) when both record
    which items each seed got right (a stored record or an
    :class:`kd_lib.arms.ArmResult`), else the paired t-interval over seeds
    of their test accuracies."""
    correct = [_field(arm, "test_correct") for arm in (a, b)]
    if all(correct):
        return paired_bootstrap(
            *[[[int(c) for c in seed] for seed in arm] for arm in correct]
        )
    return paired_difference(_accuracies(a), _accuracies(b))


def arms_table(
    arms: dict,
    teacher_accuracy: float | None = None,
    baseline: str = "scratch",
    caption: str | None = None,
    chance: tuple | None = None,
    pairs: tuple = (),
) -> Table:
    """The book's comparison table: per arm, its chosen setting, test
    accuracy (mean ± sd over seeds), the paired difference from
    ``baseline`` with its 95 % interval (:func:`arm_difference`), and the
    verdict :func:`kd_lib.comparison.verdict` words from that interval.
    ``arms`` maps each arm to its stored record, its live
    :class:`kd_lib.arms.ArmResult`, or its per-seed test accuracies (same
    seed order for every arm). An arm that is the baseline's computation
    (``same_as``, or equal values) is marked identical, not compared.
    ``pairs``: further comparisons ``(a, b)`` shown as rows ``b − a``.
    ``chance``: ``(majority class, its share of the test set)``, shown
    above the teacher. The caption ends with the family of comparisons the
    table makes (:func:`kd_lib.comparison.family_note`)."""
    if baseline not in arms:
        raise KeyError(
            f"the baseline {baseline!r} is not among the arms {list(arms)}"
        )
    rows = []
    for name, value in (
        (chance and f"chance (always {chance[0]})", chance and chance[1]),
        ("LSTM teacher (n = 1)", teacher_accuracy),
    ):
        if value is not None:
            rows.append([name, "", f"{100 * value:.1f}", "", ""])
    base, compared = _accuracies(arms[baseline]), []
    for name, arm in arms.items():
        values, same = _accuracies(arm), _field(arm, "same_as")
        row = [name, _setting(arm), mean_and_spread(values).format()]
        if name == baseline:
            rows.append(row + ["(baseline)", ""])
        elif same or values == base:
            rows.append(row + [f"identical to {same or baseline}", ""])
        else:
            d = arm_difference(arms[baseline], arm)
            compared.append(d)
            rows.append(row + [d.format(), verdict(d)])
    for a, b in pairs:
        compared.append(arm_difference(arms[a], arms[b]))
        d = compared[-1]
        rows.append([f"{b} − {a}", "", "", d.format(), verdict(d)])
    note = family_note(len(compared)) if compared else ""
    return Table(
        [
            "arm",
            "chosen on validation",
            f"test accuracy (%), mean ± sd, n = {len(base)}",
            f"minus {baseline}",
            "verdict",
        ],
        rows,
        caption=" ".join(p for p in (caption, note) if p) or None,
    )
