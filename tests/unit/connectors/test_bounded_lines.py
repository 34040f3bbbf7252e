"""The one bounded line reader (``connectors.files.read_lines``), as produce and reprocess read.

Every boundary around the limit, the byte-order mark, ``\\r\\n`` and resuming from an offset are
checked against a plain reference: ``bytes.split`` over the whole text (fine for small inputs).
"""

from __future__ import annotations

import hashlib
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.files import PREFIX_BYTES, read_lines


def _reference(text: bytes, max_bytes: int) -> list[tuple[int, bytes | None, int, str | None]]:
    """What the reader must give: non-blank lines, long ones as size and hash only."""
    if text.startswith(b"\xef\xbb\xbf"):
        text = text[3:]
    pieces = text.split(b"\n")
    if pieces and pieces[-1] == b"":
        pieces.pop()  # the text ended with a line break: no line after it
    found = []
    for number, piece in enumerate(pieces, start=1):
        raw = piece.rstrip(b"\r\n") if len(piece) else piece
        if len(raw) > max_bytes:
            found.append((number, None, len(raw), hashlib.sha256(raw).hexdigest()))
        elif raw.strip():
            found.append((number, raw, len(raw), None))
    return found


def _read(text: bytes, max_bytes: int) -> list[tuple[int, bytes | None, int, str | None]]:
    return [
        (x.number, x.data, x.size, x.sha256)
        for x in read_lines(io.BytesIO(text), max_bytes=max_bytes)
    ]


@pytest.mark.parametrize("size", [7, 8, 9, 10, 11])
@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b""])
def test_lines_around_the_limit_are_kept_or_hashed_as_the_reference_says(
    size: int, ending: bytes
) -> None:
    text = b"a\n" + b"x" * size + ending + b"b\n"
    assert _read(text, 9) == _reference(text, 9)


def test_a_line_one_byte_over_the_limit_has_its_own_hash_not_the_empty_ones() -> None:
    # The last line without a break, exactly max_bytes + 1: produce once hashed b"" for it.
    (line,) = read_lines(io.BytesIO(b"y" * 10), max_bytes=9)
    assert line.data is None
    assert line.digest() == hashlib.sha256(b"y" * 10).hexdigest()
    assert line.prefix == b"y" * 10


def test_a_bom_is_dropped_at_the_start_only_and_offsets_count_it() -> None:
    text = b"\xef\xbb\xbf{}\n\xef\xbb\xbf[]\n"
    first, second = read_lines(io.BytesIO(text), max_bytes=100)
    assert (first.data, first.end) == (b"{}", 6)
    assert (second.data, second.end) == (b"\xef\xbb\xbf[]", len(text))


def test_reading_from_an_offset_continues_numbers_and_offsets() -> None:
    text = b'{"a": 1}\n\n{"b": 2}\n{"c": 3}\n'
    whole = list(read_lines(io.BytesIO(text), max_bytes=100))
    handle = io.BytesIO(text)
    handle.seek(whole[0].end)
    rest = list(read_lines(handle, max_bytes=100, start_line=1, start=whole[0].end))
    assert [(x.number, x.data, x.end) for x in rest] == [
        (x.number, x.data, x.end) for x in whole[1:]
    ]


def test_a_huge_line_is_never_held_whole() -> None:
    big = b"z" * (3 << 20)
    (line, after) = read_lines(io.BytesIO(big + b"\r\n{}\n"), max_bytes=1000)
    assert (line.data, line.size, line.prefix) == (None, len(big), big[:PREFIX_BYTES])
    assert line.sha256 == hashlib.sha256(big).hexdigest()
    assert (after.number, after.data) == (2, b"{}")


@given(
    st.lists(
        st.one_of(
            st.binary(max_size=14),
            st.sampled_from([b"", b" ", b"\r", b"\t\r", b"\xef\xbb\xbf", b"x" * 12]),
        ),
        max_size=8,
    ),
    st.sampled_from([b"\n", b"\r\n"]),
    st.booleans(),
)
def test_any_text_reads_as_the_reference_says(
    pieces: list[bytes], ending: bytes, last_break: bool
) -> None:
    pieces = [p.replace(b"\n", b"") for p in pieces]
    text = ending.join(pieces) + (ending if last_break and pieces else b"")
    assert _read(text, 9) == _reference(text, 9)
