"""How frustrated a shopper's message sounds, in Spanish: a score from 0 to 1
and the signals behind it.

Why a lexicon and not a model: there is no labelled Spanish frustration data
we may train on, and the shop must be able to read and change why the bot
apologised. The lexicon (data/frustration/lexicon.yml) is phrases of lemmas
with weights; spaCy's es_core_news_sm gives the lemmas ("respondéis" →
"responder", "hartos" → "harto") and a negation before a phrase cancels it
("no estoy enfadado"). Shape signals need no model: capitals, "!!", "??",
stretched letters, angry emojis.

Limits: one message at a time (repetition across messages and "rising" are
the policy's, bot/policies.py); irony and politeness-wrapped anger are missed;
spaCy runs only when a word of the message has the stem of a lexicon
phrase's key word (its first 4 letters), which keeps the common short question at a few
microseconds. An address written in the message is left out first
(core.addresses.parser.without_address). Imports neither rasa nor rasa_sdk.
"""
from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Dict, FrozenSet, List, Mapping, Optional, Sequence, Set, Tuple

import yaml

from core.addresses.parser import without_address  # a plain package: no rasa, no rasa_sdk

FRUSTRATION = "frustration"  # the parse-data key
LEXICON_PATH = Path(__file__).resolve().parent.parent / "data" / "frustration" / "lexicon.yml"
SPACY_MODEL = "es_core_news_sm"
# Irregular forms whose stem differs from the lemma's: the stem check must let them through.
IRREGULAR_STEMS: Mapping[str, Tuple[str, ...]] = {
    "decir": ("dij", "dic", "dig"),
    "hacer": ("hic", "hiz", "hag", "hech"),
    "tener": ("tuv", "teng", "tien"),
    "servir": ("sirv",),
    "volver": ("vuelv",),
    "seguir": ("sig",),
    "poder": ("pued", "pud"),
    "querer": ("quier", "quis"),
    "devolver": ("devuelv",),
    "entender": ("entiend",),
    "atender": ("atiend",),
    "sentir": ("sient", "sint"),
}
WILDCARD = "*"
# Words too common to be the one a phrase's stem check looks for.
COMMON_WORDS = frozenset(
    "de el la lo los las un una uno mi tu su me te se os nos que ya no ni y o es ser estar esta "
    "hacer hace querer devolver cuanto cuantos cuantas cuando otro todo siempre tener mas muy por para con sin "
    "hijo madre persona alguien gracias comprar justo cancelar ayudar ir van".split())
# How the summed weights become a score: 1 - exp(-K * total). 0.6 (one strong
# word) is about 0.5; two strong signals pass 0.7.
SATURATION = 1.2
_TOKEN = re.compile(r"\w+", re.UNICODE)
_STRETCHED = re.compile(r"([^\W\d_])\1{3,}", re.UNICODE)


