"""The model format and registry: immutable versions, aliases, and loading a model for serving.

``store.py`` is the object storage (``file://`` or ``s3://``); ``versions.py`` the registry of
versions and the ``staging``/``production`` aliases; ``model.py`` the loaded XGBoost model with its
thresholds; ``drift_reference.py`` the drift reference stored with each version. Serving (the
worker, the drift consumer) reads models through this package and never imports the trainer or
scikit-learn.
"""

from registry.model import LoadedModel, xgboost_from_bytes, xgboost_to_bytes
from registry.store import ObjectStore, StoreError, open_store
from registry.versions import ALIASES, ARTIFACTS, ModelRegistry, RegistryError

__all__ = [
    "ALIASES",
    "ARTIFACTS",
    "LoadedModel",
    "ModelRegistry",
    "ObjectStore",
    "RegistryError",
    "StoreError",
    "open_store",
    "xgboost_from_bytes",
    "xgboost_to_bytes",
]
