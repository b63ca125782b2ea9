"""Two small policies for what rules cannot see in parse data.

``FrustrationPolicy``: the dialogue's answer to a frustrated shopper.

After each shopper message it reads the ``frustration`` score that
``bot.nlu.FrustrationScorer`` put in the parse data and asks
``bot.frustration.decide`` what to do:

- apologise: predicts ``action_acknowledge_frustration``, which says sorry
  and reverts itself (``ActionReverted``), so the rules and stories then
  answer the message exactly as if nothing had been said in between;
- escalate: predicts ``action_handoff_frustration`` (reason ``frustration``,
  its score in the handoff context).

It outranks the RulePolicy (priority 7 against 6, and inside a form too) only
on the turn's first prediction, and acts at most once per shopper message. Intents whose own
answer already apologises (``self_apologising_intents``) get no second sorry,
and a mild one is not said before a person is called (``no_apology_intents``:
"¿me pasas con alguien de verdad?"); high frustration still escalates.
Not trained: thresholds come from config.yml.

``QuestionsPolicy``: a message with several FAQ questions gets each answer,
and a shipping or payment question goes to the same action, which answers
what the words ask: the destination named ("¿cuánto cuesta el envío a
Sevilla?"), instalments ("¿puedo pagar a plazos?": the "no" first).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.core.policies.policy import Policy, PolicyPrediction
from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, UserUttered
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker

from actions.faq import words_matter
from bot.frustration import FRUSTRATION, Frustration, Response, Thresholds, conversation_score, decide
from bot.nlu import QUESTIONS

APOLOGY_ACTION = "action_acknowledge_frustration"
HANDOFF_ACTION = "action_handoff_frustration"
QUESTIONS_ACTION = "action_answer_questions"


# The latest message and the three before it: ``conversation_score`` compares
# the latest with the three before, ``decide`` reads the last two scores.
MESSAGES_READ = 4

# A yes or a no said again answers a new question: never a sign of frustration.
ANSWER_INTENTS = frozenset({"affirm", "deny"})


class _OneActionPolicy(Policy):
    """A policy that either abstains or names one action with certainty.

    Its prediction is marked as not based on the user's input, as the
    RulePolicy marks a form's: otherwise a form would overrule it. Not
    trained (``train`` keeps nothing)."""

    def train(self, training_trackers: List[TrackerWithCachedStates], domain: Domain, **kwargs: Any) -> Resource:
        return self._resource

    def predict_action_probabilities(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        rule_only_data: Optional[Dict[Text, Any]] = None,
        **kwargs: Any,
    ) -> PolicyPrediction:
        probabilities = self._default_predictions(domain)
        action = self._action(tracker)
        if action is None or action not in domain.action_names_or_texts:
            return self._prediction(probabilities)
        probabilities[domain.index_for_action(action)] = 1.0
        return self._prediction(probabilities, is_no_user_prediction=True)

    def _action(self, tracker: DialogueStateTracker) -> Optional[str]:
        raise NotImplementedError


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True)
class FrustrationPolicy(_OneActionPolicy):
    """Apologise first, or hand over, from the frustration scores."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"priority": 7, "apologise_at": 0.3, "escalate_at": 0.65, "repeated_message": 0.3,
                "self_apologising_intents": [],
                # a person is called anyway: a mild sorry first reads as a script
                "no_apology_intents": [],
                # Their own flow verifies the order and then hands over: a frustrated
                # shopper is not handed over before it, so the agent gets the verified order.
                "own_handoff_intents": []}

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        featurizer: Any = None,
    ) -> None:
        config = {**self.get_default_config(), **config}
        super().__init__(config, model_storage, resource, execution_context, featurizer)
        self.thresholds = Thresholds(float(config["apologise_at"]), float(config["escalate_at"]),
                                     float(config["repeated_message"]))
        self.self_apologising = frozenset(config["self_apologising_intents"] or ())
        self.no_apology = frozenset(config["no_apology_intents"] or ())
        self.own_handoff = frozenset(config["own_handoff_intents"] or ())

    def _action(self, tracker: DialogueStateTracker) -> Optional[str]:
        if tracker.latest_action_name == HANDOFF_ACTION:
            return ACTION_LISTEN_NAME  # a person takes over: wait (no rule knows this action)
        if tracker.latest_action_name != ACTION_LISTEN_NAME:
            return None
        # Back from the latest event (all events: a reverted apology still
        # counts as done) to the session start or a person's taking over, for
        # the last MESSAGES_READ messages: all that ``decide`` and
        # ``conversation_score`` read, so a long conversation costs no more.
        messages: List[UserUttered] = []
        for event in reversed(tracker.events):
            if isinstance(event, SessionStarted) or (isinstance(event, BotUttered) and _is_handoff(event)):
                break
            if isinstance(event, UserUttered):
                messages.append(event)
                if len(messages) == MESSAGES_READ:
                    break
            elif (not messages and isinstance(event, ActionExecuted)
                  and event.action_name in (APOLOGY_ACTION, HANDOFF_ACTION)):
                return None  # acted on this message already
        if not messages:
            return None
        messages.reverse()
        scores = [Frustration.from_dict((m.parse_data or {}).get(FRUSTRATION)).score for m in messages]
        intent = (messages[-1].intent or {}).get("name")
        scores[-1] = conversation_score(Frustration(scores[-1]), messages[-1].text or "",
                                        [m.text or "" for m in messages[:-1]], self.thresholds.repeated_message,
                                        answer=intent in ANSWER_INTENTS)
        response = decide(scores, self.thresholds)
        if response is Response.ESCALATE and intent in self.own_handoff:
            response = Response.APOLOGISE  # its flow reaches a person, with the order verified
        if response is Response.ESCALATE:
            return HANDOFF_ACTION
        if response is Response.APOLOGISE and intent not in self.self_apologising | self.no_apology:
            return APOLOGY_ACTION
        return None


