"""Coverage-guided fuzzing of the record parsers and normalisers with atheris (libFuzzer).

Not part of the test run: the Hypothesis properties in ``tests/unit/matchers/`` run there
(``test_validator_properties.py``, ``test_hostile_records.py``); this runs the same promises
for as long as one cares to let it, guided by coverage, and keeps what it finds.

    .venv/bin/pip install atheris           # Google's fuzzer for Python (binary wheel)
    .venv/bin/python -m tools.fuzz_records event -max_total_time=300 -timeout=2 out/fuzz/event
    .venv/bin/python -m tools.fuzz_records fields -runs=200000 out/fuzz/fields

Targets:
    event: bytes -> ``parse_event_bytes`` -> ``Matcher.match`` (a watchlist of one): only
        :class:`InvalidRecord` with a reason out of ``REASONS`` may come out, and no lead shows
        a control, format or surrogate character.
    fields: one text, sent through every normaliser, the sanitiser, masking and pinyin, and as
        every field of an event and of a roster record: nothing may raise.

A crash leaves ``crash-<sha1>`` beside the corpus; replay it with
``python -m tools.fuzz_records event crash-<sha1>``. ``-timeout`` (seconds per input) turns a
slow input into a finding too.
"""

from __future__ import annotations

import sys
import unicodedata
from pathlib import Path
from typing import Any

import atheris
import orjson

with atheris.instrument_imports():
    from matchers.errors import REASONS, InvalidRecord
    from matchers.fields.addresses import normalise_address
    from matchers.fields.cards import normalise_card
    from matchers.fields.dates import normalise_date
    from matchers.fields.ids import normalise_id
    from matchers.fields.masking import mask_card, mask_id, mask_phone, redact_numbers
    from matchers.fields.names import normalise_name
    from matchers.fields.phones import normalise_phone
    from matchers.fields.pinyin import given_readings, segment_pinyin, simplified
    from matchers.fields.text import clean_text
    from matchers.records import event_from_raw, parse_event_bytes, person_from_raw
    from matchers.scoring.modelfile import default_model
    from matchers.watchlist.matcher import Matcher

__all__ = ["fuzz_event", "fuzz_fields", "main"]

_PERSON: dict[str, Any] = {
    "person_id": "p1",
    "name": "张伟",
    "id_number": "460105199001017124",
    "phones": ["13812345678"],
    "status": "dropped_out",
    "status_changed_at": "2026-01-05T09:00:00+08:00",
}
_MATCHER = Matcher(default_model())
_MATCHER.apply_roster(_PERSON)
_HIDDEN = ("Cc", "Cf", "Cs")


def fuzz_event(data: bytes) -> None:
    """One message through the worker's path; see the module docstring."""
    try:
        raw = parse_event_bytes(data, max_bytes=65536, check_envelope=False)
        outcome = _MATCHER.match(raw)
    except InvalidRecord as exc:
        if exc.reason not in REASONS:
            raise AssertionError(f"reason outside the closed set: {exc.reason!r}") from exc
        return
    for lead in outcome.leads:
        for key in ("person_name", "event_name", "event_type", "district"):
            shown = str(lead.get(key) or "")
            if any(unicodedata.category(c) in _HIDDEN for c in shown):
                raise AssertionError(f"{key} shows a hidden character")


def fuzz_fields(data: bytes) -> None:
    """One text through every normaliser and as every field; see the module docstring."""
    text = atheris.FuzzedDataProvider(data).ConsumeUnicodeNoSurrogates(4096)
    for normalise in (
        normalise_name,
        normalise_id,
        normalise_date,
        normalise_phone,
        normalise_address,
        normalise_card,
    ):
        normalise(text)
    for function in (clean_text, mask_id, mask_phone, mask_card, redact_numbers, simplified):
        function(text)
    segment_pinyin(text.lower())
    given_readings(text[:64])
    fields = ("name", "id_number", "id_type", "phone", "address", "birth_date", "gender")
    event = {"event_id": "e1", "source": "hukou", "occurred_at": "2026-01-01T00:00:00Z"}
    event_from_raw(event | dict.fromkeys(fields, text))
    try:
        person_from_raw(_PERSON | {"name": text, "aliases": [text], "district": text})
    except InvalidRecord as exc:  # a name of controls only is missing
        if exc.reason not in REASONS:
            raise


_TARGETS = {"event": fuzz_event, "fields": fuzz_fields}
# Where the search starts: a valid event of each source (orjson rejects nearly every random
# byte string, so without these the fuzzer would rarely get past the JSON parser).
_SEEDS = [
    {"event_id": "e1", "source": "bank", "occurred_at": "2026-02-01T10:00:00+08:00",
     "name": "张伟", "id_number": "460105199001017124", "phone": "+86 138-1234-5678",
     "card_number": "6222020200112233445", "event_type": "account_opened"},
    {"event_id": "e2", "source": "hukou", "occurred_at": "2026-02-01T10:00:00Z",
     "name": "ZHANG Wei", "id_number": "460105900101712", "gender": "F",
     "birth_date": "1990-01-01", "address": "海南省海口市美兰区海府路12号",
     "change_type": "move_in"},
    {"event_id": "e3", "source": "telecom", "occurred_at": "2026-02-01T10:00:00-00:00",
     "name": "張\u202e偉", "id_number": "460105********7124", "phone": "13812345678",
     "registered_address": "海口市海府路12号", "event_type": "sim_registered"},
]  # fmt: skip


def _seed(folders: list[str]) -> None:
    """Put the seeds into the first corpus folder when it is empty."""
    if not folders:
        return
    corpus = Path(folders[0])
    corpus.mkdir(parents=True, exist_ok=True)
    if not any(corpus.iterdir()):
        for i, seed in enumerate(_SEEDS):
            (corpus / f"seed-{i}").write_bytes(orjson.dumps(seed))


def main(argv: list[str]) -> None:
    """Run one target: ``fuzz_records TARGET [libFuzzer options and corpus folders]``."""
    if len(argv) < 2 or argv[1] not in _TARGETS:
        sys.exit(f"usage: {argv[0]} {{{'|'.join(_TARGETS)}}} [libFuzzer options] [corpus ...]")
    target = _TARGETS[argv[1]]
    _seed([a for a in argv[2:] if not a.startswith("-") and not Path(a).is_file()])
    atheris.Setup([argv[0], *argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
