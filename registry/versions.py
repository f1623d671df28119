"""The model registry: immutable versions, ``staging``/``production`` aliases, promote and rollback.

Layout below the store root::

    versions/<version>/model.json            XGBoost native JSON model
    versions/<version>/baseline.json         logistic-regression baseline (plain JSON)
    versions/<version>/drift_reference.json  bin edges, proportions and a sample per feature
    versions/<version>/model_card.json       who, what, how well (see trainer/train.py)
    versions/<version>/checksums.json        sha256 of each artifact, verified on every load
    aliases.json                             {"aliases": {...}, "history": {"production": [...]}}

The worker calls :meth:`ModelRegistry.load` once and :meth:`ModelRegistry.resolve` between
batches to notice that the production alias moved.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fraudstream.errors import FraudstreamError
from registry.model import LoadedModel, xgboost_from_bytes
from registry.store import ObjectStore, StoreError, open_store

ALIASES = ("staging", "production")
ARTIFACTS = ("model.json", "baseline.json", "drift_reference.json", "model_card.json")


class RegistryError(FraudstreamError):
    """A registry operation was refused or failed; the message says why and what to do."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ModelRegistry:
    def __init__(self, store: ObjectStore | str) -> None:
        self.store = open_store(store) if isinstance(store, str) else store

    # -- versions ---------------------------------------------------------------------------

    def save_version(self, version: str, artifacts: dict[str, bytes]) -> None:
        """Write a new immutable version; refuses an existing version id."""
        missing = set(ARTIFACTS) - set(artifacts)
        if missing:
            raise RegistryError(f"version {version} lacks artifacts {sorted(missing)}")
        if self.store.exists(f"versions/{version}/checksums.json"):
            raise RegistryError(f"version {version} already exists; versions are immutable")
        for name, data in artifacts.items():
            self.store.put_new(f"versions/{version}/{name}", data)
        checksums = {name: _sha256(data) for name, data in artifacts.items()}
        # written last: a version without checksums.json is incomplete and is not listed
        self.store.put_new(f"versions/{version}/checksums.json", json.dumps(checksums, indent=2).encode())

    def versions(self) -> list[str]:
        keys = self.store.list("versions/")
        return sorted({key.split("/")[1] for key in keys if key.endswith("/checksums.json")})

    def artifact(self, version: str, name: str) -> bytes:
        """An artifact's bytes, verified against the version's checksums."""
        try:
            checksums = json.loads(self.store.get(f"versions/{version}/checksums.json"))
        except StoreError as exc:
            raise RegistryError(f"no model version {version!r} in {self.store.uri}") from exc
        data = self.store.get(f"versions/{version}/{name}")
        if _sha256(data) != checksums.get(name):
            raise RegistryError(
                f"{self.store.uri} versions/{version}/{name} does not match its checksum: the artifact "
                "was changed or corrupted after it was written; do not use this version"
            )
        return data

    def card(self, version: str) -> dict[str, Any]:
        card: dict[str, Any] = json.loads(self.artifact(version, "model_card.json"))
        return card

    # -- aliases ----------------------------------------------------------------------------

    def _alias_file(self) -> dict[str, Any]:
        if not self.store.exists("aliases.json"):
            return {"aliases": {}, "history": {alias: [] for alias in ALIASES}}
        data: dict[str, Any] = json.loads(self.store.get("aliases.json"))
        return data

    def aliases(self) -> dict[str, str]:
        return dict(self._alias_file()["aliases"])

    def resolve(self, ref: str) -> str:
        """A version id for ``production``, ``staging`` or a version id."""
        if ref in ALIASES:
            version = self.aliases().get(ref)
            if version is None:
                raise RegistryError(f"no model is {ref} yet in {self.store.uri}; train and promote one first")
            return version
        if ref not in self.versions():
            raise RegistryError(f"no model version {ref!r} in {self.store.uri}; see `fraudstream model list`")
        return ref

    def set_alias(self, alias: str, version: str) -> None:
        if alias not in ALIASES:
            raise RegistryError(f"unknown alias {alias!r}; use one of {ALIASES}")
        self.resolve(version)
        state = self._alias_file()
        state["aliases"][alias] = version
        state["history"].setdefault(alias, []).append({"version": version, "at": datetime.now(UTC).isoformat()})
        self.store.put("aliases.json", json.dumps(state, indent=2).encode())

    def promote(
        self,
        version: str,
        alias: str = "production",
        force: bool = False,
        compare: Callable[[str, str], tuple[float, float]] | None = None,
    ) -> list[str]:
        """Point ``alias`` at ``version`` after the checks; returns the notes of what was checked.

        Refused (RegistryError) unless ``force``: a version that failed its gates, or one whose
        average precision on its test period is below the current holder's on the same period.
        ``compare(candidate, current)`` returns both APs on the candidate's test period; without
        it, the recorded metrics are compared when both cards share data hash and test period.
        """
        card = self.card(version)
        notes = []
        failed = card.get("gates", {}).get("failed", [])
        if failed and not force:
            raise RegistryError(f"{version} failed its acceptance gates: {'; '.join(failed)}. Use --force to override.")
        notes.append("gates: " + ("passed" if not failed else f"FAILED but forced ({'; '.join(failed)})"))
        current = self.aliases().get(alias)
        if current and current != version:
            if compare is not None:
                candidate_ap, current_ap = compare(version, current)
            else:
                other = self.card(current)
                if (other.get("data", {}).get("sha256"), other.get("periods")) != (
                    card.get("data", {}).get("sha256"),
                    card.get("periods"),
                ):
                    if not force:
                        raise RegistryError(
                            f"{current} (current {alias}) was evaluated on other data or periods; pass --data "
                            f"to score both on {version}'s test period, or --force"
                        )
                    candidate_ap = current_ap = float("nan")
                else:
                    candidate_ap = card["metrics"]["xgboost"]["average_precision"]
                    current_ap = other["metrics"]["xgboost"]["average_precision"]
            notes.append(f"average precision: candidate {candidate_ap:.4f} vs {alias} {current} {current_ap:.4f}")
            if candidate_ap < current_ap and not force:
                raise RegistryError(
                    f"{version} is worse than {alias} {current} on the same test period "
                    f"(average precision {candidate_ap:.4f} < {current_ap:.4f}); use --force to promote anyway"
                )
        self.set_alias(alias, version)
        return notes

    def rollback(self, alias: str = "production") -> str:
        """Point ``alias`` back at the version it had before the current one; returns it."""
        state = self._alias_file()
        history = state["history"].get(alias, [])
        current = state["aliases"].get(alias)
        previous = [entry["version"] for entry in history if entry["version"] != current]
        if not previous:
            raise RegistryError(f"{alias} has no earlier version to roll back to")
        target = str(previous[-1])
        # drop the entries of the version being rolled back, so a second rollback goes further back
        while history and history[-1]["version"] == current:
            history.pop()
        state["aliases"][alias] = target
        while history and history[-1]["version"] != target:
            history.pop()
        self.store.put("aliases.json", json.dumps(state, indent=2).encode())
        return target

    # -- loading ----------------------------------------------------------------------------

    def load(self, ref: str = "production") -> LoadedModel:
        version = self.resolve(ref)
        card = self.card(version)
        booster = xgboost_from_bytes(self.artifact(version, "model.json"))
        thresholds = card["thresholds"]
        return LoadedModel(
            version=version,
            booster=booster,
            feature_names=list(card["feature_names"]),
            review_threshold=float(thresholds["review"]),
            decline_threshold=float(thresholds["decline"]),
            card=card,
        )

    def drift_reference(self, ref: str = "production") -> dict[str, Any]:
        reference: dict[str, Any] = json.loads(self.artifact(self.resolve(ref), "drift_reference.json"))
        return reference
