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
