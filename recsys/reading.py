"""Opening and reading table files within limits: only regular files, bounded decompression, a capped
number of columns, and rows handed out in chunks so that memory stays bounded whatever the file size.

:func:`open_table` sniffs a file (compression, encoding, separator, header) and returns a :class:`Table`
whose :meth:`Table.read` passes its rows, chunk by chunk, to a consumer; :func:`read_table` is the
whole-frame convenience built on it. The limits, each refused with one :class:`DataError` sentence:

* only regular files are opened: a folder, a named pipe (FIFO), a device or a socket is refused before
  anything is read from it (reading a FIFO would wait forever);
* a compressed file (gzip, bzip2, xz, zip) may unpack to at most ``MAX_UNPACKED_BYTES`` (the dashboard's
  upload limit, ``MAX_UPLOAD_BYTES``) and, past its first ``RATIO_FLOOR_BYTES``, to at most ``MAX_RATIO`` times the compressed
  bytes read so far; the check runs while unpacking, so a decompression bomb stops within a second;
* a table has at most ``MAX_COLUMNS`` columns, and its first line must end within ``HEAD_BYTES``.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import io
import lzma
import os
import re
import stat
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import numpy as np
import pandas as pd

# The dashboard's upload limit (server.maxUploadSize in .streamlit/config.toml, in MB). Measured on the real
# server: 0.6 GB of its own, about 2.6 bytes per uploaded byte for a moment while Streamlit receives the
# upload, then the upload held plus ~1.3 bytes per byte of CSV while reading it: under 2 GB at this size.
MAX_UPLOAD_BYTES = 400 * 1000 * 1000  # Streamlit counts an MB as 10^6 bytes
MAX_UNPACKED_BYTES = MAX_UPLOAD_BYTES  # a compressed file may hold what could be uploaded plain
MAX_RATIO = 100  # unpacked bytes per compressed byte; real CSV logs compress 3 to 20 times
RATIO_FLOOR_BYTES = 4 * 1024 * 1024  # tiny files may compress better than MAX_RATIO
MAX_COLUMNS = 10_000
HEAD_BYTES = 1024 * 1024  # sniffed for the format; the first line must end inside it
CHUNK_CELLS = 4_000_000  # cells per chunk in the careful reader and for Parquet (rows = this / columns)
BLOCK_BYTES = 4 * 1024 * 1024  # text parsed at a time by the fast reader; also the longest row it takes
# cells that mean "missing" (pandas' defaults): read as empty, in every column
NA_WORDS = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>",
            "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]

FIELD_SEPARATOR = "\x1f"  # stands in for MovieLens' two-character "::"
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_WHITESPACE = r"\s+"


def _malloc_trim() -> Callable[[], object]:
    """glibc's ``malloc_trim(0)``: hands freed heap pages back to the system. Chunks allocate and free
    arrays of a few MB each; glibc keeps those in its heap (its mmap threshold rises with the first one
    freed), so without this a long read holds hundreds of MB it no longer uses. A no-op elsewhere."""
    try:
        import ctypes

        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return lambda: None
    return lambda: trim(0)


release_memory = _malloc_trim()


class DataError(ValueError):
    """A problem with the user's data, worded for the user: what is wrong, where, and what to do."""


def _size(n: float) -> str:
    """Bytes for people, in decimal units as Streamlit's uploader counts them (1 MB = 10^6 bytes)."""
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}".replace(".0 ", " ")
        n /= 1000
    return f"{n:.1f} GB"


# =============================================================================================
# Opening: regular files only
# =============================================================================================


def _not_a_file(path: Path, mode: int) -> DataError:
    if stat.S_ISDIR(mode):
        return DataError(f"{path} is a folder, not a file. Give the path of the interactions file inside it.")
    kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
    return DataError(f"{path} is {kind}, not a regular file; Tastemaker only reads regular files. "
                     "Save the data to a file and give that file's path.")


