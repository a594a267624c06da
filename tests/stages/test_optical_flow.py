"""Optical flow: known motion is recovered; encodings round-trip; RAFT never downloads; plan cost and row."""

from __future__ import annotations

import numpy as np
import pytest

from signprep.kernels.flow_encoding import decode_flow_uint8, encode_flow_uint8, flow_to_rgb
from signprep.shards import ShardReader
from signprep.stages.flow_methods import FlowError, RaftFlow
from signprep.stages.optical_flow import FLOW_COSTS, FlowConfig, OpticalFlow
from signprep.stages.optical_flow import cost as flow_cost
from signprep.stages.optical_flow import render_rows as flow_rows
from signprep.video.decode import VideoInfo


def _textured(h: int, w: int, seed: int = 0) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 255, (h // 4, w // 4, 3), dtype=np.uint8)
    return cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)  # smooth texture DIS can track


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_a_known_shift_is_recovered(method: str):
    dx, dy = 3, -2  # pixels per frame at the flow's own size (no resize: 128 -> 128)
    base = _textured(160, 160)
    frames = [base[16:144, 16:144], base[16 - dy : 144 - dy, 16 - dx : 144 - dx]]  # content moves by (dx, dy)
    stage = OpticalFlow(FlowConfig(method=method, size=(128, 128), fit="stretch", dtype="float16"))
    stage.open(VideoInfo("synthetic", 30.0, 2, 128, 128, width=128, height=128))
    out = [stage.process({"rgb": f}) for f in frames]
    assert np.all(out[0]["flow"] == 0)  # frame 0 has no predecessor
    flow = out[1]["flow"].astype(np.float32)[24:104, 24:104]  # inside: borders are ill-posed
    np.testing.assert_allclose(np.median(flow[..., 0]), dx, atol=0.25)
    np.testing.assert_allclose(np.median(flow[..., 1]), dy, atol=0.25)


def test_flow_follows_the_fit_scale():
    # a 256 px frame fitted to 128 px: a 4 px shift becomes 2 px of stored flow
    base = _textured(300, 300, seed=1)
    frames = [base[20:276, 20:276], base[20:276, 16:272]]
    stage = OpticalFlow(FlowConfig(size=(128, 128), fit="pad", dtype="float16", preset="medium"))
    stage.open(VideoInfo("synthetic", 30.0, 2, 256, 256, width=256, height=256))
    flow = [stage.process({"rgb": f})["flow"] for f in frames][1].astype(np.float32)[24:104, 24:104]
    assert np.median(flow[..., 0]) == pytest.approx(2.0, abs=0.25)


def test_uint8_encoding_round_trips_within_half_a_step_and_clips_at_the_bound():
    flow = np.array([[[-30.0, -20.0], [0.0, 0.1]], [[5.3, -7.7], [19.9, 25.0]]], np.float32)
    back = decode_flow_uint8(encode_flow_uint8(flow, 20.0), 20.0)
    step = 40.0 / 255
    np.testing.assert_allclose(back, np.clip(flow, -20, 20), atol=step / 2 + 1e-6)


def test_flow_colours_show_direction_and_speed():
    right = flow_to_rgb(np.tile([[5.0, 0.0]], (4, 4, 1)).astype(np.float32), bound=5.0)
    still = flow_to_rgb(np.zeros((4, 4, 2), np.float32), bound=5.0)
    left = flow_to_rgb(np.tile([[-5.0, 0.0]], (4, 4, 1)).astype(np.float32), bound=5.0)
    assert still.max() == 0 and right.max() == 255
    assert not np.array_equal(right, left)


def test_rgb_images_option_adds_three_channel_flow():
    stage = OpticalFlow(FlowConfig(size=(32, 32), rgb_images=True))
    stage.open(VideoInfo("synthetic", 30.0, 2, 64, 64, width=64, height=64))
    out = stage.process({"rgb": _textured(64, 64)})
    assert set(out) == {"flow", "flow_rgb"} and out["flow_rgb"].shape == (32, 32, 3)
    assert out["flow"].dtype == np.uint8 and out["flow"].shape == (32, 32, 2)


def test_raft_without_local_weights_is_a_clear_error_not_a_download(tmp_path):
    with pytest.raises(FlowError, match="weights file"):
        RaftFlow(None)
    with pytest.raises(FlowError, match="not found"):
        RaftFlow(tmp_path / "raft_small.pth")


def test_raft_runs_from_a_local_weights_file(tmp_path):
    # torchvision is not installable beside the CPU torch of CI; on a machine that has it
    # (a GPU box), this runs the real RAFT code path, on CUDA when present
    torch = pytest.importorskip("torch")
    optical_flow = pytest.importorskip("torchvision.models.optical_flow")
    weights = tmp_path / "raft_small.pth"
    torch.manual_seed(0)
    torch.save(optical_flow.raft_small(weights=None).state_dict(), weights)  # untrained: shapes only
    raft = RaftFlow(weights)
    assert raft.device == ("cuda" if torch.cuda.is_available() else "cpu")
    a, b = _textured(100, 130), _textured(100, 130, seed=2)  # not multiples of 8: padded inside
    flow = raft(a, b)
    assert flow.shape == (100, 130, 2) and flow.dtype == np.float32 and np.isfinite(flow).all()
    # and as the stage runs it: RGB frames fitted to 112 px (below RAFT's 128 px minimum)
    stage = OpticalFlow(FlowConfig(method="raft", raft_weights=str(weights), size=(112, 112)))
    stage.open(VideoInfo("synthetic", 30.0, 2, 130, 100, width=130, height=100))
    out = [stage.process({"rgb": f}) for f in (a, b)]
    assert out[1]["flow"].shape == (112, 112, 2) and out[1]["flow"].dtype == np.uint8


def test_cost_takes_the_methods_figure_and_grows_slowly_with_the_pixels():
    assert flow_cost(FlowConfig()).cpu_ms == 3.01 and flow_cost(FlowConfig(method="farneback")).cpu_ms == 5.05
    assert flow_cost(FlowConfig(preset="medium")).cpu_ms == 4.63
    # not measured: the nearest figure
    assert flow_cost(FlowConfig(preset="ultrafast")).cpu_ms == FLOW_COSTS["dis-fast"].cpu_ms
    assert flow_cost(FlowConfig(method="raft")).cpu_ms == FLOW_COSTS["dis-medium"].cpu_ms
    big = flow_cost(FlowConfig(size=(224, 224), dtype="float16"))  # 4x the pixels of the measured 112x112
    assert big.label == "flow (dis)"
    assert big.cpu_ms == pytest.approx(3.01 * (1 + 0.15 * 3))  # DIS: mostly fixed per-frame work
    assert big.stored == (("flow", pytest.approx(849.0 * 4 * 2)),)  # float16: twice the uint8 bytes


def test_the_contact_sheet_row_colours_the_stored_flow_at_the_shown_top_speed(all_stages_run, render_input):
    out, _ = all_stages_run
    with ShardReader(out) as reader:
        sample = reader["90029"]
        ((label, images),) = flow_rows(render_input(sample, [10, 25]))
        fields = [decode_flow_uint8(sample["flow"][t], float(sample.attrs["flow_bound"])) for t in (10, 25)]
        speed = max(2.0, float(np.percentile(np.hypot(*np.moveaxis(np.stack(fields), -1, 0)), 99.5)))
        assert label == f"optical flow (full colour = {speed:.1f} px/frame)"
        for field, image in zip(fields, images):
            np.testing.assert_array_equal(image, flow_to_rgb(field, speed))
