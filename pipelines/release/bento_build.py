"""Build a service's Bento from its bentofile (``bentofile.yaml``: the credit service;
``bentofile.emotion.yaml``: the emotion service), pinned to one imported model.

The Bento holds Senim's code (the files ``bentofile.yaml`` includes, from the installed
source tree) and the workspace's ``params.yaml``, staged together in a temporary build
context, so the scoring thresholds and limits in force are the ones deployed with it.

The model tag goes into the Bento twice: in ``models`` (so the Bento carries the model
when exported or put in an image) and as the build argument ``model_tag`` (so the service
loads exactly that model; see ``serving.credit_model_source``). The Bento's version is
``v<registry version>-<digest of the service code>``: rebuilding the same model from the
same code is a no-op, and a code change gets a new Bento without a new model import.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from senim.environment import Stores
from senim.errors import ConfigError

BENTOFILE = "bentofile.yaml"
SOURCE_ROOT = Path(__file__).resolve().parents[2]  # where senim/, serving/, ... live
MODEL_TAG_ARGUMENT = "model_tag"  # read by serving.credit_model_source


@dataclass(frozen=True)
class BuiltBento:
    tag: str
    created: bool


def bentoml_home(stores: Stores) -> Path:
    return stores.home / "bentoml"


def use_senim_stores(stores: Stores):
    """Point BentoML's model and Bento stores at SENIM_HOME/bentoml, whatever BENTOML_HOME
    said when bentoml was imported; returns ``(model_store, bento_store)``."""
    from bentoml._internal.bento.bento import BentoStore
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml._internal.models.model import ModelStore

    home = bentoml_home(stores)
    (home / "models").mkdir(parents=True, exist_ok=True)
    (home / "bentos").mkdir(parents=True, exist_ok=True)
    models, bentos = ModelStore(str(home / "models")), BentoStore(str(home / "bentos"))
    BentoMLContainer.model_store.set(models)
    BentoMLContainer.bento_store.set(bentos)
    return models, bentos


def read_bentofile(workspace: Path, name: str = BENTOFILE) -> dict:
    path = workspace / name
    try:
        config = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found (a service's Bento build file)") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(config, dict) or not config.get("service") or not config.get("name"):
        raise ConfigError(f"{path}: must be a mapping with at least 'service' and 'name'")
    return config


def included_files(root: Path, include: list[str], exclude: list[str] = ()) -> list[Path]:
    """Files under ``root`` matching ``include`` and no ``exclude`` pattern, sorted."""
    files: set[Path] = set()
    for pattern in include:
        files.update(p for p in root.glob(pattern) if p.is_file())
    for pattern in exclude:
        for excluded in root.glob(pattern):
            # A folder pattern (``**/__pycache__``) excludes everything under it.
            files.difference_update([p for p in files if p == excluded or excluded in p.parents])
    return sorted(files)


def stage_build_context(
    destination: Path, params_path: Path, include: list[str], exclude: list[str] = ()
) -> str:
    """Copy the included source files and ``params_path`` (as params.yaml) into
    ``destination``; returns the sha256 over their relative paths and contents."""
    digest = hashlib.sha256()
    staged = {p.relative_to(SOURCE_ROOT): p for p in included_files(SOURCE_ROOT, include, exclude)}
    staged[Path("params.yaml")] = params_path
    for relative in sorted(staged):
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(staged[relative], target)
        digest.update(str(relative).encode() + b"\0" + target.read_bytes() + b"\0")
    return digest.hexdigest()


def build_pinned_bento(
    stores: Stores,
    model_tag: str,
    mlflow_version: str,
    *,
    params_path: Path,
    labels: dict[str, str],
    bentofile: str = BENTOFILE,
) -> BuiltBento:
    from bentoml.exceptions import NotFound

    config = read_bentofile(SOURCE_ROOT, bentofile)
    include = list(config.get("include") or ["**/*.py"])
    exclude = list(config.get("exclude") or [])
    _, store = use_senim_stores(stores)
    with tempfile.TemporaryDirectory(prefix="senim-bento-") as context:
        digest = stage_build_context(Path(context), params_path, include, exclude)
        version = f"v{mlflow_version}-{digest[:12]}"
        tag = f"{config['name']}:{version}"
        try:
            store.get(tag)
            return BuiltBento(tag=tag, created=False)
        except NotFound:
            pass
        bento = _build(config, include, exclude, version, context, model_tag, labels, store)
    return BuiltBento(tag=str(bento.tag), created=True)


def _build(config, include, exclude, version, context, model_tag, labels, store):
    import importlib

    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml._internal.utils.args import set_arguments

    # Import the service from the installed source first: BentoML would otherwise import
    # its package from the temporary build context, and a later build in this process
    # (another service) would find that package cached with its folder gone.
    importlib.import_module(config["service"].split(":")[0])

    # bentoml.bentos.build sets its args process-wide; put back what was there, so a
    # process that deployed does not look like it is running inside that Bento.
    previous = dict(BentoMLContainer.bento_arguments.get())
    try:
        return _build_bento(config, include, exclude, version, context, model_tag, labels, store)
    finally:
        set_arguments(previous)


def _build_bento(config, include, exclude, version, context, model_tag, labels, store):
    import bentoml

    return bentoml.bentos.build(
        service=config["service"],
        name=config["name"],
        labels={**(config.get("labels") or {}), **labels},
        description=config.get("description"),
        include=include,
        exclude=exclude,
        python=config.get("python"),
        docker=config.get("docker"),
        models=[model_tag],
        version=version,
        build_ctx=context,
        args={**(config.get("args") or {}), MODEL_TAG_ARGUMENT: model_tag},
        _bento_store=store,
    )


def export_bento(stores: Stores, tag: str, path: Path) -> Path:
    """Write the Bento ``tag`` (code, params.yaml and its model) as one archive at ``path``,
    e.g. for the Dockerfile's ``credit-service`` target (``bentoml import`` reads it)."""
    import bentoml

    _, store = use_senim_stores(stores)
    path.parent.mkdir(parents=True, exist_ok=True)
    return Path(bentoml.bentos.export_bento(tag, str(path), _bento_store=store))
