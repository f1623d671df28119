"""Prometheus metrics of the replay producer (scraped as job ``producer``).

Counters are labelled by topic and by kind (``transaction`` or ``label``: what the topic carries,
so alert rules need not know topic names); never by card or transaction id.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, start_http_server

LABELS = ["topic", "kind"]
EVENTS_SENT = Counter("fraudstream_producer_events_sent_total", "Events handed to the Kafka producer.", LABELS)
EVENTS_ACKNOWLEDGED = Counter(
    "fraudstream_producer_events_acknowledged_total", "Events the broker acknowledged.", LABELS
)
EVENTS_FAILED = Counter("fraudstream_producer_events_failed_total", "Events whose delivery failed.", LABELS)
EVENT_TIME = Gauge(
    "fraudstream_producer_event_time_seconds", "Event time (Unix seconds) of the last event sent: replay progress."
)


def serve(port: int) -> None:
    """Expose /metrics on 0.0.0.0:``port`` (inside a container) for Prometheus."""
    start_http_server(port)
