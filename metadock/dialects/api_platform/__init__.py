"""API Platform as DigitalState serves it: RFC 7807 problem details, ``X-Total-Count`` and ``Link`` paging."""

from typing import Final

# The media type of a successful answer exactly as API Platform writes it (DigitalState's own tests compare the
# header as a string). Errors keep application/problem+json (errors.py).
JSON_UTF8: Final = "application/json; charset=utf-8"
