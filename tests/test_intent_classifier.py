"""bot/nlu.py's LinearIntentClassifier on small training data built in each
test: the normaliser, and lookup-table placeholders (another company's name
the examples never used still reads as another company)."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import pytest
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from sklearn.pipeline import Pipeline

from bot.nlu import LinearIntentClassifier, LinearScorer, Normalizer


def test_normalizer_folds_case_accents_digits_and_table_elements() -> None:
    normalizer = Normalizer({"otraempresa": ["El Corte Inglés", "Amazon", "H&M"]})
    assert normalizer("Mi pedido 123 de AMAZON") == "mi pedido 000 de  otraempresa "
    assert "otraempresa" in normalizer("lo compré en el corte ingles")
    assert "otraempresa" in normalizer("¿tienen cosas de h&m?")
    # whole words only: a longer word that starts with an element is left alone
    assert normalizer("el río amazonas") == "el rio amazonas"


def test_normalizer_without_tables_is_plain_normalisation() -> None:
    assert Normalizer()("¿Cuánto TARDA el envío 48h?") == "¿cuanto tarda el envio 00h?"


def _training_data(tables: Optional[List[Dict[str, object]]]) -> TrainingData:
    examples = {
        "order_not_received": ["mi pedido no llega", "no me ha llegado el paquete", "mi pedido no ha llegado",
                               "el paquete no llega", "todavía no llegó mi pedido", "no recibí mi compra"],
        "out_of_scope": ["mi pedido de amazon no llega", "mi paquete de amazon no ha llegado",
                         "mi compra de shein no llegó", "mi pedido de shein no ha llegado",
                         "¿qué tiempo hace hoy?", "cuéntame un chiste"],
    }
    messages = [Message.build(text=text, intent=intent) for intent, texts in examples.items() for text in texts]
    return TrainingData(training_examples=messages, lookup_tables=tables or [])


def _trained(tmp_path: Path, tables: Optional[List[Dict[str, object]]]) -> LinearIntentClassifier:
    classifier = LinearIntentClassifier({}, LocalModelStorage(tmp_path), Resource("intents"))
    classifier.train(_training_data(tables))
    return classifier


def _intent(classifier: LinearIntentClassifier, text: str) -> str:
    message = Message.build(text=text)
    classifier.process([message])
    return str(message.get("intent")["name"])


@pytest.mark.parametrize("company", ["Walmart", "Zalando"])
def test_a_company_only_the_lookup_table_names_reads_as_another_company(tmp_path: Path, company: str) -> None:
    table = [{"name": "other_company", "elements": ["Amazon", "Shein", "Walmart", "Zalando"]}]
    classifier = _trained(tmp_path, table)
    assert _intent(classifier, f"mi pedido de {company} no llega") == "out_of_scope"
    assert _intent(classifier, "mi pedido no llega") == "order_not_received"


def test_without_the_table_the_unseen_company_is_not_recognised(tmp_path: Path) -> None:
    """The control: the same data without the lookup table reads the unseen
    name as our own order (what the placeholder is for)."""
    classifier = _trained(tmp_path, None)
    assert _intent(classifier, "mi pedido de Walmart no llega") == "order_not_received"


def test_the_placeholders_survive_persist_and_load(tmp_path: Path) -> None:
    table = [{"name": "other_company", "elements": ["Amazon", "Shein", "Walmart"]}]
    storage = LocalModelStorage(tmp_path)
    trained = LinearIntentClassifier({}, storage, Resource("intents"))
    trained.train(_training_data(table))
    loaded = LinearIntentClassifier.load({}, storage, Resource("intents"), execution_context=None)  # type: ignore[arg-type]
    assert _intent(loaded, "mi pedido de Walmart no llega") == "out_of_scope"


def test_the_company_named_is_in_the_parse_data_as_the_table_spells_it(tmp_path: Path) -> None:
    """For the answer ("Eso es cosa de Movistar…"): parse-data ``mentions``."""
    table = [{"name": "other_company", "elements": ["Amazon", "Shein", "El Corte Inglés"]}]
    classifier = _trained(tmp_path, table)
    message = Message.build(text="mi pedido de el corte ingles no llega")
    classifier.process([message])
    assert message.get("mentions") == {"other_company": ["El Corte Inglés"]}
    plain = Message.build(text="mi pedido no llega")
    classifier.process([plain])
    assert plain.get("mentions") is None


def _pipeline_on(examples: Dict[str, List[str]]) -> Pipeline:
    classifier = LinearIntentClassifier({}, LocalModelStorage(Path("unused")), Resource("intents"))
    texts = [t for texts in examples.values() for t in texts]
    labels = [intent for intent, texts in examples.items() for _ in texts]
    return classifier._pipeline().fit(texts, labels)


THREE_INTENTS = {
    "order_status": ["¿dónde está mi pedido?", "estado de mi pedido 123456", "mi pedido por donde va"],
    "return_request": ["quiero devolver las zapatillas", "cómo devuelvo un producto", "devolución de mi compra"],
    "greet": ["hola", "buenas tardes", "hola, buenos días"],
}
UNSEEN = ["holaaa", "¿y mi paquete?", "DEVOLVER 😡", "", "   ", "zzz qqq", "quiero devolver y saber dónde está mi pedido",
          "a" * 2000]


@pytest.mark.parametrize("examples", [THREE_INTENTS, {k: THREE_INTENTS[k] for k in ("greet", "order_status")}],
                         ids=["multinomial", "two classes"])
def test_the_fast_scorer_gives_the_pipelines_own_probabilities(examples: Dict[str, List[str]]) -> None:
    """LinearScorer must equal sklearn's predict_proba (it replaces it per message)."""
    model = _pipeline_on(examples)
    scorer = LinearScorer(model)
    assert list(scorer.classes_) == list(model.classes_)
    for text in [t for texts in examples.values() for t in texts] + UNSEEN:
        assert np.allclose(scorer.probabilities(text), model.predict_proba([text])[0], atol=1e-9), text
