"""Which source frames a sample keeps (frame or time range, then nearest-frame resampling), by hand."""

from __future__ import annotations

from signprep.video.frame_selection import FrameSelection, NoFrameRate


def test_the_whole_source_at_its_own_rate():
    assert FrameSelection().indices(5, 25.0) == [0, 1, 2, 3, 4]
    assert FrameSelection(fps=25.0).indices(5, 25.0) == [0, 1, 2, 3, 4]


def test_a_range_is_one_based_and_inclusive():
    assert FrameSelection(3, 5).indices(10, 25.0) == [2, 3, 4]
    assert FrameSelection(3, -1).indices(6, 25.0) == [2, 3, 4, 5]
    assert FrameSelection(8, 20).indices(10, 25.0) == [7, 8, 9]  # an end past the source is clipped
    assert FrameSelection(12, -1).indices(10, 25.0) == []  # a start past it keeps nothing


def test_downsampling_takes_the_nearest_frame():
    # 30 -> 12 fps: a frame every 2.5 source frames, from frame_start: 0, 2.5, 5, 7.5, 10 -> round half to even
    assert FrameSelection(fps=12).indices(11, 30.0) == [0, 2, 5, 8, 10]
    # 29.97 -> 10 fps from frame 11: 10, 12.997, 15.994, ...
    assert FrameSelection(11, 40, fps=10).indices(62, 29.97) == [10, 13, 16, 19, 22, 25, 28, 31, 34, 37]


def test_upsampling_repeats_frames_and_a_source_without_fps_is_kept_whole():
    # 10 -> 25 fps: times 0, 0.4, 0.8, 1.2, 1.6, 2.0, 2.4 -> nearest 0, 0, 1, 1, 2, 2, 2
    assert FrameSelection(fps=25).indices(3, 10.0) == [0, 0, 1, 1, 2, 2, 2]
    # ties go to the even frame (Python's round, the decoder's rule since it was written): 0.5, 1.5, 2.5
    assert FrameSelection(fps=20).indices(3, 10.0) == [0, 0, 1, 2, 2, 2]
    assert FrameSelection(fps=12).indices(4, 0.0) == [0, 1, 2, 3]


def test_streaming_answers_agree_with_indices():
    selection, streamed = FrameSelection(4, 30, fps=7.0), []
    for index in range(40):
        if selection.skip_before(index):
            continue
        if selection.past_end(index):
            break
        streamed += [index] * selection.repeats(index, 25.0)
    expected = [3, 7, 10, 14, 17, 21, 24, 28]  # 3 + n * 25 / 7, rounded
    assert streamed == FrameSelection(4, 30, fps=7.0).indices(40, 25.0) == expected


def test_a_time_range_is_located_once_the_rate_is_known():
    # 25 fps: 2.4 s is frame 60 exactly (not 61 by float error); end exclusive: 3.0 s -> last frame 74
    selection = FrameSelection(time_start=2.4, time_end=3.0)
    assert selection.indices(200, 25.0) == list(range(60, 75))
    assert selection.describe() == "time range 2.4..3.0 s"
    assert FrameSelection(time_end=0.2, fps=10).indices(100, 30.0) == [0, 3]  # 0 .. 5, every 3rd
    assert FrameSelection(time_start=12.0).indices(100, 10.0) == []  # past the end (10 s)
    try:
        FrameSelection(time_start=1.0).indices(10, 0.0)
    except NoFrameRate as e:
        assert "no frame rate" in str(e)
    else:
        raise AssertionError("a time range of a source without a rate was located")
