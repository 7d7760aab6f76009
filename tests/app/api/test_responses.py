"""`json_response` writes what `jsonify` wrote under this app's JSON settings, for the bodies of run paths."""

from __future__ import annotations

from flask import jsonify

from app.api.responses import json_response

BODY = {"task_id": "t", "workflow_run_id": "r", "data": {
    "id": "r", "status": "succeeded", "outputs": {"text": "héllo \u2603 \"quoted\" \\ </script>", "n": [1, 2.5, None]},
    "error": None, "elapsed_time": 0.012345, "total_tokens": 0, "created_at": 1765065600,
    "execution_metadata": {"total_price": "0.0000000", "currency": "USD"}, "flag": True}}


def test_json_response_matches_jsonify(flask_app):  # type: ignore[no-untyped-def]
    with flask_app.app_context():
        ours, theirs = json_response(BODY), jsonify(BODY)
        assert ours.get_data() == theirs.get_data()
        assert ours.mimetype == theirs.mimetype == "application/json"
        assert ours.status_code == 200 and json_response(BODY, status=201).status_code == 201


def test_sse_batches_writes_the_bytes_of_sse_one_write_per_batch(flask_app):  # type: ignore[no-untyped-def]
    from app.api.service import sse, sse_batches

    batches = [[{"event": "workflow_started", "n": 1}, {"event": "node_started", "t": "é"}], None,
               [{"event": "workflow_finished", "data": {"status": "succeeded"}}]]
    events = [payload for batch in batches for payload in (batch if batch is not None else [None])]
    with flask_app.test_request_context():
        ours = list(sse_batches(iter(batches)).response)
        theirs = list(sse(iter(events)).response)
    assert "".join(ours) == "".join(theirs)
    assert len(ours) == 3 and len(theirs) == 4
    assert ours[1] == "event: ping\n\n"
