"""Regression: audited requests must not deadlock when every worker thread waits for the audit lock.

The audit append holds a PostgreSQL advisory lock until commit. FastAPI serialises a sync endpoint's
response in a worker thread before the session dependency's exit runs, so if the commit were left to
that exit, a lock holder would wait for a thread that every other request is holding. With the worker
pool cut to two threads, a handful of concurrent audited requests shows it at once.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import uvicorn
from anyio.to_thread import current_default_thread_limiter
from sqlalchemy.engine import Engine

from broker.api.app import create_app
from broker.settings import Settings


@pytest.fixture
def server(pg_url: str, settings: Settings, engine: Engine) -> Iterator[str]:
    app = create_app(settings.model_copy(update={"database_url": pg_url}), engine=engine)

    @app.post("/_test/threads")
    async def shrink_worker_pool() -> dict[str, int]:
        current_default_thread_limiter().total_tokens = 2
        return {"threads": 2}

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_concurrent_audited_requests_all_finish(server: str, operator_token: str) -> None:
    headers = {"Authorization": f"Bearer {operator_token}"}
    assert httpx.post(f"{server}/_test/threads").status_code == 200

    def register(i: int) -> int:
        body = {"id": f"agency-{i:03d}", "name": f"Agency {i}", "kind": "other"}
        return httpx.post(f"{server}/v1/agencies", json=body, headers=headers, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(register, range(16)))
    assert statuses == [201] * 16
