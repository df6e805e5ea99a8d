"""Reading a multipart upload from the request stream into memory, with the size checked while
reading: a body over the limit is refused (413) as soon as it passes the limit, before the rest
arrives. Nothing is written to disk (Starlette's own form parser spools large files to disk)."""

from __future__ import annotations

from dataclasses import dataclass, field

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

# Text fields (regions, options) are small; their total is capped apart from the file.
MAX_FIELD_BYTES = 1 << 20


class ApiError(Exception):
    """An answer to bad input: an HTTP status and a message for the JSON body."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Upload:
    """The parts of a multipart body: files by field name (name, bytes; the last of a field
    sent more than once), every file in the order sent, and text fields."""

    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)
    parts: list[tuple[str, str, bytes]] = field(default_factory=list)  # (field, name, bytes)

    def files_in(self, name: str) -> list[tuple[str, bytes]]:
        """Every file sent in the field ``name`` (name, bytes), in the order sent."""
        return [(filename, data) for key, filename, data in self.parts if key == name]


class _Collector:
    """The parser's callbacks: each part's headers and data gathered into an :class:`Upload`."""

    def __init__(self, upload: Upload):
        self.upload = upload
        self.headers: dict[bytes, bytes] = {}
        self.header_field = b""
        self.header_value = b""
        self.data = bytearray()
        self.field_bytes = 0
        self.ended = False

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self.part_begin,
            "on_part_data": self.part_data,
            "on_part_end": self.part_end,
            "on_header_field": lambda d, s, e: self._add("header_field", d[s:e]),
            "on_header_value": lambda d, s, e: self._add("header_value", d[s:e]),
            "on_header_end": self.header_end,
            "on_end": self.end,
        }

    def _add(self, name: str, data: bytes) -> None:
        setattr(self, name, getattr(self, name) + data)

    def end(self) -> None:
        self.ended = True

    def part_begin(self) -> None:
        self.headers, self.data = {}, bytearray()

    def header_end(self) -> None:
        self.headers[self.header_field.lower()] = self.header_value
        self.header_field = self.header_value = b""

    def part_data(self, data: bytes, start: int, end: int) -> None:
        self.data += data[start:end]

    def part_end(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in options:
            filename = options[b"filename"].decode("utf-8", "replace") or name
            self.upload.files[name] = (filename, bytes(self.data))
            self.upload.parts.append((name, *self.upload.files[name]))
            return
        self.field_bytes += len(self.data)
        if self.field_bytes > MAX_FIELD_BYTES:
            raise ApiError(413, f"form fields larger than {MAX_FIELD_BYTES >> 20} MB in all")
        self.upload.fields[name] = self.data.decode("utf-8", "replace")


async def read_multipart(request, max_bytes: int) -> Upload:
    """Parse ``request``'s multipart/form-data body, refusing (413) a body over ``max_bytes``:
    at once when its Content-Length says so, else as soon as the bytes read pass it."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data":
        raise ApiError(
            415,
            "send the image as multipart/form-data in a field named 'image' "
            f"(got Content-Type {content_type.decode() or 'none'!r})",
        )
    boundary = options.get(b"boundary")
    if not boundary:
        raise ApiError(400, "malformed multipart body: the Content-Type has no boundary")
    limit = (
        f"the upload is larger than the limit of {max_bytes / 2**20:g} MB "
        "(salmap serve --max-upload-mb raises it)"
    )
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise ApiError(413, limit)
    upload = Upload()
    collector = _Collector(upload)
    received = 0
    try:
        parser = MultipartParser(boundary, collector.callbacks())
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_bytes:
                raise ApiError(413, limit)
            parser.write(chunk)
    except FormParserError as e:
        raise ApiError(400, f"malformed multipart body ({e})") from None
    if not collector.ended:
        raise ApiError(400, "malformed multipart body: it ends before its closing boundary")
    return upload
