"""The frustration detector (bot/frustration.py) and the policy that acts on
it (bot/policies.py), on the real lexicon, spaCy model and domain."""
from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import pytest
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, ActionReverted, BotUttered, Event, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.frustration import (
    Frustration,
    FrustrationDetector,
    LexiconError,
    Response,
    Thresholds,
    conversation_score,
    decide,
    parse_lexicon,
)
from bot.policies import APOLOGY_ACTION, HANDOFF_ACTION, FrustrationPolicy

ROOT = Path(__file__).resolve().parents[1]
ANNOYED, HIGH = Thresholds().apologise, Thresholds().escalate


@pytest.fixture(scope="module")
def detector() -> FrustrationDetector:
    found = FrustrationDetector()
    found.warm_up()
    return found


@pytest.mark.parametrize("text", [
    "cuanto tarda el envio a canarias?", "me llegó el pedido, gracias", "¿aceptan bizum?", "ok 👍",
    "hola, quería saber dónde está mi pedido 482913",
])
def test_calm_messages_score_nothing(detector: FrustrationDetector, text: str) -> None:
    assert detector.score(text) == Frustration(0.0, ())


@pytest.mark.parametrize("text", [
    # a purchase date is no complaint (Telegram walkthrough: "Perdona las molestias…" for this question)
    "se puede devolver algo q compre hace 2 meses?", "lo pedí hace un mes, ¿aún lo puedo devolver?",
])
def test_a_date_in_a_calm_question_gets_no_apology(detector: FrustrationDetector, text: str) -> None:
    assert detector.score(text).score < Thresholds().apologise


def test_lemmas_catch_inflected_words(detector: FrustrationDetector) -> None:
    # "hartas" / "respondéis": not the lexicon's words, but their lemmas are.
    assert "lexicon:hartas" in detector.score("estamos hartas de esperar").signals  # as written
    assert detector.score("nadie me responde desde el lunes").score >= ANNOYED
    assert detector.score("NADIE ME RESPONDE").score >= ANNOYED  # shouted: lemmatized lower-cased


@pytest.mark.parametrize("text", [
    "esto ya empieza a cansar", "me estoy empezando a mosquear", "uf, qué lento va todo",
    "no es la primera vez que me pasa con ustedes", "sigo esperando respuesta",
    "ya no sé cuántas veces lo he preguntado",  # its "no" is part of the annoyance
    "me prometieron el reembolso hace días y aún nada", "esto no me sirve de nada",
    "pues nada, aquí seguimos esperando 😒", "qué poca seriedad",
])
def test_mild_annoyance_gets_an_apology(detector: FrustrationDetector, text: str) -> None:
    """Worn patience, promises not kept, an answer that did not help: sorry
    first (these were scored 0 before the lexicon's mild-annoyance entries)."""
    assert ANNOYED <= detector.score(text).score < HIGH


@pytest.mark.parametrize("text", [
    "hola, donde esta mi pedido??", "me pueden decir cuanto tarda el envio??", "hola??",
    "Quiero devolver la chaqueta impermeable, no me convenció",
])
def test_a_doubled_question_mark_or_a_return_reason_is_no_apology(detector: FrustrationDetector, text: str) -> None:
    """A tester got "Perdona las molestias…" for these first, polite messages."""
    assert detector.score(text).score < ANNOYED


def test_three_question_marks_with_a_repeat_are_annoyance(detector: FrustrationDetector) -> None:
    assert detector.score("ya les escribí ayer, alguien me puede decir algo???").score >= ANNOYED


def test_a_negation_cancels_the_word_after_it(detector: FrustrationDetector) -> None:
    assert detector.score("no estoy enfadado, solo pregunto").score == 0.0
    assert detector.score("estoy enfadado").score >= ANNOYED


def test_shape_signals_add_up(detector: FrustrationDetector) -> None:
    shouted = detector.score("NO ME HA LLEGADO EL PEDIDO!!!")
    assert set(shouted.signals) == {"shouting", "exclamations"} and shouted.score >= ANNOYED
    assert detector.score("HOLA BUENAS TARDES").score < ANNOYED  # capitals alone are not anger
    one, three = detector.score("😡"), detector.score("😡😡😡")
    assert ANNOYED <= one.score < three.score and three.score >= HIGH


def test_insults_and_threats_are_high(detector: FrustrationDetector) -> None:
    assert detector.score("sois unos estafadores, os voy a denunciar").score >= HIGH
    assert detector.score("es la tercera vez que escribo y nadie me responde").score >= HIGH


