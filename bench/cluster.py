"""`make cluster`: on one machine, what Kubernetes would run: 2 API processes (behind nginx with a self-signed
TLS certificate when nginx is installed), 3 workers, Postgres and a private Redis. Also the building blocks
the chaos harness uses to kill and restart parts of it."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bench.stack import ROOT, free_port, wait_http

NGINX_CONF = """
worker_processes 1;
pid {home}/nginx.pid;
error_log {home}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  limit_req_zone $binary_remote_addr zone=api:10m rate={rate}r/s;
  upstream trellis {{ {servers} keepalive 64; }}
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {home}/tls.crt;
    ssl_certificate_key {home}/tls.key;
    client_max_body_size 16m;
    location / {{
      limit_req zone=api burst={burst} nodelay;
      proxy_pass http://trellis;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Request-Id $request_id;
      # SSE: no buffering, long reads.
      proxy_buffering off;
      proxy_read_timeout 3600s;
    }}
  }}
}}
"""


@dataclass
class Cluster:
    home: Path
    env: dict[str, str]
    apis: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    redis: subprocess.Popen[bytes] | None = None
    redis_port: int = 0
    nginx_url: str | None = None
    _rr: itertools.cycle[int] | None = None
    # What stop() removes: the scratch database (on the server of admin_url) and, when new_cluster made it, home.
    database: str = ""
    admin_url: str = ""
    owns_home: bool = False

    # -- processes ----------------------------------------------------------------------------------------------

    def _log(self, name: str):  # type: ignore[no-untyped-def]
        return open(self.home / f"{name}.log", "ab")  # noqa: SIM115 (lives with the process)

    def start_redis(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is needed for the cluster's private Redis"
        self.redis_port = self.redis_port or free_port()
        self.redis = subprocess.Popen([binary, "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
                                       "--appendonly", "no"], stdout=self._log("redis"))
        import redis

        for _ in range(100):
            try:
                if redis.Redis(port=self.redis_port, socket_connect_timeout=1).ping():
                    break
            except redis.RedisError:
                time.sleep(0.05)
        self.env["REDIS_URL"] = f"redis://127.0.0.1:{self.redis_port}/0"

    def restart_redis_empty(self, down_seconds: float = 1.0) -> None:
        assert self.redis is not None
        self.redis.kill()
        self.redis.wait()
        time.sleep(down_seconds)
        self.start_redis()

    def start_api(self, port: int | None = None) -> int:
        port = port or free_port()
        env = {**self.env, "PORT": str(port), "HOST": "127.0.0.1", "WEB_CONCURRENCY": "1"}
        self.apis[port] = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                                           cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=self._log("api"))
        wait_http(f"http://127.0.0.1:{port}/health")
        self._rr = itertools.cycle(sorted(self.apis))
        return port

    def restart_api(self, port: int) -> None:
        proc = self.apis.pop(port)
        proc.terminate()
        proc.wait(timeout=30)
        self.start_api(port)

    def start_worker(self) -> subprocess.Popen[bytes]:
        env = {**self.env, "WORKER_HEALTH_PORT": str(free_port()), "WORKER_HEALTH_HOST": "127.0.0.1"}
        proc = subprocess.Popen([sys.executable, "-m", "worker.main"], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=self._log("worker"))
        wait_http(f"http://127.0.0.1:{env['WORKER_HEALTH_PORT']}/ready")
        self.workers.append(proc)
        return proc

    def next_api(self) -> str:
        assert self._rr is not None
        return f"http://127.0.0.1:{next(self._rr)}"

    def start_nginx(self) -> str | None:
        nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
        if not nginx or not shutil.which("openssl"):
            return None
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                        "/CN=localhost", "-keyout", str(self.home / "tls.key"), "-out", str(self.home / "tls.crt")],
                       check=True, capture_output=True)
        port = free_port()
        servers = " ".join(f"server 127.0.0.1:{p};" for p in sorted(self.apis))
        (self.home / "nginx.conf").write_text(NGINX_CONF.format(home=self.home, port=port, servers=servers,
                                                                rate=2000, burst=4000))
        subprocess.run([nginx, "-c", str(self.home / "nginx.conf"), "-p", str(self.home)], check=True)
        self.nginx_url = f"https://localhost:{port}"
        return self.nginx_url

    def stop(self) -> None:
        if self.nginx_url:
            subprocess.run([shutil.which("nginx") or "/usr/sbin/nginx", "-c", str(self.home / "nginx.conf"), "-p",
                            str(self.home), "-s", "stop"], capture_output=True)
        for proc in [*self.apis.values(), *self.workers]:
            if proc.poll() is None:
                proc.terminate()
        for proc in [*self.apis.values(), *self.workers]:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self.redis and self.redis.poll() is None:
            self.redis.kill()
            self.redis.wait(timeout=10)
        self.remove_state()

    def remove_state(self) -> None:
        """Drop the scratch database (also with connections still open) and the home folder new_cluster made."""
        if self.database:
            import psycopg

            with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            self.database = ""
        if self.owns_home:
            shutil.rmtree(self.home, ignore_errors=True)


def new_cluster(env: dict[str, str], apis: int = 2, workers: int = 3, home: Path | None = None) -> Cluster:
    """Postgres (a fresh database on the machine's server), a private Redis, the APIs and the workers.
    `Cluster.stop` stops them all and drops the database (and the home folder when this made it)."""
    import psycopg

    owns_home = home is None
    home = home or Path(tempfile.mkdtemp(prefix="trellis-cluster-"))
    home.mkdir(parents=True, exist_ok=True)
    name = f"trellis_cluster_{uuid.uuid4().hex[:8]}"
    admin = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    cluster = Cluster(home=home, env={**os.environ, "TRELLIS_HOME": str(home), "LOG_LEVEL": "WARNING",
                                      "DATABASE_URL": admin.rsplit("/", 1)[0] + "/" + name, **env},
                      database=name, admin_url=admin, owns_home=owns_home)
    cluster.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    try:
        cluster.start_redis()
        subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db-upgrade"], cwd=ROOT, env=cluster.env,
                       check=True, capture_output=True)
        for _ in range(apis):
            cluster.start_api()
        for _ in range(workers):
            cluster.start_worker()
    except BaseException:
        cluster.stop()  # a half-started cluster leaves nothing behind either
        raise
    return cluster


def main() -> None:
    cluster = new_cluster({"ADMIN_TOKEN": os.environ.get("ADMIN_TOKEN", "adm-cluster")})
    url = cluster.start_nginx()
    print(f"cluster up: APIs on {', '.join(f'http://127.0.0.1:{p}' for p in cluster.apis)}"
          f"{f', nginx (TLS) on {url}' if url else ' (nginx not installed: no TLS proxy)'}; "
          f"{len(cluster.workers)} workers; Redis on {cluster.redis_port}; data in {cluster.home}. Ctrl-C stops.",
          flush=True)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
