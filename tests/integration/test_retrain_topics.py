"""``fraudstream retrain --from-topics``: the training set read back from the transactions and labels topics."""

from __future__ import annotations

from cli.main import main
from fraudstream.settings import TopicNames
from producers.adapters import load_dataset
from producers.config import GeneratorConfig
from producers.generator import generate_to
from producers.replay import encoded_events
from registry import ModelRegistry
from tests.integration.worker_harness import produce

NO_GATES = ["--min-f1", "0", "--min-precision", "0", "--min-recall", "0", "--min-average-precision", "0"]


def test_retrain_from_the_topics_trains_on_every_transaction_once_with_the_labels_as_truth(
    bootstrap_servers, topic_factory, tmp_path, monkeypatch, capsys
) -> None:
    data = tmp_path / "data"
    generate_to(GeneratorConfig(n_customers=300, n_terminals=600, n_days=30, seed=17), data, progress=lambda m: None)
    dataset = load_dataset(data)
    topics = TopicNames(transactions=topic_factory("transactions"), labels=topic_factory("labels"))
    events = list(encoded_events(dataset, topics))
    replayed = [e for e in events if e.topic == topics.transactions][:500]  # a partial second replay
    produce(bootstrap_servers, events + replayed)
    for name, value in {"FRAUDSTREAM_BOOTSTRAP_SERVERS": bootstrap_servers, "FRAUDSTREAM_HOME": str(tmp_path),
                        **topics.as_env()}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    store = f"file://{tmp_path}/store"
    code = main(["retrain", "--from-topics", "--store", store, "--trials", "0", *NO_GATES])
    out = capsys.readouterr().out
    assert code == 0, out[-2000:]
    card = ModelRegistry(store).card(ModelRegistry(store).resolve("staging"))
    assert card["data"]["transactions"] == len(dataset.transactions)
    assert card["data"]["labels"] == len(dataset.labels)
    assert card["data"]["fraud_rate"] == dataset.labels["is_fraud"].sum() / len(dataset.transactions)
    assert main(["retrain", "--from-topics", "--data", str(data), "--store", store]) == 2  # one source only
