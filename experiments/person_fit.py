"""How much of a stored image the signer fills: the letterbox (`fit: pad`) against `fit: person`.

From the keypoints of a shard directory (any pipeline: the person box is a function of the
keypoints, signprep/kernels/person_box.py), for every sample:
- the signer fraction: the extent of the signer's points over the whole clip (upper-body pose
  points with visibility >= 0.5, face mesh, both hands; every frame, none left out) mapped into a
  square image by the fit, as a fraction of the image side (`signer_fraction`; above 1 the
  signer is cut);
- the cut: the fraction of those points the fit puts outside the image (`outside_fraction`),
  and of the hand points alone;
- a hand's size in a 64 x 64 heatmap (the multimodal pipeline's): per frame with that hand, the
  larger side of its 21 points' extent, mapped by the same fit at 64 x 64, in heatmap pixels; the
  median over the sample's hand frames.
Printed for the letterbox and for the person box at several margins and outlier quantiles,
median (min-max) over the samples, so the shipped defaults can be chosen on these figures; for a
shard directory extracted with `fit: person` also the boxes it stored (`stored person_box`).

Run:  .venv/bin/python experiments/person_fit.py out/wlasl-sample [--size 112]
(out/wlasl-sample: the README's keypoints extraction of the sample corpus; ~1 s.)
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from signprep.kernels.frame_fit import FrameFit  # noqa: E402
from signprep.kernels.person_box import outside_fraction, person_box, signer_fraction, signer_points  # noqa: E402
from signprep.shards import ShardReader  # noqa: E402

MIN_VISIBILITY = 0.5
HEATMAP_SIDE = 64  # the multimodal pipeline's heatmaps
SETTINGS = [(margin, outliers) for margin in (0.0, 0.05, 0.1) for outliers in (0.0, 0.02, 0.05)]


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def hand_side(xy: np.ndarray, present: np.ndarray, hands: list[range], fit: FrameFit) -> float | None:
    """Median over the frames with a hand (each hand apart) of the larger side of its points' extent
    through `fit`, in output pixels; None without a hand."""
    sides = []
    for points in hands:
        for t in np.flatnonzero(present[:, points].any(1)):
            mapped = fit.map_points(xy[t, points][present[t, points]])
            sides.append(float((mapped.max(0) - mapped.min(0)).max()))
    return statistics.median(sides) if sides else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shards", type=Path)
    parser.add_argument("--size", type=int, default=112, help="side of the square stored image (pixels)")
    args = parser.parse_args()

    rows: dict[str, list[tuple[float, float, float, float]]] = {}
    with ShardReader(args.shards) as reader:
        for sample_id in reader:
            view = reader[sample_id]
            kp, conf, present = view.read("keypoints"), view.read("keypoint_confidence"), view.read("keypoint_present")
            h, w = int(view.attrs["height"]), int(view.attrs["width"])
            use = signer_points(kp, conf, present, MIN_VISIBILITY)
            components = view.layout().components
            hands = use.copy()
            hands[:, : components["left_hand"][0]] = False
            hand_points = [range(*components["left_hand"]), range(*components["right_hand"])]
            xy = kp[..., :2]
            boxes: dict[str, tuple | None] = {"pad (letterbox)": None}
            for margin, outliers in SETTINGS:
                box = person_box(kp, conf, present, (h, w), margin=margin, outlier_frames=outliers,
                                 min_visibility=MIN_VISIBILITY)  # fmt: skip
                boxes[f"person margin {margin:.2f} outliers {outliers:.2f}"] = box.box
            if "person_box" in view.attrs:  # extracted with fit: person: the box it stored
                boxes["stored person_box"] = tuple(float(v) for v in view.attrs["person_box"])
            for name, box in boxes.items():
                mode = "pad" if box is None else "person"
                fit = FrameFit(h, w, args.size, args.size, mode, box=box)
                fraction = signer_fraction(xy, use, fit)
                if fraction is None:
                    continue
                hand_cut = outside_fraction(xy, hands, fit) if hands.any() else 0.0
                side = hand_side(xy, present, hand_points, FrameFit(h, w, HEATMAP_SIDE, HEATMAP_SIDE, mode, box=box))
                rows.setdefault(name, []).append((fraction, outside_fraction(xy, use, fit), hand_cut, side))
    n = len(next(iter(rows.values())))
    print(f"{args.shards}: {n} samples with keypoints, {args.size}x{args.size} images")
    header = ("signer fraction", "points cut", "hand points cut", f"hand px at {HEATMAP_SIDE}")
    print(f"{'fit':<38}" + "".join(f"{h:>24}" for h in header))
    for name, values in rows.items():
        columns = [[v for v in column if v is not None] for column in zip(*values)]
        print(f"{name:<38}" + "".join(f"{_spread(column):>24}" for column in columns))


if __name__ == "__main__":
    main()