def test_spacy_runs_only_when_a_lexicon_stem_is_there() -> None:
    class Refusing:
        def __call__(self, text: str) -> Any:
            raise AssertionError(f"spaCy was run on {text!r}")

    detector = FrustrationDetector(nlp=Refusing())
    assert detector.score("¿cuánto cuesta el envío a Portugal?").score == 0.0
    assert detector.score("MUCHAS GRACIAS!!").signals == ("shouting", "exclamations")
    with pytest.raises(AssertionError):
        detector.score("estoy harta")


def test_a_malformed_lexicon_is_refused_at_load() -> None:
    with pytest.raises(LexiconError):
        parse_lexicon({"phrases": [{"lemmas": "harto"}]})  # no weight
    with pytest.raises(LexiconError):
        parse_lexicon({"phrases": [{"lemmas": "", "weight": 0.5}]})


def test_unreadable_parse_data_is_no_frustration() -> None:
    assert Frustration.from_dict(None).score == 0.0
    assert Frustration.from_dict({"score": "mucho"}).score == 0.0
    assert Frustration.from_dict({"score": 7}).score == 1.0


@pytest.mark.parametrize("scores, expected", [
    ([], Response.NONE),
    ([0.1], Response.NONE),
    ([0.4], Response.APOLOGISE),
    ([0.1, 0.4], Response.APOLOGISE),
    ([0.4, 0.1], Response.NONE),
    ([0.4, 0.45], Response.ESCALATE),  # still frustrated after the apology
    ([0.8], Response.ESCALATE),
])
def test_decide(scores: List[float], expected: Response) -> None:
    assert decide(scores) is expected


def test_repeating_a_message_raises_the_score() -> None:
    latest = Frustration(0.1)
    assert conversation_score(latest, "¿Dónde está mi pedido?", ["donde esta mi pedido"], 0.3) > 0.3
    assert conversation_score(latest, "¿Dónde está mi pedido?", ["hola"], 0.3) == 0.1


# -- the policy, on trackers built here ------------------------------------------


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


@pytest.fixture
def policy(tmp_path: Path) -> FrustrationPolicy:
    storage = LocalModelStorage(tmp_path)
    config = {"self_apologising_intents": ["damaged_or_wrong_item"], "no_apology_intents": ["request_human"],
              "own_handoff_intents": ["damaged_or_wrong_item", "payment_problem"]}
    return FrustrationPolicy.create({**FrustrationPolicy.get_default_config(), **config}, storage,
                                    Resource("frustration_policy"), ExecutionContext(None))


def said(text: str, score: float, intent: str = "order_status") -> List[Event]:
    return [UserUttered(text, {"name": intent, "confidence": 0.9},
                        parse_data={"intent": {"name": intent, "confidence": 0.9}, "entities": [], "text": text,
                                    "frustration": {"score": score, "signals": []}}),
            ]


def predicted(policy: FrustrationPolicy, domain: Domain, events: List[Event]) -> Optional[str]:
    tracker = DialogueStateTracker.from_events("shopper", [ActionExecuted("action_listen")] + events, domain.slots)
    prediction = policy.predict_action_probabilities(tracker, domain)
    if max(prediction.probabilities) == 0.0:
        assert not prediction.is_no_user_prediction  # an abstention must never outrank a form
        return None
    assert prediction.is_no_user_prediction  # or a form's own prediction would overrule it
    return domain.action_names_or_texts[prediction.max_confidence_index]


def answered(text: str) -> List[Event]:
    return [ActionExecuted("utter_x"), BotUttered(text), ActionExecuted("action_listen")]


def test_policy_apologises_once_then_lets_the_rules_answer(policy: FrustrationPolicy, domain: Domain) -> None:
    turn = said("NO ME LLEGA!!!", 0.45)
    assert predicted(policy, domain, turn) == APOLOGY_ACTION
    # the apology ran and reverted itself: the policy stays quiet for this message
    after = turn + [ActionExecuted(APOLOGY_ACTION), BotUttered("Perdona las molestias"), ActionReverted()]
    assert predicted(policy, domain, after) is None


def test_policy_escalates_when_high_or_still_frustrated(policy: FrustrationPolicy, domain: Domain) -> None:
    assert predicted(policy, domain, said("sois unos estafadores", 0.8)) == HANDOFF_ACTION
    twice = said("no me llega!!", 0.4) + answered("Está en camino") + said("pues sigue sin llegar 😤", 0.4)
    assert predicted(policy, domain, twice) == HANDOFF_ACTION


def test_policy_is_quiet_for_calm_messages_and_self_apologising_intents(
        policy: FrustrationPolicy, domain: Domain) -> None:
    assert predicted(policy, domain, said("¿cuánto tarda?", 0.0)) is None
    assert predicted(policy, domain, said("me llego roto 😡", 0.45, "damaged_or_wrong_item")) is None


