"""No Docker engine runs here: check what can be checked without one."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_file_parses_and_names_services() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"broker", "postgres"}
    assert services["broker"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for service in services.values():
        assert "healthcheck" in service
    assert "pgdata" in compose["volumes"]
    assert "readyz" in " ".join(services["broker"]["healthcheck"]["test"])


def test_dockerfile_runs_migrations_then_serves_as_non_root() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "requirements.lock" in dockerfile
    assert "USER broker" in dockerfile
    assert "broker db upgrade && broker serve" in dockerfile
    # the C extension (setup.py) needs a compiler and the OpenSSL headers in the image
    assert "gcc" in dockerfile and "libssl-dev" in dockerfile
