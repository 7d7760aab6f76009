"""The event batcher writes fewer, larger batches without holding back what a client waits for."""

from __future__ import annotations

import uuid

from app.services.event_batcher import EventBatcher


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def chunk(text: str, selector: tuple[str, ...] = ("llm", "text")) -> dict:  # type: ignore[type-arg]
    return {"event": "text_chunk", "data": {"text": text, "from_variable_selector": list(selector)}}


def written(container, run_id: str) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    return [payload for _, payload in container.events.read(run_id, None, 0.01)]


def test_quick_events_wait_for_the_next_urgent_one(container):  # type: ignore[no-untyped-def]
    run_id = str(uuid.uuid4())
    batcher = EventBatcher(container.events, run_id)
    batcher.add({"event": "node_started", "data": {"node_id": "start"}}, urgent=False)
    batcher.add({"event": "node_finished", "data": {"node_id": "start"}}, urgent=False)
    assert written(container, run_id) == []
    batcher.add({"event": "node_started", "data": {"node_id": "llm"}}, urgent=True)
    assert [(e["event"], e["data"]["node_id"]) for e in written(container, run_id)] == [
        ("node_started", "start"), ("node_finished", "start"), ("node_started", "llm")]


def test_first_chunk_goes_at_once_later_ones_merge_within_the_window(container):  # type: ignore[no-untyped-def]
    run_id, clock = str(uuid.uuid4()), Clock()
    batcher = EventBatcher(container.events, run_id, window=0.05, clock=clock)
    batcher.add({"event": "node_started", "data": {"node_id": "llm"}}, urgent=True)
    batcher.add_chunk(chunk("Hel"))
    assert [e["data"].get("text") for e in written(container, run_id)] == [None, "Hel"]  # time to first token
    clock.now += 0.01
    batcher.add_chunk(chunk("lo"))
    batcher.add_chunk(chunk(", "))
    assert len(written(container, run_id)) == 2  # held: inside the window
    clock.now += 0.05
    batcher.add_chunk(chunk("wor"))  # the window passed: the merged chunk goes out
    assert [e["data"].get("text") for e in written(container, run_id)] == [None, "Hel", "lo, wor"]
    batcher.add_chunk(chunk("ld"))
    batcher.add_chunk(chunk("!", selector=("other", "text")))  # another stream is never merged into this one
    batcher.add({"event": "node_finished", "data": {"node_id": "llm"}}, urgent=True)
    events = written(container, run_id)
    assert [e["data"].get("text") for e in events] == [None, "Hel", "lo, wor", "ld", "!", None]
    assert "".join(e["data"]["text"] for e in events if e["event"] == "text_chunk") == "Hello, world!"


def test_a_long_chain_of_quick_events_still_streams_every_window(container):  # type: ignore[no-untyped-def]
    run_id, clock = str(uuid.uuid4()), Clock()
    batcher = EventBatcher(container.events, run_id, window=0.05, clock=clock)
    for i in range(3):
        batcher.add({"event": "node_finished", "data": {"node_id": f"t{i}"}}, urgent=False)
    assert written(container, run_id) == []
    clock.now += 0.06
    batcher.add({"event": "node_finished", "data": {"node_id": "t3"}}, urgent=False)
    assert [e["data"]["node_id"] for e in written(container, run_id)] == ["t0", "t1", "t2", "t3"]


def test_flush_writes_what_is_held(container):  # type: ignore[no-untyped-def]
    run_id = str(uuid.uuid4())
    batcher = EventBatcher(container.events, run_id)
    batcher.add({"event": "node_finished", "data": {"node_id": "end"}}, urgent=False)
    batcher.flush()
    batcher.flush()
    assert [e["event"] for e in written(container, run_id)] == ["node_finished"]
