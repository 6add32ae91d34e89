"""Highlighted snippets: folding, prefixes, stems, CJK, escaping, windows and ellipses."""

from __future__ import annotations

import html
import re

import pytest

from recsys.search.highlight import ELLIPSIS, Highlight, highlight


def visible(snippet: str) -> str:
    """The snippet as a reader sees it: marks gone, entities decoded."""
    return html.unescape(re.sub(r"</?mark>", "", snippet))


@pytest.mark.parametrize(
    ("text", "query", "snippet", "matched"),
    [
        ("Star Wars", "star wars", "<mark>Star</mark> <mark>Wars</mark>", ["star", "wars"]),
        ("Amélie", "amelie", "<mark>Amélie</mark>", ["amelie"]),  # accents
        ("AMÉLIE", "Amélie", "<mark>AMÉLIE</mark>", ["amelie"]),  # case
        ("Interstellar", "inter", "<mark>Interstellar</mark>", ["inter"]),  # typed prefix
        ("The Wizard of Oz", "wizards", "The <mark>Wizard</mark> of Oz", ["wizards"]),  # stem
        ("Schindler's List", "schindlers", "<mark>Schindler&#x27;s</mark> List", ["schindlers"]),
        (
            "Le Fabuleux Destin d'Amélie Poulain",
            "amelie poulain",
            "Le Fabuleux Destin <mark>d&#x27;Amélie</mark> <mark>Poulain</mark>",
            ["amelie", "poulain"],
        ),
        (
            "Dumb & Dumber",
            "dumb and dumber",
            "<mark>Dumb</mark> <mark>&amp;</mark> <mark>Dumber</mark>",
            ["dumb", "and", "dumber"],
        ),
        ("The Godfather", "godfather the", "<mark>The</mark> <mark>Godfather</mark>",
         ["godfather", "the"]),  # query order
    ],
)  # fmt: skip
def test_marks_matching_words(text: str, query: str, snippet: str, matched: list[str]) -> None:
    assert highlight(text, query) == Highlight(snippet=snippet, matched_tokens=matched)


def test_only_the_last_word_being_typed_is_a_prefix() -> None:
    assert highlight("Interstellar", "inter ") is None  # a finished word is a word
    found = highlight("International Interstellar", "inter interstellar")
    assert found is not None
    assert found.snippet == "International <mark>Interstellar</mark>"
    assert highlight("Interstellar", "i") is None  # one letter is too short to complete


def test_partial_matches_report_the_tokens_that_matched() -> None:
    found = highlight("Star Wars", "star trek")
    assert found == Highlight(snippet="<mark>Star</mark> Wars", matched_tokens=["star"])


def test_text_is_escaped_before_the_marks_go_in() -> None:
    found = highlight("<script>alert(1)</script> Star & Stripes", "star")
    assert found is not None
    assert found.snippet == (
        "&lt;script&gt;alert(1)&lt;/script&gt; <mark>Star</mark> &amp; Stripes"
    )
    assert highlight('<b onclick="x">bold</b>', "bold") == Highlight(
        snippet="&lt;b onclick=&quot;x&quot;&gt;<mark>bold</mark>&lt;/b&gt;",
        matched_tokens=["bold"],
    )


@pytest.mark.parametrize(
    ("query", "snippet", "matched"),
    [
        ("千尋", "千と<mark>千尋</mark>の神隠し", ["千尋"]),
        ("神隠し", "千と千尋の<mark>神隠し</mark>", ["神隠", "隠し"]),
        ("神", "千と千尋の<mark>神</mark>隠し", ["神"]),
        ("千と千尋の神隠し", "<mark>千と千尋の神隠し</mark>", None),
    ],
)
def test_cjk_marks_the_matched_characters(
    query: str, snippet: str, matched: list[str] | None
) -> None:
    found = highlight("千と千尋の神隠し", query)
    assert found is not None
    assert found.snippet == snippet
    if matched is not None:
        assert found.matched_tokens == matched


def test_mixed_scripts() -> None:
    found = highlight("Spirited Away (千と千尋の神隠し)", "spirited 千尋")
    assert found is not None
    assert found.snippet == "<mark>Spirited</mark> Away (千と<mark>千尋</mark>の神隠し)"
    assert found.matched_tokens == ["spirited", "千尋"]


def test_long_text_is_cut_around_the_densest_cluster_of_matches() -> None:
    text = (
        "A wizard opens the story. "
        + "Then nothing happens for a long while, page after page. " * 6
        + "At last the young wizard finds his wizard hat in the tower. "
        + "The rest is quiet and long, with more words that go on and on. " * 6
    )
    found = highlight(text, "wizard hat", max_chars=80)
    assert found is not None
    shown = visible(found.snippet)
    assert len(shown) <= 80
    assert shown.startswith(ELLIPSIS) and shown.endswith(ELLIPSIS)
    assert "young <mark>wizard</mark> finds his <mark>wizard</mark> <mark>hat</mark>" in (
        found.snippet
    )
    assert "opens" not in shown  # the lone first match lost to the cluster
    # cut at word boundaries: every word shown is a whole word of the text
    words = set(re.findall(r"\w+", text))
    assert set(re.findall(r"\w+", shown)) <= words


def test_a_match_at_the_start_keeps_the_start() -> None:
    text = "Amélie " + "and a long description follows here " * 10
    found = highlight(text, "amelie", max_chars=60)
    assert found is not None
    assert found.snippet.startswith("<mark>Amélie</mark> and a long")
    assert found.snippet.endswith(ELLIPSIS)
    assert len(visible(found.snippet)) <= 60


def test_short_text_is_shown_whole() -> None:
    found = highlight("A short text about a wizard.", "wizard", max_chars=160)
    assert found is not None
    assert found.snippet == "A short text about a <mark>wizard</mark>."


@pytest.mark.parametrize(
    ("text", "query"),
    [("Star Wars", "trek"), (None, "star"), ("", "star"), ("Star Wars", ""), ("Star", "!!")],
)
def test_no_match_is_none(text: str | None, query: str) -> None:
    assert highlight(text, query) is None


def test_too_small_a_window_is_an_error() -> None:
    with pytest.raises(ValueError, match="max_chars"):
        highlight("Star Wars", "star", max_chars=3)
