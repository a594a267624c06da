"""The one error of the manifest side: unusable metadata, a bad entry, an unusable name."""

from __future__ import annotations


class ManifestError(ValueError):
    """A manifest, a dataset metadata file or one of its entries is unusable; the message names it."""