def open_regular_file(path: str | os.PathLike) -> BinaryIO:
    """``path`` opened for binary reading, refusing (before any read) anything but a regular file."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError as exc:
        raise DataError(f"File not found: {path}. Check the path and try again.") from exc
    except OSError as exc:
        raise DataError(f"Could not open {path}: {exc.strerror or exc}. Check that the file is readable.") from exc
    if not stat.S_ISREG(mode):
        raise _not_a_file(path, mode)
    try:  # O_NONBLOCK: should the path become a FIFO after the check, opening it still returns at once
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise DataError(f"Could not open {path}: {exc.strerror or exc}. Check that the file is readable.") from exc
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise _not_a_file(path, mode)
    return os.fdopen(fd, "rb")


def source_name(source: Any) -> str:
    """The file name (never a path) of a path, an uploaded file object, or bytes."""
    if isinstance(source, (str, os.PathLike)):
        return Path(source).name
    return Path(str(getattr(source, "name", "") or "uploaded file")).name


def _opener(source: Any) -> Callable[[], BinaryIO]:
    """A function giving a fresh binary stream of the source from its first byte, each time it is called.
    Uploads and bytes are read in place (no copy)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = source
        return lambda: io.BytesIO(data)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        open_regular_file(path).close()  # refuse at once, before any sniffing
        return lambda: open_regular_file(path)
    if hasattr(source, "read") and hasattr(source, "seek"):
        def rewind() -> BinaryIO:
            source.seek(0)
            return _Borrowed(source)
        return rewind
    if hasattr(source, "getvalue"):
        data = source.getvalue()
        data = data.encode("utf-8") if isinstance(data, str) else data
        return lambda: io.BytesIO(data)
    if hasattr(source, "read"):
        data = source.read()
        data = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        return lambda: io.BytesIO(data)
    raise DataError(f"Cannot read data from a {type(source).__name__}; give a file path or an uploaded file.")


class _Borrowed(io.RawIOBase):
    """A caller's file object, read and seeked but never closed (it belongs to the caller)."""

    def __init__(self, fp: Any) -> None:
        self._fp = fp

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._fp.seek(offset, whence)

    def tell(self) -> int:
        return self._fp.tell()

    def readinto(self, buffer: Any) -> int:
        data = self._fp.read(len(buffer))
        if isinstance(data, str):
            data = data.encode("utf-8")
        buffer[: len(data)] = data
        return len(data)


# =============================================================================================
# Decompression within limits
# =============================================================================================


class _Counted(io.RawIOBase):
    """Counts the bytes read through it (the compressed input of a decompressor)."""

    def __init__(self, fp: BinaryIO) -> None:
        self._fp = fp
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._fp.readinto(buffer)
        self.count += n or 0
        return n or 0


class _Unpacked(io.RawIOBase):
    """The output of a decompressor, refused with a :class:`DataError` once it passes the limits; its own
    errors (a cut-short or damaged file) become one sentence too."""

    def __init__(self, fp: BinaryIO, read_so_far: Callable[[], int], name: str, kind: str) -> None:
        self._fp, self._read_so_far, self._name, self._kind = fp, read_so_far, name, kind
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            n = self._fp.readinto(buffer) or 0
        except EOFError as exc:
            raise DataError(f"{self._name} is a {self._kind} file that is cut short (the download or copy did "
                            "not finish). Download or copy it again.") from exc
        except (OSError, zlib.error, lzma.LZMAError, zipfile.BadZipFile, ValueError) as exc:
            reason = " ".join(str(exc).split())[:120]
            raise DataError(f"{self._name} is a damaged {self._kind} file ({reason}). Download or copy it "
                            "again.") from exc
        self.count += n
        check_unpacked(self._name, self.count, self._read_so_far())
        return n


def check_unpacked(name: str, unpacked: int, packed: int) -> None:
    """Refuse ``unpacked`` bytes coming out of ``packed`` compressed bytes past the limits."""
    if unpacked > MAX_UNPACKED_BYTES:
        raise DataError(
            f"{name} unpacks to more than {_size(MAX_UNPACKED_BYTES)}, the most Tastemaker reads from a "
            "compressed file. Load a smaller extract, or unpack it yourself and load the plain file."
        )
    if unpacked > RATIO_FLOOR_BYTES and unpacked > MAX_RATIO * max(1, packed):
        raise DataError(
            f"{name} unpacks to more than {MAX_RATIO} times its compressed size ({_size(unpacked)} from "
            f"{_size(packed)}), which real data does not do: refused as a likely decompression bomb. If the "
            "data is genuine, unpack it yourself and load the plain file."
        )


_MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"PK\x03\x04": "zip"}


def _peek(fp: io.BufferedReader, n: int) -> bytes:
    head = fp.peek(n)[:n]
    return head


