"""Names from datasets: which sample ids are usable, and the file name a sample id gets on disk.

Sign-language corpora come from every country, so an id, a gloss or a file name may hold any
Unicode letters, digits, spaces and punctuation ("año", "手语 001", "Ärger?"). An id becomes an
HDF5 group name, a key of the shard index and a line of the reports; it never becomes a file
name itself: files derived from a sample (staging parts) are named by `safe_file_name`.

So only what cannot be a name at all is refused (`check_sample_id`):
- "/" and "\\" (an HDF5 path separator, and a path separator on Windows), "." and "..";
- control characters (Unicode category Cc: NUL, newline, tab, DEL, the C1 range), line and
  paragraph separators (Zl, Zp: Python's str.splitlines() ends a line at U+2028, so one would
  split a manifest line), lone surrogates (Cs: what undecodable bytes of a file name become
  in Python; they cannot be written as UTF-8);
- the bidirectional controls (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069) and the
  byte-order mark U+FEFF: they make a name display as another name (CVE-2021-42574). Other
  format characters (Cf) stay allowed: ZWNJ and ZWJ are part of correct Persian, Hindi and
  emoji spelling;
- leading or trailing whitespace (invisible in every listing; a CSV cell's stray space);
- names longer than MAX_NAME_BYTES.

Names are Unicode-NFC normalised (`normalise_name`): macOS file systems hand out decomposed
(NFD) names, so a gloss folder `año` typed in NFC and read back from disk in NFD is one gloss
and one id, not two that look the same.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from .errors import ManifestError

# 255 bytes is the longest file name of ext4, XFS, Btrfs and APFS (and 255 UTF-16 units on
# NTFS), so an id taken from a file name always fits. HDF5 itself has no limit, but an id
# longer than any file name is a mistake (a whole sentence in the id column), not a name.
MAX_NAME_BYTES = 255

_SEPARATORS = frozenset("/\\")
_BIDI_AND_BOM = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff")
_REFUSED_CATEGORIES = {
    "Cc": "a control character",
    "Cs": "a lone surrogate",
    "Zl": "a line break",
    "Zp": "a line break",
}

# safe_file_name: a readable ASCII slug plus 20 hex digits (80 bits) of the id's sha256. Two
# distinct ids collide with probability about n^2 / 2^81: 4e-11 for ten million samples.
_SLUG_CHARS = 60
_HASH_HEX = 20
_NOT_SLUG = re.compile(r"[^A-Za-z0-9_-]+")


def normalise_name(name: str) -> str:
    """The NFC form of `name` (composed characters: "a" + U+0303 + "o" -> "año")."""
    return unicodedata.normalize("NFC", name)


def printable(name: str) -> str:
    """`name` with lone surrogates (what undecodable bytes of a file name become) written as
    backslash escapes, so that it can be printed and written as UTF-8 (byte 0xFF of a file
    name, read as U+DCFF, becomes the six characters "\\udcff")."""
    return name.encode("utf-8", "backslashreplace").decode("utf-8")


def name_problem(name: str) -> str | None:
    """Why `name` cannot be a sample id, or None if it can. `name` is checked as given (NFC it first)."""
    if not isinstance(name, str):
        return f"is not a string ({type(name).__name__})"
    if not name:
        return "is empty"
    if name in (".", ".."):
        return f"is {name!r}, which names a folder"
    if name != name.strip():
        return "has leading or trailing whitespace"
    for char in name:
        if char in _SEPARATORS:
            return f"holds the path separator {char!r}"
        if char in _BIDI_AND_BOM:
            return f"holds the invisible character U+{ord(char):04X} ({unicodedata.name(char, 'format character')})"
        what = _REFUSED_CATEGORIES.get(unicodedata.category(char))
        if what:
            return f"holds {what} (U+{ord(char):04X})"
    size = len(name.encode("utf-8"))
    if size > MAX_NAME_BYTES:
        return f"is {size} bytes long in UTF-8 (at most {MAX_NAME_BYTES})"
    return None


def check_sample_id(sample_id: str) -> str:
    """The NFC form of `sample_id`; a ManifestError saying why if it cannot be an id."""
    name = normalise_name(sample_id) if isinstance(sample_id, str) else sample_id
    problem = name_problem(name)
    if problem:
        raise ManifestError(f"sample id {sample_id!r} {problem}")
    return name


def safe_file_name(sample_id: str) -> str:
    """A file stem for `sample_id`: ASCII, at most 81 bytes, deterministic, distinct for distinct ids.

    A readable slug (the id's ASCII letters and digits, accents dropped, anything else
    "_", at most 60 characters) plus "-" and 20 hex digits of the sha256 of the NFC id:
    "Año nuevo/2" -> "Ano_nuevo_2-<hash>", "手语" -> "sample-<hash>". The hash is of the
    exact (case-sensitive) id, so ids that differ only in case get different stems even on
    a case-insensitive file system. No dot, no leading "-" or "_": safe as a file name on
    Linux, macOS and Windows, and for command-line tools.
    """
    name = normalise_name(sample_id)
    ascii_only = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = _NOT_SLUG.sub("_", ascii_only)[:_SLUG_CHARS].strip("_-") or "sample"
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_HEX]
    return f"{slug}-{digest}"


# ids that already are plain file names (WLASL's "00335", MS-ASL's YouTube ids) keep their name
_PLAIN_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def output_file_stem(sample_id: str) -> str:
    """The stem of a file a person opens for one sample (a contact sheet, an export): the id itself
    when it is a plain ASCII file name (letters, digits, `._-`, at most 100 characters, not
    starting with a dot or dash), else `safe_file_name(sample_id)`. Commands print the id beside
    each file they write, so the hashed names can be told apart."""
    return sample_id if _PLAIN_FILE_NAME.match(sample_id) and ".." not in sample_id else safe_file_name(sample_id)
