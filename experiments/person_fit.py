"""How much of a stored image the signer fills: the letterbox (`fit: pad`) against `fit: person`.

From the keypoints of a shard directory (any pipeline: the person box is a function of the
keypoints, signprep/kernels/person_box.py), for every sample:
- the signer fraction: the extent of the signer's points over the whole clip (upper-body pose
  points with visibility >= 0.5, face mesh, both hands; every frame, none left out) mapped into a
  square image by the fit, as a fraction of the image side (`signer_fraction`; above 1 the
  signer is cut);
- the cut: the fraction of those points the fit puts outside the image (`outside_fraction`),
  and of the hand points alone.
Printed for the letterbox and for the person box at several margins and outlier quantiles,
median (min-max) over the samples, so the shipped defaults can be chosen on these figures.

Run:  .venv/bin/python experiments/person_fit.py out/wlasl-sample [--size 112]
(out/wlasl-sample: the README's keypoints extraction of the sample corpus; ~1 s.)
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from signprep.kernels.frame_fit import FrameFit  # noqa: E402
from signprep.kernels.person_box import outside_fraction, person_box, signer_fraction, signer_points  # noqa: E402
from signprep.shards import ShardReader  # noqa: E402

MIN_VISIBILITY = 0.5
SETTINGS = [(margin, outliers) for margin in (0.0, 0.05, 0.1) for outliers in (0.0, 0.02, 0.05)]


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shards", type=Path)
    parser.add_argument("--size", type=int, default=112, help="side of the square stored image (pixels)")
    args = parser.parse_args()

    rows: dict[str, list[tuple[float, float, float]]] = {}
    with ShardReader(args.shards) as reader:
        for sample_id in reader:
            view = reader[sample_id]
            kp, conf, present = view.read("keypoints"), view.read("keypoint_confidence"), view.read("keypoint_present")
            h, w = int(view.attrs["height"]), int(view.attrs["width"])
            use = signer_points(kp, conf, present, MIN_VISIBILITY)
            hands = use.copy()
            hands[:, : view.layout().components["left_hand"][0]] = False
            xy = kp[..., :2]
            fits = {"pad (letterbox)": FrameFit(h, w, args.size, args.size, "pad")}
            for margin, outliers in SETTINGS:
                box = person_box(kp, conf, present, (h, w), margin=margin, outlier_frames=outliers,
                                 min_visibility=MIN_VISIBILITY)  # fmt: skip
                fits[f"person margin {margin:.2f} outliers {outliers:.2f}"] = FrameFit(
                    h, w, args.size, args.size, "person", box=box.box
                )
            for name, fit in fits.items():
                fraction = signer_fraction(xy, use, fit)
                if fraction is None:
                    continue
                hand_cut = outside_fraction(xy, hands, fit) if hands.any() else 0.0
                rows.setdefault(name, []).append((fraction, outside_fraction(xy, use, fit), hand_cut))
    n = len(next(iter(rows.values())))
    print(f"{args.shards}: {n} samples with keypoints, {args.size}x{args.size} images")
    print(f"{'fit':<36} {'signer fraction':>24} {'points cut':>24} {'hand points cut':>24}")
    for name, values in rows.items():
        fraction, cut, hand_cut = zip(*values)
        print(f"{name:<36} {_spread(list(fraction)):>24} {_spread(list(cut)):>24} {_spread(list(hand_cut)):>24}")


if __name__ == "__main__":
    main()
