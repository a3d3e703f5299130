"""deploy/k8s manifests validated offline against their schemas and cross-checked.

Built-in kinds go through ``kubernetes-validate`` (the Kubernetes OpenAPI schemas it ships, strict:
unknown fields fail); the ``DaskCluster`` resource through the operator's CRD schema, vendored from
the dask-kubernetes wheel in tests/deploy/schemas/.
"""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from cube.settings import Settings

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
CRD = Path(__file__).resolve().parent / "schemas" / "daskcluster.kubernetes.dask.org.json"
K8S_VERSION = "1.37.0"
SETTINGS_ENV = {name.upper() for name in Settings.model_fields}


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
ALL = [(p.name, d) for p in MANIFESTS for d in _docs(p)]


def _by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for _, d in ALL if d["kind"] == kind}


def _dask_schema() -> dict[str, Any]:
    crd = json.loads(CRD.read_text())
    assert crd["spec"]["group"] == "kubernetes.dask.org"
    (version,) = (v for v in crd["spec"]["versions"] if v["name"] == "v1")
    return version["schema"]["openAPIV3Schema"]


def _validate(doc: dict[str, Any]) -> None:
    if doc["apiVersion"] == "kubernetes.dask.org/v1":
        jsonschema.validate(doc, _dask_schema())
    else:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


@pytest.mark.parametrize(("name", "doc"), ALL, ids=[f"{n}:{d['kind']}" for n, d in ALL])
def test_manifest_matches_its_schema(name, doc):
    _validate(doc)


def test_validation_rejects_broken_manifests():
    deployment = copy.deepcopy(_by_kind("Deployment")["launchwatch-api"])
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(deployment)
    typo = copy.deepcopy(_by_kind("Service")["triton"])
    typo["spec"]["prots"] = typo["spec"].pop("ports")
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(typo)
    dask = copy.deepcopy(_by_kind("DaskCluster")["launchwatch-dask"])
    del dask["spec"]["worker"]["spec"]
    with pytest.raises(jsonschema.ValidationError):
        _validate(dask)
    dask = copy.deepcopy(_by_kind("DaskCluster")["launchwatch-dask"])
    dask["spec"]["worker"]["replicas"] = "four"
    with pytest.raises(jsonschema.ValidationError):
        _validate(dask)


def test_kustomization_lists_every_manifest_but_the_secret_template():
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kust["resources"])
    assert listed == {p.name for p in MANIFESTS} - {"secret.example.yaml"}
    assert all(
        d["metadata"].get("namespace", kust["namespace"]) == kust["namespace"] for _, d in ALL
    )


def test_config_and_secret_keys_are_settings_fields_and_parse():
    config = _by_kind("ConfigMap")["launchwatch-config"]["data"]
    secret = _by_kind("Secret")["launchwatch-secrets"]["stringData"]
    assert set(config) | set(secret) <= SETTINGS_ENV
    assert not set(config) & set(secret)
    assert {"POSTGRES_PASSWORD", "MINIO_SECRET_KEY"} <= set(secret)
    settings = Settings(_env_file=None, **{k.lower(): v for k, v in secret.items()})  # type: ignore[call-arg]
    assert settings.postgres_password.get_secret_value() == "change-me"
    # the in-cluster addresses point at the Services defined here
    services = _by_kind("Service")
    host, port = config["TRITON_URL"].rsplit(":", 1)
    assert host.split(".")[0] in services
    triton_ports = {p["name"]: p["port"] for p in services["triton"]["spec"]["ports"]}
    assert int(port) == triton_ports["grpc"] == int(config["TRITON_GRPC_PORT"])
    assert triton_ports["http"] == int(config["TRITON_HTTP_PORT"])
    assert triton_ports["metrics"] == int(config["TRITON_METRICS_PORT"])
    api_port = {p["name"]: p["port"] for p in services["launchwatch-api"]["spec"]["ports"]}
    assert api_port["http"] == int(config["API_PORT"]) == Settings(_env_file=None).api_port  # type: ignore[call-arg]


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    if doc["kind"] == "DaskCluster":
        return [
            *doc["spec"]["worker"]["spec"]["containers"],
            *doc["spec"]["scheduler"]["spec"]["containers"],
        ]
    return doc["spec"]["template"]["spec"]["containers"]


def test_services_select_their_deployments_and_ports_exist():
    deployments = _by_kind("Deployment")
    for name, svc in _by_kind("Service").items():
        dep = deployments[name]
        labels = dep["spec"]["template"]["metadata"]["labels"]
        assert svc["spec"]["selector"].items() <= labels.items()
        assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()
        named = {p["name"] for c in _containers(dep) for p in c["ports"]}
        assert {p["targetPort"] for p in svc["spec"]["ports"]} <= named
    rule = _by_kind("Ingress")["launchwatch"]["spec"]["rules"][0]
    backend = rule["http"]["paths"][0]["backend"]["service"]
    ports = {p["name"] for p in _by_kind("Service")[backend["name"]]["spec"]["ports"]}
    assert backend["port"]["name"] in ports


def test_app_image_is_the_project_version_everywhere():
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    app_docs = [
        _by_kind("Deployment")["launchwatch-api"],
        _by_kind("DaskCluster")["launchwatch-dask"],
    ]
    images = {c["image"] for d in app_docs for c in _containers(d)}
    assert images == {f"ghcr.io/launchwatch/launchwatch:{version}"}
    api = _containers(app_docs[0])[0]
    assert api["command"][:2] == ["uvicorn", "api.main:app"]
    assert {e["configMapRef"]["name"] for e in api["envFrom"] if "configMapRef" in e} == {
        "launchwatch-config"
    }


def test_triton_gets_a_gpu_and_the_model_repository():
    triton = _by_kind("Deployment")["triton"]
    (container,) = _containers(triton)
    assert container["image"].startswith("nvcr.io/nvidia/tritonserver:")
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert "--model-repository=" + mounts["model-repository"] in container["args"]
    claim = {v["name"]: v for v in triton["spec"]["template"]["spec"]["volumes"]}
    pvc = claim["model-repository"]["persistentVolumeClaim"]["claimName"]
    assert pvc in _by_kind("PersistentVolumeClaim")
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"


def test_dask_cluster_scheduler_service_and_workers():
    dask = _by_kind("DaskCluster")["launchwatch-dask"]
    sched = dask["spec"]["scheduler"]
    assert sched["service"]["selector"]["dask.org/cluster-name"] == dask["metadata"]["name"]
    (sc,) = sched["spec"]["containers"]
    assert sc["args"] == ["dask", "scheduler"]
    comm = {p["name"]: p["port"] for p in sched["service"]["ports"]}
    assert comm["tcp-comm"] == 8786
    (wc,) = dask["spec"]["worker"]["spec"]["containers"]
    assert wc["args"][:2] == ["dask", "worker"]
    assert dask["spec"]["worker"]["replicas"] >= 1
