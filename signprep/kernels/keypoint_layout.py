"""Where each keypoint lives in the stored `keypoints` array, and named subsets.

The stored array is (T, K, 3) with the MediaPipe Holistic components laid out
in this order: pose 33, face 468 (478 with refined iris), left hand 21, right
hand 21. "left"/"right" follow the signer, not the image (MediaPipe's
convention). Landmark names follow the MediaPipe documentation as listed in
`vision-and-sign-language-lecture.txt`.
"""

from __future__ import annotations

import numpy as np

POSE_NAMES = [
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel",
    "left_foot_index", "right_foot_index",
]  # fmt: skip
HAND_NAMES = [
    "wrist", "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip", "index_mcp", "index_pip",
    "index_dip", "index_tip", "middle_mcp", "middle_pip", "middle_dip", "middle_tip", "ring_mcp",
    "ring_pip", "ring_dip", "ring_tip", "pinky_mcp", "pinky_pip", "pinky_dip", "pinky_tip",
]  # fmt: skip

# Skeleton edges (MediaPipe's connections, the upper body and both hands), for
# drawing and for limb heatmaps.
HAND_EDGES = [(0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (5, 9), (9, 10), (10, 11), (11, 12),
              (9, 13), (13, 14), (14, 15), (15, 16), (13, 17), (0, 17), (17, 18), (18, 19), (19, 20)]  # fmt: skip
BODY_EDGES = [(11, 12), (11, 13), (13, 15), (12, 14), (14, 16), (11, 23), (12, 24), (23, 24), (0, 2), (0, 5),
              (2, 7), (5, 8), (9, 10)]  # fmt: skip

# SignVTCL's 11 upper-body points (COCO nose, eyes, ears, shoulders, elbows,
# wrists) in MediaPipe pose indices.
UPPER_BODY_11 = [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16]

# SignVTCL's paper does not list its 26 face points; this is our choice, made
# once: eyebrows, eyes, nose and mouth (the lecture: a face subset must carry
# brows, eye aperture and mouth shape). Face-mesh indices; left/right = signer's.
FACE_26 = {
    "right_brow_outer": 70, "right_brow_mid": 105, "right_brow_inner": 107,
    "left_brow_outer": 300, "left_brow_mid": 334, "left_brow_inner": 336,
    "right_eye_outer": 33, "right_eye_inner": 133, "right_eye_top": 159, "right_eye_bottom": 145,
    "left_eye_outer": 263, "left_eye_inner": 362, "left_eye_top": 386, "left_eye_bottom": 374,
    "nose_tip": 1, "nose_bridge": 168, "right_nostril": 98, "left_nostril": 327,
    "mouth_right": 61, "mouth_left": 291, "upper_lip_top": 0, "lower_lip_bottom": 17,
    "upper_lip_inner": 13, "lower_lip_inner": 14, "mouth_inner_right": 78, "mouth_inner_left": 308,
}  # fmt: skip


NON_FACE_POINTS = 33 + 21 + 21  # pose and both hands: the face mesh is the rest of K (468, or 478 refined)


class KeypointLayout:
    """Component offsets of the stored array for a given face mesh size."""

    def __init__(self, face_points: int = 468) -> None:
        sizes = {"pose": 33, "face": face_points, "left_hand": 21, "right_hand": 21}
        self.components: dict[str, tuple[int, int]] = {}
        offset = 0
        for name, n in sizes.items():
            self.components[name] = (offset, offset + n)
            offset += n
        self.num_points = offset

    @classmethod
    def of_points(cls, num_points: int) -> KeypointLayout:
        """The layout of a stored K axis of `num_points`: the face mesh is what pose and hands leave."""
        return cls(num_points - NON_FACE_POINTS)

    def slice(self, component: str) -> slice:
        start, stop = self.components[component]
        return slice(start, stop)

    def names(self) -> list[str]:
        face = self.components["face"][1] - self.components["face"][0]
        return (
            [f"pose.{n}" for n in POSE_NAMES]
            + [f"face.{i}" for i in range(face)]
            + [f"left_hand.{n}" for n in HAND_NAMES]
            + [f"right_hand.{n}" for n in HAND_NAMES]
        )

    def subset(self, name: str) -> np.ndarray:
        """Indices into the stored K axis of a named subset.

        `signvtcl79`: 11 upper body + 26 face + 21 left hand + 21 right hand (SignVTCL).
        `upper_body`, `face26`, `hands`: its parts; `pose`, `face`, `left_hand`,
        `right_hand`, `all`: whole components.
        """
        if name in self.components:
            return np.arange(*self.components[name])
        parts = self._parts()
        if name not in parts:
            raise KeyError(f"unknown keypoint subset {name!r}; known: {', '.join(self.subset_names())}")
        return np.asarray(parts[name], dtype=np.int64)

    def subset_names(self) -> list[str]:
        """Every name `subset` takes, sorted."""
        return sorted([*self._parts(), *self.components])

    def _parts(self) -> dict[str, list[int]]:
        pose0 = self.components["pose"][0]
        face0 = self.components["face"][0]
        parts = {
            "upper_body": [pose0 + i for i in UPPER_BODY_11],
            "face26": [face0 + i for i in FACE_26.values()],
            "hands": list(range(*self.components["left_hand"])) + list(range(*self.components["right_hand"])),
            "all": list(range(self.num_points)),
        }
        parts["signvtcl79"] = parts["upper_body"] + parts["face26"] + parts["hands"]
        return parts

    def skeleton(self) -> list[tuple[int, int]]:
        """Edges of the body and both hands, as index pairs into the stored K axis."""
        pose0 = self.components["pose"][0]
        edges = [(pose0 + a, pose0 + b) for a, b in BODY_EDGES]
        for hand in ("left_hand", "right_hand"):
            h0 = self.components[hand][0]
            edges += [(h0 + a, h0 + b) for a, b in HAND_EDGES]
        return edges

    def limbs_within(self, indices: np.ndarray) -> list[tuple[int, int]]:
        """Skeleton edges with both ends in `indices`, as positions within `indices`."""
        position = {int(k): i for i, k in enumerate(indices)}
        return [(position[a], position[b]) for a, b in self.skeleton() if a in position and b in position]

    def to_attr(self) -> dict[str, list[int]]:
        return {k: list(v) for k, v in self.components.items()}
