"""The tolerant streaming pretty-printer: a payload read slice by slice reads exactly as if formatted whole, whatever
the bytes (cut, malformed, hostile, deeply nested), and a slice stays small."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from metadock.console.pretty import (
    MAX_LINE_CHARS,
    MAX_LINES,
    Cursor,
    Slice,
    html_lines,
    json_slice,
    plain_lines,
    text_slice,
    xml_slice,
)

Formatter = Callable[..., Slice]


def _sliced(data: bytes, formatter: Formatter, window: int, max_lines: int) -> list[str]:
    """What an operator reads clicking "show more" until the end, each slice a range read of ``window`` bytes."""
    lines: list[str] = []
    cursor: Cursor | None = Cursor()
    for _ in range(100_000):
        if cursor is None:
            return lines
        piece = formatter(
            data[cursor.offset : cursor.offset + window],
            cursor,
            eof=cursor.offset + window >= len(data),
            max_lines=max_lines,
        )
        lines += plain_lines(piece.lines)
        cursor = piece.next
    raise AssertionError("show more never reached the end")


def _whole(data: bytes, formatter: Formatter) -> list[str]:
    return plain_lines(formatter(data, Cursor(), eof=True, max_lines=10**9).lines)


JSON_DOC = json.dumps(
    [
        {"id": i, "name": "x" * (i % 40), "nested": {"a": [], "b": {}, "c": [1, [2, {"d": None}]]}, "q": 'a"\\b'}
        for i in range(200)
    ]
).encode()
XML_DOC = (
    "<?xml version='1.0'?><root>"
    + "".join(f"<item id='{i}'><name>n{i}</name><!-- note --><empty/><![CDATA[<raw>]]></item>" for i in range(200))
    + "</root>"
).encode()
TEXT_DOC = b"".join(b"line %d\r\n" % i for i in range(2000))


@pytest.mark.parametrize(("data", "formatter"), [(JSON_DOC, json_slice), (XML_DOC, xml_slice), (TEXT_DOC, text_slice)])
@pytest.mark.parametrize("window", [700, 4096, 65536])
@pytest.mark.parametrize("max_lines", [9, 200])
def test_show_more_reads_exactly_like_the_whole_document(
    data: bytes, formatter: Formatter, window: int, max_lines: int
) -> None:
    assert _sliced(data, formatter, window, max_lines) == _whole(data, formatter)


def test_minified_json_is_indented_one_value_per_line() -> None:
    lines = _whole(b'{"a":[1,{"b":null}],"c":{},"d":"x"}', json_slice)
    assert lines == [
        "{",
        '  "a": [',
        "    1,",
        "    {",
        '      "b": null',
        "    }",
        "  ],",
        '  "c": {},',
        '  "d": "x"',
        "}",
    ]


def test_a_cut_or_malformed_document_is_shown_anyway() -> None:
    assert _whole(b'{"a": [1, 2', json_slice) == ["{", '  "a": [', "    1,", "    2"]
    assert _whole(b"]]}{,,:", json_slice)  # no exception, something to read
    assert _whole(b"<a><b>text</a>", xml_slice)


def test_deep_nesting_and_huge_lines_stay_bounded() -> None:
    deep = json_slice(b"[" * 200_000, Cursor(), eof=True)
    assert len(deep.lines) == MAX_LINES
    assert max(len(line) for line in plain_lines(deep.lines)) <= 2 * 32 + 1  # indentation capped
    assert deep.next is not None
    huge = json_slice(b'{"blob": "' + b"x" * 300_000 + b'"}', Cursor(), eof=True)
    assert max(len(line) for line in plain_lines(huge.lines)) <= MAX_LINE_CHARS + 20
    assert huge.cut_lines == 1
    assert "more characters on this line" in str(html_lines(huge.lines))


def test_a_string_longer_than_a_slice_continues_in_the_next() -> None:
    data = b'["' + b"y" * 5000 + b'", 1]'
    read = _sliced(data, json_slice, 1000, MAX_LINES)
    assert "".join(read).count("y") == 5000  # shown in parts, nothing lost or repeated
    assert read[-2:] == ["  1", "]"]


def test_every_character_of_hostile_content_is_escaped() -> None:
    hostile = b'{"<script>": "</code></pre><img src=x onerror=alert(1)>"}'
    html = str(html_lines(json_slice(hostile, Cursor(), eof=True).lines))
    assert "<script>" not in html
    assert "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    xml = str(html_lines(xml_slice(b"<a onload='x'>&lt;<b>\"</b></a>", Cursor(), eof=True).lines))
    assert "<a " not in xml
    assert "&lt;a onload=" in xml


@pytest.mark.parametrize("raw", [None, "", "1.2", "a.b.c", "1.2.3.4", "-1.0.0", "9" * 40 + ".0.0"])
def test_a_malformed_cursor_starts_from_the_beginning(raw: str | None) -> None:
    assert Cursor.decode(raw) == Cursor()


def test_a_cursor_survives_its_link() -> None:
    cursor = Cursor(123456, 7, True)
    assert Cursor.decode(cursor.encode()) == cursor
