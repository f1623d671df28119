"""File adapters turn foreign CSV/Parquet columns into valid canonical events."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from producers.adapters import DatasetError, load_dataset, parse_mapping
from producers.replay import label_records, transaction_records
from schemas.models import Label, Transaction

HANDBOOK_CSV = """\
TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,TX_TIME_SECONDS,TX_FRAUD,TX_FRAUD_SCENARIO
2,2018-04-01 00:02:10,4961,3412,81.51,130,0,0
0,2018-04-01 00:00:31,596,3156,57.16,31,0,0
1,2018-04-01 00:02:10,4961,3412,226.51,130,1,1
3,2018-04-01 00:07:56,2,1365,146.00,476,0,0
"""

FOREIGN_CSV = """when,who,where,how_much,bad,reported,mcc
2024-01-05T10:00:00+01:00,alice,shop-1,12.50,0,,5411
2024-01-05T11:00:00+01:00,bob,shop-2,999.99,1,2024-01-09T08:00:00+01:00,5732
"""


def test_handbook_columns_are_recognised_and_labels_get_the_fixed_delay(tmp_path: Path) -> None:
    path = tmp_path / "handbook.csv"
    path.write_text(HANDBOOK_CSV)
    dataset = load_dataset(path, label_delay_days=7)
    tx = dataset.transactions
    assert list(tx["transaction_id"]) == ["0", "2", "1", "3"]  # by event time; ties keep file order
    assert tx["event_time"].dt.tz is not None
    assert len(dataset.labels) == 1
    label = dataset.labels.iloc[0]
    assert label["transaction_id"] == "1"
    assert label["reported_at"] - label["event_time"] == pd.Timedelta(days=7)
    for record in transaction_records(tx):
        Transaction.model_validate(record)
    for record in label_records(dataset.labels):
        Label.model_validate(record)


def test_a_csv_with_foreign_column_names_becomes_valid_events(tmp_path: Path) -> None:
    path = tmp_path / "bank.csv"
    path.write_text(FOREIGN_CSV)
    mapping = parse_mapping(
        "when=event_time,who=card_id,where=terminal_id,how_much=amount,bad=is_fraud,"
        "reported=reported_at,mcc=merchant_category"
    )
    dataset = load_dataset(path, mapping)
    events = [Transaction.model_validate(r) for r in transaction_records(dataset.transactions)]
    assert [e.card_id for e in events] == ["alice", "bob"]
    assert events[0].event_time.isoformat() == "2024-01-05T09:00:00+00:00"
    assert events[1].merchant_category == "5732"
    assert events[0].currency == "EUR"
    labels = [Label.model_validate(r) for r in label_records(dataset.labels)]
    assert len(labels) == 1
    assert labels[0].reported_at.isoformat() == "2024-01-09T07:00:00+00:00"


def test_missing_columns_are_named_with_what_is_available(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(DatasetError, match=r"Missing required column.*available: \['a', 'b'\]"):
        load_dataset(path)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("2024-01-05T10:00:00Z,alice,shop-1,-5", "invalid amount"),
        ("2024-01-05T10:00:00Z,alice,shop-1,nan", "invalid amount"),
        ("not a date,alice,shop-1,5", "invalid event_time"),
        ("2024-01-05T10:00:00Z,,shop-1,5", "invalid card_id"),
    ],
)
def test_invalid_rows_are_reported_not_dropped(tmp_path: Path, row: str, message: str) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("event_time,card_id,terminal_id,amount\n2024-01-05T09:00:00Z,bob,shop-2,1\n" + row + "\n")
    with pytest.raises(DatasetError, match=message):
        load_dataset(path)


def test_a_parquet_file_reads_like_a_csv(tmp_path: Path) -> None:
    csv = tmp_path / "h.csv"
    csv.write_text(HANDBOOK_CSV)
    parquet = tmp_path / "h.parquet"
    pd.read_csv(csv).to_parquet(parquet)
    a, b = load_dataset(csv), load_dataset(parquet)
    pd.testing.assert_frame_equal(a.transactions, b.transactions)


def test_mapping_syntax_errors_are_explained() -> None:
    with pytest.raises(DatasetError, match="not SOURCE=target"):
        parse_mapping("TX_DATETIME")
    with pytest.raises(DatasetError, match="not a canonical column"):
        parse_mapping("TX_DATETIME=when")
