"""Reading a dataset as mlcd.yaml's ``data`` section describes it.

Every failure (missing or empty file, binary content, wrong encoding or delimiter, broken Parquet)
is an :class:`~mlcd.errors.InputError` that says what is wrong with the file and which setting to change.
"""

from __future__ import annotations

import codecs
import io
from pathlib import Path
from typing import Literal

import pandas as pd

from mlcd.config.model import DataConfig
from mlcd.errors import InputError

__all__ = ["Format", "data_format", "first_line", "parse_table", "read_table"]

Format = Literal["csv", "parquet"]

_EXTENSIONS: dict[str, Format] = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet"}
_DELIMITERS = (",", ";", "\t", "|")
# Longest first: the UTF-32 LE mark starts with the UTF-16 LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
    (codecs.BOM_UTF8, "utf-8"),
)
_SNIFF_BYTES = 8192
_TEXT_CONTROLS = set(b"\t\n\r\f\b")
_PULL_FIX = "check the path; if DVC tracks the file, run `dvc pull` (or `dvc repro`)"


def data_format(name: str, configured: Format | None) -> Format:
    """data.format if set, else the file's extension."""
    if configured is not None:
        return configured
    suffix = Path(name).suffix.lower()
    if suffix not in _EXTENSIONS:
        raise InputError(
            f"cannot tell the format of {name} from its extension '{suffix}'",
            fix="set data.format to csv or parquet in mlcd.yaml",
        )
    return _EXTENSIONS[suffix]


def read_table(path: Path, data: DataConfig) -> pd.DataFrame:
    if not path.exists():
        raise InputError(f"{path} does not exist", fix=_PULL_FIX)
    if not path.is_file():
        raise InputError(f"{path} is not a file", fix="point data.path (or PATH) at a CSV or Parquet file")
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}", fix="check the file's permissions") from None
    return parse_table(content, str(path), data)


def parse_table(content: bytes, name: str, data: DataConfig, fmt: Format | None = None) -> pd.DataFrame:
    """Parse a file's bytes; ``name`` is used in messages, and to tell the format unless ``fmt`` is given."""
    fmt = fmt or data_format(name, data.format)
    if not content.strip():
        raise InputError(f"{name} is empty ({len(content)} bytes)", fix=_PULL_FIX)
    if fmt == "parquet":
        return _parse_parquet(content, name)
    return _parse_csv(content, name, data)


def _parse_parquet(content: bytes, name: str) -> pd.DataFrame:
    if not content.startswith(b"PAR1"):
        hint = " (it looks like CSV text)" if _text_share(content[:_SNIFF_BYTES]) == 1.0 else ""
        raise InputError(f"{name} is not a Parquet file: it does not start with the Parquet magic bytes{hint}",
                         fix="set data.format to match the file's content, or regenerate the file")
    try:
        return pd.read_parquet(io.BytesIO(content))
    except Exception as exc:  # pyarrow raises several unrelated types for a damaged file
        raise InputError(f"cannot read {name} as Parquet: {first_line(exc)}",
                         fix="the file is damaged or truncated; regenerate it") from None


def _parse_csv(content: bytes, name: str, data: DataConfig) -> pd.DataFrame:
    options = data.csv
    _sniff_csv(content[:_SNIFF_BYTES], name, options.encoding)
    try:
        frame = pd.read_csv(
            io.BytesIO(content),
            sep=options.delimiter,
            encoding=options.encoding,
            na_values=list(options.na_values) or None,
        )
    except LookupError:
        raise InputError(f"data.csv.encoding '{options.encoding}' is not a known text encoding",
                         fix="use a Python codec name such as utf-8, latin-1 or utf-16") from None
    except UnicodeDecodeError:
        raise InputError(f"{name} is not {options.encoding} text: {_undecodable(content, options.encoding)}",
                         fix="set data.csv.encoding to the file's encoding (e.g. latin-1, cp1252 or utf-16)") from None
    except pd.errors.EmptyDataError:
        raise InputError(f"{name} has no header and no rows", fix=_PULL_FIX) from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise InputError(f"cannot parse {name} as CSV delimited by {options.delimiter!r}: {first_line(exc)}",
                         fix="check data.csv.delimiter and the file's quoting") from None
    _check_delimiter(frame, name, options.delimiter)
    return frame


def _sniff_csv(head: bytes, name: str, encoding: str) -> None:
    """Recognise files that are not text in the configured encoding before pandas garbles them."""
    family = codecs.lookup(encoding).name if _known(encoding) else encoding
    for bom, bom_encoding in _BOMS:
        if head.startswith(bom):
            if not family.startswith(bom_encoding):
                raise InputError(f"{name} is {bom_encoding.upper()} text (it starts with a {bom_encoding.upper()} "
                                 f"byte-order mark), not {encoding}",
                                 fix=f"set data.csv.encoding: {bom_encoding} in mlcd.yaml"
                                 + ("" if bom_encoding == "utf-8" else ", or save the file as UTF-8"))
            return
    if family.startswith(("utf-16", "utf-32")):
        if b"\x00" not in head:
            raise InputError(f"{name} is not {encoding} text: it has no byte-order mark and no NUL bytes, "
                             "so it is in an 8-bit encoding such as UTF-8",
                             fix="set data.csv.encoding: utf-8 (or the file's encoding) in mlcd.yaml")
        return
    if head.startswith(b"PAR1"):
        raise InputError(f"{name} is a Parquet file, not CSV",
                         fix="name it *.parquet or set data.format: parquet")
    if b"\x00" in head and head[1::2].count(0) > 0.9 * len(head[1::2]):
        raise InputError(f"{name} looks like UTF-16 text without a byte-order mark, not {encoding}",
                         fix="set data.csv.encoding: utf-16-le in mlcd.yaml, or save the file as UTF-8")
    if _text_share(head) < 0.95:
        raise InputError(f"{name} is binary data, not CSV text",
                         fix="point data.path at the CSV file, or set data.format if it is Parquet")


def _undecodable(content: bytes, encoding: str) -> str:
    """Where decoding fails, counted in the whole file (pandas reports offsets within a chunk)."""
    try:
        content.decode(encoding)
    except UnicodeDecodeError as exc:
        line = content.count(b"\n", 0, exc.start) + 1
        return f"byte 0x{content[exc.start]:02x} on line {line} cannot be decoded"
    return "it cannot be decoded"


def _known(encoding: str) -> bool:
    try:
        codecs.lookup(encoding)
    except LookupError:
        return False
    return True


def _text_share(head: bytes) -> float:
    """The share of bytes that can appear in text: anything but NUL and control characters."""
    if not head:
        return 1.0
    controls = sum(1 for b in head if (b < 0x20 and b not in _TEXT_CONTROLS) or b == 0x7F)
    return 1.0 - controls / len(head)


def _check_delimiter(frame: pd.DataFrame, name: str, delimiter: str) -> None:
    """A header that landed in one column but holds another delimiter: the delimiter is wrong."""
    if len(frame.columns) != 1:
        return
    header = str(frame.columns[0])
    for other in _DELIMITERS:
        if other != delimiter and other in header:
            shown = header if len(header) <= 60 else header[:57] + "..."
            raise InputError(
                f"{name}: every column landed in one ('{shown}'): the file looks delimited by {other!r}, "
                f"not {delimiter!r}",
                fix=f"set data.csv.delimiter: {other!r} in mlcd.yaml",
            )


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
