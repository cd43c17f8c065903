"""FER ingest: every source becomes the same deterministic .npz snapshot."""

from __future__ import annotations

from pipelines.fer.ingest import ingest_fer, load_fer_source
from pipelines.fer.sources import read_fer_npz
from pipelines.fer.synthetic import write_synthetic_fer
from senim.config import FerDataParams, FerSyntheticParams

SMALL = FerSyntheticParams(seed=3, train_per_class=4, test_per_class=2)


def test_given_synthetic_source_when_ingested_twice_then_identical_snapshot_bytes(tmp_path):
    first = ingest_fer(FerDataParams(), SMALL, tmp_path / "a" / "snapshot.npz")
    second = ingest_fer(FerDataParams(), SMALL, tmp_path / "b" / "snapshot.npz")
    assert first.read_bytes() == second.read_bytes()
    snapshot = read_fer_npz(first)
    assert len(snapshot) == 7 * (4 + 2)
    assert set(snapshot.usage.tolist()) == {"Training", "PublicTest"}


def _contents(dataset) -> list[tuple[str, int, bytes]]:
    """Order-free view: the folder form lists files by name, not by generation order."""
    return sorted(
        (str(u), int(y), x.tobytes())
        for x, y, u in zip(dataset.x, dataset.y, dataset.usage, strict=True)
    )


def test_given_each_file_form_when_loaded_then_same_images_as_the_generator(tmp_path):
    expected = _contents(load_fer_source(FerDataParams(), SMALL))
    for form, name in (("npz", "set.npz"), ("csv", "set.csv"), ("folder", "set")):
        path = write_synthetic_fer(tmp_path / name, SMALL, form=form)
        loaded = load_fer_source(FerDataParams(source=form, path=str(path)), SMALL)
        assert _contents(loaded) == expected, form
