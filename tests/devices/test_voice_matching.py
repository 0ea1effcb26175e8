"""From a transcript to a product: only an unambiguous, exact, likely phrase is confident."""

import pytest

from devices.voice.matching import match_transcript
from devices.voice.recognizer import Transcript, normalize, pronounce, spoken_phrases, vocabulary_of

CATALOG = [
    ("BW-LP-001", "Laundry Pods, Fresh Linen, 42 ct", ["laundry pods", "washing pods"]),
    ("BW-LP-003", "Laundry Pods, Mountain Breeze, 81 ct", ["big pack laundry pods"]),
    ("BW-LD-006", "Powder Laundry Detergent, 5 lb", ["washing powder"]),
    ("PPR-PT-004", "Paper Towels, 6 Rolls", ["paper towels", "kitchen roll"]),
    ("KH-WR-001", "Plastic Wrap, 200 sq ft", ["plastic wrap", "cling film"]),
]


@pytest.fixture(scope="module")
def vocabulary():
    return vocabulary_of(CATALOG)


def heard(text: str, item: str, posterior: float = 1.0, alternatives=()) -> Transcript:
    return Transcript(text=text, item=item, posterior=posterior, alternatives=tuple(alternatives))


def test_an_exact_unambiguous_likely_phrase_is_confident(vocabulary):
    match = match_transcript(heard("get me some plastic wrap", "plastic wrap"), vocabulary)
    assert match.verdict == "confident"
    assert match.candidates[0].sku == "KH-WR-001"
    assert match.confidence == pytest.approx(1.0)


def test_a_phrase_that_names_two_products_asks(vocabulary):
    # "laundry pods" is an alias of one product and the spoken name of both pod packs
    match = match_transcript(heard("buy laundry pods", "laundry pods"), vocabulary)
    assert match.verdict == "unsure"
    assert {c.sku for c in match.candidates} >= {"BW-LP-001", "BW-LP-003"}


def test_a_doubtful_decoding_asks(vocabulary):
    match = match_transcript(heard("order cling film", "cling film", posterior=0.6), vocabulary)
    assert (match.verdict, match.candidates[0].sku) == ("unsure", "KH-WR-001")
    assert match.confidence < 0.7


def test_a_rival_product_nearly_as_likely_in_the_lattice_asks(vocabulary):
    match = match_transcript(heard("buy washing pods", "washing pods", alternatives=[("washing powder", 0.95)]), vocabulary)
    assert match.verdict == "unsure"
    assert [c.sku for c in match.candidates][:2] == ["BW-LP-001", "BW-LD-006"]


def test_words_without_a_complete_phrase_are_offered_as_candidates_never_placed(vocabulary):
    match = match_transcript(heard("buy some paper towel", ""), vocabulary)
    assert match.verdict == "unsure"
    assert match.candidates[0].sku == "PPR-PT-004"


@pytest.mark.parametrize("text", ["", "buy some", "order a television set", "hello how are you"])
def test_nothing_like_the_catalog_is_unknown(vocabulary, text):
    match = match_transcript(heard(text, ""), vocabulary)
    assert (match.verdict, match.candidates) == ("unknown", ())


def test_spoken_phrases_come_from_aliases_and_the_name_before_its_first_comma():
    assert spoken_phrases(name="Laundry Pods, Fresh Linen, 42 ct", aliases=["washing pods"]) == ["washing pods", "laundry pods"]
    assert normalize("CR2032 Coin Cells") == ["cr", "two", "zero", "three", "two", "coin", "cells"]
    assert normalize("Size 5 Diapers, 31 ct") == ["size", "five", "diapers", "thirty", "one", "ct"]


def test_words_missing_from_the_dictionary_are_pronounced_as_compounds_or_spelled():
    assert pronounce("firestarter") == f"{pronounce('fire')} {pronounce('starter')}"
    assert pronounce("qx") == f"{pronounce('q')} {pronounce('x')}"
    assert pronounce("xqzvbk") is None


def test_catalog_words_the_rules_get_wrong_have_their_own_pronunciations():
    assert pronounce("aa") == "EY EY"  # the letters, not the word "a" twice
    assert pronounce("nappies") == "N AE P IY Z"  # not nap + pies
    assert pronounce("unscented") is not None  # not in CMUdict at all


def test_the_fingerprint_changes_with_the_catalog(vocabulary):
    assert vocabulary_of(list(CATALOG)).fingerprint == vocabulary.fingerprint
    changed = [*CATALOG[:-1], ("KH-WR-001", "Plastic Wrap, 200 sq ft", ["plastic wrap", "saran wrap"])]
    assert vocabulary_of(changed).fingerprint != vocabulary.fingerprint
    assert "saran wrap" in vocabulary_of(changed).phrases
