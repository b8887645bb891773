"""API Platform as DigitalState serves it: RFC 7807 problem details, ``X-Total-Count`` and ``Link`` paging."""
