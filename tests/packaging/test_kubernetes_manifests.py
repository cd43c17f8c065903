"""The Kubernetes manifests in packaging/kubernetes: valid against the Kubernetes 1.30
schemas (strict: an unknown field is an error), and saying what the README promises:
readiness on /readyz, resources, secrets only by reference, images from the Dockerfile."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "packaging" / "kubernetes"
KUBERNETES = "1.30.0"
SECRET_NAMES = re.compile(r"SECRET|PASSWORD|KEY$|DATABASE_URL|BACKEND_URI|STORAGE|USERNAME")
SERVICES = {"credit-service": 3000, "emotion-service": 3001}


def _documents() -> list[tuple[str, dict]]:
    found = []
    for path in sorted(MANIFESTS.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                found.append((f"{path.name}:{document['kind']}/{document['metadata']['name']}",
                              document))  # fmt: skip
    return found


DOCUMENTS = _documents()
DEPLOYMENTS = {doc["metadata"]["name"]: doc for _, doc in DOCUMENTS if doc["kind"] == "Deployment"}


def _container(name: str) -> dict:
    (container,) = DEPLOYMENTS[name]["spec"]["template"]["spec"]["containers"]
    return container


def test_given_the_manifests_then_every_part_of_the_platform_is_deployed():
    assert set(DEPLOYMENTS) == {"credit-service", "emotion-service", "mlflow", "prefect-worker"}


@pytest.mark.parametrize(("where", "document"), DOCUMENTS, ids=[w for w, _ in DOCUMENTS])
def test_given_a_manifest_when_validated_against_the_kubernetes_schema_then_it_passes(
    where, document
):
    import kubernetes_validate

    kubernetes_validate.validate(document, KUBERNETES, strict=True)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_given_a_service_then_readiness_is_readyz_on_its_dockerfile_port(name):
    container = _container(name)
    dockerfile = (ROOT / "Dockerfile").read_text()

    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["ports"][0]["containerPort"] == SERVICES[name]
    assert f"EXPOSE {SERVICES[name]}" in dockerfile and f"AS {name}" in dockerfile


@pytest.mark.parametrize("name", sorted(DEPLOYMENTS))
def test_given_a_deployment_then_it_has_resources_and_runs_as_the_image_user(name):
    container = _container(name)
    pod = DEPLOYMENTS[name]["spec"]["template"]["spec"]

    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] == 10001
    assert "readinessProbe" in container


@pytest.mark.parametrize("name", sorted(DEPLOYMENTS))
def test_given_a_deployment_then_every_secret_comes_from_a_secret_reference(name):
    for variable in _container(name).get("env", []):
        if SECRET_NAMES.search(variable["name"]):
            assert "value" not in variable, variable["name"]
            assert variable["valueFrom"]["secretKeyRef"]["name"] == "senim-secrets"


def test_given_a_misspelt_field_when_validated_then_the_schema_refuses_it():
    """The check above has teeth: strict validation names an unknown field."""
    import copy

    import kubernetes_validate

    broken = copy.deepcopy(DEPLOYMENTS["credit-service"])
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}

    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)
