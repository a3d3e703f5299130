"""deploy/docker-compose.yml, .env.example and the Dockerfile agree with the code.

Parsed offline (no Docker daemon here): every referenced file exists, every variable is a
``cube.settings.Settings`` field, published ports equal the settings defaults, every service has a
health check and every ``depends_on`` a condition the target can satisfy.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from cube.settings import Settings
from deploy.local.postgres import SCHEMA_SQL

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
REPO = DEPLOY.parent
COMPOSE = DEPLOY / "docker-compose.yml"
ENV_EXAMPLE = DEPLOY / ".env.example"
DOCKERFILE = DEPLOY / "Dockerfile"
#: services running the launchwatch image: their environment is read by Settings
APP_SERVICES = ("api", "pipeline", "dask-worker", "dask-cuda-worker")
INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?]([^}]*))?\}")
SETTINGS_ENV = {name.upper() for name in Settings.model_fields}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _env_example() -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )
    return {k.strip(): v.strip() for k, v in pairs}


def _default(value: str) -> str:
    """Resolve ``${VAR:-default}`` to its default (compose without a .env)."""
    return INTERPOLATION.sub(lambda m: m.group(2) or "", value)


def test_expected_services_with_images_and_profiles(compose):
    services = compose["services"]
    assert set(services) >= {
        "postgis",
        "minio",
        "minio-init",
        "mlflow",
        "tritonserver",
        "tritonserver-cpu",
        "dask-scheduler",
        "dask-worker",
        "dask-cuda-worker",
        "api",
    }
    assert services["postgis"]["image"] == "postgis/postgis:16-3.4"
    assert services["tritonserver"]["build"]["target"] == "triton"
    assert services["tritonserver-cpu"]["image"] == services["tritonserver"]["image"]
    assert re.search(
        r"^FROM nvcr\.io/nvidia/tritonserver:\S+ AS triton$", DOCKERFILE.read_text(), re.M
    )
    assert services["tritonserver-cpu"]["profiles"] == ["cpu"]
    assert services["dask-cuda-worker"]["profiles"] == ["gpu"]
    assert services["dask-cuda-worker"]["command"][:3] == ["dask", "cuda", "worker"]
    gpu = services["tritonserver"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["driver"] == "nvidia" and "gpu" in gpu["capabilities"]
    assert "deploy" not in services["tritonserver-cpu"]
    # the CPU variant answers under the same name inside the network
    assert "tritonserver" in services["tritonserver-cpu"]["networks"]["default"]["aliases"]


def test_every_referenced_file_exists(compose):
    for name, svc in compose["services"].items():
        for vol in svc.get("volumes", []):
            src = vol.split(":", 1)[0]
            if src.startswith((".", "/")):
                assert (DEPLOY / src).exists(), f"{name}: volume source {src} missing"
            else:
                assert src in compose["volumes"], f"{name}: named volume {src} undeclared"
        build = svc.get("build")
        if build:
            context = (DEPLOY / build["context"]).resolve()
            assert context == REPO
            assert (context / build["dockerfile"]).resolve() == DOCKERFILE
            target = build["target"]
            assert re.search(rf"^FROM .+ AS {target}$", DOCKERFILE.read_text(), re.M), target
    script = compose["services"]["minio-init"]["entrypoint"][-1]
    assert script == "/minio-init/create-bucket.sh"
    assert (DEPLOY / "minio-init" / "create-bucket.sh").is_file()


def test_schema_mounted_is_the_one_the_local_service_manager_applies(compose):
    mounts = {
        v.split(":")[1]: (DEPLOY / v.split(":")[0]).resolve()
        for v in compose["services"]["postgis"]["volumes"]
        if v.startswith(".")
    }
    assert mounts["/docker-entrypoint-initdb.d/001_schema.sql"] == SCHEMA_SQL.resolve()
    # init scripts run in name order: the app schema first, then the MLflow database
    assert sorted(k for k in mounts if "initdb.d" in k)[0].endswith("001_schema.sql")


def test_env_example_lists_every_settings_field_and_loads():
    env = _env_example()
    assert set(env) == SETTINGS_ENV
    settings = Settings(_env_file=ENV_EXAMPLE)  # type: ignore[call-arg]
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    for port in ("postgres_port", "api_port", "mlflow_port", "stac_port", "triton_grpc_port"):
        assert getattr(settings, port) == getattr(defaults, port), port
    assert settings.minio_endpoint == defaults.minio_endpoint
    assert settings.api_review_token is not None
    assert settings.api_review_token.get_secret_value() == ""


def test_app_services_read_only_settings_fields(compose, monkeypatch):
    for name in APP_SERVICES:
        env = compose["services"][name].get("environment", {})
        assert isinstance(env, dict), name
        unknown = set(env) - SETTINGS_ENV
        assert not unknown, f"{name} sets variables Settings does not read: {unknown}"
    api_env = compose["services"]["api"]["environment"]
    for key, value in api_env.items():  # as the container sees them
        monkeypatch.setenv(key, _default(str(value)))
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.database_url.endswith("@postgis:5432/launchsite")
    assert settings.minio_endpoint == "http://minio:9000"
    assert settings.triton_url == "tritonserver:8001"
    assert settings.effective_mlflow_uri == "http://mlflow:5000"


def test_every_interpolated_variable_is_in_env_example():
    env = _env_example()
    used = {m.group(1) for m in INTERPOLATION.finditer(COMPOSE.read_text())}
    assert used, "the compose file reads nothing from .env?"
    assert used <= set(env), used - set(env)
    # defaults written in the compose file agree with the settings defaults
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    for m in INTERPOLATION.finditer(COMPOSE.read_text()):
        var, default = m.group(1), m.group(2)
        if default and not default.startswith("set ") and var != "CORS_ORIGINS":
            assert str(getattr(defaults, var.lower())) == default, var


def test_published_ports_agree_with_settings_and_architecture(compose):
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    s = compose["services"]

    def published(service: str) -> dict[int, int]:
        pairs = (_default(p).split(":") for p in s[service]["ports"])
        return {int(container): int(host) for host, container in pairs}

    assert published("postgis") == {5432: defaults.postgres_port} == {5432: 55432}
    assert published("minio")[9000] == int(defaults.minio_endpoint.rsplit(":", 1)[1]) == 9000
    assert published("mlflow") == {5000: defaults.mlflow_port}
    assert published("api") == {8080: defaults.api_port}
    assert published("tritonserver") == {
        8000: defaults.triton_http_port,
        8001: defaults.triton_grpc_port,
        8002: defaults.triton_metrics_port,
    }
    assert published("tritonserver-cpu") == published("tritonserver")
    # in-network addresses the app services use point at the container ports
    env = s["api"]["environment"]
    assert env["POSTGRES_PORT"] == "5432" and env["API_PORT"] == "8080"
    assert env["TRITON_URL"].endswith(":8001") and env["MLFLOW_TRACKING_URI"].endswith(":5000")
    assert "--port=8001" not in s["tritonserver"]["command"]
    assert "--grpc-port=8001" in s["tritonserver"]["command"]
    assert s["api"]["environment"]["MINIO_ENDPOINT"].endswith(":9000")


def test_every_service_has_a_healthcheck_and_dependencies_have_conditions(compose):
    services = compose["services"]
    for name, svc in services.items():
        check = svc.get("healthcheck")
        assert check and check["test"][0] in {"CMD", "CMD-SHELL"}, f"{name}: no healthcheck"
        for dep, cond in svc.get("depends_on", {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            condition = cond["condition"]
            if condition == "service_healthy":
                assert services[dep].get("healthcheck"), f"{dep} cannot become healthy"
            else:
                assert condition == "service_completed_successfully", (name, dep)
                assert services[dep].get("restart") == "no", f"{dep} is not a one-shot job"
    assert services["api"]["depends_on"]["postgis"]["condition"] == "service_healthy"
    assert services["mlflow"]["depends_on"]["minio-init"]["condition"] == (
        "service_completed_successfully"
    )


def test_mlflow_uses_postgres_backend_and_minio_artifacts(compose):
    mlflow = compose["services"]["mlflow"]
    cmd = [_default(str(c)) for c in mlflow["command"]]
    backend = cmd[cmd.index("--backend-store-uri") + 1]
    assert backend.startswith("postgresql://") and backend.endswith("@postgis:5432/mlflow")
    assert cmd[cmd.index("--artifacts-destination") + 1] == "s3://imagery/mlflow"
    assert mlflow["environment"]["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    sql = (DEPLOY / "mlflow" / "002_mlflow_db.sql").read_text()
    assert "CREATE DATABASE mlflow" in sql


def test_dockerfile_copies_existing_paths_and_runs_the_api_as_non_root():
    text = DOCKERFILE.read_text()
    for line in re.findall(r"^COPY (?!--from)(.+)$", text, re.M):
        for src in line.split()[:-1]:
            assert (REPO / src).exists(), f"Dockerfile copies missing {src}"
    app_stage = text.split(" AS app", 1)[1].split("\nFROM ", 1)[0]
    assert re.search(r"^USER (?!root)\w+", app_stage, re.M)
    assert "HEALTHCHECK" in app_stage and "/health" in app_stage
    assert '"uvicorn", "api.main:app"' in app_stage
    assert "COPY --from=web /web/dist web/dist" in app_stage
    from api.main import WEB_DIST

    # the image keeps the repo layout, so api.main finds the web build where it was copied
    assert WEB_DIST.relative_to(REPO) == Path("web/dist")


def _has_compose() -> bool:
    if shutil.which("docker") is None:
        return False
    res = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    return res.returncode == 0


@pytest.mark.skipif(not _has_compose(), reason="docker compose CLI not installed")
def test_docker_compose_config_is_valid(tmp_path):
    env = tmp_path / ".env"
    env.write_text(ENV_EXAMPLE.read_text())
    res = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "--env-file", str(env), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr


def test_pipeline_publishes_into_the_repository_triton_serves(compose):
    s = compose["services"]
    triton = dict(v.split(":", 1) for v in s["tritonserver"]["volumes"])
    pipeline = dict(v.split(":", 1) for v in s["pipeline"]["volumes"])
    repo_flag = next(c for c in s["tritonserver"]["command"] if c.startswith("--model-repository="))
    (volume,) = (name for name, path in triton.items() if repo_flag.endswith("=" + path))
    # `cube.run full` writes STATE_DIR/triton/model_repository by default
    state_dir = s["pipeline"]["environment"]["STATE_DIR"]
    assert pipeline[volume] == f"{state_dir}/triton/model_repository"
    assert "--model-control-mode=explicit" in s["tritonserver"]["command"]
