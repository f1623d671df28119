"""The Faust app the scoring worker runs in, and the three ways the worker adjusts Faust.

Faust runs the consumer group, the tables and their changelogs, recovery, rebalances and offset
commits (``consumers/scoring/worker.py`` wires the worker's parts into it). The worker changes
Faust in three places, each one function here: a consumer that hands the source topics to the
batch feed and fetches with a bounded wait (:func:`install_batch_feed`), no built-in Monitor
sensor (:func:`drop_faust_monitor`), and garbage-collector thresholds for a large long-lived state
(:func:`tune_gc`).
"""

from __future__ import annotations

import gc
import ssl
from typing import Any

import faust

from consumers.scoring.config import WorkerConfig
from consumers.scoring.feed import BatchFeed, batch_consumer_class
from fraudstream.settings import KafkaSecurity

__all__ = ["broker_credentials", "drop_faust_monitor", "faust_app", "install_batch_feed", "tune_gc"]


def broker_credentials(security: KafkaSecurity) -> Any:
    """The security settings as Faust's (aiokafka's) credentials; None for plaintext.

    The same settings as every librdkafka client of the project (``KafkaSecurity.librdkafka``):
    the CA file, host-name check and client certificate become an SSL context.
    """
    context = None
    if security.tls:
        context = ssl.create_default_context(cafile=str(security.ca_file) if security.ca_file else None)
        context.check_hostname = security.check_hostname
        if security.cert_file is not None and security.key_file is not None:
            password = security.key_password.get_secret_value() if security.key_password else None
            context.load_cert_chain(str(security.cert_file), str(security.key_file), password)
    if security.sasl:
        assert security.sasl_password is not None  # KafkaSecurity checks it
        return faust.SASLCredentials(
            username=security.sasl_username,
            password=security.sasl_password.get_secret_value(),
            mechanism=security.sasl_mechanism,
            ssl_context=context,
        )
    return faust.SSLCredentials(context) if context is not None else None


def faust_app(config: WorkerConfig) -> faust.App:
    """The Faust app of a worker: at-least-once, no web server, the tables' stores in ``data_dir``."""
    return faust.App(
        config.app_id,
        broker=f"kafka://{config.bootstrap_servers}",
        broker_credentials=broker_credentials(config.security),
        store=config.store,
        datadir=config.data_dir,
        topic_partitions=config.partitions,
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=config.commit_interval,
        broker_session_timeout=config.session_timeout,
        broker_heartbeat_interval=min(3.0, config.session_timeout / 3),
        web_enabled=False,
        producer_linger_ms=5,
        stream_buffer_maxsize=max(4096, config.batch_size * 4),
        table_cleanup_interval=3600.0,
        table_standby_replicas=config.standby_replicas,
    )


def tune_gc() -> None:
    """Collect the young generations 100x less often and full collections rarely.

    The worker keeps a large, long-lived state (cards, terminal partials: hundreds of thousands of
    small containers) that refcounting frees and that has no reference cycles; with the default
    thresholds the cyclic collector walked it again and again, pausing every batch (throughput and
    tail latency before and after: BENCHMARKS.md). Cycles that asyncio and Faust create are still
    collected by the young-generation passes.
    """
    gc.set_threshold(100_000, 50, 100)


def install_batch_feed(app: faust.App, feed: BatchFeed, fetch_max_wait_ms: int, fetch_min_bytes: int) -> None:
    """Give ``app`` a Kafka consumer that hands the source topics to ``feed`` a fetch at a time
    (``consumers/scoring/feed.py``) and asks the broker to hold a fetch until ``fetch_min_bytes``
    have arrived, ``fetch_max_wait_ms`` at most.

    The wait: faust-streaming's aiokafka driver creates its consumer with
    ``fetch_max_wait_ms=1500``. aiokafka may leave partitions that still have buffered records
    out of the next fetch, so that fetch may cover only quiet partitions (labels, changelogs); the
    broker then holds it for the full wait and the busy partitions are not fetched meanwhile: the
    worker stalled for most of that wait about every second under a steady load.

    The minimum: with aiokafka's default of one byte, the broker answers as soon as one record
    arrives, so at moderate rates the worker fetched every record or two, and those fetches kept
    both the worker and the broker busy (BENCHMARKS.md). A fetch
    that waits for a batch's worth (or ``fetch_max_wait_ms``) batches in the broker instead;
    under load the data is there and the fetch returns at once. A test checks both take effect.
    """
    from faust.transport.drivers import aiokafka as driver

    consumer_class = batch_consumer_class(driver.Consumer, feed, fetch_max_wait_ms, fetch_min_bytes)
    app.transport.Consumer = consumer_class  # type: ignore[misc]  # this app's transport only


def drop_faust_monitor(app: faust.App) -> None:
    """Start ``app`` without Faust's built-in Monitor sensor.

    The Monitor records four hooks per event (counters, per-partition dicts, timestamps) for
    Faust's web views, which the worker disables; its metrics are ours, in Prometheus. Faust adds
    the Monitor when the app starts (``on_init_dependencies``), so it is removed right there.
    """
    add_dependencies = app.on_init_dependencies

    def without_monitor() -> Any:
        dependencies = add_dependencies()
        app.sensors.remove(app.monitor)
        return dependencies

    app.on_init_dependencies = without_monitor  # type: ignore[method-assign]
