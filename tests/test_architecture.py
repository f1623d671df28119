"""The dependency rule (pyproject.toml ``[tool.importlinter]``, README "Development") holds and bites."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fraudstream.settings import PROJECT_ROOT

PACKAGES = ("fraudstream", "schemas", "features", "registry", "producers", "trainer", "consumers", "monitoring", "cli")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _python(code: str) -> str:
    """What ``code`` prints in a fresh interpreter of this environment."""
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tree")
    for package in PACKAGES:
        shutil.copytree(PROJECT_ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


@pytest.mark.parametrize(
    ("module", "imports", "contract"),
    [
        ("consumers/scoring/violation.py", "import trainer.train", "Layers"),  # serving imports training
        ("fraudstream/violation.py", "import schemas.codec", "Layers"),  # the base imports a layer above
        ("producers/violation.py", "import cli.main", "Layers"),  # something imports the shell
        ("registry/violation.py", "import sklearn", "Serving loads models without training code"),
    ],
)
def test_an_import_against_the_rule_fails_the_lint(tree_copy: Path, module: str, imports: str, contract: str) -> None:
    path = tree_copy / module
    path.write_text(f"{imports}\n")
    try:
        result = _lint_imports(tree_copy)
    finally:
        path.unlink()
    assert result.returncode != 0, result.stdout
    assert f"{contract}" in result.stdout
    assert "BROKEN" in result.stdout
    assert module.removesuffix(".py").replace("/", ".") in result.stdout


def test_the_tree_as_committed_keeps_the_rule(tree_copy: Path) -> None:
    result = _lint_imports(tree_copy)
    assert result.returncode == 0, result.stdout
    assert "0 broken" in result.stdout


@pytest.mark.parametrize("module", ["consumers.scoring.app", "consumers.scoring.worker", "consumers.drift.consumer"])
def test_importing_a_serving_process_loads_no_training_code(module: str) -> None:
    probe = (
        f"import sys, {module}; "
        "print(','.join(m for m in ('sklearn', 'matplotlib', 'trainer', 'optuna') if m in sys.modules))"
    )
    assert _python(probe) == ""


def test_xgboost_still_trains_and_scores_after_serving_imported_it() -> None:
    # registry first: XGBoost is imported with scikit-learn hidden, then the trainer imports it for real
    probe = (
        "import numpy as np, registry, sklearn.linear_model, trainer.models as m; "
        "rng = np.random.default_rng(0); x = rng.normal(size=(400, 3)); y = (x[:, 0] > 0).astype(int); "
        "b = m.train_xgboost_rounds(x, y, ['a', 'b', 'c'], {'nthread': 1}, 20); "
        "base = m.LogisticBaseline.fit(x, y, ['a', 'b', 'c']); "
        "print(((b.inplace_predict(x) > 0.5) == y).mean() > 0.9, ((base.predict(x) > 0.5) == y).mean() > 0.9)"
    )
    assert _python(probe) == "True True"


def test_the_cli_builds_its_parser_without_loading_the_processes() -> None:
    # `fraudstream worker` must not pay for scikit-learn, and `--help` must be instant: the CLI reads
    # the configuration modules only, and each command imports its process when it runs
    probe = (
        "import sys, cli.main; cli.main.build_parser(); "
        "print(','.join(m for m in ('sklearn', 'matplotlib', 'pandas', 'scipy', 'faust', 'xgboost', 'numpy') "
        "if m in sys.modules))"
    )
    assert _python(probe) == ""
