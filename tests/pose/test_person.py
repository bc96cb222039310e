"""Several people: find them, choose one (`--person`), follow them, never let a joint jump to
another. Real MediaPipe on real PyAV videos of the synthetic dancers (tests/people_helpers.py),
compared with each dancer's exact poses."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from rtmotion.commands.args import PERSON_RULES as CLI_RULES
from rtmotion.commands.args import person_type
from rtmotion.errors import InputError
from rtmotion.pose.extract import extract_video
from rtmotion.pose.person import PERSON_RULES, choose_person, parse_person
from rtmotion.pose.track import JointGuard
from tests.people_helpers import GroupClip, write_dancers_video

# dancer index (0-based, left to right) each --person value must drive (tests/people_helpers.THREE)
EXPECTED = {"1": 0, "2": 1, "3": 2, "center": 1, "largest": 0, "auto": 1}


@pytest.fixture(scope="module")
def group(tmp_path_factory: pytest.TempPathFactory) -> GroupClip:
    """2 s of three dancers (wave, dance, jump; large, centre, small) 160 px apart."""
    return write_dancers_video(tmp_path_factory.mktemp("group") / "three.mp4", seconds=2.0)


def _errors(kp: np.ndarray, clip: GroupClip, who: int) -> tuple[np.ndarray, int, int]:
    """(pixel errors to dancer `who`'s exact joints, joint-frames nearer another dancer's
    exact pose than to `who`'s, joint-frames compared)."""
    errs, jumps, n = [], 0, 0
    for t in range(len(kp)):
        both = (kp[t, :, 2] > 0) & (clip.poses[who][t, :, 2] > 0)
        d = [np.hypot(*(kp[t, :, :2] - p[t, :, :2]).T) for p in clip.poses]
        errs.append(d[who][both])
        for o in range(len(clip.poses)):
            if o != who:
                jumps += int((both & (d[o] < d[who])).sum())
        n += int(both.sum())
    return np.concatenate(errs), jumps, n


def test_person_values() -> None:
    assert PERSON_RULES == CLI_RULES
    for text, want in (("auto", "auto"), ("Centre", "center"), ("largest", "largest"), ("2", 2)):
        assert parse_person(text) == want == person_type(text)
    for bad in ("0", "-1", "left", ""):
        with pytest.raises(ValueError, match="give auto, largest, center or a number"):
            parse_person(bad)


def test_choice_rules_on_boxes() -> None:
    size = (900, 400)
    # left: tall (near), centre: medium, right: small; numbered by centre x whatever the order
    boxes = [(700, 150, 760, 330), (0, 0, 200, 400), (400, 60, 500, 360)]
    samples = [(0, boxes), (10, boxes), (20, boxes[:2])]
    pick = {r: choose_person(samples, r, size) for r in ("auto", "largest", "center", 3)}
    assert pick["largest"].number == 1 and pick["center"].number == 2
    assert pick["auto"].number == 2 and pick[3].number == 3 and pick[3].box == boxes[0]
    assert pick["auto"].count == 3
    assert pick["center"].describe() == "3 people; drove from #2 (centre; numbered left to right)"
    with pytest.raises(InputError, match="--person 4: only 3 people were found in 3 sampled frames"):
        choose_person(samples, 4, size)
    one = choose_person([(0, [boxes[1]])], "auto", size)
    assert one.count == 1 and not one.several and one.describe() == "1 person"
    assert not choose_person([(0, [])], "auto", size).several


def test_guard_drops_a_limb_drawn_to_someone_else() -> None:
    from rtmotion.pose.skeleton import BODY25

    rng = np.random.default_rng(0)
    base = np.zeros((25, 3), np.float32)
    base[:, 0] = rng.uniform(80, 120, 25)
    base[:, 1] = np.linspace(20, 220, 25)
    base[:, 2] = 1.0
    guard = JointGuard()
    for _ in range(5):
        assert (guard(base + np.float32([0.5, 0.5, 0]))[:, 2] > 0).all()
    wrist, elbow = BODY25.index("r_wrist"), BODY25.index("r_elbow")
    stray = base.copy()
    stray[wrist, 0] += 150  # the wrist on a neighbour's hand, 0.75 body heights away
    out = guard(stray)
    assert out[wrist, 2] == 0 and out[elbow, 2] > 0 and guard.dropped == 1
    # the whole body moving a little (a step) is kept
    assert (guard(base + np.float32([6, 2, 0]))[:, 2] > 0).all()


@pytest.mark.mediapipe
def test_people_search_counts_and_numbers_the_three(group: GroupClip) -> None:
    from rtmotion.pose.person import find_people

    found = find_people(group.video, 0, None)
    assert [len(b) for _, b in found] == [3, 3, 3, 3]
    for rule in ("auto", "center", "largest"):
        assert choose_person(found, rule, group.size).number == EXPECTED[rule] + 1, rule
    choice = choose_person(found, "auto", group.size)
    for i, box in enumerate(choice.boxes):  # left to right: each box holds that dancer's joints
        xy = group.poses[i][choice.frame][:, :2][group.poses[i][choice.frame][:, 2] > 0]
        inside = (xy[:, 0] >= box[0]) & (xy[:, 0] <= box[2]) & (xy[:, 1] >= box[1]) & (xy[:, 1] <= box[3])
        assert inside.mean() > 0.9, (i, box)


@pytest.mark.mediapipe
# the middle dancer in the default suite; the outer two (2-3 s each) with -m slow
@pytest.mark.parametrize("person", ["2", pytest.param("1", marks=pytest.mark.slow),
                                    pytest.param("3", marks=pytest.mark.slow)])
def test_each_person_drives_and_no_limb_jumps(group: GroupClip, person: str) -> None:
    seq, summary = extract_video(group.video, workers=1, person=parse_person(person),
                                 show_progress=False)
    who = EXPECTED[person]
    assert summary.people is not None and summary.people.count == 3
    assert summary.people.number == who + 1
    assert f"3 people; drove from #{who + 1}" in "\n".join(summary.lines())
    errs, jumps, n = _errors(seq.keypoints, group, who)
    assert n > 0.9 * 23 * len(seq)   # the chosen dancer is followed in (nearly) every frame
    assert np.median(errs) < 8.0, np.median(errs)
    assert jumps == 0                # no joint nearer another dancer than the chosen one


@pytest.mark.mediapipe
def test_two_workers_follow_the_same_person(group: GroupClip) -> None:
    # the second chunk starts at frame 30: it finds #3 again on its first warm-up frame
    seq, summary = extract_video(group.video, workers=2, person=3, show_progress=False)
    assert summary.workers == 2 and summary.people is not None and summary.people.number == 3
    errs, jumps, n = _errors(seq.keypoints, group, 2)
    assert jumps == 0 and np.median(errs) < 8.0 and n > 0.9 * 23 * len(seq)


@pytest.mark.mediapipe
@pytest.mark.parametrize("workers", [1, 2])
def test_a_person_number_past_the_count_is_one_clear_line(group: GroupClip, workers: int) -> None:
    """With workers the people search runs while they start (waiting for its choice): its error
    still ends the run in one line, and no worker is left behind."""
    import multiprocessing

    with pytest.raises(InputError) as e:
        extract_video(group.video, workers=workers, person=5, show_progress=False)
    msg = str(e.value)
    assert "--person 5: only 3 people were found" in msg and "\n" not in msg
    assert multiprocessing.active_children() == []


@pytest.mark.mediapipe
def test_one_person_is_extracted_as_before(dancer_clip) -> None:
    plain, _ = extract_video(dancer_clip.video, workers=1, show_progress=False)
    seq, summary = extract_video(dancer_clip.video, workers=1, person="auto", show_progress=False)
    assert summary.people is not None and summary.people.describe() == "1 person"
    assert "people: 1 person" in summary.lines()
    np.testing.assert_array_equal(seq.keypoints, plain.keypoints)  # no crop: the same poses


@pytest.mark.mediapipe
def test_extract_cli_names_the_people(group: GroupClip, tmp_path: Path, caplog) -> None:
    from rtmotion.cli import main

    out = tmp_path / "p.npz"
    with caplog.at_level(logging.INFO, logger="rtmotion"):
        assert main(["extract", str(group.video), "-o", str(out), "--person", "largest"]) == 0
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "people: 3 people; drove from #1 (largest; numbered left to right)" in text
    assert main(["extract", str(group.video), "-o", str(tmp_path / "q.npz"), "--person", "4"]) != 0
    assert not (tmp_path / "q.npz").exists()


def test_convert_and_live_reports_carry_the_people() -> None:
    from rtmotion.pipeline.live import LiveReport
    from rtmotion.pipeline.offline import ConvertResult

    people = choose_person([(0, [(0, 0, 10, 40), (50, 0, 60, 40)])], 2, (100, 50)).to_dict()
    res = ConvertResult(output="o.mp4", source="s.mp4", source_kind="video", subject="x",
                        people=people)
    assert "  people     2 people; drove from #2 (--person 2; numbered left to right)" in res.lines()
    assert json.loads(json.dumps(res.to_dict()))["people"]["number"] == 2
    rep = LiveReport(source="cam", subject="x", people=people)
    assert any(line.strip().startswith("people     2 people; drove from #2") for line in rep.lines())
    assert rep.to_dict()["people"]["count"] == 2


@pytest.mark.mediapipe
def test_convert_and_live_name_the_person_end_to_end(group: GroupClip, tmp_path: Path) -> None:
    from rtmotion.io.camera import FileCamera
    from rtmotion.pipeline.live import LiveOptions, run_live
    from rtmotion.pipeline.offline import convert
    from rtmotion.subject import load_subject
    from tests.conftest import one_torch_thread
    from tests.pipeline.conftest import make_subject

    subject = load_subject(make_subject(tmp_path / "subj"), device="cpu")
    with one_torch_thread():
        res = convert(subject, group.video, tmp_path / "out.mp4", end=12, workers=1,
                      show_progress=False, person=3)
        assert res.people is not None and res.people["number"] == 3
        assert "  people     3 people; drove from #3 (--person 3; numbered left to right)" in res.lines()
        # live: the choice is made on the first frame; its pose follows dancer #1 (largest)
        seen: list[np.ndarray] = []
        rep = run_live(subject, FileCamera(str(group.video)), [lambda img, f: seen.append(f.raw_kp)],
                       LiveOptions(person="largest", max_frames=8, display_height=None, overlay=False))
    assert rep.people is not None and rep.people["number"] == 1
    assert "people     3 people; drove from #1 (largest" in "\n".join(rep.lines())
    kp = seen[-1]
    ok = kp[:, 2] > 0
    assert ok.sum() > 15 and abs(np.median(kp[ok, 0]) - 150) < 60  # dancer #1 stands at x = 150
