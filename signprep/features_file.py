"""The features file every `signprep embed <model>` writes: named arrays, complete or absent.

`.h5`/`.hdf5` (any suffix but `.npz`): one HDF5 dataset per array (object arrays as UTF-8
strings) plus the given attributes. `.npz`: the same arrays (strings as numpy unicode), no
attributes. Written atomically (`signprep.atomic`), so a killed run never leaves half a file.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from signprep.atomic import atomic_hdf5, atomic_write_bytes


def write_features_file(
    out_file: str | Path, arrays: Mapping[str, np.ndarray], attrs: Mapping[str, Any], compress: bool = False
) -> Path:
    """Write `arrays` (and, for HDF5, `attrs`) to `out_file` atomically; returns its path.
    `compress`: deflate the .npz members (HDF5 files are written uncompressed either way)."""
    out_file = Path(out_file)
    if out_file.suffix == ".npz":
        buffer = io.BytesIO()  # numpy's own file writes lose the errno of a failed write
        save = np.savez_compressed if compress else np.savez
        save(buffer, **{k: (v.astype(str) if v.dtype == object else v) for k, v in arrays.items()})
        return atomic_write_bytes(out_file, buffer.getbuffer())
    import h5py

    with atomic_hdf5(out_file) as f:
        for k, v in arrays.items():
            f.create_dataset(k, data=v.astype(h5py.string_dtype()) if v.dtype == object else v)
        f.attrs.update(attrs)
    return out_file