def fold(text: str) -> str:
    """Lower case without accents (ñ becomes n too): how shoppers often type."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@dataclass(frozen=True)
class Phrase:
    words: Tuple[str, ...]  # folded lemmas or surface words; "*" is any one token
    weight: float
    negatable: bool = True

    @property
    def name(self) -> str:
        return " ".join(self.words)

    def stems(self) -> Tuple[str, ...]:
        """The stems one of which a message must hold for this phrase to match:
        those of its longest uncommon word (and that word's irregular forms)."""
        words = [w for w in self.words if w != WILDCARD]
        longest = max([w for w in words if w not in COMMON_WORDS] or words, key=len)
        stem = longest[:5] if longest[:4] in COMMON_WORDS else longest[:4]  # "estafa", not "esta"
        return (stem,) + IRREGULAR_STEMS.get(longest, ())


@dataclass(frozen=True)
class Lexicon:
    phrases: Tuple[Phrase, ...]
    negations: FrozenSet[str]
    negation_window: int
    emojis: Mapping[str, float]
    signals: Mapping[str, float]
    stems: FrozenSet[str] = field(default=frozenset())


class LexiconError(ValueError):
    """The lexicon file is missing or malformed (a deployment error, said at start-up)."""


def parse_lexicon(raw: Mapping[str, Any]) -> Lexicon:
    try:
        phrases = tuple(
            Phrase(tuple(fold(str(entry["lemmas"])).split()), float(entry["weight"]), bool(entry.get("negatable", True)))
            for entry in raw["phrases"])
        negations = frozenset(fold(str(w)) for w in raw.get("negations", ()))
        emojis = {str(k): float(v) for k, v in (raw.get("emojis") or {}).items()}
        signals = {str(k): float(v) for k, v in (raw.get("signals") or {}).items()}
        window = int(raw.get("negation_window", 2))
    except (KeyError, TypeError, ValueError) as exc:
        raise LexiconError(f"malformed frustration lexicon: {exc}") from exc
    if any(not p.words for p in phrases):
        raise LexiconError("a frustration phrase is empty")
    stems = frozenset(s for p in phrases for s in p.stems())
    return Lexicon(phrases, negations, window, emojis, signals, stems)


def load_lexicon(path: Path = LEXICON_PATH) -> Lexicon:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise LexiconError(f"cannot read {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise LexiconError(f"{path} is not a mapping")
    return parse_lexicon(raw)


@dataclass(frozen=True)
class Frustration:
    """A message's frustration: ``score`` 0..1 and why (``signals``)."""

    score: float
    signals: Tuple[str, ...] = ()

    def as_dict(self) -> Dict[str, Any]:
        return {"score": round(self.score, 3), "signals": list(self.signals)}

    @classmethod
    def from_dict(cls, value: Any) -> "Frustration":
        """From parse data; anything unreadable is no frustration."""
        if not isinstance(value, Mapping):
            return cls(0.0)
        try:
            score = min(1.0, max(0.0, float(value.get("score", 0.0))))
        except (TypeError, ValueError):
            return cls(0.0)
        return cls(score, tuple(str(s) for s in value.get("signals") or ()))


def saturate(total: float) -> float:
    return 1.0 - math.exp(-SATURATION * max(0.0, total))


@dataclass
class _Token:
    surface: str  # folded
    lemma: str  # folded
    text: str = ""  # as written (lower case), for the signal agents read
    forms: FrozenSet[str] = frozenset()  # what a phrase word may equal (see _forms)


def _forms(surface: str, lemma: str) -> FrozenSet[str]:
    """Lemma, surface, and the surface without plural or feminine ending:
    the lemmatizer leaves some adjectives as written ("hartas", "furiosa")."""
    forms = {lemma, surface}
    for word in (surface, lemma):
        for singular in (word[:-1] if word.endswith("s") else word,
                         word[:-2] if word.endswith("es") and len(word) > 2 and word[-3] not in "aeiou" else word):
            forms.add(singular)
            if singular.endswith("a") and len(singular) > 3:
                forms.add(singular[:-1] + "o")
    return frozenset(forms)


class FrustrationDetector:
    """Scores one message. spaCy is loaded on first need (not at import)."""

    def __init__(self, lexicon: Optional[Lexicon] = None, nlp: Any = None) -> None:
        self.lexicon = lexicon or load_lexicon()
        self._nlp = nlp

    @property
    def nlp(self) -> Any:
        if self._nlp is None:
            import spacy  # here, not at import: loading takes most of a second

            self._nlp = spacy.load(SPACY_MODEL, disable=["parser", "ner"])
        return self._nlp

    def warm_up(self) -> None:
        """Load spaCy now (at model load), so the first shopper does not wait."""
        self.nlp("hola")

    def score(self, text: str) -> Frustration:
        """Words and shape of what the shopper said besides an address
        written in it (a street named "de la Paciencia", "AVDA." in capitals
        and "1ºA" say nothing about their mood)."""
        text = without_address(text)
        signals: List[str] = []
        total = 0.0
        for name, weight in self._phrases(text):
            signals.append(f"lexicon:{name}")
            total += weight
        for name, weight in self._shape(text):
            signals.append(name)
            total += weight
        return Frustration(saturate(total), tuple(signals))

    # -- words -------------------------------------------------------------

    def _needs_lemmas(self, folded: str) -> bool:
        return any(word[:n] in self.lexicon.stems for word in _TOKEN.findall(folded) for n in range(3, 8))

    def _tokens(self, text: str) -> List[_Token]:
        # Lower-cased first: in a shouted message every word looks like a proper noun.
        tokens = []
        for t in self.nlp(text.lower()):
            if not t.is_space:
                surface, lemma = fold(t.text), fold(t.lemma_ or t.text)
                tokens.append(_Token(surface, lemma, t.text, _forms(surface, lemma)))
        return tokens

    def _phrases(self, text: str) -> List[Tuple[str, float]]:
        """The phrases found, as the shopper wrote them ("nadie me responde"),
        each token counted in one phrase only (the longest, then the heaviest:
        "harta" is both "harto" and "hartar")."""
        if not self._needs_lemmas(fold(text)):
            return []
        tokens = self._tokens(text)
        present = set().union(*(t.forms for t in tokens)) if tokens else set()
        candidates: List[Tuple[Tuple[int, float], int, Phrase]] = []
        for phrase in self.lexicon.phrases:
            if not all(w == WILDCARD or w in present for w in phrase.words):
                continue  # a word of it is nowhere in the message
            start = _match(phrase.words, tokens)
            if start is None or (phrase.negatable and self._negated(tokens, start)):
                continue
            candidates.append(((len(phrase.words), phrase.weight), start, phrase))
        taken: Set[int] = set()
        found: List[Tuple[str, float]] = []
        for _, start, phrase in sorted(candidates, key=lambda c: c[0], reverse=True):
            span = set(range(start, start + len(phrase.words)))
            if span & taken:
                continue
            taken |= span
            found.append((" ".join(t.text for t in tokens[start:start + len(phrase.words)]), phrase.weight))
        return found

    def _negated(self, tokens: Sequence[_Token], start: int) -> bool:
        before = tokens[max(0, start - self.lexicon.negation_window): start]
        return any(t.surface in self.lexicon.negations for t in before)

    # -- shape -------------------------------------------------------------

    def _shape(self, text: str) -> List[Tuple[str, float]]:
        weights = self.lexicon.signals
        found: List[Tuple[str, float]] = []
        letters = [ch for ch in text if ch.isalpha()]
        if len(letters) >= 8 and sum(ch.isupper() for ch in letters) / len(letters) >= 0.7:
            found.append(("shouting", weights.get("shouting", 0.0)))
        if "!!" in text or "¡¡" in text:
            found.append(("exclamations", weights.get("exclamations", 0.0)))
        if "???" in text or "¿¿¿" in text or ("¿¿" in text and "??" in text):  # tripled, or doubled both ends
            found.append(("question_marks", weights.get("question_marks_many", weights.get("question_marks", 0.0))))
        elif "??" in text or "¿¿" in text:
            found.append(("question_marks", weights.get("question_marks", 0.0)))
        if _STRETCHED.search(text):
            found.append(("stretched", weights.get("stretched", 0.0)))
        for emoji, weight in self.lexicon.emojis.items():
            count = text.count(emoji)
            if count:
                found.append((f"emoji:{emoji}", weight + min(0.5, 0.25 * (count - 1))))
        return found


def _match(words: Sequence[str], tokens: Sequence[_Token]) -> Optional[int]:
    """Where the phrase starts in the tokens (lemma or surface per word), or None."""
    size = len(words)
    for start in range(len(tokens) - size + 1):
        if all(w == WILDCARD or w in tokens[start + i].forms for i, w in enumerate(words)):
            return start
    return None


class Response(str, Enum):
    """What the bot does about a shopper's frustration this turn."""

    NONE = "none"
    APOLOGISE = "apologise"  # say sorry first, then answer as usual
    ESCALATE = "escalate"  # say sorry and hand over to a person (reason "frustration")


@dataclass(frozen=True)
class Thresholds:
    apologise: float = 0.3
    escalate: float = 0.65
    repeated_message: float = 0.3  # added when the shopper repeats a recent message


def conversation_score(latest: Frustration, latest_text: str, earlier_texts: Sequence[str],
                       repeated_weight: float, answer: bool = False) -> float:
    """The latest message's score, raised when it repeats one of the last
    three messages (the bot's answer did not help). Data sent again (an
    address, an order number, an email) is an answer, not a sign of it; so
    is a button pressed again (a ``/intent`` payload: "Sí" to a second
    confirmation) and, with ``answer``, a typed yes or no."""
    if answer or latest_text.lstrip().startswith("/"):
        return latest.score
    key = _repeat_key(latest_text)
    repeated = len(key) >= 4 and key in {_repeat_key(t) for t in earlier_texts[-3:]}
    if not repeated:
        return latest.score
    return 1.0 - (1.0 - latest.score) * math.exp(-SATURATION * repeated_weight)


_DATA = re.compile(r"\S+@\S+|\d+")


def _repeat_key(text: str) -> str:
    """The words of a message, without its address, emails and numbers."""
    return " ".join(_TOKEN.findall(fold(_DATA.sub(" ", without_address(text)))))


def decide(scores: Sequence[float], thresholds: Thresholds = Thresholds()) -> Response:
    """From the scores of the shopper's messages since the last handoff, oldest
    first: escalate when the latest is high, or when it is frustrated and so
    was the one before (the apology did not help: rising or sustained);
    apologise when the latest is frustrated."""
    if not scores:
        return Response.NONE
    latest = scores[-1]
    if latest >= thresholds.escalate:
        return Response.ESCALATE
    if latest >= thresholds.apologise:
        if len(scores) >= 2 and scores[-2] >= thresholds.apologise:
            return Response.ESCALATE
        return Response.APOLOGISE
    return Response.NONE
