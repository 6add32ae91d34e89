"""deploy/: the Kubernetes manifests validate against the Kubernetes API schemas (offline,
kubernetes-validate), the probes point at the real health routes, and the compose file and
Dockerfile wire what the service needs. (Building the image needs a Docker daemon and a base
image registry: not available in CI; see deploy/README.md.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from api.app import create_app
from api.settings import Settings
from tests.api.conftest import make_settings

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
K8S_VERSION = "1.30"
MANIFESTS = sorted((DEPLOY / "k8s").rglob("*.yaml"))
CUSTOM_KINDS = {("ray.io/v1", "RayJob")}  # KubeRay's CRD: checked by its own test below


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@pytest.mark.parametrize("path", MANIFESTS, ids=[str(p.relative_to(DEPLOY)) for p in MANIFESTS])
def test_manifest_is_valid_kubernetes(path: Path) -> None:
    for doc in documents(path):
        if (doc["apiVersion"], doc["kind"]) not in CUSTOM_KINDS:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_the_validator_refuses_a_broken_manifest() -> None:
    (service,) = documents(DEPLOY / "k8s" / "service.yaml")
    service["spec"]["ports"] = [{"name": "http", "port": "eighty", "targetPort": "http"}]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(service, K8S_VERSION, strict=True)


def test_probes_use_the_health_routes_and_the_api_serves_them() -> None:
    (api,) = documents(DEPLOY / "k8s" / "statefulset.yaml")
    (container,) = api["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["requests"] and container["resources"]["limits"]
    paths = create_app(make_settings()).openapi()["paths"]
    assert {"/readyz", "/healthz"} <= set(paths)
    (pdb,) = documents(DEPLOY / "k8s" / "pdb.yaml")
    assert pdb["spec"]["selector"]["matchLabels"] == api["spec"]["selector"]["matchLabels"]
    config = documents(DEPLOY / "k8s" / "configmap.yaml")[0]["data"]
    assert all(key.startswith("RECSYS_") for key in config)
    assert set(config) <= {f"RECSYS_{name.upper()}" for name in Settings.model_fields}


def test_compose_runs_the_build_before_the_api_on_shared_volumes() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    build, api = compose["services"]["build"], compose["services"]["api"]
    assert build["command"][:2] == ["recsys", "build"]
    assert api["depends_on"]["build"]["condition"] == "service_completed_successfully"
    assert "artifacts:/var/lib/recsys/artifacts:ro" in api["volumes"]
    assert "/readyz" in " ".join(api["healthcheck"]["test"])


def test_dockerfile_is_multi_stage_non_root_and_pinned() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert text.count("\nFROM ") >= 2 and "AS runtime" in text
    assert "-c constraints.txt" in text  # the CPU torch pin
    assert "\nUSER recsys" in text and "HEALTHCHECK" in text
    assert 'CMD ["recsys", "serve"]' in text
    # the models are made ready in the builder and read from the same place at run time (a
    # read-only root filesystem cannot import e5 or export ONNX on first use)
    assert text.count("RECSYS_MODEL_CACHE=/opt/recsys-models") == 2
    assert "COPY --from=builder /opt/recsys-models /opt/recsys-models" in text


def test_scale_out_replicas_are_stateless_on_postgres_and_scale_on_cpu() -> None:
    out = DEPLOY / "k8s" / "scale-out"
    (api,) = documents(out / "deployment.yaml")
    assert api["kind"] == "Deployment"
    spec = api["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["RECSYS_EVENTS_URL"]["valueFrom"]["secretKeyRef"]["name"] == "recsys-postgres"
    assert "RECSYS_EVENTS_URL" in {f"RECSYS_{n.upper()}" for n in Settings.model_fields}
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert not any("persistentVolumeClaim" in v and not v["persistentVolumeClaim"].get(
        "readOnly") for v in spec["volumes"])  # fmt: skip
    (hpa,) = documents(out / "hpa.yaml")
    assert hpa["spec"]["scaleTargetRef"]["name"] == api["metadata"]["name"]
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"


def test_rayjob_runs_the_ray_build_on_the_shared_volume() -> None:
    (job,) = documents(DEPLOY / "k8s" / "scale-out" / "rayjob.yaml")
    assert (job["apiVersion"], job["kind"]) == ("ray.io/v1", "RayJob")
    assert job["spec"]["entrypoint"].startswith("recsys build --engine ray --address auto")
    cluster = job["spec"]["rayClusterSpec"]
    import ray

    assert cluster["rayVersion"] == ray.__version__  # the image's Ray, or the job fails
    for pod in [cluster["headGroupSpec"]["template"], cluster["workerGroupSpecs"][0]["template"]]:
        kubernetes_validate.validate(  # the pod templates are plain Kubernetes
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, **pod},
            K8S_VERSION,
            strict=True,
        )


def test_scale_out_compose_two_replicas_one_store_and_a_ray_build() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.scale-out.yml").read_text())
    services = compose["services"]
    replicas = [s for name, s in services.items() if name.startswith("api-")]
    assert len(replicas) == 2
    for api in replicas:
        assert api["environment"]["RECSYS_EVENTS_URL"].startswith("postgresql://")
        assert api["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert "artifacts:/var/lib/recsys/artifacts:ro" in api["volumes"]
    assert services["build"]["command"][:4] == ["recsys", "build", "--engine", "ray"]
