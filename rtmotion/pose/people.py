"""How many people a frame shows, with the pose extractor's own detector.

MediaPipe's pose solution reports one person per image. To count, `PeopleCounter` runs it in
static-image mode (a fresh detection every call), blanks the person it found and asks again,
until no person is left (or `max_people`). The person is blanked by their segmentation mask
(the same model's, grown a little, inside their box), not their whole box: a box around a
person with raised or stretched arms also covers a neighbour standing close, who would then
not be found (seen on three synthetic dancers 160 px apart: 2 found in 2 of 4 frames with box
blanking, 3 in all 4 with masks; the mask costs a few ms per call). A blanked silhouette can be
found again as a person (a flat person-shaped blob), and so can what the mask missed of them (a
dark suit on a dark backdrop: on a TV weatherman's clip the man's upper body was found again
inside his own box, "2 people" in 2 of 8 sampled frames): a detection that overlaps a found one
(IoU >= 0.5) or lies mostly inside its box (`INSIDE_SHARE`) is blanked whole and not counted.
Measured on the synthetic dancers: three dancers side by side in one 768x384 frame are found as
3 in 0.7 s, one dancer as 1 (0.27 s), on the 2-core dev CPU. MediaPipe's face detector (also in
the wheel) found only 1 of the same 3, so faces are not used. On real footage (OpenPose's public
example street video, 1280x720, a crowd behind a dancer) 8 sampled frames, scaled to 640 px, gave
1, 1, 2, 3, 4, 1, 3, 4 people (12 s on the loaded 2-core CPU); on COCO photos of 2-3 people it
found 2-3 in four and 0 in five (small, overlapping or cut-off people): a lower bound, good
enough to say "several people", not to count a crowd.

A person is counted when at least `min_joints` landmarks are visible; a person hidden behind
another, or much smaller than the detector's input scale, is not counted: the count is a lower
bound.
"""

from __future__ import annotations

import numpy as np

from rtmotion.pose.extractors.mediapipe import StaticPoseGraph

#: Box (x0, y0, x1, y1) in pixels.
Box = tuple[int, int, int, int]


#: A detection with at least this share of its box inside a found person's box is that person
#: again (what their blanked silhouette left), not someone else. Someone standing wholly in front
#: of a larger person is then missed too: the count is a lower bound.
INSIDE_SHARE = 0.8


def _intersection(a: Box, b: Box) -> int:
    return max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    inter = _intersection(a, b)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def inside_share(a: Box, b: Box) -> float:
    """The share of box a's area that lies inside box b (0 for an empty a)."""
    area = (a[2] - a[0]) * (a[3] - a[1])
    return _intersection(a, b) / area if area > 0 else 0.0


class PeopleCounter(StaticPoseGraph):
    """Counts the people in RGB frames (a context manager; `count(image)` per frame).

    Args:
        max_people: stop after this many (the count is then "at least").
        min_joints: landmarks (visibility >= `min_visibility`) a detection needs to count.
        margin: the blanked box grows by this fraction of the person's size (hands, hair).
        max_side: larger frames are scaled down to this longer side first (boxes are returned
            in the frame's own pixels).
    """

    def __init__(self, max_people: int = 6, min_joints: int = 8, min_visibility: float = 0.5,
                 margin: float = 0.15, max_side: int = 640) -> None:
        self.max_people = int(max_people)
        self.min_joints = int(min_joints)
        self.min_visibility = float(min_visibility)
        self.margin = float(margin)
        self.max_side = int(max_side)
        super().__init__()

    def boxes(self, image: np.ndarray) -> list[Box]:
        """The people found in one uint8 RGB (H, W, 3) frame: one box each, most confident first."""
        img = np.array(image, dtype=np.uint8, copy=True)
        scale = 1.0
        if max(img.shape[:2]) > self.max_side:  # the detector sees 224 px: save the copies
            import cv2

            scale = self.max_side / max(img.shape[:2])
            img = cv2.resize(img, (round(img.shape[1] * scale), round(img.shape[0] * scale)),
                             interpolation=cv2.INTER_AREA)
        h, w = img.shape[:2]
        found: list[Box] = []
        scaled: list[Box] = []  # the same boxes in `img`'s pixels
        for _ in range(self.max_people + 2):
            if len(found) >= self.max_people:
                break
            res = self.run(img)
            if res.pose_landmarks is None:
                break
            pts = np.array([(p.x * w, p.y * h) for p in res.pose_landmarks.landmark
                            if p.visibility >= self.min_visibility], dtype=np.float64)
            if len(pts) < self.min_joints:
                break
            (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
            m = self.margin * max(x1 - x0, y1 - y0, 1.0)
            box = (int(max(0, x0 - m)), int(max(0, y0 - 1.5 * m)),
                   int(min(w, x1 + m + 1)), int(min(h, y1 + m + 1)))
            if box[2] <= box[0] or box[3] <= box[1]:
                break
            if any(iou(box, b) >= 0.5 or inside_share(box, b) >= INSIDE_SHARE for b in scaled):
                # The blanked silhouette of someone already found (a flat person-shaped blob is
                # still a person to the detector), or what the mask missed of them: blank its
                # whole box, do not count it.
                self._blank(img, box, None, y1 - y0)
                continue
            self._blank(img, box, res.segmentation_mask, y1 - y0)  # and look again
            scaled.append(box)
            found.append(tuple(int(round(v / scale)) for v in box))  # type: ignore[arg-type]
        return found

    @staticmethod
    def _blank(img: np.ndarray, box: Box, mask: np.ndarray | None, height: float) -> None:
        """Fill the found person's pixels (mask > 0.3, grown by 4 % of their height, inside
        their box) with the frame's median colour; the whole box when there is no mask."""
        fill = np.median(img.reshape(-1, 3), axis=0).astype(np.uint8)
        x0, y0, x1, y1 = box
        if mask is None:
            img[y0:y1, x0:x1] = fill
            return
        import cv2

        m = (np.asarray(mask)[y0:y1, x0:x1] > 0.3).astype(np.uint8)
        r = max(1, int(round(0.04 * height)))
        m = cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
        img[y0:y1, x0:x1][m > 0] = fill

    def count(self, image: np.ndarray) -> int:
        """People found in one frame (a lower bound; at most `max_people`)."""
        return len(self.boxes(image))
