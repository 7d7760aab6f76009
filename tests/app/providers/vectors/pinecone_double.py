"""A local HTTP double of Pinecone's data-plane API (the part the adapter uses): POST /vectors/upsert,
POST /query (cosine, metadata filter with $eq/$ne/$in), POST /vectors/delete (ids, filter, deleteAll; 404 for
an unknown namespace, as the service answers). The real `pinecone` SDK talks to it over HTTP."""

from __future__ import annotations

import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _matches(metadata: dict[str, Any], flt: dict[str, Any] | None) -> bool:
    for field, cond in (flt or {}).items():
        value = metadata.get(field)
        cond = cond if isinstance(cond, dict) else {"$eq": cond}
        for op, arg in cond.items():
            if (op == "$eq" and value != arg) or (op == "$ne" and value == arg) or (op == "$in" and value not in arg):
                return False
    return True


def _cosine(a: list[float], b: list[float]) -> float:
    na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(x * x for x in b))
    return sum(x * y for x, y in zip(a, b, strict=True)) / (na * nb) if na and nb else 0.0


class PineconeDouble:
    def __init__(self) -> None:
        self.namespaces: dict[str, dict[str, tuple[list[float], dict[str, Any]]]] = {}
        self.requests: list[tuple[str, dict[str, Any], str]] = []
        lock, outer = threading.Lock(), self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                with lock:
                    outer.requests.append((self.path, body, self.headers.get("Api-Key", "")))
                    status, reply = outer.handle(self.path, body)
                self._reply(status, reply)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.host = f"http://127.0.0.1:{self.server.server_address[1]}"

    def handle(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        namespace = body.get("namespace", "")
        if path == "/vectors/upsert":
            space = self.namespaces.setdefault(namespace, {})
            for v in body["vectors"]:
                space[v["id"]] = (v["values"], v.get("metadata") or {})
            return 200, {"upsertedCount": len(body["vectors"])}
        if path == "/query":
            space = self.namespaces.get(namespace, {})
            scored = sorted(((vid, _cosine(body["vector"], vec)) for vid, (vec, meta) in space.items()
                             if _matches(meta, body.get("filter"))), key=lambda x: -x[1])
            return 200, {"matches": [{"id": i, "score": s, "values": []} for i, s in scored[:body["topK"]]],
                         "namespace": namespace, "usage": {"readUnits": 1}}
        if path == "/vectors/delete":
            if namespace not in self.namespaces:
                return 404, {"code": 5, "message": "Namespace not found", "details": []}
            space = self.namespaces[namespace]
            if body.get("deleteAll"):
                space.clear()
            for vid in body.get("ids") or []:
                space.pop(vid, None)
            if body.get("filter"):
                for vid in [i for i, (_, meta) in space.items() if _matches(meta, body["filter"])]:
                    del space[vid]
            return 200, {}
        return 404, {"code": 5, "message": f"unknown path {path}"}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
