"""A linear intent classifier for Rasa's pipeline: TF-IDF character and word
n-grams of the message text (lower-cased, accents stripped, digits folded to
0) into sklearn's LogisticRegression.

Why: on this assistant's data (3,000+ short, varied Spanish messages written
with typos and without accents) a regularised linear model over n-grams
generalises better than DIETClassifier, trains in seconds and answers in
well under a millisecond (``LinearScorer``); the cross-validation comparison is in
docs/benchmarks.md. Folding digits keeps order numbers and postal codes from
becoming noise features.
Limits: no entities (they come from the regex extractor).

Three more things the classifier does, all cheap (``LinearScorer``):
- a FAQ message gets its answer (``response_selector``, in the shape of
  Rasa's ResponseSelector) from a second linear model over the FAQ
  examples' response keys. It replaced Rasa's TensorFlow ResponseSelector:
  on our traffic set it picked as well or better (42 of 43 FAQ messages
  against 39), in a fraction of the time per message and of the training
  time (docs/benchmarks.md);
- a long message (200+ characters) whose whole text is unclear, small talk or
  out of scope is classified by its clearest request sentence, if one is
  clear (0.6);
- a FAQ message that asks two questions or more gets ``questions``, the FAQ
  keys in the order asked, from the same FAQ model (bot/policies.py then
  answers each).

``FrustrationScorer`` puts bot/frustration.py's score on every message.
"""
from __future__ import annotations

import logging
import re
import unicodedata
from pathlib import Path
from typing import Any, Dict, List, Optional, Text, Tuple

import joblib
import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_RESPONSE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from bot.frustration import FRUSTRATION, FrustrationDetector, load_lexicon

logger = logging.getLogger(__name__)
MODEL_FILE = "linear_intent_classifier.joblib"
FAQ_MODEL_FILE = "linear_faq_keys.joblib"
RESPONSE_SELECTOR = "response_selector"  # parse-data key Rasa reads the chosen FAQ answer from
QUESTIONS = "questions"  # parse-data key: the FAQ questions of a message, in order
MENTIONS = "mentions"  # parse-data key: lookup-table names in the message ({"other_company": ["Movistar"]})
# Where a message splits into questions: "?", "¿", ";", " y ", " además ", " también ", " e ".
_QUESTION_BREAK = re.compile(r"[?¿;]+|\b(?:y|e|ademas|además|tambien|también|otra cosa|aparte)\b", re.IGNORECASE)
# Where a long message splits into sentences.
_SENTENCE_BREAK = re.compile(r"(?<=[.!?¡¿;\n])\s+|\n+")


def has_content(text: str) -> bool:
    """Whether the text has a letter, a digit or a symbol (emoji included)."""
    return any(unicodedata.category(ch)[0] in "LNS" for ch in text)


