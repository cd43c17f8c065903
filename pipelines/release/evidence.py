"""Log a version's review evidence (model card, fairness report) and pin it with checksums.

A reviewer's approval records the sha256 of the evidence they read, so the checksum on
the model version must be over the exact bytes in the artifact store: files are written
once, hashed from disk, and those same files are uploaded under ``evidence/`` of the
version's run. The tags on the version say where each file is and what it hashes to.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from pipelines.release.registry import RegisteredVersion

EVIDENCE_DIR = "evidence"
MODEL_CARD_MD = "model_card.md"
MODEL_CARD_HTML = "model_card.html"
FAIRNESS_MD = "fairness.md"
FAIRNESS_JSON = "fairness.json"

TAG_CARD_SHA = "evidence.model_card.sha256"
TAG_CARD_PATH = "evidence.model_card.path"
TAG_FAIRNESS_SHA = "evidence.fairness.sha256"
TAG_FAIRNESS_PATH = "evidence.fairness.path"
TAG_FAIRNESS_FLAGGED = "evidence.fairness.flagged"


@dataclass(frozen=True)
class EvidenceFiles:
    """Texts to log; the fairness pair is absent for families without slices (emotion)."""

    card_markdown: str
    card_html: str
    fairness_markdown: str | None = None
    fairness_json: str | None = None
    fairness_flagged: int | None = None
    # One line each a reviewer must not miss (flagged slices); added to ``gate.reasons``.
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        fairness = (self.fairness_markdown, self.fairness_json, self.fairness_flagged)
        if any(part is None for part in fairness) and any(part is not None for part in fairness):
            raise ValueError(
                "fairness_markdown, fairness_json and fairness_flagged go together: "
                "give all three or none"
            )


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_evidence(evidence: EvidenceFiles, out_dir: Path) -> dict[str, Path]:
    """The evidence files under ``out_dir`` (UTF-8, exactly these bytes), by file name."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    texts = {MODEL_CARD_MD: evidence.card_markdown, MODEL_CARD_HTML: evidence.card_html}
    if evidence.fairness_markdown is not None:
        texts[FAIRNESS_MD] = evidence.fairness_markdown
        texts[FAIRNESS_JSON] = evidence.fairness_json
    files = {}
    for name, text in texts.items():
        path = out_dir / name
        path.write_bytes(text.encode("utf-8"))
        files[name] = path
    return files


def evidence_tags(files: dict[str, Path], evidence: EvidenceFiles) -> dict[str, str]:
    """Tags for the version: the Markdown card and the JSON fairness report are the
    reviewed documents (the HTML card and Markdown table render the same content)."""
    tags = {
        TAG_CARD_SHA: sha256_of(files[MODEL_CARD_MD]),
        TAG_CARD_PATH: f"{EVIDENCE_DIR}/{MODEL_CARD_MD}",
    }
    if FAIRNESS_JSON in files:
        tags.update(
            {
                TAG_FAIRNESS_SHA: sha256_of(files[FAIRNESS_JSON]),
                TAG_FAIRNESS_PATH: f"{EVIDENCE_DIR}/{FAIRNESS_JSON}",
                TAG_FAIRNESS_FLAGGED: str(evidence.fairness_flagged),
            }
        )
    return tags


def log_evidence(
    client, registered: RegisteredVersion, run_id: str, evidence: EvidenceFiles, out_dir: Path
) -> dict[str, str]:
    """Write, upload under ``evidence/`` of ``run_id`` and tag the version; the tags set.
    The evidence's notes are appended to the version's ``gate.reasons``, where a reviewer
    reads first."""
    files = write_evidence(evidence, out_dir)
    for path in files.values():
        client.log_artifact(run_id, str(path), artifact_path=EVIDENCE_DIR)
    tags = evidence_tags(files, evidence)
    if evidence.notes:
        reasons = (client.get_model_version(registered.name, registered.version).tags or {}).get(
            "gate.reasons", ""
        )
        tags["gate.reasons"] = "\n".join(filter(None, [reasons, *evidence.notes]))[:4900]
    for key, value in tags.items():
        client.set_model_version_tag(registered.name, registered.version, key, value)
    return tags
