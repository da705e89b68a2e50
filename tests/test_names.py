"""Generated container names: moby's lists, format and retry rule."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest

from layerlab.errors import LayerlabError
from layerlab.storage.names import ADJECTIVES, SURNAMES, generate_name

pytestmark = pytest.mark.unit

NAME = re.compile(r"^[a-z]+_[a-z]+\d?$")


class Rigged(random.Random):
    """A Random whose choices are scripted, to reach the rare paths on purpose."""

    def __init__(self, script: list[str], digit: int = 7) -> None:
        super().__init__(0)
        self.script = script
        self.digit = digit

    def choice(self, seq: Any) -> Any:
        return self.script.pop(0)

    def randint(self, a: int, b: int) -> int:
        return self.digit


def test_lists_are_moby_sized_lowercase_and_unique() -> None:
    assert len(ADJECTIVES) >= 60 and len(SURNAMES) >= 120
    for words in (ADJECTIVES, SURNAMES):
        assert len(set(words)) == len(words)
        assert all(re.fullmatch(r"[a-z]+", word) for word in words)
    assert {"boring", "admiring", "zen"} <= set(ADJECTIVES)
    assert {"wozniak", "turing", "hopper", "lovelace"} <= set(SURNAMES)


def test_format_on_many_draws() -> None:
    rng = random.Random(1)
    names = [generate_name(set(), rng) for _ in range(2000)]
    assert all(NAME.match(name) for name in names)
    assert all(not name[-1].isdigit() for name in names)  # no clash, no digit
    assert len(set(names)) > 1900


def test_default_rng() -> None:
    assert NAME.match(generate_name([]))


def test_a_taken_name_is_retried_with_a_digit_like_moby() -> None:
    first = generate_name(set(), random.Random(5))
    again = generate_name({first}, random.Random(5))
    assert again != first
    assert re.fullmatch(r"[a-z]+_[a-z]+\d", again)


def test_retries_until_free() -> None:
    rng = Rigged(["happy", "hopper", "happy", "hopper", "happy", "hopper", "sad", "wu"], digit=3)
    taken = {"happy_hopper", "happy_hopper3"}
    assert generate_name(taken, rng) == "sad_wu3"


def test_never_boring_wozniak() -> None:
    assert generate_name(set(), Rigged(["boring", "wozniak", "boring", "turing"])) == (
        "boring_turing"
    )
    rng = random.Random(3)
    assert all(not generate_name(set(), rng).startswith("boring_wozniak") for _ in range(5000))


def test_gives_up_with_a_clear_error_when_everything_is_taken() -> None:
    class Everything(set[str]):
        def __contains__(self, item: object) -> bool:
            return True

    with pytest.raises(LayerlabError, match="unique container name"):
        generate_name(Everything(), random.Random(0))
