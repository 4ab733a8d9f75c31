"""A workbook cell as the text Excel shows, so that an .xlsx axis reads like its CSV export.

Text stays as typed (`007`); whole numbers lose Excel's `.0` (`12`); other numbers keep the
digits Excel shows (up to 15 significant ones: 0.1 + 0.2 is `0.3`); a fixed-decimals or
percent format is applied (`0.00` -> `3.50`, `0%` -> `25%`), but not thousands separators or
currency symbols, which depend on the computer's language. Dates are ISO dates (`2025-03-01`),
with the time when the format shows one (`2025-03-01 14:30`); booleans are `TRUE` and `FALSE`.
"""

from __future__ import annotations

import datetime
import re

# `0`, `000` (zero-padded codes), `0.00`, `#,##0.00`, `0.0%`: the formats applied here.
_FIXED = re.compile(r"(?P<grouped>#,##)?(?P<whole>0+)(?:\.(?P<decimals>0+))?(?P<percent>%)?")
GENERAL_DIGITS = 15  # Excel keeps 15 significant digits


def cell_text(value: object, number_format: str | None) -> str:
    """What Excel shows for a cell holding `value` (as openpyxl reads it) in `number_format`."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return date_text(value, number_format)
    if isinstance(value, datetime.timedelta):
        return _duration_text(value)
    if isinstance(value, int | float):
        return number_text(value, number_format)
    return str(value)


def number_text(value: float, number_format: str | None) -> str:
    fixed = _FIXED.fullmatch((number_format or "").strip())
    if fixed is not None:
        scaled = value * 100 if fixed["percent"] else value
        decimals = len(fixed["decimals"] or "")
        text = f"{scaled:.{decimals}f}"
        if scaled < 0 and float(text) == 0:
            text = text.lstrip("-")  # Excel shows -0.001 in `0.00` as 0.00
        sign = "-" if text.startswith("-") else ""
        whole, _, fraction = text.lstrip("-").partition(".")
        whole = whole.zfill(len(fixed["whole"]))
        return f"{sign}{whole}{'.' + fraction if fraction else ''}{fixed['percent'] or ''}"
    return general_number(value)


def general_number(value: float) -> str:
    """Excel's General format, without its column-width rounding: 12, 3.5, 0.3, 1E+20."""
    if isinstance(value, int):
        return str(value)
    if value != value or value in (float("inf"), float("-inf")):
        return "#NUM!"
    if value.is_integer() and abs(value) < 10**GENERAL_DIGITS:
        return str(int(value))
    text = f"{value:.{GENERAL_DIGITS}g}"
    if "e" in text:
        mantissa, _, exponent = text.partition("e")
        return f"{mantissa}E{'+' if not exponent.startswith('-') else '-'}{exponent[1:].zfill(2)}"
    return text


def date_text(
    value: datetime.datetime | datetime.date | datetime.time, number_format: str | None
) -> str:
    """ISO 8601, with as much time as the cell's format shows (none for a date format)."""
    from openpyxl.styles.numbers import is_datetime

    seconds = "s" in (number_format or "").lower()
    if isinstance(value, datetime.time):
        return _clock(value, seconds)
    if not isinstance(value, datetime.datetime):
        return value.isoformat()
    # A date without a date format (written as ISO text by some programs): its time if any.
    kind = is_datetime(number_format or "") or ("date" if _midnight(value) else "datetime")
    if kind == "date":
        return value.date().isoformat()
    if kind == "time":
        return _clock(value.time(), seconds)
    return f"{value.date().isoformat()} {_clock(value.time(), seconds)}"


def _midnight(value: datetime.datetime) -> bool:
    return value.time() == datetime.time(0, 0)


def _clock(value: datetime.time, seconds: bool) -> str:
    if seconds or value.second or value.microsecond:
        return value.strftime("%H:%M:%S")
    return value.strftime("%H:%M")


def _duration_text(value: datetime.timedelta) -> str:
    """[h]:mm:ss, as Excel shows a duration."""
    total = int(value.total_seconds())
    sign = "-" if total < 0 else ""
    hours, rest = divmod(abs(total), 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{sign}{hours}:{minutes:02d}:{seconds:02d}"
