from pathlib import Path

from fastapi.testclient import TestClient

from broker.api.app import create_app
from broker.database import make_engine
from broker.settings import Settings


def test_healthz_and_readyz_at_head(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["migrations"] == "at head"


def test_readyz_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}", secrets_dir=tmp_path / "s")
    with TestClient(create_app(settings, engine=make_engine(settings.database_url))) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["migrations"] == "behind"


def test_readyz_reports_an_unreachable_database(tmp_path: Path) -> None:
    settings = Settings(
        database_url="postgresql+psycopg://postgres@127.0.0.1:1/none", secrets_dir=tmp_path / "s"
    )
    with TestClient(create_app(settings, engine=make_engine(settings.database_url))) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


def test_openapi_documents_the_api(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/v1/agencies" in spec["paths"]
    assert client.get("/docs").status_code == 200


def test_request_id_is_echoed_and_generated(client: TestClient) -> None:
    given = client.get("/healthz", headers={"X-Request-ID": "abc12345-req"})
    assert given.headers["X-Request-ID"] == "abc12345-req"
    generated = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert generated.headers["X-Request-ID"] != "bad id with spaces"
    assert len(generated.headers["X-Request-ID"]) == 32
