import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BROKER = [sys.executable, "-m", "broker"]


def run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "BROKER_SECRETS_DIR": str(tmp_path / "secrets"), **env}
    return subprocess.run(
        BROKER + args, capture_output=True, text=True, env=full_env, cwd=tmp_path, timeout=120
    )


def test_help_lists_the_verbs(tmp_path: Path) -> None:
    result = run(["--help"], tmp_path)
    assert result.returncode == 0
    for verb in ("serve", "demo", "db", "admin"):
        assert verb in result.stdout


def test_unreachable_database_is_one_clear_line(tmp_path: Path) -> None:
    result = run(
        ["db", "upgrade"], tmp_path, BROKER_DATABASE_URL="postgresql+psycopg://postgres:s3cret@127.0.0.1:1/x"
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: BROKER_DATABASE_URL: cannot connect")
    assert "s3cret" not in result.stderr and "Traceback" not in result.stderr


def test_malformed_database_url_is_one_clear_line(tmp_path: Path) -> None:
    result = run(["db", "upgrade"], tmp_path, BROKER_DATABASE_URL="not a url")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: BROKER_DATABASE_URL:")


def test_unusable_secrets_dir_is_one_clear_line(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    result = run(
        ["admin", "bootstrap"],
        tmp_path,
        BROKER_DATABASE_URL=f"sqlite:///{tmp_path / 'b.db'}",
        BROKER_SECRETS_DIR=str(not_a_dir / "secrets"),
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: BROKER_SECRETS_DIR:"), result.stderr


def test_upgrade_then_bootstrap_prints_token_once(tmp_path: Path) -> None:
    env = {"BROKER_DATABASE_URL": f"sqlite:///{tmp_path / 'b.db'}"}
    assert run(["db", "upgrade"], tmp_path, **env).returncode == 0
    first = run(["admin", "bootstrap"], tmp_path, **env)
    assert first.returncode == 0
    token = first.stdout.strip().splitlines()[-1]
    assert token.startswith("brk_")
    again = run(["admin", "bootstrap"], tmp_path, **env)
    assert again.returncode == 1 and "already bootstrapped" in again.stderr
    secrets = tmp_path / "secrets"
    for name in ("master.key", "signing.key"):
        assert (secrets / name).stat().st_mode & 0o777 == 0o600
    assert token not in (secrets / "master.key").read_bytes().decode(errors="ignore")


@pytest.mark.slow
def test_demo_serves_health_and_readiness(tmp_path: Path) -> None:
    """The README's run command: seeds a fresh embedded broker and answers /healthz and /readyz."""
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "BROKER_PORT": str(port)}
    proc = subprocess.Popen(
        [*BROKER, "demo", "--root", str(tmp_path / "demo")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        answers: dict[str, int] = {}
        while time.monotonic() < deadline and len(answers) < 2:
            for path in ("/healthz", "/readyz"):
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
                        answers[path] = response.status
                except OSError:
                    time.sleep(0.5)
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert answers == {"/healthz": 200, "/readyz": 200}
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    logged = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(entry.get("route") == "/readyz" for entry in logged)
