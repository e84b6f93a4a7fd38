"""The audit log as a CSV file (RFC 4180), safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from huddle.compliance.query import COLUMNS, AuditEntry
from huddle.protect.audit import utc_iso

# Sent as "text/csv; charset=utf-8": Litestar adds the charset to text/* types itself.
CSV_MEDIA_TYPE = "text/csv"
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection);
# a leading single quote makes it text. Tab and carriage return are OWASP's additions.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_bytes(entries: Iterable[AuditEntry]) -> bytes:
    """A header row, then one row per entry; CRLF line ends, quotes where needed."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for entry in entries:
        writer.writerow([neutralized(_cell(getattr(entry, column))) for column in COLUMNS])
    return out.getvalue().encode("utf-8")


def neutralized(cell: str) -> str:
    """`cell`, prefixed with a single quote if a spreadsheet would run it as a formula."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return utc_iso(value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def export_filename(organization_id: uuid.UUID, at: datetime, extension: str) -> str:
    """`audit-<organization>-<UTC time>.<extension>`; only safe characters."""
    stamp = at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"audit-{organization_id}-{stamp}.{extension}"