def test_an_angry_report_whose_flow_hands_over_is_verified_first(policy: FrustrationPolicy, domain: Domain) -> None:
    """A tester's "me ha llegado el altavoz roto 😡😡 esto es una vergüenza"
    was handed over at once, unverified: the agent saw no order."""
    assert predicted(policy, domain, said("altavoz roto 😡😡 una vergüenza", 0.8, "damaged_or_wrong_item")) is None
    assert predicted(policy, domain, said("me cobraron dos veces, sois unos ladrones", 0.8,
                                          "payment_problem")) == APOLOGY_ACTION
    assert predicted(policy, domain, said("sois unos estafadores", 0.8, "complaint")) == HANDOFF_ACTION


def test_a_handoff_starts_the_count_afresh(policy: FrustrationPolicy, domain: Domain) -> None:
    handed = said("no me llega!!", 0.4) + [ActionExecuted("action_handoff"),
                                           BotUttered(None, {"custom": {"handoff": {"reason": "x"}}}),
                                           ActionExecuted("action_listen")]
    assert predicted(policy, domain, handed + said("otra cosa, ¿tienen bizum??", 0.35)) == APOLOGY_ACTION


def test_a_request_for_a_person_gets_no_mild_apology(policy: FrustrationPolicy, domain: Domain) -> None:
    """Walkthrough: "me pasas con alguien de verdad? un humano porfa" got
    "Perdona las molestias: entiendo que es frustrante" before the handoff."""
    assert predicted(policy, domain, said("me pasas con alguien de verdad? un humano porfa", 0.3,
                                          "request_human")) is None
    assert predicted(policy, domain, said("PÁSAME CON UNA PERSONA YA, ES LA TERCERA VEZ!!!", 0.8,
                                          "request_human")) == HANDOFF_ACTION


def test_the_config_names_a_request_for_a_person_among_the_no_apology_intents() -> None:
    import yaml
    config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    [frustration] = [p for p in config["policies"] if p["name"].endswith("FrustrationPolicy")]
    assert "request_human" in frustration["no_apology_intents"]


@pytest.mark.parametrize("text", [
    "Avda. de la Constitución 5, 1ºA, 41004 Sevilla", "AVDA. DE LA CONSTITUCIÓN 5, 1ºA, 41004 SEVILLA",
    "Calle Denuncia 4, 28013 Madrid", "Camino de la Paciencia 4, bajo A", "Avenida del Consumo 12",
    "C/ MAYOR 5, 2º IZQUIERDA, 28013 MADRID", "Pza. del Horror 1",
])
def test_an_address_is_no_sign_of_frustration(detector: FrustrationDetector, text: str) -> None:
    """Walkthrough: an address answer got the frustration apology. Street
    names, abbreviations and capitals of an address say nothing of a mood."""
    assert detector.score(text).score < ANNOYED, detector.score(text)


def test_what_is_said_besides_the_address_still_counts(detector: FrustrationDetector) -> None:
    found = detector.score("Calle Denuncia 4, 28013 Madrid, y os voy a denunciar")
    assert found.score >= HIGH and "lexicon:denunciar" in found.signals


def test_an_address_or_a_number_sent_again_is_an_answer_not_a_repeat() -> None:
    address = "Avda. de la Constitución 5, 1ºA, 41004 Sevilla"
    assert conversation_score(Frustration(0.0), address, ["no", address], 0.3) < ANNOYED
    assert conversation_score(Frustration(0.0), "482913", ["482913"], 0.3) < ANNOYED
    assert conversation_score(Frustration(0.0), "¿dónde está mi pedido?", ["¿dónde está mi pedido?"], 0.3) >= ANNOYED


def test_a_button_or_a_yes_given_again_is_an_answer_not_a_repeat() -> None:
    """«Sí, hacer el cambio» after «Sí, crear la devolución» sent "/affirm"
    twice and got "Perdona las molestias…" (walkthrough): a second
    confirmation is not the bot failing."""
    assert conversation_score(Frustration(0.0), "/affirm", ["/affirm", "hola"], 0.3) < ANNOYED
    assert conversation_score(Frustration(0.0), '/inform{"order_id":"1"}', ['/inform{"order_id":"1"}'], 0.3) \
        < ANNOYED
    assert conversation_score(Frustration(0.0), "vale sigue", ["vale sigue"], 0.3, answer=True) < ANNOYED
    assert conversation_score(Frustration(0.0), "vale sigue", ["vale sigue"], 0.3) >= ANNOYED
