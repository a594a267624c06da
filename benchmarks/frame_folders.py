"""Frame-folder decode throughput against a plain `cv2.imread` loop over the same files.

Real corpus frames are written out as PHOENIX-sized folders (210x260, PNG as PHOENIX ships them,
and JPEG as CSL-Daily does); then, in alternating order, `SampleFrames` over each folder (what
every stage sees: listing, natural sort, completeness checks, RGB decode, size checks) and a bare
`cv2.imread` loop over the same files are timed. Prints frames/s of each and their ratio (median
of the paired rounds; target >= 0.9x).

Run: python benchmarks/frame_folders.py [--clips 8] [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import cv2

from signprep.video.decode import DecodeOptions, SampleFrames
from signprep.video.frame_folder import list_frames

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "wlasl-sample"
PHOENIX_SIZE = (210, 260)  # (width, height)


def write_folders(root: Path, clips: int, ext: str) -> list[Path]:
    folders = []
    for video in sorted((CORPUS / "videos").glob("*.mp4"))[:clips]:
        folder = root / ext.strip(".") / video.stem
        folder.mkdir(parents=True)
        cap = cv2.VideoCapture(str(video))
        n = 0
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            n += 1
            cv2.imwrite(
                str(folder / f"images{n:04d}{ext}"), cv2.resize(bgr, PHOENIX_SIZE, interpolation=cv2.INTER_AREA)
            )
        cap.release()
        folders.append(folder)
    return folders


def signprep_pass(folders: list[Path]) -> int:
    n = 0
    for folder in folders:
        _, frames = next(SampleFrames(folder, DecodeOptions(), source_fps=25.0).attempts())
        n += sum(1 for _ in frames)
    return n


def imread_pass(folders: list[Path]) -> int:
    n = 0
    for folder in folders:
        for path in sorted(folder.iterdir()):
            if cv2.imread(str(path)) is not None:
                n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    cv2.setNumThreads(1)  # one extraction worker's view
    with tempfile.TemporaryDirectory(prefix="signprep-frames-") as tmp:
        for ext in (".png", ".jpg"):
            folders = write_folders(Path(tmp), args.clips, ext)
            frames = sum(len(list_frames(f)) for f in folders)
            rates = {"signprep": [], "imread": []}
            signprep_pass(folders), imread_pass(folders)  # warm the page cache for both
            for r in range(args.rounds):
                order = [("signprep", signprep_pass), ("imread", imread_pass)]
                for name, run in order if r % 2 == 0 else order[::-1]:
                    t = time.perf_counter()
                    assert run(folders) == frames
                    rates[name].append(frames / (time.perf_counter() - t))
            ratios = [a / b for a, b in zip(rates["signprep"], rates["imread"])]
            print(
                f"{ext[1:].upper()} {PHOENIX_SIZE[0]}x{PHOENIX_SIZE[1]} ({len(folders)} folders, {frames} frames): "
                f"signprep {statistics.median(rates['signprep']):.0f} frames/s, "
                f"cv2.imread {statistics.median(rates['imread']):.0f} frames/s, "
                f"ratio {statistics.median(ratios):.2f}x (range {min(ratios):.2f}-{max(ratios):.2f}; target >= 0.9x)"
            )


if __name__ == "__main__":
    main()
