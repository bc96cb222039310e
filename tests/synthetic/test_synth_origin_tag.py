"""A synthetic video says what it is (MP4 comment tag), so a subject trained on it can record
its origin and `rtmotion eval` can re-render ground truth without the original files."""

from rtmotion.io import VideoInfo
from rtmotion.synthetic import SyntheticOrigin, write_dancer_video


def test_origin_tag_round_trip():
    tag = SyntheticOrigin.parse("synthetic:mira/jump/seed3", "texture").tag()
    assert SyntheticOrigin.from_tag(tag) == SyntheticOrigin("mira", "jump", 3, "texture")
    assert SyntheticOrigin.from_tag(tag).source_text() == "synthetic:mira/jump/seed3"
    assert SyntheticOrigin.from_tag("made with some other tool") is None
    assert SyntheticOrigin.from_tag("") is None


def test_written_video_carries_its_origin(tmp_path):
    path = tmp_path / "k.mp4"
    write_dancer_video(path, "kofi", "wave", seconds=0.2, size=(64, 64), seed=5)
    tags = VideoInfo.from_path(path).tags
    assert SyntheticOrigin.from_tag(tags["comment"]) == SyntheticOrigin("kofi", "wave", 5, "studio")
