"""Names: which ids are refused and why, NFC, and the file stem each id gets on disk."""

from __future__ import annotations

import hashlib
import itertools
import re
import unicodedata

import pytest

from signprep.manifests import MAX_NAME_BYTES, ManifestError, SampleRecord, check_sample_id, safe_file_name
from signprep.manifests.names import name_problem

REAL_NAMES = [
    "90012",
    "año",
    "clip 1",
    "手语 001",
    "Ärger?",
    "S000000_P0000_T00",
    "--7E2sU6zP4_10-5-rgb_front",  # How2Sign: ids start with "-"
    ".hidden",  # harmless once the id is not the file name
    "a:b*c<d>|e",  # fine in HDF5; Windows file names would refuse it, but ids never become file names
    "می\u200cخواهم",  # Persian "I want", with the ZWNJ (U+200C) that is part of its spelling
    "👍🏽",
    "a" * MAX_NAME_BYTES,
    "é" * (MAX_NAME_BYTES // 2),  # 2 bytes each in UTF-8
]


@pytest.mark.parametrize("name", REAL_NAMES)
def test_real_names_are_ids(name: str):
    assert check_sample_id(name) == name
    assert SampleRecord(name, "x.mp4", "test").sample_id == name


# name -> the reason, as the error states it
REFUSED = {
    "": "is empty",
    ".": "is '.', which names a folder",
    "..": "is '..', which names a folder",
    "../evil": "holds the path separator '/'",
    "/tmp/evil": "holds the path separator '/'",
    "a\\b": "holds the path separator '\\\\'",
    "evil\x00.h5": "holds a control character (U+0000)",
    "two\nlines": "holds a control character (U+000A)",
    "tab\there": "holds a control character (U+0009)",
    "del\x7f": "holds a control character (U+007F)",
    "c1\x85c1": "holds a control character (U+0085)",
    "line\u2028sep": "holds a line break (U+2028)",
    "para\u2029sep": "holds a line break (U+2029)",
    "bytes\udcff": "holds a lone surrogate (U+DCFF)",
    "abc\u202egnp.exe": "holds the invisible character U+202E (RIGHT-TO-LEFT OVERRIDE)",
    "\ufeffbom": "holds the invisible character U+FEFF (ZERO WIDTH NO-BREAK SPACE)",
    " lead": "has leading or trailing whitespace",
    "trail\u3000": "has leading or trailing whitespace",  # ideographic space
    "a" * (MAX_NAME_BYTES + 1): f"is 256 bytes long in UTF-8 (at most {MAX_NAME_BYTES})",
    "手" * 86: f"is 258 bytes long in UTF-8 (at most {MAX_NAME_BYTES})",  # 3 bytes each
}


@pytest.mark.parametrize("name", list(REFUSED), ids=[repr(n)[:30] for n in REFUSED])
def test_unusable_names_are_refused_with_the_reason(name: str):
    assert name_problem(name) == REFUSED[name]
    with pytest.raises(ManifestError) as error:
        SampleRecord(name, "x.mp4", "test")
    assert str(error.value) == f"sample id {name!r} {REFUSED[name]}"


def test_ids_are_nfc():
    nfd = unicodedata.normalize("NFD", "año é")
    assert nfd != "año é"
    assert check_sample_id(nfd) == "año é"
    record = SampleRecord(nfd, "x.mp4", "test", gloss=nfd, glosses=(nfd.replace(" ", "_"),), translation=nfd)
    assert (record.sample_id, record.gloss, record.glosses, record.translation) == (
        "año é",
        "año é",
        ("año_é",),
        "año é",
    )


def test_safe_file_name_hand_computed():
    digest = hashlib.sha256("Año nuevo/2".encode()).hexdigest()[:20]
    assert safe_file_name("Año nuevo/2") == f"Ano_nuevo_2-{digest}"
    assert safe_file_name("手语").startswith("sample-")
    assert safe_file_name("90012") == "90012-" + hashlib.sha256(b"90012").hexdigest()[:20]
    assert safe_file_name("--7E2sU6zP4_10-5-rgb_front").startswith("7E2sU6zP4_10-5-rgb_front-")


def test_safe_file_name_is_the_same_for_nfc_and_nfd():
    assert safe_file_name(unicodedata.normalize("NFD", "año")) == safe_file_name("año")


def _variants() -> list[str]:
    """Many distinct ids, among them case-only, accent-only and punctuation-only differences
    (whose slugs are equal), and long ids sharing a 60-character prefix (slug truncation)."""
    stems = [
        "ab",
        "AB",
        "Ab",
        "aB",
        "año",
        "ano",
        "aÑo",
        "a.b",
        "a_b",
        "a-b",
        "a b",
        "a/b",
        "手语",
        "手話",
        ".",
        "_",
        "-",
    ]
    ids = {"".join(p) for p in itertools.product(stems, repeat=2)}
    ids |= {f"clip {n}" for n in range(5000)} | {f"CLIP {n}" for n in range(5000)}
    ids |= {"x" * 60 + str(n) for n in range(1000)}
    ids |= {"é" * 120 + str(n) for n in range(100)}
    return sorted(i for i in ids if name_problem(i) is None)


def test_safe_file_names_never_collide_even_ignoring_case_and_stay_short():
    ids = _variants()
    assert len(ids) > 11_000
    stems = [safe_file_name(i) for i in ids]
    assert len({s.casefold() for s in stems}) == len(ids)  # distinct on a case-insensitive file system too
    assert max(len(s.encode()) for s in stems) <= 100
    assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*-[0-9a-f]{20}", s) for s in stems)
    assert [safe_file_name(i) for i in ids] == stems  # deterministic
