"""The shard schema, shared by the writer, the reader and `signprep verify`.

A shard is an HDF5 file holding several samples under `/samples/<sample_id>`;
docs/shards.md is the reference for the teams who read them. Bump
SCHEMA_VERSION on any change a reader could notice.
"""

from __future__ import annotations

import hashlib

import h5py
import numpy as np

from signprep.shards.codecs import CodecUnavailable, load_plugin

SCHEMA_VERSION = 1
FILE_FORMAT = "signprep-shard"
INDEX_NAME = "shard_index.json"
SAMPLES_GROUP = "samples"

# file attributes every shard carries
FILE_ATTRS = ("format", "schema_version", "signprep_version", "pipeline", "pipeline_hash")
# sample attributes every sample carries (stages add their own, e.g. keypoint_layout)
SAMPLE_ATTRS = (
    "sample_id", "dataset", "gloss", "label", "signer_id", "split", "num_frames", "fps",
    "source_fps", "frame_start", "frame_end", "width", "height", "source_path", "source_sha256",
    "decoder", "pipeline_hash", "content_sha256",
)  # fmt: skip
# datasets every sample carries, whatever the stages
SAMPLE_DATASETS = ("frame_indices",)


class GlossSequence(tuple):
    """A sample's gloss sequence (continuous datasets), stored as the attribute `glosses`: an array
    of UTF-8 strings in signing order, empty for an isolated sign (plain h5py reads it as an array
    of str)."""


class SchemaError(ValueError):
    """A shard does not follow the schema; the message names the file and what is wrong."""


def content_sha256(arrays: dict[str, np.ndarray]) -> str:
    """Checksum of a sample's data: names, dtypes, shapes and raw bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def read_sample_arrays(group: h5py.Group) -> dict[str, np.ndarray]:
    return {name: group[name][()] for name in group.keys() if isinstance(group[name], h5py.Dataset)}


def check_file(f: h5py.File, where: str) -> None:
    """Raise SchemaError unless `f` is a signprep shard of a version this code reads."""
    missing = [a for a in FILE_ATTRS if a not in f.attrs]
    if missing:
        raise SchemaError(f"{where}: not a signprep shard (missing file attributes {missing})")
    if f.attrs["format"] != FILE_FORMAT:
        raise SchemaError(f"{where}: format is {f.attrs['format']!r}, expected {FILE_FORMAT!r}")
    version = int(f.attrs["schema_version"])
    if version > SCHEMA_VERSION:
        raise SchemaError(f"{where}: schema version {version} is newer than this signprep reads ({SCHEMA_VERSION})")
    if SAMPLES_GROUP not in f:
        raise SchemaError(f"{where}: no /{SAMPLES_GROUP} group")
    try:  # a plugin codec's filter must be loaded before any of its data is read
        load_plugin(str(f.attrs.get("storage_codec", "gzip")), where)
    except CodecUnavailable as e:
        raise SchemaError(str(e)) from None


def check_sample(group: h5py.Group, where: str) -> None:
    missing = [a for a in SAMPLE_ATTRS if a not in group.attrs]
    if missing:
        raise SchemaError(f"{where}: sample {group.name} lacks attributes {missing}")
    n = int(group.attrs["num_frames"])
    for name in group:
        # Shards travel between teams: a soft or external link, or a virtual dataset, would make
        # a reader follow it into another file (the writer only ever makes plain datasets).
        link = group.get(name, getlink=True)
        if not isinstance(link, h5py.HardLink):
            raise SchemaError(f"{where}: {group.name}/{name} is a {type(link).__name__}, not a plain dataset")
        if isinstance(group[name], h5py.Dataset) and group[name].is_virtual:
            raise SchemaError(f"{where}: {group.name}/{name} is a virtual dataset (data in other files)")
    for name in SAMPLE_DATASETS:
        if name not in group:
            raise SchemaError(f"{where}: sample {group.name} lacks dataset {name!r}")
    for name, ds in group.items():
        if isinstance(ds, h5py.Dataset) and ds.shape[:1] != (n,):
            raise SchemaError(f"{where}: {group.name}/{name} has shape {ds.shape}, expected {n} frames first")
