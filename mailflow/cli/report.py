"""``mailflow report``: the guide's 内部沟通记录表 written to a CSV or XLSX file.

The command function is registered by the CLI core as ``app.command("report")(report)``;
what it shares with the other commands comes from ``mailflow.cli.common``, imported inside it.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

RECORD_TITLE = "内部沟通记录表"
_DAY = ["%Y-%m-%d"]


class ReportFormat(StrEnum):
    """The file formats the record can be written in."""

    csv = "csv"
    xlsx = "xlsx"


def report(
    format: Annotated[
        ReportFormat, typer.Option("--format", help="csv (UTF-8 for Excel) or xlsx.")
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The file to write.", show_default=False)
    ],
    from_: Annotated[
        datetime | None,
        typer.Option("--from", help="First day, YYYY-MM-DD (inclusive).", formats=_DAY),
    ] = None,
    to: Annotated[
        datetime | None,
        typer.Option("--to", help="Last day, YYYY-MM-DD (inclusive).", formats=_DAY),
    ] = None,
    department: Annotated[
        str | None, typer.Option(help="Only rows that concern this department (or alias).")
    ] = None,
) -> None:
    """Write the 内部沟通记录表 (one row per action item or conversation) to a file."""
    from mailflow.cli.common import err, fail, open_runtime
    from mailflow.errors import UnknownDepartmentError
    from mailflow.outbound.record_format import to_csv, to_xlsx
    from mailflow.service.comm_record import record_rows

    start, end = _day(from_), _day(to)
    if start and end and start > end:
        fail(f"--from {start} is after --to {end}")
    with open_runtime() as runtime:
        try:
            rows = record_rows(
                runtime.sessions,
                start=start,
                end=end,
                department=department,
                org=runtime.organization,
                tz=runtime.context.timezone,
            )
        except UnknownDepartmentError as e:
            fail(str(e))
    title = f"{RECORD_TITLE}-{department}" if department else RECORD_TITLE
    data = to_xlsx(rows, title) if format is ReportFormat.xlsx else to_csv(rows)
    try:
        output.write_bytes(data)
    except OSError as e:
        fail(f"cannot write {output}: {e.strerror or e}")
    err.print(f"{len(rows)} rows written to {output}", highlight=False, soft_wrap=True)


def _day(value: datetime | None) -> date | None:
    return value.date() if value else None
