"""The base layer: settings, Kafka client configuration and topics, logging, the root error.

Every other package may import this one; it imports no other package of the project (an
import-linter contract in ``pyproject.toml`` holds it to that).
"""
