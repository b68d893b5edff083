"""The offline drafter on short, plain texts, in English, French, German and Spanish.

Key terms come from YAKE keyphrases and wordfreq word frequencies (``offline_language``);
these tests check what a teacher would: enough items, answers that the text gives,
distractors that are nouns of the same text, and no item that gives another's answer
away. The checks of ``test_offline`` (keys right for the text) apply to every item.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from tests.unit.ai.test_offline import ALL_TYPES, BLANK, check_draft, norm

from quizplatform.ai.offline import OfflineDraftError, draft_from_text
from quizplatform.ai.offline_language import detect_language
from quizplatform.ai.offline_text import analyse_text

SHORT = Path(__file__).resolve().parents[2] / "fixtures" / "ai" / "short"

PHOTOSYNTHESIS = (
    "Photosynthesis is the process by which green plants use sunlight to make glucose from "
    "carbon dioxide and water. It takes place in the chloroplasts, which contain the pigment "
    "chlorophyll. Oxygen is released as a by-product. The light-dependent reactions happen in "
    "the thylakoid membranes, while the Calvin cycle happens in the stroma."
)
# The nouns of the paragraph, as a teacher lists them: every option must be one.
PHOTOSYNTHESIS_NOUNS = {
    "photosynthesis", "process", "green plants", "plants", "sunlight", "glucose",
    "carbon dioxide", "carbon", "dioxide", "water", "chloroplasts", "pigment", "chlorophyll",
    "pigment chlorophyll", "oxygen", "by-product", "light-dependent reactions", "reactions",
    "thylakoid membranes", "thylakoid", "calvin cycle", "calvin", "stroma",
}  # fmt: skip
CLOZE_TYPES = {"short_answer", "single_choice", "numeric"}
SEEDS = range(8)

LANGUAGE_TEXTS = {
    "fr": "fr_volcans",
    "de": "de_rhein",
    "es": "es_quijote",
}
LEADS = {
    "fr": ("Complétez", "Vrai ou faux", "Lesquelles", "D'après"),
    "de": ("Ergänzen", "Vervollständigen", "Richtig oder falsch", "Welche"),
    "es": ("Complete", "Verdadero o falso", "¿Cuáles", "Según"),
}


def short_text(name: str) -> str:
    return (SHORT / f"{name}.txt").read_text(encoding="utf-8")


def visible_text(item: dict[str, Any]) -> str:
    """What a student sees of an item: its prompt and its options."""
    return norm(" ".join([item["prompt"], *item.get("options", [])]))


def secrets(item: dict[str, Any]) -> list[str]:
    """Word runs that would give this item's answer away if another item showed them: the
    blanked term with up to three words either side (cloze), or the text's words where a
    false statement changed them."""
    quote = norm(item["source_quote"])
    if item["type"] in CLOZE_TYPES:
        prompt = item["prompt"]
        before, _, after = prompt.partition(BLANK)
        answer = item.get("accepted_answers", item.get("correct_options", [""]))[0]
        if item["type"] == "numeric":
            answer = f"{item['numeric_answer']:g}"
        left = norm(before).split()[-3:]
        right = norm(after).split()[:3]
        return [" ".join([*left, norm(answer), *right])]
    if item["type"] == "true_false" and not item["true_false_answer"]:
        statement = norm(item["prompt"].split(":", 1)[1]).split()
        words = quote.split()
        start = 0
        while start < min(len(words), len(statement)) and words[start] == statement[start]:
            start += 1
        end = 0
        while (
            end < min(len(words), len(statement)) - start and words[-1 - end] == statement[-1 - end]
        ):
            end += 1
        changed = words[max(0, start - 2) : len(words) - end + 2]
        return [" ".join(changed)]
    return []


def check_no_give_away(items: list[dict[str, Any]]) -> None:
    for item in items:
        for secret in secrets(item):
            for other in items:
                if other is item:
                    continue
                assert f" {secret} " not in f" {visible_text(other)} ", (
                    f"{other['prompt']!r} gives away the answer of {item['prompt']!r}"
                )


def check_answers_in_text(items: list[dict[str, Any]], source: str) -> None:
    text = norm(source)
    for item in items:
        for answer in item.get("accepted_answers", [])[:1] + item.get("correct_options", []):
            if item["type"] != "multiple_choice":
                assert f" {norm(answer)} " in f" {text} ", item
        if item["type"] == "numeric":
            assert f"{item['numeric_answer']:g}" in source, item


@pytest.mark.parametrize("seed", SEEDS)
def test_photosynthesis_paragraph_gives_usable_questions(seed: int) -> None:
    items = draft_from_text(PHOTOSYNTHESIS, 10, ALL_TYPES, seed=seed)
    kinds = {item["type"] for item in items}
    assert len(items) >= 3, items
    assert kinds & {"short_answer", "single_choice"}, kinds
    check_draft(items, PHOTOSYNTHESIS)
    check_answers_in_text(items, PHOTOSYNTHESIS)
    check_no_give_away(items)
    for item in items:
        if item["type"] == "single_choice":
            for option in item["options"]:
                assert norm(option) in {norm(n) for n in PHOTOSYNTHESIS_NOUNS}, (option, item)


def test_photosynthesis_paragraph_gives_true_false_and_a_changed_fact() -> None:
    answers = set()
    for seed in SEEDS:
        items = draft_from_text(PHOTOSYNTHESIS, 10, ALL_TYPES, seed=seed)
        assert any(item["type"] == "true_false" for item in items), seed
        for item in draft_from_text(PHOTOSYNTHESIS, 3, ["true_false"], seed=seed):
            answers.add(item["true_false_answer"])
            if not item["true_false_answer"]:
                # The changed term is one of the paragraph's nouns, put in another's place.
                statement = item["prompt"].split(":", 1)[1]
                changed = set(norm(statement).split()) - set(norm(PHOTOSYNTHESIS).split())
                assert not changed, item  # words of the text only
    assert answers == {True, False}


def test_multiple_choice_needs_a_longer_text_and_says_so() -> None:
    # Four sentences: one multiple choice item would show them all, and the true/false
    # items would repeat its statements.
    with pytest.raises(OfflineDraftError, match="multiple choice question needs 8 statements"):
        draft_from_text(PHOTOSYNTHESIS, 3, ["multiple_choice"], seed=1)


def test_photosynthesis_terms_are_the_paragraphs_key_terms() -> None:
    analysis = analyse_text(PHOTOSYNTHESIS)
    found = {occ.surface.casefold() for s in analysis.sentences for occ in s.occurrences}
    assert {"photosynthesis", "sunlight", "glucose", "carbon dioxide", "stroma"} <= found
    assert {"chloroplasts", "thylakoid membranes", "light-dependent reactions"} <= found
    assert not found & {"contain", "happen", "released", "use", "make", "takes"}, found
    assert analysis.language == "en"


@pytest.mark.parametrize("language", LANGUAGE_TEXTS)
def test_short_paragraphs_in_other_languages_give_three_questions(language: str) -> None:
    source = short_text(LANGUAGE_TEXTS[language])
    assert detect_language(source) == language
    assert analyse_text(source).language == language
    for seed in SEEDS:
        items = draft_from_text(source, 10, ALL_TYPES, seed=seed)
        assert len(items) >= 3, (seed, items)
        check_draft(items, source)
        check_answers_in_text(items, source)
        check_no_give_away(items)
        for item in items:
            assert item["prompt"].startswith(LEADS[language]), item


def test_french_elided_articles_are_not_part_of_terms() -> None:
    analysis = analyse_text(short_text("fr_volcans"))
    surfaces = {occ.surface for s in analysis.sentences for occ in s.occurrences}
    assert not any("'" in s or "\u2019" in s for s in surfaces), surfaces


def test_german_nouns_are_terms_and_verbs_are_not() -> None:
    analysis = analyse_text(short_text("de_rhein"))
    surfaces = {occ.surface for s in analysis.sentences for occ in s.occurrences}
    assert {"Bodensee", "Grenze", "Binnenhafen"} <= surfaces
    assert not surfaces & {"entspringt", "mündet", "bildet", "stürzt", "gilt"}


def test_distractors_keep_the_keys_article() -> None:
    # "le cycle" takes no "photosynthèse": a distractor after "le"/"la" was seen after it.
    source = short_text("fr_volcans")
    for seed in SEEDS:
        for item in draft_from_text(source, 10, ["single_choice"], seed=seed):
            before = item["prompt"].split(BLANK)[0].split()
            article = before[-1].casefold() if before else ""
            if article in {"le", "la"}:
                for option in item["options"]:
                    assert f" {article} {norm(option)} " in f" {norm(source)} ", (option, item)


# --------------------------------------------------------------------------- hostile


def test_a_huge_text_is_drafted_quickly() -> None:
    source = (PHOTOSYNTHESIS + "\n\n" + short_text("fr_volcans") + "\n\n") * 400  # 320,000
    draft_from_text(PHOTOSYNTHESIS, 1, ALL_TYPES, seed=1)  # imports and models loaded
    started = time.perf_counter()
    items = draft_from_text(source, 10, ALL_TYPES, seed=1)
    assert time.perf_counter() - started < 5.0
    assert 1 <= len(items) <= 10


@pytest.mark.parametrize(
    "source",
    [
        "the of and to in is it that was for on are with as his they be at " * 40 + ".",
        ". ".join(["It is the one that was there and then it was not"] * 30) + ".",
        "光合作用是绿色植物利用阳光将二氧化碳和水转化为葡萄糖的过程。它发生在叶绿体中。" * 10,
        "a" * 100_000,
        "🌱 " * 5_000,
    ],
    ids=["stop words", "stop word sentences", "another script", "one long word", "emoji"],
)
def test_texts_without_key_terms_are_refused_clearly(source: str) -> None:
    started = time.perf_counter()
    with pytest.raises(OfflineDraftError, match=r"(too short|could not draft)"):
        draft_from_text(source, 5, ALL_TYPES, seed=1)
    assert time.perf_counter() - started < 3.0


def test_invisible_and_bidi_characters_never_reach_a_prompt() -> None:
    source = (
        PHOTOSYNTHESIS.replace("sunlight", "sun\u200dli\u00adght")
        .replace("stroma", "str\u202eoma\u202c")
        .replace("glucose", "\ufeffglucose\u2066")
    )
    items = draft_from_text(source, 10, ALL_TYPES, seed=1)
    assert len(items) >= 3
    for item in items:
        text = item["prompt"] + " ".join(item.get("options", []))
        assert not any(unicodedata.category(c) == "Cf" for c in text), item


def test_mixed_languages_give_few_right_items_or_a_clear_refusal() -> None:
    source = (
        "Photosynthesis happens in the chloroplasts of green plants. "
        "La photosynthèse a lieu dans les chloroplastes des plantes vertes. "
        "Die Photosynthese findet in den Chloroplasten der grünen Pflanzen statt. "
        "La fotosíntesis ocurre en los cloroplastos de las plantas verdes. "
        "Chlorophyll absorbs red and blue light but reflects green light."
    )
    try:
        items = draft_from_text(source, 10, ALL_TYPES, seed=1)
    except OfflineDraftError as exc:
        assert re.search(r"too short|could not draft", str(exc))
    else:
        assert len(items) <= 10
        check_draft(items, source)


def test_the_language_tools_load_only_when_a_text_is_drafted() -> None:
    # The web instance imports the providers; the heavy packages (about 100 MB) load on
    # the first offline draft from a text, in the worker.
    code = (
        "import sys\n"
        "import quizplatform.ai.providers, quizplatform.ai.offline\n"
        "heavy = {'yake', 'wordfreq', 'py3langid', 'numpy'} & set(sys.modules)\n"
        "print(sorted(heavy))\n"
        "quizplatform.ai.offline.draft_from_text("
        f"{PHOTOSYNTHESIS!r}, 3, [], seed=1)\n"
        "print(sorted({'yake', 'wordfreq', 'py3langid'} & set(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    before, after = result.stdout.splitlines()
    assert before == "[]", result.stdout
    assert after == "['py3langid', 'wordfreq', 'yake']"