def _unwrap(fp: io.BufferedReader, seekable: BinaryIO | None, name: str, notes: list[str]) -> io.BufferedReader:
    """``fp`` with up to three layers of gzip / bz2 / xz / zip removed (recognised by their first bytes,
    not the name), each bounded; spreadsheets (which are zip files too) refused."""
    counted = None  # the compressed bytes read from the outer file, for the ratio check
    for _ in range(3):  # a file compressed twice is unusual but harmless
        head = _peek(fp, 8)
        kind = next((k for magic, k in _MAGIC.items() if head.startswith(magic)), None)
        if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
            raise DataError(f"{name} is an old-style Excel (.xls) file, not a CSV file. Open it in your spreadsheet "
                            "program and save the sheet as CSV, then load that file.")
        if kind is None:
            return fp
        if counted is None and kind != "zip":
            counted = _Counted(fp)
            fp = io.BufferedReader(counted, 1 << 16)
        read_so_far = (lambda c=counted: c.count) if counted is not None else None
        if kind == "gzip":
            inner: Any = gzip.GzipFile(fileobj=fp, mode="rb")
        elif kind == "bzip2":
            inner = bz2.BZ2File(fp)
        elif kind == "xz":
            inner = lzma.LZMAFile(fp)
        else:
            inner, member_size = _zip_member(fp, seekable if counted is None else None, name, notes)
            read_so_far = read_so_far or (lambda s=member_size: s)
        fp = io.BufferedReader(_Unpacked(inner, read_so_far, name, kind), 1 << 20)
        seekable = None
        if kind != "zip":
            notes.append(f"decompressed {kind}")
    return fp


def _zip_member(fp: io.BufferedReader, seekable: BinaryIO | None, name: str, notes: list[str]) -> tuple[Any, int]:
    """The one data file inside a zip archive, opened for reading, and its compressed size."""
    if seekable is None:  # a zip inside another compression: unpack it (bounded) to get at its directory
        seekable = io.BytesIO(fp.read())
    seekable.seek(0)
    try:
        archive = zipfile.ZipFile(seekable)
        infos = [i for i in archive.infolist() if not i.filename.endswith("/")]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise DataError(f"{name} is a damaged zip file. Download or copy it again.") from exc
    names = [i.filename for i in infos]
    if any(n.startswith("xl/") for n in names) or "[Content_Types].xml" in names:
        raise DataError(f"{name} is an Excel workbook, not a CSV file. Open it in your spreadsheet program and "
                        "save the sheet as CSV (comma-separated), then load that file.")
    tables = [i for i in infos if re.search(r"\.(csv|tsv|dat|txt|parquet)(\.gz)?$", i.filename.lower())]
    if len(tables) != 1:
        listed = ", ".join(i.filename for i in tables[:5]) or "none"
        raise DataError(f"{name} is a zip archive with {len(tables)} data files inside ({listed}). Unzip it and "
                        "load the interactions file itself.")
    info = tables[0]
    check_unpacked(name, info.file_size, info.compress_size)  # what the archive says, before unpacking
    notes.append(f"read {info.filename} from the zip archive")
    try:
        return archive.open(info), info.compress_size
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError) as exc:
        raise DataError(f"{name} is a zip file Tastemaker cannot open ({exc}). Unzip it and load the file "
                        "itself.") from exc


# =============================================================================================
# Text layers: UTF-16 and "::"
# =============================================================================================


class _Transcoded(io.RawIOBase):
    """A UTF-16 stream re-encoded as UTF-8, so that everything downstream reads UTF-8 bytes."""

    def __init__(self, fp: BinaryIO, encoding: str) -> None:
        self._fp = fp
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        self._pending = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending and not self._done:
            data = self._fp.read(1 << 16)
            self._done = not data
            self._pending = self._decoder.decode(data, final=self._done).encode("utf-8")
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


class _Replaced(io.RawIOBase):
    """A stream with every ``b"::"`` replaced by :data:`FIELD_SEPARATOR` (MovieLens .dat files)."""

    def __init__(self, fp: BinaryIO) -> None:
        self._fp = fp
        self._pending = b""
        self._carry = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            data = self._fp.read(1 << 16)
            if not data:
                self._pending, self._carry = self._carry, b""
                if not self._pending:
                    return 0
                break
            data = self._carry + data
            self._carry = b":" if data.endswith(b":") and not data.endswith(b"::") else b""
            if self._carry:
                data = data[:-1]
            self._pending = data.replace(b"::", FIELD_SEPARATOR.encode())
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


# =============================================================================================
# Sniffing
# =============================================================================================


def _utf16_without_bom(head: bytes) -> str | None:
    """``utf-16-le`` / ``utf-16-be`` when the bytes look like mostly-ASCII UTF-16 text without a BOM."""
    sample = head[:4096]
    if len(sample) < 8:
        return None
    even, odd = sample[0::2], sample[1::2]
    zeros_even, zeros_odd = even.count(0) / len(even), odd.count(0) / len(odd)
    if zeros_odd > 0.4 and zeros_even < 0.05:
        return "utf-16-le"
    if zeros_even > 0.4 and zeros_odd < 0.05:
        return "utf-16-be"
    return None


