"""The root of fraudstream's own exceptions.

Every error the project raises on purpose derives from :class:`FraudstreamError`, so a caller (the
CLI above all) can tell "fraudstream refused or could not do this, and says why" from a bug::

    FraudstreamError
     ├── registry.RegistryError        a registry operation was refused or failed
     ├── registry.StoreError           the model store could not be read or written
     ├── schemas.DecodeError           bytes that are not a record of a known schema
     ├── producers.DatasetError        a dataset file with invalid rows or columns (also a ValueError)
     ├── consumers.scoring.bootstrap.BootstrapError   worker state that cannot be written as asked
     └── cli.broker.BrokerError        the local broker could not be started or stopped

Messages name the bad value and what to do about it.
"""

from __future__ import annotations

__all__ = ["FraudstreamError"]


class FraudstreamError(Exception):
    """An error fraudstream raised on purpose; the message says what was wrong and what to do."""
