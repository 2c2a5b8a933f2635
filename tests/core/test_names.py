"""Names other people chose, made safe to show and to save (messenger.core.names)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from messenger.core.names import BIDI_CONTROLS, FILE_NAME_CHARS, clipped, display_name, save_name, shown_name

RLO = "\u202e"


@pytest.mark.parametrize("raw, shown", [
    (f"kim{RLO}gnp.exe", "kimgnp.exe"),
    ("\u2066team\u2069", "team"),
    ("line\nbreak\x00", "linebreak"),
    ("김민수", "김민수"),
])
def test_shown_names_lose_direction_overrides_and_control_characters(raw, shown):
    assert shown_name(raw) == shown


@pytest.mark.parametrize("raw, saved", [
    ("../../x", "x"),
    ("C:\\Windows\\system32\\x.dll", "x.dll"),
    ("/etc/passwd", "passwd"),
    (f"{RLO}txt.exe", "txt.exe"),
    ("a:b?.txt", "a_b_.txt"),
    ("..", "file"),
    ("", "file"),
    ("보고서 2026.pdf", "보고서 2026.pdf"),
])
def test_a_saved_name_stays_in_the_folder_it_is_saved_in(raw, saved):
    assert save_name(raw) == saved


@given(st.text())
def test_no_name_is_a_path_or_misleading(raw):
    name = save_name(raw)
    assert name and name not in (".", "..") and "/" not in name and "\\" not in name
    assert not set(name) & BIDI_CONTROLS and not set(name) & set('<>:"|?*')
    assert len(display_name(raw)) <= FILE_NAME_CHARS


def test_a_long_name_keeps_its_extension():
    assert display_name("a" * 300 + ".pdf") == "a" * (FILE_NAME_CHARS - 4) + ".pdf"


def test_clipped_text_says_it_was_cut():
    assert clipped("abc", 3) == "abc"
    assert clipped("abcd", 3) == "abc…"
