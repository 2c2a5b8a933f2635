"""pick_locale: which of the two languages a request's headers ask for."""

import pytest

from messenger.core.errors import DEFAULT_LOCALE, pick_locale


@pytest.mark.parametrize(("header", "locale"), [
    ("en", "en-US"),
    ("en-GB,en;q=0.8", "en-US"),
    ("ko_KR", "ko-KR"),
    ("English_United States", "en-US"),  # how Windows names its locale
    ("Korean_Korea", "ko-KR"),
    ("ko;q=0.5, en;q=0.9", "en-US"),  # the q weights decide, not the order
    ("en;q=0.1, ko-KR", "ko-KR"),
    ("fr, en;q=0.2", "en-US"),
    ("en;q=0", DEFAULT_LOCALE),  # q=0 means "not this one"
    ("*", DEFAULT_LOCALE),
])
def test_the_best_weighted_language_wins(header, locale):
    assert pick_locale(header) == locale


def test_the_first_value_naming_a_supported_language_decides():
    assert pick_locale(None, "", "de", "en-US", "ko") == "en-US"
    assert pick_locale("de", "fr") == DEFAULT_LOCALE
