"""Reading a contacts CSV in constant memory: sniffing, decoding, header mapping, and turning
each record into a row for public.import_contacts() or a rejection with its line number.

Nothing here touches the database or Flask; the route (contacts/api.py) feeds it a binary
stream and sends the rows it yields to SQL in batches.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import phonenumbers

from .. import phones

STANDARD_FIELDS = ("phone", "first_name", "last_name", "email", "tags")
SINGLE_FIELDS = ("phone", "first_name", "last_name", "email")  # at most one column each

# Header spellings recognised without a mapping, compared after lower-casing and dropping
# everything that is not a letter or digit ("Phone Number", "phone_number", "PHONE-NUMBER").
ALIASES = {
    "phone": {
        "phone",
        "phonenumber",
        "phoneno",
        "mobile",
        "mobilephone",
        "mobilenumber",
        "mobileno",
        "cell",
        "cellphone",
        "cellnumber",
        "telephone",
        "tel",
        "telephonenumber",
        "number",
        "msisdn",
        "e164",
        "sms",
        "smsnumber",
        "contactnumber",
        "whatsapp",
    },
    "first_name": {"firstname", "first", "givenname", "forename", "fname"},
    "last_name": {"lastname", "last", "surname", "familyname", "lname"},
    "email": {"email", "emailaddress", "mail", "emailid"},
    "tags": {"tags", "tag", "labels", "label"},
}

MAX_COLUMNS = 200
MAX_NAME = 100
MAX_EMAIL = 320
MAX_TAG = 100
MAX_TAGS = 100
MAX_CUSTOM_VALUE = 2000
MAX_CUSTOM_KEY = 64
SNIFF_BYTES = 8192
CSV_FIELD_LIMIT = 131072  # the csv module's default; a longer field is a malformed file

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
CUSTOM_KEY = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
# NUL cannot be stored in Postgres text; lone surrogates are bytes the encoding could not decode.
UNSTORABLE = re.compile("[\x00\udc80-\udcff]")
TAG_SPLIT = re.compile(r"[;,]")
NOT_ALNUM = re.compile(r"[^0-9a-z]+")
NOT_WORD = re.compile(r"\W+")

BINARY_MAGIC = (
    (b"PK\x03\x04", "a zip archive or Excel workbook (.xlsx)"),
    (b"\xd0\xcf\x11\xe0", "an Excel 97-2003 workbook (.xls)"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
)


class CsvImportError(Exception):
    """The whole file cannot be imported; the route turns it into a 4xx ApiError."""

    def __init__(self, status: int, code: str, message: str, **extra):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


@dataclass(frozen=True)
class Column:
    header: str
    target: str | None  # a standard field, "custom", or None (ignored)
    key: str | None = None  # custom_fields key when target == "custom"


@dataclass
class Rejection:
    row: int
    reason: str


@dataclass
class Options:
    default_region: str = "US"
    tags: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------
# Parameters


def parse_region(value: str | None) -> str:
    region = (value or "US").strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise CsvImportError(
            422,
            "invalid_default_country",
            "default_country must be an ISO 3166-1 alpha-2 country code, e.g. US or GB.",
            field="default_country",
        )
    return region


def split_tags(value: str | None, separators: re.Pattern = TAG_SPLIT) -> list[str]:
    if not value:
        return []
    seen: dict[str, None] = {}
    for tag in separators.split(value):
        tag = tag.strip()
        if tag:
            seen.setdefault(tag, None)
    return list(seen)


def parse_tags_param(value: str | None) -> list[str]:
    tags = split_tags(value, re.compile(","))
    if any(len(t) > MAX_TAG for t in tags):
        raise CsvImportError(422, "invalid_tags", f"Each tag is at most {MAX_TAG} characters.", field="tags")
    if len(tags) > MAX_TAGS:
        raise CsvImportError(422, "invalid_tags", f"At most {MAX_TAGS} tags.", field="tags")
    return tags


def parse_encoding(value: str | None) -> str | None:
    """A Python codec name for a text encoding, or None for "UTF-8, or UTF-16 if the file has its BOM"."""
    if not value:
        return None
    try:
        info = codecs.lookup(value.strip())
    except LookupError:
        info = None
    if info is None or not getattr(info, "_is_text_encoding", True):
        raise CsvImportError(
            422,
            "invalid_encoding",
            f"Unknown text encoding '{value[:40]}'; try utf-8, windows-1252 or latin-1.",
            field="encoding",
        )
    return "utf-8-sig" if info.name in {"utf-8", "utf-8-sig"} else info.name


def parse_mapping(raw: object) -> dict[str, str | None] | None:
    """The `mapping` parameter: {"CSV column": "phone" | ... | "custom.<key>" | null (ignore)}."""
    if raw is None or raw == "" or raw == {}:
        return None
    if not isinstance(raw, dict) or not all(isinstance(k, str) for k in raw):
        raise CsvImportError(
            422, "invalid_mapping", 'mapping must be a JSON object: {"CSV column": "field"}.', field="mapping"
        )
    mapping: dict[str, str | None] = {}
    for column, target in raw.items():
        if target is None or target == "" or target == "ignore":
            mapping[column] = None
            continue
        if not isinstance(target, str) or not (target in STANDARD_FIELDS or _custom_key(target) is not None):
            raise CsvImportError(
                422,
                "invalid_mapping",
                f"mapping for '{column[:80]}' must be one of {', '.join(STANDARD_FIELDS)}, "
                "custom.<key> (letters, digits, _ or -) or null to ignore the column.",
                field="mapping",
            )
        mapping[column] = target
    return mapping


def _custom_key(target: str) -> str | None:
    if target.startswith("custom.") and CUSTOM_KEY.match(target[len("custom.") :]):
        return target[len("custom.") :]
    return None


def _normalise(header: str) -> str:
    return NOT_ALNUM.sub("", header.lower())


def custom_key_for(header: str, index: int) -> str:
    """The custom_fields key of a column that is not a standard field: its header, slugged."""
    slug = NOT_WORD.sub("_", header.strip().lower()).strip("_")[:MAX_CUSTOM_KEY]
    return slug or f"column_{index + 1}"


def map_columns(
    header: list[str], explicit: dict[str, str | None] | None, *, require_phone: bool = True
) -> list[Column]:
    """What each column of the header becomes. Explicit mappings first; the other columns are
    recognised by name (first match wins) or kept as custom fields under a slug of their header.
    A preview passes require_phone=False, to show the columns even when none is the phone yet."""
    headers = [h.strip() for h in header]
    if len(headers) > MAX_COLUMNS:
        raise CsvImportError(422, "too_many_columns", f"The file has {len(headers)} columns; at most {MAX_COLUMNS}.")
    chosen: dict[int, str | None] = {}
    if explicit:
        by_exact = {h: i for i, h in reversed(list(enumerate(headers)))}
        by_normal = {_normalise(h): i for i, h in reversed(list(enumerate(headers)))}
        for column, target in explicit.items():
            index = by_exact.get(column.strip())
            if index is None:
                index = by_normal.get(_normalise(column))
            if index is None:
                raise CsvImportError(
                    422,
                    "unknown_column",
                    f"mapping names a column the file does not have: '{column[:80]}'.",
                    field="mapping",
                    columns=[h for h in headers if h],
                )
            chosen[index] = target
        taken = [t for t in chosen.values() if t in SINGLE_FIELDS]
        for name in SINGLE_FIELDS:
            if taken.count(name) > 1:
                raise CsvImportError(
                    422, "invalid_mapping", f"More than one column is mapped to '{name}'.", field="mapping"
                )

    taken_fields = {t for t in chosen.values() if t in SINGLE_FIELDS}
    columns: list[Column] = []
    used_keys: set[str] = set()
    for index, header_name in enumerate(headers):
        if index in chosen:
            target = chosen[index]
            if target is None:
                columns.append(Column(header_name, None))
            elif target in STANDARD_FIELDS:
                columns.append(Column(header_name, target))
            else:
                key = _custom_key(target)
                used_keys.add(key)
                columns.append(Column(header_name, "custom", key))
            continue
        if not header_name:
            columns.append(Column(header_name, None))  # an unnamed (usually empty, trailing) column
            continue
        normal = _normalise(header_name)
        auto = next((f for f, names in ALIASES.items() if normal in names), None)
        if auto is not None and (auto == "tags" or auto not in taken_fields):
            if auto != "tags":
                taken_fields.add(auto)
            columns.append(Column(header_name, auto))
            continue
        key = custom_key_for(header_name, index)
        base, n = key, 2
        while key in used_keys:
            key = f"{base}_{n}"[:MAX_CUSTOM_KEY]
            n += 1
        used_keys.add(key)
        columns.append(Column(header_name, "custom", key))

    if require_phone and not any(c.target == "phone" for c in columns):
        found = [h for h in headers if h]
        raise CsvImportError(
            422,
            "no_phone_column",
            "No phone column found. The file's columns are: "
            + (", ".join(f"'{h[:80]}'" for h in found[:50]) or "(none)")
            + '. Name one \'Phone\' or say which it is with mapping, e.g. {"Cell": "phone"}.',
            columns=found,
        )
    return columns


def describe(columns: list[Column]) -> dict[str, str | None]:
    """The mapping used, as the response reports it: {"CSV column": "field" | "custom.<key>" | null}."""
    out: dict[str, str | None] = {}
    for c in columns:
        if not c.header:
            continue
        out[c.header] = f"custom.{c.key}" if c.target == "custom" else c.target
    return out


# ---------------------------------------------------------------------------------------
# Bytes to text


class _Prefixed(io.RawIOBase):
    """A binary stream that yields `prefix` and then the rest of `source`, read as asked."""

    def __init__(self, prefix: bytes, source):
        self._prefix = memoryview(prefix)
        self._source = source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        chunk = self._source.read(len(buffer))
        if not chunk:
            return 0
        n = len(chunk)
        buffer[:n] = chunk
        return n


def _read_prefix(source, size: int) -> bytes:
    parts, have = [], 0
    while have < size:
        chunk = source.read(size - have)
        if not chunk:
            break
        parts.append(chunk)
        have += len(chunk)
    return b"".join(parts)


def open_text(source, encoding: str | None) -> io.TextIOWrapper:
    """Text from a binary stream: UTF-8 (BOM or not) unless told otherwise, UTF-16 when it has its BOM.

    Bytes that do not decode become lone surrogates (surrogateescape), so one bad row is
    rejected on its own instead of failing the file. Binary files are refused up front.
    """
    prefix = _read_prefix(source, SNIFF_BYTES)
    if not prefix.strip():
        raise CsvImportError(422, "empty_file", "The file is empty.")
    utf16 = prefix.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    if encoding is None:
        encoding = "utf-16" if utf16 else "utf-8-sig"
    if not encoding.startswith("utf-16") and not encoding.startswith("utf-32"):
        for magic, what in BINARY_MAGIC:
            if prefix.startswith(magic):
                raise CsvImportError(422, "not_csv", f"This is {what}, not a CSV file. Export or save it as CSV.")
        if b"\x00" in prefix:
            raise CsvImportError(
                422,
                "not_csv",
                "This is a binary file, not a CSV file "
                "(if it is UTF-16 text without a byte order mark, pass encoding=utf-16-le).",
            )
        sample = prefix.decode(encoding, errors="surrogateescape")
        odd = sum(1 for ch in sample if (ord(ch) < 32 and ch not in "\t\r\n\f") or "\udc80" <= ch <= "\udcff")
        if odd > max(8, len(sample) // 10):
            raise CsvImportError(
                422,
                "not_csv",
                f"This does not read as {encoding.removesuffix('-sig')} text; if it is a CSV, pass its encoding "
                "(e.g. encoding=windows-1252).",
            )
    raw = io.BufferedReader(_Prefixed(prefix, source), buffer_size=64 * 1024)
    return io.TextIOWrapper(raw, encoding=encoding, errors="surrogateescape", newline="")


# ---------------------------------------------------------------------------------------
# Records to rows


def records(text: io.TextIOWrapper) -> Iterator[tuple[int, list[str]]]:
    """(line number where the record starts, fields) for each non-blank record; csv.Error
    becomes a 422 naming the line."""
    reader = csv.reader(text, strict=True)
    start = 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise CsvImportError(
                422,
                "malformed_csv",
                f"The CSV is malformed at line {start}: {exc}. "
                "Fields containing commas, quotes or line breaks must be in double quotes.",
                line=start,
            ) from None
        line = start
        start = reader.line_num + 1
        if not record or all(not f.strip() for f in record):
            continue
        yield line, record


def read_header(rows: Iterator[tuple[int, list[str]]]) -> list[str]:
    try:
        _, header = next(rows)
    except StopIteration:
        raise CsvImportError(422, "empty_file", "The file is empty.") from None
    if any(UNSTORABLE.search(h) for h in header):
        raise CsvImportError(
            422,
            "invalid_encoding",
            "The header row is not valid UTF-8. Save the file as UTF-8, or pass its encoding "
            "(e.g. encoding=windows-1252).",
        )
    return header


def to_row(
    line: int,
    record: list[str],
    columns: list[Column],
    options: Options,
    to_e164: Callable[[str], str | None] | None = None,
) -> dict | Rejection:
    """One record as a row for import_contacts(), or why it cannot be imported. `to_e164` reads
    the phone number (default: phones.to_e164 with the default country)."""
    if len(record) > len(columns) and any(f.strip() for f in record[len(columns) :]):
        return Rejection(
            line,
            f"the row has {len(record)} fields but the header has {len(columns)}; quote values that contain commas",
        )
    if UNSTORABLE.search("\x1f".join(record)):
        return Rejection(
            line,
            "the row contains bytes that are not valid text in the file's encoding "
            "(save the file as UTF-8 or pass encoding)",
        )
    raw_phone = None
    row: dict = {"row": line}
    tags = dict.fromkeys(options.tags)
    custom: dict[str, str] = {}
    for column, value in zip(columns, record):
        target = column.target
        if target is None:
            continue
        value = value.strip()
        if not value:
            continue
        if target == "phone":
            raw_phone = value
        elif target == "first_name" or target == "last_name":
            if len(value) > MAX_NAME:
                return Rejection(line, f"{target} is longer than {MAX_NAME} characters")
            row[target] = value
        elif target == "email":
            if len(value) > MAX_EMAIL or not EMAIL.match(value):
                return Rejection(line, "email is not a valid address")
            row["email"] = value
        elif target == "tags":
            for tag in split_tags(value):
                if len(tag) > MAX_TAG:
                    return Rejection(line, f"a tag is longer than {MAX_TAG} characters")
                tags.setdefault(tag, None)
        else:
            if len(value) > MAX_CUSTOM_VALUE:
                return Rejection(line, f"'{column.header[:80]}' is longer than {MAX_CUSTOM_VALUE} characters")
            custom[column.key] = value
    if raw_phone is None:
        return Rejection(line, "phone number is missing")
    phone = to_e164(raw_phone) if to_e164 is not None else phones.to_e164(raw_phone, options.default_region)
    if phone is None:
        return Rejection(line, f"not a valid phone number (read with default country {options.default_region})")
    row["phone"] = phone
    if len(tags) > MAX_TAGS:
        return Rejection(line, f"more than {MAX_TAGS} tags")
    if tags:
        row["tags"] = list(tags)
    if custom:
        row["custom"] = custom
    return row
