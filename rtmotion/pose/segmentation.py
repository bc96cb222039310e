"""Where the person is, pixel by pixel: MediaPipe BlazePose's segmentation output.

The background plate (`rtmotion.train.background`) must not see the person. A mask drawn from
the skeleton alone (thick bones, a head disc) misses what is not a bone: a long dress, loose
hair, a bag; a person who barely moves then leaves a faint silhouette in the median. BlazePose's
landmark model also outputs a person segmentation (the mediapipe wheel ships it inside
`pose_landmark_full.tflite`, `enable_segmentation=True`), drawn for the whole body.

Measured on demo-ada's 512x512 frames (dev's 2-core CPU): 32-38 ms per frame in static-image
mode (a fresh detection per image, needed because the plate samples frames far apart), a sharp
full-body silhouette; MediaPipe's selfie segmentation model (also in the wheel, 5-6 ms) is made for
a head and shoulders close to the camera and gave a blurred body with broken arms and feet, so
the pose model's output is used.

The segmentation follows the person BlazePose finds, the most prominent one; with several people
in a frame the others are not segmented (the skeleton mask of the target still is).
"""

from __future__ import annotations

import cv2
import numpy as np

from rtmotion.pose.extractors.mediapipe import StaticPoseGraph

#: A pixel is the person where the segmentation's probability reaches this.
PERSON_THRESHOLD = 0.5


class PersonSegmenter(StaticPoseGraph):
    """Person masks of single RGB images (a context manager; `mask(image)` per image).

    Args:
        max_side: larger images are scaled down to this longer side first (the model sees
            256x256; the mask is scaled back to the image's size).
        threshold: probability at which a pixel counts as the person.
    """

    def __init__(self, max_side: int = 640, threshold: float = PERSON_THRESHOLD) -> None:
        self.max_side = int(max_side)
        self.threshold = float(threshold)
        super().__init__()

    def probability(self, image: np.ndarray) -> np.ndarray | None:
        """float32 (H, W) in 0..1: how likely each pixel of a uint8 RGB (H, W, 3) image is the
        person; None when no person is found."""
        h, w = image.shape[:2]
        img = np.ascontiguousarray(image, dtype=np.uint8)
        if max(h, w) > self.max_side:
            s = self.max_side / max(h, w)
            img = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))),
                             interpolation=cv2.INTER_AREA)
        res = self.run(img)
        if res.segmentation_mask is None or res.pose_landmarks is None:
            return None
        prob = np.asarray(res.segmentation_mask, dtype=np.float32)
        if prob.shape != (h, w):
            prob = cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR)
        return prob

    def mask(self, image: np.ndarray) -> np.ndarray | None:
        """bool (H, W), True on the person, for a uint8 RGB (H, W, 3) image; None: no person."""
        prob = self.probability(image)
        return None if prob is None else prob >= self.threshold
