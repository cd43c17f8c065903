"""Writing, checksumming, logging and tagging the evidence files (fake MLflow client)."""

from __future__ import annotations

import hashlib

import pytest

from pipelines.release.evidence import EvidenceFiles, log_evidence
from pipelines.release.registry import RegisteredVersion


class FakeClient:
    def __init__(self) -> None:
        self.artifacts: list[tuple[str, str, str]] = []
        self.tags: dict[str, str] = {}

    def log_artifact(self, run_id, local_path, artifact_path=None):
        self.artifacts.append((run_id, local_path, artifact_path))

    def set_model_version_tag(self, name, version, key, value):
        assert (name, version) == ("credit-rating", "4")
        self.tags[key] = value

    def get_model_version(self, name, version):
        from types import SimpleNamespace

        return SimpleNamespace(tags=dict(self.tags))


VERSION = RegisteredVersion("credit-rating", "4", "models:/credit-rating/4")


def test_given_card_and_fairness_when_logged_then_tags_hash_the_exact_uploaded_bytes(tmp_path):
    client = FakeClient()
    evidence = EvidenceFiles("# card é\n", "<p>card</p>\n", "| f |\n", '{"flagged": 2}\n', 2)

    tags = log_evidence(client, VERSION, "run-1", evidence, tmp_path)

    uploaded = {path.rsplit("/", 1)[-1]: path for _, path, _ in client.artifacts}
    assert set(uploaded) == {"model_card.md", "model_card.html", "fairness.md", "fairness.json"}
    assert {(run, folder) for run, _, folder in client.artifacts} == {("run-1", "evidence")}
    card_bytes = open(uploaded["model_card.md"], "rb").read()
    assert card_bytes == "# card é\n".encode()
    assert tags["evidence.model_card.sha256"] == hashlib.sha256(card_bytes).hexdigest()
    fairness_bytes = open(uploaded["fairness.json"], "rb").read()
    assert tags["evidence.fairness.sha256"] == hashlib.sha256(fairness_bytes).hexdigest()
    assert tags["evidence.model_card.path"] == "evidence/model_card.md"
    assert tags["evidence.fairness.path"] == "evidence/fairness.json"
    assert tags["evidence.fairness.flagged"] == "2"
    assert client.tags == tags


def test_given_card_only_when_logged_then_no_fairness_tags(tmp_path):
    client = FakeClient()

    tags = log_evidence(client, VERSION, "run-1", EvidenceFiles("# c\n", "<p>c</p>\n"), tmp_path)

    assert set(tags) == {"evidence.model_card.sha256", "evidence.model_card.path"}
    assert len(client.artifacts) == 2


def test_given_half_a_fairness_report_when_built_then_error_says_what_goes_together():
    with pytest.raises(ValueError, match="go together"):
        EvidenceFiles("# c\n", "<p>c</p>\n", fairness_markdown="| f |\n")


def test_given_flagged_slices_when_logged_then_their_notes_join_the_gate_reasons(tmp_path):
    client = FakeClient()
    client.tags["gate.reasons"] = "macro_f1 0.41 >= 0.25: ok"
    note = "fairness: Sector = Energy scores macro_f1 0.210, 0.200 below overall (40 rows; ...)"
    evidence = EvidenceFiles("# c\n", "<p>c</p>\n", "| f |\n", '{"flagged": 1}\n', 1, (note,))

    log_evidence(client, VERSION, "run-1", evidence, tmp_path)

    assert client.tags["gate.reasons"].splitlines() == ["macro_f1 0.41 >= 0.25: ok", note]
