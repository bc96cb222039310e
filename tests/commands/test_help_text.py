"""What a user reads: option defaults that do not mislead, frame rates as numbers."""

from __future__ import annotations

from fractions import Fraction

import pytest

from rtmotion.cli import main
from rtmotion.io import rate_text


def test_flags_and_none_defaults_show_no_default(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: True)" not in text and "(default: None)" not in text
    flag_help = text.split("--no-background-plate do not give")[1].split(" --")[0]
    assert "estimated from the training frames" in flag_help and "default:" not in flag_help
    assert "dropped) (default: 8)" in text          # a real default is still shown


@pytest.mark.parametrize("rate, text", [(Fraction(11900, 397), "29.975"), (30, "30"),
                                        (Fraction(30000, 1001), "29.97"), (Fraction(24000, 1001), "23.976"),
                                        (25.0, "25")])
def test_rates_read_as_numbers(rate, text: str) -> None:
    assert rate_text(rate) == text
