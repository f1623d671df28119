"""XGBoost as serving imports it: the native ``Booster`` API, without XGBoost's scikit-learn wrappers.

``import xgboost`` imports scikit-learn (and with it most of SciPy) whenever it is installed, only
to define the ``XGBClassifier``-style wrappers; serving and training both use the native API
(``xgb.train``, ``Booster``), never the wrappers. Importing XGBoost with scikit-learn hidden keeps
the worker's start-up and memory free of it (BENCHMARKS.md, "Architecture renovation"). If
scikit-learn is already imported (a training process), XGBoost is imported as usual. Either way
``import sklearn`` afterwards works normally; only ``xgboost.XGBClassifier`` and its kin are then
unavailable, which is why nothing here may use them.
"""

from __future__ import annotations

import sys

if "xgboost" not in sys.modules and "sklearn" not in sys.modules:
    sys.modules["sklearn"] = None  # type: ignore[assignment]  # makes `import sklearn` raise ImportError
    try:
        import xgboost  # noqa: F401  # the import to make with scikit-learn hidden
    finally:
        del sys.modules["sklearn"]

import xgboost as xgb

__all__ = ["xgb"]