def _choose_encoding(head: bytes) -> tuple[str, str]:
    """The encoding to try first and the decoded head: UTF-8 (BOM or not), else Windows-1252, else Latin-1
    (which decodes anything). A truncated last character of the head is not held against UTF-8."""
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return encoding, codecs.getincrementaldecoder(encoding)().decode(head, final=False)
        except UnicodeDecodeError:
            continue
    return "latin-1", head.decode("latin-1")


def _looks_binary(raw: bytes) -> bool:
    sample = raw[:8192]
    if not sample:
        return False
    if b"\x00" in sample:
        return True
    controls = sum(1 for b in sample if (b < 32 and b not in (9, 10, 13, 12)) or b == 127)
    return controls > max(2, len(sample) // 100)


def _split_sample(text: str, delimiter: str) -> list[list[str]]:
    lines = text.splitlines()
    if len(lines) > 1 and not text.endswith(("\n", "\r")):
        lines = lines[:-1]  # the sample may end in the middle of a line
    lines = [ln for ln in lines[:200] if ln.strip()]
    return list(csv.reader(lines, delimiter=delimiter))


def _sniff_delimiter(text: str) -> str | None:
    """The delimiter whose field count is the most consistent (then the largest) over the first lines;
    None when every candidate gives a single column."""
    best: tuple[float, int] | None = None
    best_sep = None
    for sep in DELIMITERS:
        rows = _split_sample(text, sep)
        if not rows:
            continue
        counts = np.array([len(r) for r in rows])
        values, freq = np.unique(counts, return_counts=True)
        mode = int(values[freq.argmax()])
        if mode < 2:
            continue
        score = (float(freq.max()) / len(counts), mode)
        if best is None or score > best:
            best, best_sep = score, sep
    return best_sep


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def unique_names(columns: Any) -> list[str]:
    """Column names on one line, without BOM; blanks named ``column<n>``, repeats suffixed ``.1``, ``.2``."""
    out: list[str] = []
    seen: set[str] = set()
    last_suffix: dict[str, int] = {}  # per name, the last suffix given: each name is tried once or twice
    for j, col in enumerate(columns):
        text = " ".join(str(col).lstrip("\ufeff").split())
        if not text or text.startswith("Unnamed: "):
            text = f"column{j + 1}"
        base = text
        while text in seen:
            last_suffix[base] = last_suffix.get(base, 0) + 1
            text = f"{base}.{last_suffix[base]}"
        seen.add(text)
        out.append(text)
    return out


def _too_wide(name: str, count: int, exact: bool = True) -> DataError:
    many = f"{count:,}" if exact else f"at least {count:,}"
    return DataError(f"{name} has {many} columns; Tastemaker reads tables of at most {MAX_COLUMNS:,} columns. "
                     "Keep the user, item, rating and time columns (and any catalogue columns) and load that.")


# =============================================================================================
# Tables
# =============================================================================================

T = TypeVar("T")


@dataclass
class Chunk:
    """Consecutive rows of a table: ``frame`` is indexed by 1-based line numbers in the file (the header is
    line 1; row numbers for Parquet); ``ragged_lines`` are lines left out for their number of fields."""

    frame: pd.DataFrame
    ragged_lines: list[int] = field(default_factory=list)


def _all_null(batch: Any) -> np.ndarray | None:
    """The rows of an Arrow batch whose every cell is missing (blank lines), or None when there are none."""
    import pyarrow.compute as pc

    if batch.num_rows == 0 or all(column.null_count == 0 for column in batch.columns):
        return None
    blank = batch.column(0).is_null()
    for column in batch.columns[1:]:
        blank = pc.and_(blank, column.is_null())
    mask = np.array(blank.to_numpy(zero_copy_only=False), dtype=bool)
    return mask if mask.any() else None


class _Again(Exception):
    """Raised by a chunk iterator that must start over in a slower, more careful way."""


@dataclass(eq=False)
class Table:
    """An opened table file, ready to read. ``columns`` are its unique column names; ``header`` the
    header cells as written (None when the file has no header row); ``notes`` say how it is read."""

    name: str
    kind: str  # "text" or "parquet"
    columns: list[str]
    header: list[str] | None
    notes: list[str]
    open: Callable[[], BinaryIO] = field(repr=False)
    encoding: str = "utf-8"  # of the file; everything read from it is converted to UTF-8
    sep: str = ","
    skip_lines: int = 0
    careful: bool = False  # odd quoting or space-separated: read with the csv module, line by line
    blank_lines: int = 0
    rows_hint: int = 0  # about how many rows (from the file size and its first lines); 0 when unknown

    @property
    def line_index(self) -> bool:
        return self.kind == "text"

    def read(self, consume: Callable[[Iterator[Chunk]], T], max_rows: int | None = None,
             all_text: bool = True) -> T:
        """``consume(chunks)`` over every row (or the first ``max_rows``); it may be called again from the
        start when the file turns out to need another encoding or a more careful reader (the earlier
        result is then dropped). Text files give every column as text (the file's characters; blank and
        "NA"-like cells missing, see ``NA_WORDS``); Parquet columns keep their own types unless
        ``all_text``."""
        while True:
            self.blank_lines = 0
            try:
                return consume(self._chunks(max_rows, all_text))
            except _Again:
                continue

    # -- chunk iterators ---------------------------------------------------------------------------
    def _stream(self) -> BinaryIO:
        """The table's bytes as UTF-8 (other encodings converted on the way)."""
        fp = self.open()
        if not self.encoding.startswith("utf-8"):
            fp = io.BufferedReader(_Transcoded(fp, self.encoding), 1 << 20)
        if self.sep == FIELD_SEPARATOR:
            fp = io.BufferedReader(_Replaced(fp), 1 << 20)
        return fp

    def _chunks(self, max_rows: int | None, all_text: bool) -> Iterator[Chunk]:
        if self.kind == "parquet":
            yield from self._parquet_chunks(max_rows, all_text)
        elif self.careful:
            yield from self._careful_chunks(max_rows)
        else:
            yield from self._fast_chunks(max_rows)

    def _rows_per_chunk(self, max_rows: int | None) -> int:
        rows = max(1_000, CHUNK_CELLS // max(1, len(self.columns)))
        return min(rows, max_rows) if max_rows else rows

    def _fast_chunks(self, max_rows: int | None) -> Iterator[Chunk]:
        """pyarrow's streaming CSV reader, every column as text. Rows with the wrong number of fields are
        left out (their line numbers kept); anything else it cannot parse (odd quoting, text that is not
        UTF-8) starts the read over in a more careful way."""
        import pyarrow as pa
        import pyarrow.csv as pcsv

        pending: list[int] = []  # lines left out, not yet handed out with a chunk

        def invalid(row: Any) -> str:
            if row.number is None:
                return "error"
            pending.append(int(row.number))
            return "skip"

        read = pcsv.ReadOptions(use_threads=False, block_size=BLOCK_BYTES, column_names=self.columns,
                                skip_rows=self.skip_lines + (1 if self.header is not None else 0))
        parse = pcsv.ParseOptions(delimiter=self.sep, invalid_row_handler=invalid, ignore_empty_lines=False,
                                  newlines_in_values=True)
        convert = pcsv.ConvertOptions(column_types={c: pa.string() for c in self.columns}, null_values=NA_WORDS,
                                      strings_can_be_null=True, quoted_strings_can_be_null=True)
        line = self.skip_lines + (2 if self.header is not None else 1)
        done = 0
        stream = self._stream()
        reader = None
        try:
            try:
                reader = pcsv.open_csv(stream, read_options=read, parse_options=parse, convert_options=convert)
            except pa.ArrowInvalid as exc:
                self._retry(exc)
            while max_rows is None or done < max_rows:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    break
                except pa.ArrowInvalid as exc:
                    self._retry(exc)
                k = batch.num_rows
                pending.sort()
                lines = np.arange(line, line + k + len(pending), dtype=np.int64)
                if pending:
                    lines = lines[~np.isin(lines, pending)]
                lines = lines[:k]
                last = int(lines[-1]) if k else (pending[-1] if pending else line - 1)
                ragged = [n for n in pending if n <= last]
                del pending[: len(ragged)]
                line = last + 1
                blank = _all_null(batch)
                if blank is not None:  # blank lines go before the rows become pandas objects
                    self.blank_lines += int(blank.sum())
                    batch = batch.filter(pa.array(~blank))
                    lines = lines[~blank]
                frame = batch.to_pandas()
                frame.index = pd.Index(lines, name="line")
                if max_rows is not None:
                    frame = frame.iloc[: max_rows - done]
                done += len(frame)
                yield Chunk(frame, ragged)
                del frame, batch
                release_memory()
        finally:
            if reader is not None:
                reader.close()
            stream.close()

    def _retry(self, exc: Exception) -> None:
        """Switch to what the parse error calls for (another encoding, or the careful reader) and start
        over."""
        message = str(exc)
        if "UTF8" in message or "UTF-8" in message:
            if self.encoding.startswith("utf-8"):
                self.encoding = "cp1252"
            elif self.encoding == "cp1252":
                self.encoding = "latin-1"
            self.notes = [n for n in self.notes if not n.startswith("text is not UTF-8")]
            word = "Windows-1252" if self.encoding == "cp1252" else "Latin-1"
            self.notes.append(f"text is not UTF-8; read it as {word}")
        else:
            self.careful = True
        raise _Again from exc

    def _careful_chunks(self, max_rows: int | None) -> Iterator[Chunk]:
        """Rows with the wrong number of fields are left out and their line numbers kept (slow path)."""
        stream = self._stream()
        try:
            text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
            for _ in range(self.skip_lines):
                text.readline()
            start = self.skip_lines + 1
            if self.sep == _WHITESPACE:
                rows_iter: Iterator[tuple[int, list[str]]] = (
                    (start + i, ln.split()) for i, ln in enumerate(text))
            else:
                reader = csv.reader(text, delimiter=self.sep, skipinitialspace=True)

                def numbered() -> Iterator[tuple[int, list[str]]]:
                    first = start
                    for row in reader:
                        yield first, row
                        first = start + reader.line_num

                rows_iter = numbered()
            width = len(self.columns)
            rows_per_chunk = self._rows_per_chunk(max_rows)
            header_pending = self.header is not None
            good: list[list[str]] = []
            lines: list[int] = []
            bad: list[int] = []
            done = 0
            for number, row in rows_iter:
                if header_pending:
                    if row and any(f.strip() for f in row):
                        header_pending = False
                    continue
                if not row or not any(f.strip() for f in row):
                    self.blank_lines += 1
                    continue
                if len(row) != width:
                    bad.append(number)
                    continue
                good.append(row)
                lines.append(number)
                if len(good) >= rows_per_chunk or (max_rows is not None and done + len(good) >= max_rows):
                    yield self._careful_frame(good, lines, bad)
                    done += len(good)
                    good, lines, bad = [], [], []
                    if max_rows is not None and done >= max_rows:
                        return
            if good or bad:
                yield self._careful_frame(good, lines, bad)
        finally:
            stream.close()

    def _careful_frame(self, rows: list[list[str]], lines: list[int], bad: list[int]) -> Chunk:
        frame = pd.DataFrame(rows, columns=self.columns, dtype=object)
        frame = frame.apply(lambda col: col.str.strip()).replace({"": np.nan})
        frame.index = pd.Index(np.asarray(lines, dtype=np.int64), name="line")
        return Chunk(frame, bad)

    def _parquet_chunks(self, max_rows: int | None, all_text: bool) -> Iterator[Chunk]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        stream = self.open()
        try:
            parquet = pq.ParquetFile(stream)
            row = 1
            for batch in parquet.iter_batches(batch_size=self._rows_per_chunk(max_rows)):
                frame = pa.Table.from_batches([batch]).to_pandas()
                frame.columns = self.columns
                if all_text:
                    frame = frame.astype(str).where(frame.notna(), np.nan)
                if max_rows is not None:
                    frame = frame.iloc[: max_rows - row + 1]
                frame.index = pd.RangeIndex(row, row + len(frame), name="row")
                row += len(frame)
                yield Chunk(frame)
                if max_rows is not None and row > max_rows:
                    return
        except DataError:
            raise
        except Exception as exc:  # pyarrow raises many types for damaged files
            reason = " ".join(str(exc).split())[:160]
            raise DataError(f"{self.name} is a damaged or unsupported Parquet file ({reason}). Export it "
                            "again.") from exc
        finally:
            stream.close()


def open_table(source: Any) -> Table:
    """Open and sniff a table: a delimited text file (comma, semicolon, tab, pipe, spaces, MovieLens
    ``::``; UTF-8 with or without BOM, UTF-16 with or without BOM, else Windows-1252/Latin-1), possibly
    compressed (gzip/bz2/xz/zip), or a Parquet file. Raises :class:`DataError` for anything else."""
    name = source_name(source)
    base = _opener(source)

    def open_content(notes: list[str] | None = None) -> io.BufferedReader:
        raw = base()
        fp = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw, 1 << 16)
        return _unwrap(fp, raw if raw.seekable() else None, name, [] if notes is None else notes)

    notes: list[str] = []
    fp = open_content(notes)
    try:
        head = fp.read(HEAD_BYTES)
        blank_lines = 0
        while len(head) == HEAD_BYTES and not head.strip():  # a flood of blank lines: read on (within limits)
            blank_lines += head.count(b"\n")
            head = fp.read(HEAD_BYTES)
        if head[:4] != b"PAR1":
            packed = bool(notes)
            table = _sniff_text(name, head, open_content, notes, blank_lines)
            if len(head) < HEAD_BYTES:
                table.rows_hint = head.count(b"\n") + 1
            elif not packed:  # plain text: rows ~ size / bytes per line of the head
                table.rows_hint = int(_size_of(base) * head.count(b"\n") / len(head))
            return table
        if notes:  # Parquet inside a compressed file: unpacked (within the limits) to seek in it
            data = head + fp.read()
            return _open_parquet(name, lambda: io.BytesIO(data), notes)
    finally:
        fp.close()
    return _open_parquet(name, base, notes)


def _size_of(open_source: Callable[[], BinaryIO]) -> int:
    stream = open_source()
    try:
        return int(stream.seek(0, io.SEEK_END))
    except (OSError, ValueError):
        return 0
    finally:
        stream.close()


def _open_parquet(name: str, open_parquet: Callable[[], BinaryIO], notes: list[str]) -> Table:
    import pyarrow.parquet as pq

    stream = open_parquet()
    try:
        schema = pq.ParquetFile(stream).schema_arrow
    except Exception as exc:  # pyarrow raises many types for damaged files
        reason = " ".join(str(exc).split())[:160]
        raise DataError(f"{name} is a damaged or unsupported Parquet file ({reason}). Export it again.") from exc
    finally:
        stream.close()
    if len(schema.names) > MAX_COLUMNS:
        raise _too_wide(name, len(schema.names))
    columns = unique_names(schema.names)
    if len(columns) < 2:
        raise DataError(f"{name} has only one column; Tastemaker needs at least a user column and an item column.")
    return Table(name=name, kind="parquet", columns=columns, header=None, notes=[*notes, "read as Parquet"],
                 open=open_parquet)


def _sniff_text(name: str, head: bytes, reopen: Callable[[], BinaryIO], notes: list[str],
                blank_lines: int = 0) -> Table:
    """The text table whose first ``HEAD_BYTES`` (unpacked) after ``blank_lines`` blank lines are ``head``;
    ``reopen()`` gives its bytes again."""
    if not head.strip():
        raise DataError(f"{name} is empty (no rows at all). Choose the file that holds your interactions.")
    utf16 = None
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        utf16 = "utf-16"
    else:
        utf16 = _utf16_without_bom(head)
    if utf16:
        head = codecs.getincrementaldecoder(utf16)(errors="replace").decode(head, final=False).encode("utf-8")
        notes.append("converted from UTF-16")
    if _looks_binary(head):
        raise DataError(
            f"{name} does not contain text: it looks like binary data (an image, archive or program file), "
            "not a CSV table. Export your interactions as CSV (one row per user-item interaction) and load that."
        )
    leading = re.match(rb"(?:[ \t]*\r?\n|[ \t]*\r)+", head)
    skip_lines = blank_lines
    if leading:  # blank lines before the header: pandas would take the first one as the header
        skip_lines += leading.group(0).count(b"\n") or leading.group(0).count(b"\r")
        head = head[leading.end():]
    encoding, text = _choose_encoding(head)
    stripped = text.lstrip()
    lower = stripped[:200].lower()
    if lower.startswith(("<!doctype", "<html", "<?xml", "<head", "<body", "<table", "<div")) or (
        lower.startswith("<") and "<html" in text[:4000].lower()
    ):
        raise DataError(
            f"{name} is a web page (HTML), not a CSV table; this often happens when a download link saves "
            "the page around the file. Download the raw file (e.g. the 'Raw' or 'Download' button) and load it."
        )
    if stripped.startswith(("{", "[")):
        raise DataError(
            f"{name} contains JSON, not a CSV table. Convert it to CSV with one row per interaction and "
            "columns such as user, item, rating, timestamp (e.g. pandas.read_json(...).to_csv(...))."
        )
    if encoding != "utf-8-sig":
        notes.append(f"text is not UTF-8; read it as {'Windows-1252' if encoding == 'cp1252' else 'Latin-1'}")
    line_end = re.search(r"\r\n|\n|\r", stripped)
    first_line = stripped[: line_end.start()] if line_end else stripped
    widest = max(first_line.count(sep) for sep in (*DELIMITERS, "::", " ")) + 1
    if widest > MAX_COLUMNS:
        raise _too_wide(name, widest, exact=line_end is not None)
    if line_end is None and len(head) >= HEAD_BYTES:
        raise DataError(f"The first line of {name} is longer than {_size(HEAD_BYTES)}: that is not a table "
                        "Tastemaker can read. Check that the file is a CSV file with one interaction per line.")

    if "::" in first_line:
        text = text.replace("::", FIELD_SEPARATOR)
        sep = FIELD_SEPARATOR
        notes.append("fields separated by '::' (MovieLens .dat style)")
    else:
        found = _sniff_delimiter(text)
        if found is None:
            rows = _split_sample(text, ",")
            if len(rows) > 1 and all(len(r[0].split()) >= 2 for r in rows[:50] if r):
                sep = _WHITESPACE
                notes.append("fields separated by spaces")
            else:
                header = first_line.strip()[:60]
                raise DataError(
                    f"{name} has only one column ({header!r}); Tastemaker needs at least a user column and an "
                    "item column. Separate the columns with commas, semicolons, tabs or '|', one interaction per line."
                )
        else:
            sep = found
            notes.append(f"{DELIMITERS[sep]}-separated")

    if sep == _WHITESPACE:
        sample_rows = [ln.split() for ln in text.splitlines()[:200] if ln.strip()]
    else:
        sample_rows = _split_sample(text, sep)
    first = [f.strip() for f in sample_rows[0]] if sample_rows else [f.strip() for f in first_line.split(sep)]
    if len(first) > MAX_COLUMNS:
        raise _too_wide(name, len(first))
    has_header = not any(is_number(f) for f in first if f)
    if not has_header:
        notes.append("no header row: columns are named column1, column2, ...")
    columns = unique_names(first) if has_header else [f"column{i + 1}" for i in range(len(first))]
    if len(columns) < 2:
        raise DataError(
            f"{name} has only one column ({columns[0]!r}); Tastemaker needs at least a user column and an "
            "item column. Separate the columns with commas, semicolons, tabs or '|'."
        )
    return Table(name=name, kind="text", columns=columns, header=first if has_header else None, notes=notes,
                 open=reopen, encoding=utf16 or encoding, sep=sep, skip_lines=skip_lines,
                 careful=sep == _WHITESPACE)


def read_table(source: Any, all_text: bool = False, max_rows: int | None = None) -> pd.DataFrame:
    """Read a table file (see :func:`open_table`) into one DataFrame with the file's own columns: every
    column of a text file as text (the file's characters; blank cells missing), Parquet columns in their
    own types (as text with ``all_text``). ``max_rows`` reads only the first rows (a preview).

    Text files come back indexed by their 1-based line number in the file (the header is line 1), so
    later messages can point at lines; ``frame.attrs`` holds ``source`` (the file name), ``line_index``
    (whether the index is line numbers), ``notes`` (how the file was read), ``header`` (the header cells
    as written, or None), ``ragged_lines`` and ``expected_fields``. Raises :class:`DataError` for anything
    that is not a readable table.
    """
    table = open_table(source)

    def collect(chunks: Iterator[Chunk]) -> tuple[list[pd.DataFrame], list[int]]:
        frames: list[pd.DataFrame] = []
        ragged: list[int] = []
        for chunk in chunks:
            frames.append(chunk.frame)
            ragged.extend(chunk.ragged_lines)
        return frames, ragged

    frames, ragged = table.read(collect, max_rows=max_rows, all_text=all_text)
    frame = pd.concat(frames) if frames else pd.DataFrame(columns=table.columns)
    if len(frame) == 0 and not ragged:
        raise no_rows(table)
    notes = list(table.notes)
    if table.blank_lines:
        notes.append(f"skipped {table.blank_lines} blank line(s)")
    frame.attrs.update(source=table.name, line_index=table.line_index, notes=notes, header=table.header,
                       ragged_lines=ragged, expected_fields=len(table.columns))
    return frame


def no_rows(table: Table) -> DataError:
    """The error for a table without a single data row."""
    if table.header is not None:
        return DataError(f"{table.name} has a header row ({', '.join(table.columns)}) but no data rows. "
                         "Export the file again with its rows.")
    if table.kind == "parquet":
        return DataError(f"{table.name} has columns ({', '.join(table.columns)}) but no rows.")
    return DataError(f"{table.name} has no data rows.")
