"""The compare page's diff on its own: what the operator sees for large and for awkward documents."""

from __future__ import annotations

import json

from metadock.console.diff import MAX_DIFF_LINES, MAX_SHOWN_CHARS, ROW_COST, compare, compare_lines


def test_two_documents_that_differ_everywhere_pair_every_line_and_stop_the_rows_at_the_page_budget() -> None:
    left = [f'  "value": {i},' for i in range(MAX_DIFF_LINES)]
    right = [f'  "value": {-i - 1},' for i in range(MAX_DIFF_LINES)]
    result = compare(left, right, changes_only=True)
    assert result.changed == MAX_DIFF_LINES  # counted to the end, although not every row is shown
    assert result.truncated
    assert {row.kind for row in result.rows} == {"changed"}  # each line paired with the one it replaces
    assert result.rows[0].left_number == result.rows[0].right_number == 1
    assert len(result.rows) < MAX_SHOWN_CHARS / ROW_COST  # the page's rows are bounded, whatever the input


def test_a_change_among_repeated_lines_is_found_where_it_is() -> None:
    """A JSON array's ``},``/``{`` lines repeat everywhere: the one changed value must still line up."""
    rows = [{"id": i, "qty": i % 3} for i in range(3000)]
    changed = [dict(row) for row in rows]
    changed[1500]["qty"] = 99
    left, _ = compare_lines(json.dumps(rows).encode(), "application/json", eof=True, json_aware=False)
    right, _ = compare_lines(json.dumps(changed).encode(), "application/json", eof=True, json_aware=False)
    result = compare(left, right, changes_only=True)
    assert result.changed == 1
    (row,) = [row for row in result.rows if row.kind == "changed"]
    assert row.left_number == row.right_number == 1500 * 4 + 4  # "[", then four lines per object
    assert row.left == "    &#34;qty&#34;: <del>0</del>"  # 1500 % 3, the changed word marked, not the line
    assert row.right == "    &#34;qty&#34;: <ins>99</ins>"
    assert not result.truncated


def test_json_aware_lines_sort_keys_and_keep_what_msgspec_cannot_read() -> None:
    sorted_lines, note = compare_lines(b'{"b": 1, "a": "\xc3\xa9"}', "application/json", eof=True, json_aware=True)
    assert (sorted_lines, note) == (["{", '  "a": "\u00e9",', '  "b": 1', "}"], None)
    huge, _ = compare_lines(b'{"n": 123456789012345678901234567890}', "application/json", eof=True, json_aware=True)
    assert huge == ["{", '  "n": 123456789012345678901234567890', "}"]  # past 64 bits: the json module reads it
