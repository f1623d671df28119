"""Follow the registry's production alias: load the model, and reload it when the alias moves.

The worker calls :meth:`ModelWatch.maybe_reload` between micro-batches; it checks the alias at most
every ``interval`` seconds, so a promotion takes effect within one interval with no restart, and a
batch is always scored by exactly one model version.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from features.definitions import feature_names
from registry import LoadedModel, ModelRegistry, RegistryError

log = logging.getLogger("fraudstream.worker")


class ModelWatch:
    def __init__(
        self,
        registry: ModelRegistry,
        interval: float,
        alias: str = "production",
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[LoadedModel], None] | None = None,
    ) -> None:
        self.registry, self.alias, self.interval, self._clock = registry, alias, interval, clock
        self.on_change = on_change
        self.current = registry.load(alias)
        self._checked = clock()
        if on_change:
            on_change(self.current)

    def maybe_reload(self) -> bool:
        """Reload if the alias points elsewhere; returns True when the model changed."""
        now = self._clock()
        if now - self._checked < self.interval:
            return False
        self._checked = now
        try:
            version = self.registry.resolve(self.alias)
            if version == self.current.version:
                return False
            model = self.registry.load(version)
        except (RegistryError, OSError) as exc:  # keep scoring with the model we have
            log.error(
                f"model reload failed, keeping {self.current.version}: {exc}",
                extra={"model_version": self.current.version},
            )
            return False
        log.warning(  # not an error, but operators want it at the worker's default level
            f"model {self.alias} moved: {self.current.version} -> {model.version}",
            extra={"model_version": model.version, "previous_version": self.current.version},
        )
        self.current = model
        if self.on_change:
            self.on_change(model)
        return True


def prepare_model(model: LoadedModel, threads: int) -> None:
    """Check a model loaded for scoring and set XGBoost's threads for this process.

    One thread by default: the scoring loop is one thread, and on a small machine the other cores
    serve the broker and librdkafka; XGBoost's second thread contended with them and the worker
    was slower with two (BENCHMARKS.md, ``bench/xgb_threads.py``).
    """
    expected = list(feature_names())
    if model.feature_names != expected:
        raise ValueError(
            f"model {model.version} was trained on features {model.feature_names}, but this worker computes "
            f"{expected}; train a model with this version of fraudstream"
        )
    model.booster.set_param({"nthread": threads})
    # the reason codes' DMatrix too: built with every core by default, its thread team spins
    # against the broker's every batch
    model.threads = threads
