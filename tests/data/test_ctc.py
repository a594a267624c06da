"""Whole-sentence sampling, the gloss vocabulary and CTC batches, against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from signprep.data import CTCCollate, GlossVocabulary, whole_sample_indices


def test_whole_sample_indices_cover_every_frame_or_resample_to_the_speed():
    assert whole_sample_indices(5).tolist() == [0, 1, 2, 3, 4]
    # speed 2: round(5 / 2) = 2 frames at (i + 0.5) * 5 / 2 = 1.25, 3.75 -> 1, 3
    assert whole_sample_indices(5, speed=2.0).tolist() == [1, 3]
    # speed 0.5: 10 frames at (i + 0.5) * 0.5 -> 0, 0, 1, 1, ..., 4, 4: slow motion repeats frames
    assert whole_sample_indices(5, speed=0.5).tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    rng = np.random.default_rng(0)
    jittered = whole_sample_indices(100, "random", rng, speed=1.0)
    assert len(jittered) == 100 and np.all(np.diff(jittered) >= 0) and jittered.max() <= 99
    assert whole_sample_indices(1, speed=3.0).tolist() == [0]
    with pytest.raises(ValueError):
        whole_sample_indices(0)


def test_gloss_vocabulary_reserves_blank_and_unknown():
    vocab = GlossVocabulary(["REGEN", "WETTER"])
    assert vocab.tokens == ["<blank>", "<unk>", "REGEN", "WETTER"] and len(vocab) == 4
    assert vocab.encode(["WETTER", "SONNE", "REGEN"]) == [3, 1, 2]
    assert vocab.decode([3, 0, 1, 2]) == ["WETTER", "<unk>", "REGEN"]
    assert GlossVocabulary.from_dict(vocab.to_dict()).tokens == vocab.tokens
    with pytest.raises(ValueError):
        GlossVocabulary(["A", "A"])


def _item(sample_id: str, frames: int, glosses: str) -> dict:
    """An item as ShardDataset(clip_len=None) gives it, with recognisable values per frame."""
    return {
        "keypoints": torch.arange(frames * 2 * 3, dtype=torch.float32).reshape(frames, 2, 3) + 1,
        "keypoint_present": torch.ones(frames, 2, dtype=torch.bool),
        "frame_indices": torch.arange(frames),
        "frame_size": torch.tensor([260, 210]),
        "label": torch.tensor(-1),
        "glosses": glosses,
        "translation": f"sentence {sample_id}",
        "sample_id": sample_id,
    }


def test_ctc_batches_pad_frames_and_targets():
    vocab = GlossVocabulary(["DRUCK", "TIEF", "WETTER"])
    batch = CTCCollate(vocab)([_item("a", 3, "TIEF WETTER"), _item("b", 5, "DRUCK SONNE TIEF")])
    assert batch["keypoints"].shape == (2, 5, 2, 3)
    assert torch.equal(batch["keypoints"][0, :3], _item("a", 3, "")["keypoints"])
    assert not batch["keypoints"][0, 3:].any() and not batch["keypoint_present"][0, 3:].any()
    assert batch["keypoint_present"][1].all()
    assert batch["frame_indices"].tolist() == [[0, 1, 2, 0, 0], [0, 1, 2, 3, 4]]
    assert batch["input_lengths"].tolist() == [3, 5]
    assert batch["targets"].tolist() == [[3, 4, 0], [2, 1, 3]]  # SONNE unknown: 1; padded with the blank
    assert batch["target_lengths"].tolist() == [2, 3]
    assert batch["frame_size"].shape == (2, 2) and batch["sample_id"] == ["a", "b"]
    assert batch["translation"] == ["sentence a", "sentence b"]


def test_an_item_without_glosses_is_an_error_naming_it():
    with pytest.raises(ValueError, match="'isolated'"):
        CTCCollate(GlossVocabulary(["A"]))([_item("s", 2, "A"), _item("isolated", 2, "")])
