"""Results tables: HTML for the website, aligned text for nbval."""

import pytest

from kd_lib.report import Table


def test_table_renders_html_and_text_with_the_same_cells():
    table = Table(
        ["arm", "accuracy (%)"],
        [["scratch", 96.5], ["soft <T=4>", "97.1"]],
        caption="All",
    )
    html = table._repr_html_()
    assert html.count("<tr>") == 3 and "<caption>All</caption>" in html
    assert "soft &lt;T=4&gt;" in html  # cells are escaped
    text = repr(table)
    assert (
        text.splitlines()[0] == "All"
        and "96.5" in text
        and "soft <T=4>" in text
    )


def test_table_rejects_ragged_rows():
    with pytest.raises(ValueError, match="row 1"):
        Table(["a", "b"], [[1, 2], [3]])
    with pytest.raises(ValueError):
        Table([], [])


def test_numbers_are_right_aligned_on_the_site_and_text_wraps():
    table = Table(
        ["arm", "accuracy (%)", "why"],
        [["soft", "97.1 ± 0.9", "the teacher's soft labels help here"]],
        text_widths=[4, 12, 12],
    )
    html = table._repr_html_()
    assert '<td class="num">97.1 ± 0.9</td>' in html
    assert "<td>soft</td>" in html
    assert (
        max(len(line) for line in repr(table).splitlines())
        <= 4 + 12 + 12 + 6
    )
    with pytest.raises(ValueError, match="text_widths"):
        Table(["a", "b"], [[1, 2]], text_widths=[3])
