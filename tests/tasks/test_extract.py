"""Answer extraction on replies as models write them (cases in agentlab.tasks.extraction_cases)."""

import pytest

from agentlab.tasks.extract import extract_choice, extract_number
from agentlab.tasks.extraction_cases import CHOICE_CASES, CHOICE_OPTIONS, NUMBER_CASES


@pytest.mark.parametrize(("text", "expected"), NUMBER_CASES)
def test_the_stated_number_is_read(text, expected):
    got = extract_number(text)
    assert got == (pytest.approx(expected) if expected is not None else None)


@pytest.mark.parametrize(("text", "expected"), CHOICE_CASES)
def test_the_chosen_option_is_read_past_articles_and_longer_numbers(text, expected):
    assert extract_choice(text, CHOICE_OPTIONS) == expected
