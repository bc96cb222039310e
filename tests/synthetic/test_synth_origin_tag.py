"""A synthetic video says what it is (MP4 comment tag), so a subject trained on it can record
its origin and `rtmotion eval` can re-render ground truth without the original files."""

from rtmotion.io import VideoInfo
from rtmotion.synthetic import origin_tag, parse_origin_tag, write_dancer_video


def test_origin_tag_round_trip():
    tag = origin_tag("synthetic:mira/jump/seed3", "texture")
    assert parse_origin_tag(tag) == {"origin": "synthetic:mira/jump/seed3", "background": "texture"}
    assert parse_origin_tag("made with some other tool") is None
    assert parse_origin_tag("") is None


def test_written_video_carries_its_origin(tmp_path):
    path = tmp_path / "k.mp4"
    write_dancer_video(path, "kofi", "wave", seconds=0.2, size=(64, 64), seed=5)
    tags = VideoInfo.from_path(path).tags
    assert parse_origin_tag(tags["comment"]) == {"origin": "synthetic:kofi/wave/seed5",
                                                 "background": "studio"}
