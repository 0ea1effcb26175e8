"""From a transcript to a product, with a confidence (rapidfuzz over names and aliases).

A wrong product must never be ordered without the customer's confirmation, so `confident` is
strict: the decoder found a complete catalog phrase, that phrase names exactly one product, the
decoder's posterior for it is high, no other product is nearly as likely in its lattice, and
the fuzzy match of what was heard to the product's own phrases is exact. Anything less that
still resembles the catalog asks the customer ("Did you mean ...?"); nothing resembling it is
an unknown product.
"""

from dataclasses import dataclass

from rapidfuzz import fuzz, process, utils

from devices.voice.recognizer import LEADS, MEASURES, Transcript, Vocabulary

# Tuned with `make bench-voice` (espeak-ng voices, clean and noisy): conservative on purpose.
CONFIDENT_POSTERIOR = 0.95
CONFIDENT_MARGIN = 0.85  # another product's best path must score below this share of the best
CANDIDATE_SCORE = 60.0  # rapidfuzz score (0-100) for a product to be offered as a candidate
ALTERNATIVE_SCORE = 95.0  # an n-best alternative ranks like a 95 fuzzy match (less 0.1 per rank)
MAX_CANDIDATES = 5

_CARRIER_WORDS = {w for phrase in (*LEADS, *MEASURES, "please") for w in phrase.split()}


@dataclass(frozen=True)
class Candidate:
    sku: str
    score: float  # 0-100


@dataclass(frozen=True)
class Match:
    verdict: str  # "confident" | "unsure" | "unknown"
    confidence: float  # 0-1
    candidates: tuple[Candidate, ...]  # best first; the first is the proposed product


def heard_item_text(transcript: Transcript) -> str:
    """The item part of the transcript: the decoded phrase, or the words left after the
    carrier phrases when the decoder found no complete phrase."""
    if transcript.item:
        return transcript.item
    return " ".join(w for w in transcript.text.split() if w not in _CARRIER_WORDS)


def match_transcript(transcript: Transcript, vocabulary: Vocabulary) -> Match:
    heard = heard_item_text(transcript)
    if not heard:
        return Match(verdict="unknown", confidence=0.0, candidates=())
    scored: dict[str, float] = {}
    phrases = list(vocabulary.phrases)
    for phrase, score, _ in process.extract(heard, phrases, scorer=fuzz.WRatio, processor=utils.default_process, limit=20):
        for sku in vocabulary.phrases[phrase]:
            scored[sku] = max(scored.get(sku, 0.0), float(score))
    # Every other product in the decoder's n-best paths is offered too (it sounds alike, even
    # when it spells differently: "toilet cleaner" for "floor cleaner"), ranked by its path score.
    # They rank above spelling-only resemblances, below the phrase the decoder heard.
    for rank, (phrase, _relative) in enumerate(transcript.alternatives):
        for sku in vocabulary.phrases.get(phrase, ()):
            scored[sku] = max(scored.get(sku, 0.0), ALTERNATIVE_SCORE - rank * 0.1)
    ranked = sorted(((sku, score) for sku, score in scored.items() if score >= CANDIDATE_SCORE), key=lambda c: (-c[1], c[0]))
    candidates = tuple(Candidate(sku=sku, score=round(score, 1)) for sku, score in ranked[:MAX_CANDIDATES])
    if not candidates:
        return Match(verdict="unknown", confidence=0.0, candidates=())
    rival = max(
        (relative for phrase, relative in transcript.alternatives if set(vocabulary.phrases.get(phrase, ())) - {candidates[0].sku}),
        default=0.0,
    )
    confidence = (candidates[0].score / 100.0) * transcript.posterior * (1.0 - rival)
    exact = bool(transcript.item) and vocabulary.phrases.get(transcript.item) == (candidates[0].sku,)
    tied = len(ranked) > 1 and ranked[1][1] >= ranked[0][1]
    if exact and not tied and transcript.posterior >= CONFIDENT_POSTERIOR and rival < CONFIDENT_MARGIN:
        return Match(verdict="confident", confidence=round(confidence, 3), candidates=candidates)
    return Match(verdict="unsure", confidence=round(confidence, 3), candidates=candidates)
