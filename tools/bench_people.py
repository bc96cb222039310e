"""Extraction cost of `--person` (issue 19): seconds per frame without and with the people
search, one dancer vs three (tests/people_helpers.py), 5 s at 768x384, one worker.

    python tools/bench_people.py
"""
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/people_helpers.py
from rtmotion.pose.extract import extract_video  # noqa: E402
from rtmotion.pose.person import find_people  # noqa: E402
from rtmotion.synthetic import write_dancer_video  # noqa: E402
from tests.people_helpers import write_dancers_video  # noqa: E402

one = Path(tempfile.mkdtemp()) / 'one.mp4'
write_dancer_video(one, character="ada", motion="dance", seconds=5.0, size=(768, 384), fps=30, seed=0)
three = write_dancers_video(one.parent / 'three.mp4', seconds=5.0).video
for name, v in (("1 dancer", one), ("3 dancers", three)):
    for person in (None, "auto"):
        t = time.perf_counter()
        seq, s = extract_video(v, workers=1, person=person, show_progress=False)
        dt = time.perf_counter() - t
        print(f"{name:10s} person={person!s:5s} {len(seq)} frames {dt:6.2f} s  {1000*dt/len(seq):5.1f} ms/frame  "
              f"{s.people.describe() if s.people else '-'}", flush=True)
for name, v in (("1 dancer", one), ("3 dancers", three)):
    t = time.perf_counter()
    f = find_people(v, 0, None)
    print(f"people search {name}: {time.perf_counter()-t:.2f} s for {len(f)} frames", flush=True)
