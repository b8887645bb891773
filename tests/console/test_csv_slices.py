"""CSV payloads a table slice at a time: "show more" goes on at the next row, every page stays under 1 MB."""

from __future__ import annotations

import re

from litestar.testing import TestClient

from metadock.console.payload_view import MAX_CSV_ROWS, content_slice
from metadock.console.pretty import SLICE_BYTES, Cursor
from tests.console.conftest import login
from tests.console.helpers import People
from tests.factories import TenantKeys, capture_payload


def _cells(html: str, tag: str) -> list[str]:
    return re.findall(rf"<{tag}[^>]*>([^<]*)</{tag}>", html)


def test_a_large_csv_is_shown_a_bounded_table_at_a_time_and_show_more_goes_on_at_the_next_row(
    app_client: TestClient[object], people: People, acme: TenantKeys
) -> None:
    body = ("id,name,value\n" + "".join(f"{i},name {i},{i * 3}\n" for i in range(110_000))).encode()  # 2.4 MB
    record = capture_payload(app_client, acme.headers("writer"), body, content_type="text/csv")
    login(app_client, people.reader)
    page = app_client.get(f"/console/payloads/{record['id']}")
    assert page.status_code == 200
    assert len(page.content) < 1_000_000
    assert _cells(page.text, "th")[-3:] == ["id", "name", "value"]  # the header row, as column headers
    first = _cells(page.text, "td")
    assert first[:3] == ["0", "name 0", "0"]
    rows_shown = len(first) // 3
    assert rows_shown == MAX_CSV_ROWS - 1  # the header is the slice's first row
    more = re.search(r'data-more="([^"]+)"', page.text)
    assert more, "a large CSV offers 'show more'"
    following = app_client.get(more.group(1).replace("&amp;", "&"))
    assert following.status_code == 200
    assert len(following.content) < 1_000_000
    assert "<th" not in following.text  # a data row, not a header, starts the next slice
    assert _cells(following.text, "td")[:3] == [str(rows_shown), f"name {rows_shown}", str(rows_shown * 3)]
    without_script = re.search(r'<a href="([^"]+)" data-more', page.text)
    assert without_script
    as_page = app_client.get(without_script.group(1).replace("&amp;", "&").split("#")[0])
    assert _cells(as_page.text, "td")[:3] == [str(rows_shown), f"name {rows_shown}", str(rows_shown * 3)]
    assert "Shown from byte" in as_page.text


def test_a_quoted_cell_with_line_breaks_cut_by_a_slice_is_shown_whole_in_the_next() -> None:
    row = b'1,"first line\nsecond line",end\n'
    wide = b"x," + b"y" * 393 + b",z\n"  # 400 bytes: the slice fills before its row limit
    filler = wide * ((SLICE_BYTES - 20) // len(wide))
    filler += b"x,y,z" + b" " * (SLICE_BYTES - 20 - len(filler) - 6) + b"\n"
    data = filler + row + b"2,b,c\n"
    read = data[:SLICE_BYTES]  # the read ends inside the quoted cell
    assert b'1,"first line\nsec' in read[-30:]
    assert b'line",' not in read[-30:]
    first = content_slice(read, "text/csv", Cursor(), eof=False)
    assert first.next is not None
    assert all(cells[0] == "x" for cells in first.csv_rows)
    assert data[first.next.offset :].startswith(b"x,y,z ") or data[first.next.offset :].startswith(b"1,")
    rest = content_slice(data[first.next.offset :], "text/csv", first.next, eof=True)
    assert ["1", "first line\nsecond line", "end"] in rest.csv_rows
    assert rest.csv_rows[-1] == ["2", "b", "c"]
    assert rest.next is None
    assert len(first.csv_rows) + len(rest.csv_rows) == filler.count(b"\n") + 2  # every row once, none lost
