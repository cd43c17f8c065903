"""FER ingest stage: read the configured emotion source into one ``.npz`` snapshot.

Every source (the synthetic generator, ``fer2013.csv``, the image folders, an ``.npz``)
becomes the same snapshot: ``x``, ``y``, ``usage`` written deterministically and
atomically (``pipelines.fer.sources.write_fer_npz``), so DVC sees one content hash per
content and a failed ingest never leaves half a file. Nothing here validates: the flow
validates the loaded data before it replaces the tracked snapshot.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.fer.schema import FerDataset
from senim.config import FerDataParams, FerSyntheticParams


def load_fer_source(data: FerDataParams, synthetic: FerSyntheticParams) -> FerDataset:
    """Whichever source ``data.source`` names, as a FerDataset (notes say what was fixed)."""
    if data.source == "synthetic":
        from pipelines.fer.synthetic import generate_fer

        return generate_fer(synthetic)
    from pipelines.fer.sources import read_fer

    return read_fer(Path(data.path), form=data.source)


def ingest_fer(data: FerDataParams, synthetic: FerSyntheticParams, out_path: Path) -> Path:
    from pipelines.fer.sources import write_fer_npz

    return write_fer_npz(load_fer_source(data, synthetic), out_path)