def normalize(text: str) -> str:
    """Lower case, no accents (shoppers often omit them), digits as 0."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"\d", "0", plain)


class Normalizer:
    """``normalize`` plus placeholders: every element of a lookup table of the
    training data becomes one shared token ("mi pedido de Amazon no llega" →
    "mi pedido de otraempresa no llega").

    Why: a name the model never saw (another shop, a phone company) then still
    carries the table's meaning. A class, not a closure, so the fitted
    pipeline pickles. Limits: whole words only, after normalisation.
    """

    def __init__(self, placeholders: Optional[Dict[str, List[str]]] = None,
                 tables: Optional[Dict[str, str]] = None) -> None:
        self.patterns: List[Tuple["re.Pattern[str]", str]] = []
        self.tables: Dict[str, str] = dict(tables or {})  # token -> lookup table name
        self.spellings: Dict[str, str] = {}  # normalised element -> as the table writes it
        for token, elements in (placeholders or {}).items():
            spelled: Dict[str, str] = {}
            for element in elements:
                if element.strip():
                    spelled.setdefault(normalize(element).strip(), element.strip())
            self.spellings.update(spelled)
            if spelled:
                alternatives = "|".join(re.escape(w) for w in sorted(spelled, key=len, reverse=True))
                self.patterns.append((re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)"), f" {token} "))

    def __call__(self, text: str) -> str:
        text = normalize(text)
        for pattern, token in self.patterns:
            text = pattern.sub(token, text)
        return text

    def mentions(self, text: str) -> Dict[str, List[str]]:
        """The lookup tables' elements the text names, by table, as the table
        spells them ({"other_company": ["Movistar"]}); for the answers."""
        found: Dict[str, List[str]] = {}
        folded = normalize(text)
        for pattern, token in self.patterns:
            names = [self.spellings.get(m.group(0), m.group(0)) for m in pattern.finditer(folded)]
            if names:
                found[self.tables.get(token.strip(), token.strip())] = list(dict.fromkeys(names))
        return found


class LinearScorer:
    """The class probabilities of a fitted TF-IDF + LogisticRegression
    pipeline for one text: the same numbers as its ``predict_proba``, in a
    fraction of the time.

    Why: for one short message sklearn spent almost all of its 3-4 ms in
    bookkeeping, not arithmetic: each TfidfVectorizer built sparse matrices
    and multiplied by a 35,000 × 35,000 diagonal idf matrix, the FeatureUnion
    set up joblib, and the classifier multiplied by the coefficients'
    transpose, a Fortran-ordered view that scipy copied whole (py-spy). Here
    each vectorizer's own analyzer gives the n-grams, and the few columns
    they hit are weighted (sublinear tf, idf, l2 norm, as TfidfVectorizer
    does) and multiplied by the matching rows of the coefficients, then
    softmax, as multinomial LogisticRegression does.
    Limits: multinomial logistic regression (more than two classes, not
    liblinear) over an unweighted FeatureUnion of TfidfVectorizers with l2
    or no norm; any other pipeline is scored by its own ``predict_proba``
    (tests/test_intent_classifier.py checks that both agree).
    """

    def __init__(self, model: Pipeline) -> None:
        self.model = model
        union = model.named_steps["features"]
        classifier = model.named_steps["classifier"]
        self.classes_ = classifier.classes_
        vectorizers = [transformer for _, transformer in union.transformer_list]
        self._fast = (len(self.classes_) > 2 and getattr(union, "transformer_weights", None) is None
                      and getattr(classifier, "multi_class", "auto") in ("auto", "multinomial")
                      and getattr(classifier, "solver", "lbfgs") != "liblinear"
                      and all(isinstance(v, TfidfVectorizer) and v.norm in ("l2", None) and not v.binary
                              for v in vectorizers))
        if not self._fast:
            return
        weights = np.ascontiguousarray(classifier.coef_.T)  # features × classes
        self._intercept = np.asarray(classifier.intercept_, dtype=float)
        self._parts: List[Tuple[Any, Dict[str, int], np.ndarray, np.ndarray, bool, bool]] = []
        offset = 0
        for v in vectorizers:
            size = len(v.vocabulary_)
            idf = np.asarray(v.idf_, dtype=float) if v.use_idf else np.ones(size)
            self._parts.append((v.build_analyzer(), v.vocabulary_, idf, weights[offset:offset + size],
                                bool(v.sublinear_tf), v.norm == "l2"))
            offset += size

    def probabilities(self, text: str) -> np.ndarray:
        if not self._fast:
            return self.model.predict_proba([text])[0]
        scores = self._intercept.copy()
        for analyzer, vocabulary, idf, weights, sublinear, l2 in self._parts:
            counts: Dict[int, int] = {}
            for gram in analyzer(text):
                column = vocabulary.get(gram)
                if column is not None:
                    counts[column] = counts.get(column, 0) + 1
            if not counts:
                continue
            columns = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
            values = np.fromiter(counts.values(), dtype=float, count=len(counts))
            if sublinear:
                values = np.log(values) + 1.0
            values *= idf[columns]
            if l2:
                values /= np.sqrt(np.dot(values, values))
            scores += values @ weights[columns]
        scores -= scores.max()
        exp = np.exp(scores)
        return exp / exp.sum()


class IntentModelError(Exception):
    """The classifier cannot be trained or loaded."""


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class LinearIntentClassifier(GraphComponent, IntentClassifier):
    """Logistic regression on TF-IDF-weighted sparse sentence features."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"C": 30.0, "max_iter": 3000, "char_ngrams": [1, 5], "word_ngrams": [1, 2],
                "ranking_length": 10, "random_seed": 42,
                # A long message whose whole text is unclear is classified by its
                # clearest sentence, social intents (greetings, thanks) aside.
                "long_message_chars": 200, "long_message_confidence": 0.6,
                "social_intents": ["greet", "thank", "goodbye", "affirm", "deny", "inform", "bot_challenge"],
                # Two FAQ questions in one message: each with at least this probability.
                "question_confidence": 0.4, "retrieval_intent": "faq",
                # Lookup tables of the training data whose elements become one token.
                "lookup_placeholders": {"other_company": "otraempresa"}}

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: Optional[Pipeline] = None,
        faq_model: Optional[Pipeline] = None,
    ) -> None:
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self._model = model
        self._faq_model = faq_model
        self._scorer = LinearScorer(model) if model is not None else None
        self._faq_scorer = LinearScorer(faq_model) if faq_model is not None else None

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "LinearIntentClassifier":
        return cls(config, model_storage, resource)

    def _pipeline(self, normalizer: Optional[Normalizer] = None) -> Pipeline:
        char_min, char_max = self.config["char_ngrams"]
        word_min, word_max = self.config["word_ngrams"]
        preprocessor = normalizer or Normalizer()
        features = FeatureUnion([
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(char_min, char_max),
                                      preprocessor=preprocessor, sublinear_tf=True)),
            ("words", TfidfVectorizer(ngram_range=(word_min, word_max), preprocessor=preprocessor,
                                      sublinear_tf=True)),
        ])
        classifier = LogisticRegression(C=float(self.config["C"]), max_iter=int(self.config["max_iter"]),
                                        random_state=int(self.config["random_seed"]))
        return Pipeline([("features", features), ("classifier", classifier)])

    def train(self, training_data: TrainingData) -> Resource:
        texts = [example.get(TEXT) or "" for example in training_data.intent_examples]
        labels = [example.get(INTENT) for example in training_data.intent_examples]
        if len(set(labels)) < 2:
            raise IntentModelError("need at least two intents to train")
        normalizer = self.normalizer(training_data)
        self._model = self._pipeline(normalizer).fit(texts, labels)
        self._scorer = LinearScorer(self._model)
        faq = [(example.get(TEXT) or "", example.get(INTENT_RESPONSE_KEY)) for example in training_data.intent_examples
               if example.get(INTENT) == self.config["retrieval_intent"] and example.get(INTENT_RESPONSE_KEY)]
        if len({key for _, key in faq}) >= 2:
            self._faq_model = self._pipeline(normalizer).fit([t for t, _ in faq], [k for _, k in faq])
            self._faq_scorer = LinearScorer(self._faq_model)
        self.persist()
        return self._resource

    def normalizer(self, training_data: TrainingData) -> Normalizer:
        """The placeholders of ``lookup_placeholders`` from the training data's lookup tables."""
        wanted: Dict[str, str] = dict(self.config["lookup_placeholders"] or {})
        tables = {table.get("name"): table.get("elements") for table in training_data.lookup_tables}
        placeholders: Dict[str, List[str]] = {}
        for name, token in wanted.items():
            elements = tables.get(name)
            if isinstance(elements, list):
                placeholders[token] = [str(e) for e in elements]
            else:
                logger.debug("lookup table %s not in the training data: no placeholder", name)
        return Normalizer(placeholders, {token: name for name, token in wanted.items()})

    def _rank(self, text: str) -> List[Dict[str, Any]]:
        assert self._scorer is not None
        probabilities = self._scorer.probabilities(text)
        order = np.argsort(probabilities)[::-1][: int(self.config["ranking_length"])]
        names = self._scorer.classes_
        return [{"name": str(names[i]), "confidence": float(probabilities[i])} for i in order]

    def _clearest_sentence(self, text: str, whole: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        """A long message (a story with the request somewhere inside) by its
        clearest request sentence, when the whole text is unclear or reads as
        small talk or out of scope: a long story's chatter must not drown the
        one sentence that asks something the shop can do."""
        if len(text) < int(self.config["long_message_chars"]):
            return whole
        background = set(self.config["social_intents"]) | {"out_of_scope"}
        if whole[0]["confidence"] >= float(self.config["long_message_confidence"]) and \
                whole[0]["name"] not in background:
            return whole
        best: Optional[List[Dict[str, Any]]] = None
        for sentence in _SENTENCE_BREAK.split(text):
            if not has_content(sentence):
                continue
            ranking = self._rank(sentence)
            if ranking[0]["name"] in background or ranking[0]["confidence"] < float(self.config["long_message_confidence"]):
                continue
            if best is None or ranking[0]["confidence"] > best[0]["confidence"]:
                best = ranking
        return best or whole

    def questions(self, text: str) -> List[str]:
        """The FAQ keys a message asks, in the order asked, when it asks two or
        more ("¿cuánto tarda el envío y cuánto cuesta?"); else []. Each part is
        scored alone, and the whole message too (the second question often
        leaves out its subject)."""
        if self._faq_scorer is None:
            return []
        parts = [p for p in _QUESTION_BREAK.split(text) if p and len(p.split()) >= 2]
        if len(parts) < 2:
            return []
        keys = [str(k) for k in self._faq_scorer.classes_]
        faq = self.config["retrieval_intent"]
        threshold = float(self.config["question_confidence"])
        best: Dict[str, Tuple[float, int]] = {}
        for position, part in enumerate(parts):
            if self._rank(part)[0]["name"] != faq:
                continue
            for key, p in zip(keys, self._faq_scorer.probabilities(part)):
                if p >= threshold and p > best.get(key, (0.0, 0))[0]:
                    best[key] = (float(p), position)
        if len(best) < 2:
            whole = sorted(zip(self._faq_scorer.probabilities(text), keys), reverse=True)[:2]
            if whole[1][0] >= threshold * 0.75:
                for p, key in whole:
                    best.setdefault(key, (float(p), len(parts)))
        if len(best) < 2:
            return []
        return [key for key, _ in sorted(best.items(), key=lambda item: (item[1][1], -item[1][0]))]

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            if self._model is None or not has_content(text):
                # Empty or punctuation only: no guess; the FallbackClassifier answers.
                # Emoji count: "👍" and "😡😡😡" mean something (their char n-grams are features).
                message.set(INTENT, {"name": None, "confidence": 0.0}, add_to_output=True)
                message.set("intent_ranking", [], add_to_output=True)
                continue
            ranking = self._clearest_sentence(text, self._rank(text))
            message.set(INTENT, ranking[0], add_to_output=True)
            mentions = self._mentions(text)
            if mentions:
                message.set(MENTIONS, mentions, add_to_output=True)
            message.set("intent_ranking", ranking, add_to_output=True)
            if ranking[0]["name"] == self.config["retrieval_intent"] and self._faq_scorer is not None:
                message.set(RESPONSE_SELECTOR, self._answer(text), add_to_output=True)
                asked = self.questions(text)
                if asked:
                    message.set(QUESTIONS, asked, add_to_output=True)
        return messages

    def _answer(self, text: str) -> Dict[str, Any]:
        """Rasa's ``response_selector`` parse data for a FAQ message: the
        answer the linear FAQ model ranks first, in the shape Rasa's
        ResponseSelector gives, so Rasa's ``utter_faq`` and the policies read
        it unchanged (``responses`` is left empty: the answer's texts are the
        domain's ``utter_faq/<key>``)."""
        assert self._faq_scorer is not None
        faq = str(self.config["retrieval_intent"])
        probabilities = self._faq_scorer.probabilities(text)
        order = np.argsort(probabilities)[::-1][: int(self.config["ranking_length"])]
        keys = [str(self._faq_scorer.classes_[i]) for i in order]
        return {
            "all_retrieval_intents": [faq],
            faq: {
                "response": {"responses": [], "confidence": float(probabilities[order[0]]),
                             "intent_response_key": keys[0], "utter_action": f"utter_{keys[0]}"},
                "ranking": [{"confidence": float(probabilities[i]), "intent_response_key": key}
                            for i, key in zip(order, keys)],
            },
        }

    def _mentions(self, text: str) -> Dict[str, List[str]]:
        assert self._model is not None
        normalizer = self._model.named_steps["features"].transformer_list[0][1].preprocessor
        return normalizer.mentions(text) if isinstance(normalizer, Normalizer) and hasattr(normalizer, "tables") else {}

    def persist(self) -> None:
        with self._model_storage.write_to(self._resource) as directory:
            joblib.dump(self._model, Path(directory) / MODEL_FILE)
            if self._faq_model is not None:
                joblib.dump(self._faq_model, Path(directory) / FAQ_MODEL_FILE)

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "LinearIntentClassifier":
        try:
            with model_storage.read_from(resource) as directory:
                model = joblib.load(Path(directory) / MODEL_FILE)
                faq_path = Path(directory) / FAQ_MODEL_FILE
                faq_model = joblib.load(faq_path) if faq_path.exists() else None
        except (ValueError, OSError) as exc:
            logger.warning("No trained intent model found (%s); intents will fall back.", exc)
            model, faq_model = None, None
        return cls(config, model_storage, resource, model, faq_model)


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class FrustrationScorer(GraphComponent):
    """Adds ``frustration`` (``{"score", "signals"}``, bot/frustration.py) to
    every message's parse data; bot/policies.py acts on it.

    Not trained: the lexicon is read when the model loads
    (data/frustration/lexicon.yml, or the ``lexicon`` option). Training data
    pass through unscored.
    """

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"lexicon": None}

    def __init__(self, detector: FrustrationDetector) -> None:
        self.detector = detector

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "FrustrationScorer":
        path = config.get("lexicon")
        detector = FrustrationDetector(load_lexicon(Path(path)) if path else None)
        detector.warm_up()
        return cls(detector)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            frustration = self.detector.score(message.get(TEXT) or "")
            message.set(FRUSTRATION, frustration.as_dict(), add_to_output=True)
        return messages
