"""Transcription with pocketsphinx, constrained by a grammar of what customers say.

The grammar is `[lead] [measure] <item> [please]`: the lead and measure are the carrier phrases
("buy", "get me", "a pack of", "some more" ...), an item is a product's spoken name or alias.
Speech that is no catalog phrase leaves the search without a complete parse (the decoder then
reports the best partial path, which ends in no item): the matcher sees that nothing in the
catalog was said rather than the nearest product. (A phone-loop garbage model inside the
grammar was tried: it made decoding 20-40 times slower than real time.) The grammar and its
decoder are rebuilt whenever the catalog's phrases change (keyed by their fingerprint), once per
worker process.
"""

import hashlib
import os
import re
import threading
from dataclasses import dataclass
from functools import cache

from pocketsphinx import Config, Decoder, get_model_path

LEADS = ("buy", "order", "get me", "get", "i need", "we need", "please order", "please buy", "add")
# Short fillers ("a", "the", "one") were left out: free to insert anywhere, they let the decoder
# trade the item's first sounds for a carrier word (measured with `make bench-voice`).
MEASURES = ("a pack of", "a box of", "a bag of", "a bottle of", "a roll of", "some", "some more", "more", "another")
BEAM, WBEAM = 1e-60, 1e-40  # wider than the defaults (1e-48, 7e-29): fewer right paths pruned early
NBEST = 40  # lattice paths read for the alternatives

_NUMBERS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]
_TENS = {2: "twenty", 3: "thirty", 4: "forty", 5: "fifty", 6: "sixty", 7: "seventy", 8: "eighty", 9: "ninety"}
_TEENS = {13: "thirteen", 14: "fourteen", 15: "fifteen", 16: "sixteen", 17: "seventeen", 18: "eighteen", 19: "nineteen"}


