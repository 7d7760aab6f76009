"""The event batcher writes fewer, larger batches without holding back what a client waits for."""

from __future__ import annotations

import uuid

import pytest

from app.services.event_batcher import EventBatcher


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


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
    batcher.add_text("Hel", ("llm", "text"))
    assert [e["data"].get("text") for e in written(container, run_id)] == [None, "Hel"]  # time to first token
    clock.now += 0.01
    batcher.add_text("lo", ("llm", "text"))
    batcher.add_text(", ", ("llm", "text"))
    assert len(written(container, run_id)) == 2  # held: inside the window
    clock.now += 0.05
    batcher.add_text("wor", ("llm", "text"))  # the window passed: the merged chunk goes out
    assert [e["data"].get("text") for e in written(container, run_id)] == [None, "Hel", "lo, wor"]
    batcher.add_text("ld", ("llm", "text"))
    batcher.add_text("!", ("other", "text"))  # another stream is never merged into this one
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


def test_chunks_carry_the_callers_payload_and_merge_only_while_nothing_else_comes(container):  # type: ignore[no-untyped-def]
    run_id, clock = str(uuid.uuid4()), Clock()
    batcher = EventBatcher(container.events, run_id, window=0.05, clock=clock,
                           chunk_payload=lambda text, selector: {"event": "text_chunk", "task_id": "t",
                                                                 "data": {"text": text, "selector": selector}})
    batcher.add({"event": "node_started", "data": {"node_id": "llm"}}, urgent=True)
    batcher.add_text("a", ("llm", "text"))
    batcher.add_text("b", ("llm", "text"))
    batcher.add({"event": "agent_log", "data": {}}, urgent=False)  # held after the chunk: "c" must not merge
    batcher.add_text("c", ("llm", "text"))
    batcher.add_text("d", ("llm", "text"))
    batcher.flush()
    events = written(container, run_id)
    assert [(e["event"], e["data"].get("text")) for e in events] == [
        ("node_started", None), ("text_chunk", "a"), ("text_chunk", "b"), ("agent_log", None), ("text_chunk", "cd")]
    assert events[1] == {"event": "text_chunk", "task_id": "t", "data": {"text": "a", "selector": ["llm", "text"]}}


def test_check_raises_for_held_content_the_log_cannot_store_and_writes_nothing(container):  # type: ignore[no-untyped-def]
    run_id = str(uuid.uuid4())
    batcher = EventBatcher(container.events, run_id, window=60)
    batcher.add({"event": "node_finished", "data": {"node_id": "end"}}, urgent=False)
    batcher.check()  # storable: no error
    batcher.add({"event": "node_finished", "data": {"node_id": "x", "outputs": {"t": "\ud800"}}}, urgent=False)
    with pytest.raises(UnicodeEncodeError):  # what the write would raise, found before it
        batcher.check()
    assert written(container, run_id) == [] and batcher.holding
