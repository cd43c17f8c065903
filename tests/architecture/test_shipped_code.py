"""What ships where: each Bento carries exactly the code its service imports, and each DVC
stage depends on every folder of code it runs (and nothing of the other family)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipelines.release.bento_build import included_files, read_bentofile
from tests.architecture.import_graph import ROOT, closure, modules

# Files a Bento needs that no import names: the Alembic chain is read from disk.
MIGRATIONS = "senim/platform_db/migrations/"


def _code_files(*roots: str) -> set[str]:
    """The files of every module reachable from ``roots``, with their packages' __init__."""
    files: set[str] = set()
    for module in closure(*roots):
        path = modules()[module].relative_to(ROOT)
        files.add(path.as_posix())
        for depth in range(1, len(path.parts)):
            init = Path(*path.parts[:depth]) / "__init__.py"
            if (ROOT / init).is_file():
                files.add(init.as_posix())
    return files


@pytest.mark.parametrize(
    ("bentofile", "service_module"),
    [
        ("bentofile.yaml", "serving.credit_service"),
        ("bentofile.emotion.yaml", "serving.emotion_service"),
    ],
)
def test_given_a_bentofile_then_it_ships_exactly_the_code_its_service_imports(
    bentofile, service_module
):
    config = read_bentofile(ROOT, bentofile)
    assert config["service"].split(":")[0] == service_module
    shipped = {
        path.relative_to(ROOT).as_posix()
        for path in included_files(ROOT, config["include"], config.get("exclude") or [])
    }
    shipped_code = {f for f in shipped if f.endswith(".py") and not f.startswith(MIGRATIONS)}
    assert _code_files(service_module) - shipped_code == set(), "imported but not shipped"
    assert shipped_code - _code_files(service_module) == set(), "shipped but never imported"
    assert f"{MIGRATIONS}env.py" in shipped and f"{MIGRATIONS}script.py.mako" in shipped
    assert {"params.yaml", "pyproject.toml", "uv.lock"} <= shipped


STAGE_CODE = {  # what each stage's command runs, as modules
    "ingest": ("pipelines.credit.ingest",),
    "validate": ("pipelines.credit.validate",),
    "train": ("flows.retrain_credit",),
    "fer-ingest": ("pipelines.fer.ingest",),
    "fer-validate": ("pipelines.fer.validate",),
    "fer-train": ("flows.retrain_fer",),
}


def _stages() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def _covered(path: str, deps: list[str]) -> bool:
    return any(path == dep or path.startswith(dep.rstrip("/") + "/") for dep in deps)


def test_given_dvc_yaml_then_every_stage_is_checked_here():
    assert set(_stages()) == set(STAGE_CODE)


@pytest.mark.parametrize("stage", sorted(STAGE_CODE))
def test_given_a_stage_then_its_deps_cover_every_file_it_runs(stage):
    deps = _stages()[stage]["deps"]
    # The command is the CLI (its own file: it imports each stage's code lazily).
    runs = _code_files(*STAGE_CODE[stage]) | {"senim/cli/app.py"}
    code = {f for f in runs if (ROOT / f).stat().st_size}  # empty package markers run nothing
    assert sorted(f for f in code if not _covered(f, deps)) == []


@pytest.mark.parametrize("stage", sorted(STAGE_CODE))
def test_given_a_stage_then_no_code_of_the_other_family_reruns_it(stage):
    other = "pipelines/credit/" if stage.startswith("fer-") else "pipelines/fer/"
    deps = _stages()[stage]["deps"]
    family_files = [p.relative_to(ROOT).as_posix() for p in (ROOT / other).rglob("*.py")]
    assert sorted(f for f in family_files if _covered(f, deps)) == []
    model_file = "models/credit_candidates.py" if stage.startswith("fer-") else "models/fer_cnn.py"
    assert not _covered(model_file, deps)
