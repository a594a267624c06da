"""`signprep render`: a contact sheet with a row per stored modality, and an MP4."""

from __future__ import annotations

import cv2
from typer.testing import CliRunner

from signprep.cli import app
from signprep.reports.contact_sheet import TILE


def test_render_writes_a_contact_sheet_with_every_modality_row(all_stages_run, tmp_path):
    out, _ = all_stages_run
    result = CliRunner().invoke(app, ["render", str(out), "-s", "90029", "--out", str(tmp_path), "--columns", "4",
                                      "--mp4"])  # fmt: skip
    assert result.exit_code == 0, result.output
    image = cv2.imread(str(tmp_path / "90029.png"))
    # keypoints, frames, heatmaps, flow, mask, background removed, hand crops
    assert image.shape[0] > 7 * TILE and image.shape[1] > 4 * 200
    cap = cv2.VideoCapture(str(tmp_path / "90029.mp4"))
    frames = 0
    while cap.read()[0]:
        frames += 1
    assert frames == 41


def test_rows_follow_the_stages_run_order_and_draw_on_grey_without_the_video(all_stages_run):
    from signprep.reports.contact_sheet import TILE_W, sample_rows
    from signprep.shards import ShardReader

    out, _ = all_stages_run
    with ShardReader(out) as reader:
        sample = reader["90012"]
        rows = sample_rows(sample, reader.index.pipeline, [0, 30], source_frames=dict)  # no source frames
    assert [label for label, _ in rows] == [
        "frame + keypoints", "training frame", "heatmaps (max over keypoints)", rows[3][0], "person mask",
        "background removed", "hand crops (L, R)",
    ]  # fmt: skip
    assert rows[3][0].startswith("optical flow (full colour = ")
    assert all(tile.shape == (TILE, TILE_W, 3) for _, tiles in rows for tile in tiles)
    assert all(len(tiles) == 2 for _, tiles in rows)
    grey = rows[0][1][0]  # 640x360 letterboxed into 256x192: the frame spans rows 24..168
    assert (grey[100, :5] == 40).all() and (grey[:20] == 24).all()


def test_render_refuses_unknown_samples(all_stages_run, tmp_path):
    out, _ = all_stages_run
    result = CliRunner().invoke(app, ["render", str(out), "-s", "nope", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "nope" in result.output


def test_the_face_is_drawn_as_its_contours_not_its_points():
    import numpy as np

    from signprep.kernels.keypoint_layout import KeypointLayout
    from signprep.reports.drawing import COLOURS, draw_keypoints, face_contour_edges

    layout = KeypointLayout()
    edges = face_contour_edges()
    assert len(edges) == 124 and (61, 146) in edges  # MediaPipe's FACEMESH_CONTOURS: lips, eyes, brows, oval
    contour_points = {i for edge in edges for i in edge}
    assert 1 not in contour_points  # the nose tip is inside the mesh, on no contour
    face0 = layout.components["face"][0]
    xy = np.zeros((layout.num_points, 2), np.float32)
    present = np.zeros(layout.num_points, bool)
    present[face0 : face0 + 468] = True
    xy[face0 : face0 + 468] = (20, 100)  # the whole mesh on one spot but for
    xy[face0 + 146] = (180, 100)  # one lip point: edges (61, 146) and (146, 91) run 160 px along y = 100
    xy[face0 + 1] = (100, 20)  # the nose tip, alone
    xy[0] = (100, 180)  # the pose's nose, present: hidden where the mesh is
    present[0] = True
    frame = np.zeros((200, 200, 3), np.uint8)
    drawn = draw_keypoints(frame, xy, present, layout)
    assert np.abs(drawn[100, 100].astype(int) - COLOURS["face"]).max() <= 8  # the lip edge (anti-aliased)
    assert not drawn[15:25, 95:105].any()  # the nose tip: no dot
    assert not drawn[175:185, 95:105].any()  # the pose's nose: left out beside the mesh
    present[face0 : face0 + 468] = False
    assert draw_keypoints(frame, xy, present, layout)[180, 100].any()  # without the mesh it is drawn


def test_a_render_stopped_by_sigterm_leaves_no_temp_file(all_stages_run, tmp_path):
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    out, _ = all_stages_run
    repo = Path(__file__).resolve().parents[2]
    cmd = [sys.executable, "-m", "signprep.cli", "render", str(out), "-s", "90029", "-s", "90012", "--mp4"]
    proc = subprocess.Popen(cmd + ["--out", str(tmp_path)], cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and not list(tmp_path.glob("*.mp4*.tmp")):  # an MP4 being written
            assert time.monotonic() < deadline, "no MP4 write began within 60 s"
            time.sleep(0.005)
        assert proc.poll() is None, "the render ended before the stop"
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=60)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode not in (0, -signal.SIGTERM), output  # stopped, as on Ctrl-C, not killed outright
    assert not list(tmp_path.glob("*.tmp")), sorted(p.name for p in tmp_path.iterdir())
