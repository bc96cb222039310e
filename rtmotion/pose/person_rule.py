"""`--person`'s values, with nothing heavy imported (the CLI's parser is built from them).

`rtmotion.pose.person` chooses the person by these rules; `rtmotion.commands.args` parses the
flag with `parse_person`.
"""

from __future__ import annotations

#: The rules `--person` takes besides a number.
PERSON_RULES: tuple[str, ...] = ("auto", "largest", "center")
#: What a bad value is told.
PERSON_PROBLEM = "give auto, largest, center or a number 1, 2, ... (people are numbered left to right)"


def parse_person(text: str | int) -> str | int:
    """`--person`'s value: "auto", "largest", "center" (also "centre") or a number >= 1.

    ValueError (one line, for the CLI) otherwise.
    """
    t = str(text).strip().lower()
    if t == "centre":
        t = "center"
    if t in PERSON_RULES:
        return t
    if t.isdigit() and int(t) >= 1:
        return int(t)
    raise ValueError(f"--person {text!r}: {PERSON_PROBLEM}")