def number_words(n: int) -> list[str]:
    if n < 13:
        return [_NUMBERS[n]]
    if n < 20:
        return [_TEENS[n]]
    if n < 100:
        return [_TENS[n // 10]] + ([_NUMBERS[n % 10]] if n % 10 else [])
    if n < 1000:
        return [_NUMBERS[n // 100], "hundred"] + (number_words(n % 100) if n % 100 else [])
    return [w for digit in str(n) for w in number_words(int(digit))]


def normalize(text: str) -> list[str]:
    """Lowercase words of letters; digits become number words ("cr2032" -> "c r two zero three two")."""
    words: list[str] = []
    for token in re.findall(r"[a-z]+|\d+", text.lower().replace("&", " and ")):
        if token.isdigit():
            words += number_words(int(token)) if len(token) <= 3 else [w for d in token for w in number_words(int(d))]
        else:
            words.append(token)
    return words


def model_dir() -> str:
    return os.path.join(get_model_path(), "en-us")


@cache
def pronouncing_dictionary() -> dict[str, str]:
    """CMUdict as shipped in the pocketsphinx wheel: word -> its first pronunciation."""
    entries: dict[str, str] = {}
    with open(os.path.join(model_dir(), "cmudict-en-us.dict"), encoding="utf-8") as fh:
        for line in fh:
            word, _, phones = line.strip().partition(" ")
            if "(" not in word:
                entries.setdefault(word, phones)
    return entries


# Catalog words CMUdict lacks, or that the compound rule below splits wrongly ("nappies" is
# not nap + pies, "aa" is two letters, not two "a"s). Found with `make bench-voice`.
EXTRA_PRONUNCIATIONS = {
    "aa": "EY EY",
    "beeswax": "B IY Z W AE K S",
    "compostable": "K AH M P AA S T AH B AH L",
    "cr": "S IY AA R",
    "degreaser": "D IY G R IY S ER",
    "disinfecting": "D IH S IH N F EH K T IH NG",
    "flushable": "F L AH SH AH B AH L",
    "microfiber": "M AY K R OW F AY B ER",
    "nappies": "N AE P IY Z",
    "nappy": "N AE P IY",
    "oxi": "AA K S IY",
    "serviettes": "S ER V IY EH T S",
    "spf": "EH S P IY EH F",
    "sunblock": "S AH N B L AA K",
    "unblocker": "AH N B L AA K ER",
    "unscented": "AH N S EH N T IH D",
}


def pronounce(word: str) -> str | None:
    """The word's phones: from the dictionary or the extra pronunciations, else as a compound
    of dictionary words ("firestarter" = fire + starter), else spelled out when short, else None."""
    cmu = pronouncing_dictionary()
    if word in EXTRA_PRONUNCIATIONS:
        return EXTRA_PRONUNCIATIONS[word]
    if word in cmu:
        return cmu[word]
    split = _compound(word, cmu)
    if split:
        return " ".join(cmu[part] for part in split)
    if len(word) <= 3 and all(letter in cmu for letter in word):
        return " ".join(cmu[letter] for letter in word)
    return None


def _compound(word: str, cmu: dict[str, str]) -> list[str] | None:
    """Split into as few dictionary words of 3+ letters as possible (short parts are noise)."""
    best: dict[int, list[str]] = {0: []}
    for end in range(3, len(word) + 1):
        options = [best[start] + [word[start:end]] for start in range(end - 2) if start in best and word[start:end] in cmu]
        if options:
            best[end] = min(options, key=len)
    return best.get(len(word))


@dataclass(frozen=True)
class Vocabulary:
    """The catalog as spoken phrases: phrase -> the SKUs it may name."""

    phrases: dict[str, tuple[str, ...]]
    fingerprint: str


def spoken_phrases(*, name: str, aliases: list[str]) -> list[str]:
    """What a customer may say for a product: its aliases and its name before the first comma
    ("Laundry Pods, Fresh Linen, 42 ct" -> "laundry pods"), as pronounceable words."""
    phrases = []
    for text in [*aliases, name.split(",")[0]]:
        words = normalize(text)
        # A phrase with a word we cannot pronounce is left out whole: cut short, it could
        # name another product ("unscented laundry pods" is not "laundry pods").
        if words and all(pronounce(w) is not None for w in words):
            phrases.append(" ".join(words))
    return list(dict.fromkeys(phrases))


def vocabulary_of(products: list[tuple[str, str, list[str]]]) -> Vocabulary:
    """`products` are (sku, name, aliases) of the active catalog."""
    phrases: dict[str, list[str]] = {}
    for sku, name, aliases in sorted(products):
        for phrase in spoken_phrases(name=name, aliases=aliases or []):
            phrases.setdefault(phrase, []).append(sku)
    frozen = {phrase: tuple(skus) for phrase, skus in sorted(phrases.items())}
    fingerprint = hashlib.sha256(repr(sorted(frozen.items())).encode()).hexdigest()[:16]
    return Vocabulary(phrases=frozen, fingerprint=fingerprint)


def grammar_of(vocabulary: Vocabulary) -> str:
    items = " | ".join(sorted(vocabulary.phrases))
    return (
        "#JSGF V1.0;\ngrammar order;\n"
        "public <order> = [<lead>] [<measure>] <item> [please];\n"
        f"<lead> = {' | '.join(LEADS)};\n"
        f"<measure> = {' | '.join(MEASURES)};\n"
        f"<item> = {items};\n"
    )


@dataclass(frozen=True)
class Transcript:
    text: str  # what was heard
    item: str  # the catalog phrase heard, or "" when the speech had no complete parse
    # The lattice posterior of the item's words (the least sure of them, 0-1): how sure the
    # decoder is of the product, whatever it made of the carrier words around it.
    posterior: float
    # Other catalog phrases the lattice holds, best first, with their path score relative
    # to the best path's (1.0 = as likely; lower = less).
    alternatives: tuple[tuple[str, float], ...] = ()


class Recognizer:
    """One pocketsphinx decoder with the grammar of one catalog fingerprint (not thread-safe:
    used under a lock)."""

    def __init__(self, vocabulary: Vocabulary):
        self.vocabulary = vocabulary
        self.lock = threading.Lock()
        config = Config(
            hmm=os.path.join(model_dir(), "en-us"),
            dict=os.path.join(model_dir(), "cmudict-en-us.dict"),
            lm=None,
            loglevel="FATAL",
            # Filler (silence/noise) insertion inside a grammar made the decoder end the
            # utterance early ("buy some" for "buy some laundry pods").
            fsgusefiller=False,
            beam=BEAM,
            wbeam=WBEAM,
            pbeam=BEAM,
        )
        self.decoder = Decoder(config)
        for word in {w for phrase in vocabulary.phrases for w in phrase.split()}:
            if word in EXTRA_PRONUNCIATIONS or self.decoder.lookup_word(word) is None:
                self.decoder.add_word(word, pronounce(word), False)
        self.decoder.add_jsgf_string("order", grammar_of(vocabulary))
        self.decoder.activate_search("order")

    def transcribe(self, pcm16k: bytes) -> Transcript:
        with self.lock:
            self.decoder.start_utt()
            self.decoder.process_raw(pcm16k, full_utt=True)
            self.decoder.end_utt()
            hyp = self.decoder.hyp()
            if hyp is None or not hyp.hypstr:
                return Transcript(text="", item="", posterior=0.0)
            segments = [
                (re.sub(r"\(\d+\)$", "", seg.word), seg.prob)
                for seg in (self.decoder.seg() or ())
                if seg.word not in ("<s>", "</s>", "<sil>")
            ]
            paths = [(path.hypstr, path.score) for _, path in zip(range(NBEST), self.decoder.nbest())]
        item = self.item_of(hyp.hypstr.split())
        alternatives: dict[str, float] = {}
        for text, score in paths:
            other = self.item_of(text.split())
            if other and other != item and other not in alternatives and hyp.score > 0:
                alternatives[other] = min(1.0, score / hyp.score)
        return Transcript(text=hyp.hypstr, item=item, posterior=_item_posterior(segments, item), alternatives=tuple(alternatives.items()))

    def item_of(self, words: list[str]) -> str:
        """The longest catalog phrase the words end with (before "please"), or ""."""
        core = words[:-1] if words and words[-1] == "please" else words
        for start in range(len(core)):
            candidate = " ".join(core[start:])
            if candidate in self.vocabulary.phrases:
                return candidate
        return ""


def _item_posterior(segments: list[tuple[str, float]], item: str) -> float:
    if not item:
        return 0.0
    words = [word for word, _ in segments]
    if words and words[-1] == "please":
        segments = segments[:-1]
    tail = segments[-len(item.split()) :]
    if [word for word, _ in tail] != item.split():
        return 0.0
    return float(min(prob for _, prob in tail))


_recognizers: dict[str, Recognizer] = {}
_build_lock = threading.Lock()


def recognizer_for(vocabulary: Vocabulary) -> Recognizer:
    """The process's recognizer for this catalog; a changed catalog builds a new one."""
    with _build_lock:
        recognizer = _recognizers.get(vocabulary.fingerprint)
        if recognizer is None:
            _recognizers.clear()
            recognizer = _recognizers[vocabulary.fingerprint] = Recognizer(vocabulary)
        return recognizer