def _is_handoff(event: BotUttered) -> bool:
    custom = (event.data or {}).get("custom")
    return isinstance(custom, dict) and "handoff" in custom


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True)
class QuestionsPolicy(_OneActionPolicy):
    """A message that asks two FAQ questions or more (parse-data ``questions``,
    outside a form): ``action_answer_questions`` answers each, in order, then
    the bot listens. Otherwise it abstains and the rules answer as usual.

    Limits: FAQ questions only (a task and a question in one message follow
    the message's intent); inside a form the form's own handling of a FAQ
    applies (one answer). Listed after FrustrationPolicy in config.yml, so an
    apology comes first on a tie.
    """

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"priority": 7}

    def _action(self, tracker: DialogueStateTracker) -> Optional[str]:
        if tracker.latest_action_name == QUESTIONS_ACTION:
            return ACTION_LISTEN_NAME
        if tracker.latest_action_name != ACTION_LISTEN_NAME or tracker.active_loop_name:
            return None
        parse_data = (tracker.latest_message.parse_data or {}) if tracker.latest_message else {}
        asked = parse_data.get(QUESTIONS)
        several = isinstance(asked, list) and len(asked) >= 2
        if not several and not self._is_worded_question(parse_data):
            return None
        for event in reversed(tracker.events):
            if isinstance(event, UserUttered):
                return QUESTIONS_ACTION
            if isinstance(event, ActionExecuted) and event.action_name == QUESTIONS_ACTION:
                return None  # answered already (this turn)
        return QUESTIONS_ACTION

    @staticmethod
    def _is_worded_question(parse_data: Dict[str, Any]) -> bool:
        """A one-question FAQ whose answer depends on its words (a destination
        named, "¿a plazos?", "¿para estudiantes?": ``actions.faq.words_matter``),
        or a FAQ button ('/faq{"faq_key":"return_policy"}': no NLU ran, so no
        selector). Any other FAQ is answered by the rules in this process,
        without a call to the action server."""
        if (parse_data.get("intent") or {}).get("name") != "faq":
            return False
        if any(e.get("entity") == "faq_key" for e in parse_data.get("entities") or []):
            return True
        chosen = (parse_data.get("response_selector") or {}).get("faq") or {}
        key = (chosen.get("response") or {}).get("intent_response_key")
        return bool(key) and words_matter(str(key), str(parse_data.get("text") or ""))
