"""The parent's side of the code sandbox's HTTP relay: requests a child's `requests`/`httpx` wrote to its socket
(see `sandbox_http`) are sent through the egress guard, so code nodes reach the web under exactly the rules the
HTTP node has (no private addresses unless EGRESS_ALLOW says so, byte caps, time limits). Redirects are not
followed here: the child's library sends each hop again. Imports nothing from `app.engine`.
"""

from __future__ import annotations

import base64
import json
from http import HTTPStatus
from typing import Any

from app.errors import ProviderRequestError, WorkflowError
from app.providers.egress import EgressClient, EgressRefused

# Set by the guard's transport after decompressing, or describing the hop only.
DROPPED_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding", "connection"})


class HttpRelay:
    def __init__(self, http: EgressClient, max_body_bytes: int) -> None:
        self._http = http
        self._max_body = max_body_bytes

    def answer(self, line: bytes, remaining_seconds: float) -> bytes:
        """The reply line (JSON, no newline) to one request line; never raises."""
        try:
            return json.dumps(self._send(json.loads(line), max(0.1, remaining_seconds))).encode()
        except EgressRefused as exc:
            return _error("refused", exc.message)
        except ProviderRequestError as exc:
            return _error("timeout" if "timed out" in exc.message or "took longer" in exc.message else "connect",
                          exc.message)
        except WorkflowError as exc:
            return _error("invalid", exc.message)
        except (ValueError, TypeError, KeyError) as exc:
            return _error("invalid", f"malformed request from the sandbox: {exc}")

    def _send(self, message: dict[str, Any], remaining: float) -> dict[str, Any]:
        body = base64.b64decode(message["body"]) if message.get("body") else None
        if body is not None and len(body) > self._max_body:
            raise WorkflowError(f"request body is larger than {self._max_body} bytes")
        timeout = float(message.get("timeout") or 60.0)
        headers = [(str(k), str(v)) for k, v in message.get("headers") or []]
        # The three phases together fit in what is left of the sandbox's wall clock.
        share = remaining / 3
        reply = self._http.request(str(message["method"]), str(message["url"]), headers=headers, content=body,
                                   connect=min(10.0, timeout, share), read=min(timeout, share),
                                   write=min(timeout, share), follow_redirects=False)
        try:
            reason = HTTPStatus(reply.status_code).phrase
        except ValueError:
            reason = ""
        return {"status": reply.status_code, "reason": reason, "url": reply.url,
                "headers": [[k, v] for k, v in reply.headers.items() if k not in DROPPED_HEADERS],
                "body": base64.b64encode(reply.content).decode()}


def _error(kind: str, message: str) -> bytes:
    return json.dumps({"error": message, "kind": kind}).encode()
