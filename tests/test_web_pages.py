"""The pages' static promises, checked without a browser: every word exists in
English and Spanish, every rejection code of API.md has its own sentence, the
colour pairs the stylesheet uses meet WCAG 2.1 AA in light and dark, and no
page carries an inline script or style (the CSP forbids them)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parent.parent / "web"
KEY = re.compile(r'^\s*"([a-z_]+\.[a-z_0-9.]+)":\s*(.+?),?\s*$', re.MULTILINE)
PLACEHOLDER = re.compile(r"\{(\w+)\}")

# API.md's codes, and those the server adds for the same situations.
REJECTION_CODES = [
    "unauthenticated",
    "forbidden",
    "bad_origin",
    "bad_credentials",
    "too_many_attempts",
    "not_found",
    "invalid",
    "unknown_room",
    "passes_paused",
    "already_out",
    "blackout",
    "cooldown",
    "pass_limit",
    "unavailable",
    "invalid_state",
    "bad_pin",
]
PASS_STATES = [
    "scheduled",
    "pending",
    "waiting",
    "active",
    "ended",
    "denied",
    "cancelled",
    "expired",
]


def dictionary(language: str) -> dict[str, str]:
    text = (WEB / "js" / "lang" / f"{language}.js").read_text()
    return {key: value for key, value in KEY.findall(text)}


def test_english_and_spanish_have_the_same_words_and_placeholders() -> None:
    en, es = dictionary("en"), dictionary("es")
    assert len(en) > 300
    assert sorted(set(en) ^ set(es)) == []
    for key, value in en.items():
        assert set(PLACEHOLDER.findall(value)) == set(PLACEHOLDER.findall(es[key])), key


def test_every_key_the_pages_use_exists() -> None:
    en = dictionary("en")
    namespaces = {key.split(".")[0] for key in en}
    used: set[str] = set()
    for path in (WEB / "js").glob("*.js"):
        for literal in re.findall(r'"([a-z_]+\.[a-z_0-9.]+)"', path.read_text()):
            if literal.split(".")[0] in namespaces:
                used.add(literal)
    for path in WEB.glob("*.html"):
        text = path.read_text()
        used.update(re.findall(r'data-i18n="([^"]+)"', text))
        for pairs in re.findall(r'data-i18n-attr="([^"]+)"', text):
            used.update(pair.split(":")[1].strip() for pair in pairs.split(";"))
    # Keys made from a value: each value the pages can meet.
    used.update(f"state.{s}" for s in [*PASS_STATES, "overtime"])
    used.update(f"created.{s}" for s in ["active", "pending", "waiting", "scheduled"])
    used.update(f"written.{s}" for s in ["active", "pending", "waiting", "scheduled"])
    used.update(f"live.{s}" for s in ["connecting", "live", "offline"])
    used.update(f"day.{d}" for d in ["mon", "tue", "wed", "thu", "fri", "sat", "sun"])
    used.update(f"role.{r}" for r in ["student", "teacher", "admin", "kiosk"])
    used.update(f"hall.count_{k}" for k in ["active", "pending", "waiting"])
    for stat in ["out", "overtime", "pending", "waiting"]:
        used.update({f"board.stat_{stat}", f"board.stat_{stat}_word"})
    for field in [
        "daily_limit",
        "weekly_limit",
        "cooldown_minutes",
        "hallway_cap",
        "classroom_cap",
        "overtime_end_minutes",
    ]:
        used.update({f"policies.{field}", f"policies.{field}_hint"})
    assert sorted(used - set(en)) == []


@pytest.mark.parametrize("language", ["en", "es"])
def test_every_rejection_code_has_its_own_kind_sentence(language: str) -> None:
    words = dictionary(language)
    sentences = [words[f"err.{code}"] for code in REJECTION_CODES]
    assert len(set(sentences)) == len(sentences)  # each its own
    assert all(s.strip('"').endswith((".", "!", "?")) for s in sentences)


def test_no_inline_script_or_style_in_any_page() -> None:
    for path in WEB.glob("*.html"):
        text = path.read_text()
        assert " style=" not in text, path.name
        assert "<style" not in text, path.name
        assert not re.search(r"<[^>]*\son[a-z]+=", text), path.name  # onclick= and the like
        for script in re.findall(r"<script[^>]*>", text):
            assert "src=" in script, (path.name, script)


# --- contrast (WCAG 2.1: 4.5:1 for text) ---------------------------------------------

# Text colour on background colour, as the stylesheet pairs them.
TEXT_PAIRS = [
    ("text", "bg"),
    ("text", "surface"),
    ("text", "surface-2"),
    ("muted", "bg"),
    ("muted", "surface"),
    ("muted", "surface-2"),
    ("muted", "warn-soft"),  # a pending approval's time
    ("muted", "danger-soft"),  # an overtime row's details
    ("text", "danger-soft"),
    ("text", "warn-soft"),
    ("primary", "surface"),
    ("primary", "bg"),
    ("primary", "primary-soft"),
    ("on-primary", "primary"),
    ("on-primary", "primary-hover"),
    ("ok", "ok-soft"),
    ("ok", "surface"),
    ("warn", "warn-soft"),
    ("warn", "surface"),
    ("danger", "danger-soft"),
    ("danger", "surface"),
    ("surface", "danger"),  # the danger button's words
    ("line", "line-soft"),
    ("line", "surface"),
    ("bg", "text"),  # a toast
]


def palette(block: str) -> dict[str, str]:
    return dict(re.findall(r"--([a-z0-9-]+):\s*(#[0-9a-f]{6})", block))


def palettes() -> dict[str, dict[str, str]]:
    css = (WEB / "css" / "app.css").read_text()
    light = re.search(r":root \{(.*?)\n\}", css, re.S)
    dark = re.search(r':root\[data-appearance="dark"\] \{(.*?)\n\}', css, re.S)
    system_dark = re.search(r':root:not\(\[data-appearance="light"\]\) \{(.*?)\n  \}', css, re.S)
    assert light and dark and system_dark
    # The device's dark mode and the chosen one are the same colours.
    assert palette(dark.group(1)) == palette(system_dark.group(1))
    return {"light": palette(light.group(1)), "dark": palette(dark.group(1))}


def luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_text_colour_pair_meets_wcag_aa(scheme: str) -> None:
    colours = palettes()[scheme]
    weak = {
        f"{fg} on {bg}": round(contrast(colours[fg], colours[bg]), 2)
        for fg, bg in TEXT_PAIRS
        if contrast(colours[fg], colours[bg]) < 4.5
    }
    assert weak == {}
