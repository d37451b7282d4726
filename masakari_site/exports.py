"""Exports: the rows of a list (notifications, vmoves, host health changes,
the change log) as CSV or JSON, streamed.

Each app's selectors give a filtered, ordered `.values()` queryset and its
columns; this module reads it through a server-side cursor, CHUNK_SIZE rows
at a time, and writes each row as it comes, so an export of any size holds
one chunk in memory (bench/exports.py measures it). The /ext/v1 views
(masakari_site/api/exports.py) and the dashboard's export links answer with
`export_response`.
"""

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

import orjson
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

from masakari_site.exceptions import Invalid

FORMATS = {"json": "application/json", "csv": "text/csv; charset=utf-8"}
DEFAULT_FORMAT = "json"
# Rows fetched from the database cursor at a time: the memory an export holds.
CHUNK_SIZE = 500
# Rows written into one piece of the response.
ROWS_PER_PIECE = 100
# A spreadsheet takes a cell starting with one of these for a formula: such a
# text (a hostname, a message from a monitor) is written with a leading `'`.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


@dataclass(frozen=True)
class Export:
    """What one kind of export writes: `columns` maps each column's name to
    the `.values()` lookup that reads it (`notification_uuid`:
    `notification__notification_uuid`)."""

    kind: str
    columns: dict[str, str]

    def rows(self, queryset: QuerySet) -> Iterator[dict]:
        """`queryset`'s rows as {column: value}, read CHUNK_SIZE at a time."""
        names, lookups = list(self.columns), list(self.columns.values())
        for values in queryset.values_list(*lookups).iterator(chunk_size=CHUNK_SIZE):
            yield dict(zip(names, values, strict=True))


def export_format(query) -> str:
    """The `format` query parameter: json (when absent) or csv; else a 400."""
    fmt = query.get("format", DEFAULT_FORMAT)
    if fmt not in FORMATS:
        raise Invalid(f"Invalid format {query.get('format')!r}; expected one of "
                      f"{', '.join(FORMATS)}.")
    return fmt


def filename(kind: str, fmt: str, *, at: datetime | None = None) -> str:
    return f"masakari-{kind}-{(at or timezone.now()):%Y%m%dT%H%M%SZ}.{fmt}"


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return orjson.dumps(value, option=_JSON_OPTIONS).decode()
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    return f"'{text}" if isinstance(value, str) and text.startswith(FORMULA_STARTS) else text


class _Line:
    """csv.writer's file: hands back what it is given to write."""

    def write(self, text: str) -> str:
        return text


def _pieces(lines: Iterable[str | bytes]) -> Iterator[bytes]:
    """Lines joined ROWS_PER_PIECE at a time (fewer, larger writes)."""
    piece: list[bytes] = []
    for line in lines:
        piece.append(line.encode() if isinstance(line, str) else line)
        if len(piece) >= ROWS_PER_PIECE:
            yield b"".join(piece)
            piece = []
    if piece:
        yield b"".join(piece)


def csv_lines(columns: Iterable[str], rows: Iterable[dict]) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(list(columns))
    for row in rows:
        yield writer.writerow([_cell(value) for value in row.values()])


def json_lines(rows: Iterable[dict]) -> Iterator[bytes]:
    """A JSON array, one object per line."""
    separator = b"[\n"
    for row in rows:
        yield separator + orjson.dumps(row, option=_JSON_OPTIONS)
        separator = b",\n"
    yield b"[]\n" if separator == b"[\n" else b"\n]\n"


def export_response(export: Export, queryset: QuerySet, *, fmt: str,
                    shown: Callable[[dict], dict] | None = None) -> StreamingHttpResponse:
    """The rows of `queryset` as an attachment named for the export and the
    time; `shown` changes each row first (hides what the reader may not see)."""
    rows = export.rows(queryset)
    if shown is not None:
        rows = map(shown, rows)
    lines = csv_lines(export.columns, rows) if fmt == "csv" else json_lines(rows)
    response = StreamingHttpResponse(_pieces(lines), content_type=FORMATS[fmt])
    response["Content-Disposition"] = \
        f'attachment; filename="{filename(export.kind, fmt)}"'
    response["Cache-Control"] = "private, no-store"
    return response
