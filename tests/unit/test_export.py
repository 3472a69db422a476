"""Print-file export: CSV content, parallel file identical to the sequential stream."""

from __future__ import annotations

from pathlib import Path

import pytest

from anticounterfeit.codes.export import iter_export_csv, write_export_file
from anticounterfeit.codes.format import (
    CodeKey,
    DecodedCode,
    Keyring,
    encode_code,
    verify_code,
    verify_pin,
)
from anticounterfeit.gs1.digital_link import format_digital_link, parse_digital_link
from kernel.errors import InvalidInput

KEY = CodeKey.from_secret(9, b"k" * 32)
RING = Keyring([KEY])
GTIN = "09506000134352"
BASE = "https://r.example/dl"


def _rows(text: str) -> list[list[str]]:
    assert text.endswith("\n")
    return [line.split(",") for line in text[:-1].split("\n")]


def test_csv_rows_verify_and_link() -> None:
    text = "".join(iter_export_csv(KEY, GTIN, 500, 250, resolver_base_url=BASE, chunk_size=64))
    rows = _rows(text)
    assert rows[0] == ["seq", "code", "url"]
    assert len(rows) == 251
    for seq, (s, code, url) in enumerate(rows[1:]):
        assert int(s) == seq
        assert code == encode_code(KEY, 500 + seq, GTIN)
        assert verify_code(RING, code, GTIN) == DecodedCode(9, 500 + seq)
        assert url == format_digital_link(BASE, GTIN, code)
        assert parse_digital_link(url).serial == code


def test_pin_column_only_with_pin_length_and_pins_verify() -> None:
    text = "".join(
        iter_export_csv(KEY, GTIN, 0, 100, resolver_base_url=BASE, lot="L/7", pin_length=6)
    )
    rows = _rows(text)
    assert rows[0] == ["seq", "code", "url", "pin"]
    for seq, code, url, pin in rows[1:]:
        assert len(pin) == 6
        assert verify_pin(KEY, int(seq), pin, 6)
        assert url == format_digital_link(BASE, GTIN, code, lot="L/7")
        assert parse_digital_link(url).lot == "L/7"


def test_chunking_does_not_change_output() -> None:
    whole = "".join(iter_export_csv(KEY, GTIN, 3, 1000, resolver_base_url=BASE, chunk_size=1000))
    for size in (1, 7, 333, 5000):
        assert (
            "".join(iter_export_csv(KEY, GTIN, 3, 1000, resolver_base_url=BASE, chunk_size=size))
            == whole
        )


def test_empty_roll_is_header_only() -> None:
    assert "".join(iter_export_csv(KEY, GTIN, 0, 0, resolver_base_url=BASE)) == "seq,code,url\n"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"resolver_base_url": "https://r.example/a,b"}, "invalid_resolver_url"),
        ({"resolver_base_url": "ftp://r.example"}, "invalid_resolver_url"),
        ({"resolver_base_url": "https://r.example/?q=1"}, "invalid_resolver_url"),
        ({"resolver_base_url": BASE, "lot": "with space"}, "invalid_lot"),
        ({"resolver_base_url": BASE, "lot": "A" * 21}, "invalid_lot"),
        ({"resolver_base_url": BASE, "pin_length": 3}, "invalid_pin_length"),
    ],
)
def test_arguments_checked_before_streaming(kwargs: dict[str, object], code: str) -> None:
    with pytest.raises(InvalidInput) as info:
        iter_export_csv(KEY, GTIN, 0, 10, **kwargs)  # type: ignore[arg-type]
    assert info.value.code == code


def test_bad_gtin_rejected() -> None:
    with pytest.raises(InvalidInput) as info:
        iter_export_csv(KEY, "9506000134352", 0, 10, resolver_base_url=BASE)
    assert info.value.code == "invalid_gtin"


@pytest.mark.parametrize("pin_length", [None, 8])
def test_parallel_file_equals_sequential_stream(tmp_path: Path, pin_length: int | None) -> None:
    expected = "".join(
        iter_export_csv(KEY, GTIN, 42, 2345, resolver_base_url=BASE, pin_length=pin_length)
    ).encode("ascii")
    calls: list[tuple[int, int]] = []
    target = tmp_path / "roll.csv"
    written = write_export_file(
        target,
        KEY,
        GTIN,
        42,
        2345,
        resolver_base_url=BASE,
        pin_length=pin_length,
        chunk_size=300,
        workers=2,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert written == 2345
    assert target.read_bytes() == expected
    assert calls == [(min(300 * (i + 1), 2345), 2345) for i in range(8)]
    assert not (tmp_path / "roll.csv.part").exists()


def test_single_worker_file_equals_stream(tmp_path: Path) -> None:
    target = tmp_path / "roll.csv"
    assert write_export_file(target, KEY, GTIN, 0, 777, resolver_base_url=BASE, workers=1) == 777
    expected = "".join(iter_export_csv(KEY, GTIN, 0, 777, resolver_base_url=BASE))
    assert target.read_text("ascii") == expected


def test_failed_export_leaves_no_file(tmp_path: Path) -> None:
    target = tmp_path / "roll.csv"

    def boom(done: int, total: int) -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_export_file(
            target, KEY, GTIN, 0, 100, resolver_base_url=BASE, workers=1, progress=boom
        )
    assert list(tmp_path.iterdir()) == []
