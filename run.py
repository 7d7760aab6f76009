"""Entry for `make run`: the whole product on this machine. Brings the schema up to date, makes sure there is
an admin token (ADMIN_TOKEN, or one generated and kept under TRELLIS_HOME) and a sample app, then starts one
worker and the API (gunicorn) and prints how to call it. Ctrl-C stops both."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from app.db import upgrade_schema
from app.settings import Settings
from app.wiring import build

SAMPLE = Path(__file__).resolve().parent / "samples" / "hello.yml"


def admin_token(settings: Settings) -> str:
    if settings.admin_token:
        return settings.admin_token.get_secret_value()
    path = settings.ensure_home() / "admin_token"
    if not path.exists():
        path.write_text("adm-" + secrets.token_urlsafe(24))
        path.chmod(0o600)
    return path.read_text().strip()


def sample_app(settings: Settings) -> dict[str, str]:
    """Import the sample once and keep its id and key next to the data, for the banner's curl."""
    path = settings.ensure_home() / "sample_app.json"
    if path.exists():
        return json.loads(path.read_text())  # type: ignore[no-any-return]
    container = build(settings)
    workspace = container.accounts.default_workspace_id()
    app = container.apps.import_dsl(workspace, SAMPLE.read_text())
    _, token = container.accounts.create_app_key(workspace, app.id)
    container.close()
    info = {"app_id": app.id, "key": token}
    path.write_text(json.dumps(info))
    path.chmod(0o600)
    return info


def wait_ready(url: str, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.2)
    return False


def main() -> int:
    settings = Settings()
    settings.ensure_home()
    print("==> bringing the database schema up to date", flush=True)
    upgrade_schema(settings.sqlalchemy_url)
    token = admin_token(settings)
    sample = sample_app(settings)
    print("==> starting one worker and the API (gunicorn)", flush=True)
    env = {**os.environ, "ADMIN_TOKEN": token, "TRELLIS_HOME": str(settings.trellis_home.resolve()),
           "HOST": os.environ.get("HOST", "127.0.0.1"), "WORKER_HEALTH_HOST": "127.0.0.1"}
    worker = subprocess.Popen([sys.executable, "-m", "worker.main"], env=env)
    api = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"], env=env)
    base = f"http://127.0.0.1:{settings.port}"
    if wait_ready(f"{base}/ready"):
        print(f"""
Trellis is running at {base}   ({'embedded SQLite' if not settings.database_url else 'external database'})
Admin token: {token}
  export ADMIN_TOKEN={token}      # paste in another shell for the README's examples

API reference: {base}/v1/docs   (OpenAPI document: {base}/v1/openapi.json)

Run the bundled sample workflow (no LLM needed):
  curl -s -X POST {base}/v1/workflows/run \\
    -H 'Authorization: Bearer {sample['key']}' -H 'Content-Type: application/json' \\
    -d '{{"inputs": {{"name": "Ada Lovelace"}}, "response_mode": "blocking", "user": "u1"}}'

Import your own Dify DSL:
  curl -s -X POST {base}/manage/v1/apps -H 'Authorization: Bearer {token}' \\
    -H 'Content-Type: application/yaml' --data-binary @your-app.yml
""", flush=True)
    else:
        print("Trellis did not become ready; see the logs above.", file=sys.stderr, flush=True)

    def stop(*_: object) -> None:
        for proc in (api, worker):
            if proc.poll() is None:
                proc.terminate()

    signal.signal(signal.SIGTERM, stop)
    try:
        while api.poll() is None and worker.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    stop()
    for proc in (api, worker):
        try:
            proc.wait(timeout=35)
        except subprocess.TimeoutExpired:
            proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
