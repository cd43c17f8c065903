"""Bento build inputs: the bentofile is checked with its path named, the staged context
holds exactly the included code plus the given params, and its digest tracks content."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.release.bento_build import (
    BENTOFILE,
    SOURCE_ROOT,
    included_files,
    read_bentofile,
    stage_build_context,
)
from senim.errors import ConfigError

# Small, stable files of this repository, for staging without copying the whole tree.
STAGED = ["pipelines/release/bento_build.py", "serving/scoring_ledger.py"]


def _write(root: Path, relative: str, text: str = "") -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _relative(root: Path, files: list[Path]) -> list[str]:
    return [p.relative_to(root).as_posix() for p in files]


# --- read_bentofile ------------------------------------------------------------------


def test_given_no_bentofile_when_read_then_config_error_names_the_path(tmp_path):
    with pytest.raises(ConfigError, match="not found") as error:
        read_bentofile(tmp_path)
    assert str(tmp_path / BENTOFILE) in str(error.value)


def test_given_invalid_yaml_when_read_then_config_error_names_the_path(tmp_path):
    _write(tmp_path, BENTOFILE, "service: [unclosed\nname: x\n")

    with pytest.raises(ConfigError, match="not valid YAML") as error:
        read_bentofile(tmp_path)
    assert str(tmp_path / BENTOFILE) in str(error.value)


@pytest.mark.parametrize(
    "text",
    [
        "name: credit-service\n",
        'service: "serving.credit_service:CreditService"\n',
        'service: ""\nname: credit-service\n',
        "- service\n- name\n",
        "",
    ],
    ids=["no-service", "no-name", "empty-service", "a-list", "empty-file"],
)
def test_given_a_bentofile_without_service_or_name_when_read_then_config_error_names_the_path(
    tmp_path, text
):
    _write(tmp_path, BENTOFILE, text)

    with pytest.raises(ConfigError, match="'service' and 'name'") as error:
        read_bentofile(tmp_path)
    assert str(tmp_path / BENTOFILE) in str(error.value)


def test_given_a_minimal_bentofile_when_read_then_its_mapping_comes_back(tmp_path):
    _write(tmp_path, BENTOFILE, "service: a.b:C\nname: svc\ninclude: ['*.py']\n")

    assert read_bentofile(tmp_path) == {"service": "a.b:C", "name": "svc", "include": ["*.py"]}


# --- included_files ------------------------------------------------------------------


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    for relative in (
        "pkg/a.py",
        "pkg/sub/b.py",
        "pkg/sub/test_b.py",
        "pkg/data/words.txt",
        "pkg/data/notes.md",
        "top.yaml",
        "other/c.py",
    ):
        _write(tmp_path, relative, relative)
    (tmp_path / "pkg" / "dir.py").mkdir()  # a directory that matches *.py
    return tmp_path


def test_given_include_patterns_when_listed_then_only_matching_files_sorted(tree):
    """Patterns are rooted at the tree; directories never count as files."""
    files = included_files(tree, ["pkg/**/*.py", "pkg/data/*.txt", "top.yaml"])

    assert _relative(tree, files) == [
        "pkg/a.py",
        "pkg/data/words.txt",
        "pkg/sub/b.py",
        "pkg/sub/test_b.py",
        "top.yaml",
    ]
    assert files == sorted(files)


def test_given_exclude_patterns_when_listed_then_matching_files_are_dropped(tree):
    files = included_files(tree, ["**/*.py"], ["**/test_*.py", "other/*"])

    assert _relative(tree, files) == ["pkg/a.py", "pkg/sub/b.py"]


def test_given_overlapping_includes_when_listed_then_each_file_appears_once(tree):
    files = included_files(tree, ["pkg/**/*.py", "pkg/*.py", "pkg/a.py"])

    assert _relative(tree, files).count("pkg/a.py") == 1


def test_given_a_pattern_matching_nothing_when_listed_then_the_list_is_empty(tree):
    assert included_files(tree, ["nowhere/**/*.py"]) == []


# --- stage_build_context ---------------------------------------------------------------


@pytest.fixture()
def params_file(tmp_path: Path) -> Path:
    return _write(tmp_path / "workspace", "params.yaml", "scoring:\n  max_batch: 7\n")


def test_given_included_files_when_staged_then_they_are_copied_byte_for_byte(tmp_path, params_file):
    destination = tmp_path / "context"

    stage_build_context(destination, params_file, STAGED)

    for relative in STAGED:
        assert (destination / relative).read_bytes() == (SOURCE_ROOT / relative).read_bytes()
    staged = sorted(p.relative_to(destination).as_posix() for p in destination.rglob("*.*"))
    assert staged == sorted([*STAGED, "params.yaml"])


def test_given_params_yaml_is_included_when_staged_then_the_given_params_file_replaces_it(
    tmp_path, params_file
):
    """The Bento carries the workspace's params, not the source tree's own params.yaml."""
    destination = tmp_path / "context"

    stage_build_context(destination, params_file, [*STAGED, "params.yaml"])

    assert (destination / "params.yaml").read_text() == params_file.read_text()
    assert (destination / "params.yaml").read_bytes() != (SOURCE_ROOT / "params.yaml").read_bytes()


def test_given_the_same_inputs_when_staged_twice_then_the_digest_is_the_same(tmp_path, params_file):
    """Rebuilding the same model from the same code and params is a no-op."""
    first = stage_build_context(tmp_path / "one", params_file, STAGED)
    second = stage_build_context(tmp_path / "two", params_file, STAGED)

    assert first == second and len(first) == 64


def test_given_different_params_when_staged_then_the_digest_changes(tmp_path, params_file):
    """A change of thresholds or limits is a new Bento even with the same code."""
    before = stage_build_context(tmp_path / "one", params_file, STAGED)
    params_file.write_text("scoring:\n  max_batch: 8\n")
    after = stage_build_context(tmp_path / "two", params_file, STAGED)

    assert before != after


def test_given_different_code_when_staged_then_the_digest_changes(tmp_path, params_file):
    one = stage_build_context(tmp_path / "one", params_file, STAGED)
    fewer = stage_build_context(tmp_path / "two", params_file, STAGED[:1])

    assert one != fewer


# --- the repository's own bentofile ------------------------------------------------------


@pytest.fixture(scope="module")
def bentofile() -> dict:
    return read_bentofile(SOURCE_ROOT)


@pytest.fixture(scope="module")
def bento_files(bentofile) -> list[str]:
    files = included_files(SOURCE_ROOT, bentofile["include"], bentofile.get("exclude") or [])
    return _relative(SOURCE_ROOT, files)


def test_given_the_repo_bentofile_then_it_serves_the_credit_service(bentofile):
    assert bentofile["service"] == "serving.credit_service:CreditService"
    assert bentofile["name"]


def test_given_the_repo_bentofile_then_it_includes_the_service_and_its_runtime_data(bento_files):
    """The service code, auth's password list and migration template, and the params."""
    for needed in (
        "serving/credit_service.py",
        "serving/credit_scoring.py",
        "senim/platform_db/migrations/script.py.mako",
        "params.yaml",
        "pyproject.toml",
        "uv.lock",
    ):
        assert needed in bento_files


def test_given_the_repo_bentofile_then_no_tests_or_caches_are_included(bento_files):
    assert not [f for f in bento_files if "__pycache__" in f.split("/")]
    assert not [f for f in bento_files if f.startswith("tests/")]
    assert not [f for f in bento_files if f.endswith(".pyc")]


def test_given_a_folder_exclude_pattern_when_listed_then_files_under_it_are_dropped(tree):
    """``**/__pycache__`` names folders; BentoML drops their contents, and so must the digest."""
    cache = tree / "pkg" / "__pycache__"
    cache.mkdir()
    (cache / "a.cpython-311.pyc").write_bytes(b"\0")

    files = included_files(tree, ["pkg/**/*"], ["**/__pycache__"])

    assert not any("__pycache__" in str(path) for path in files)
    assert "pkg/a.py" in _relative(tree, files)
