"""`knowledge-retrieval`: calls the retriever port, shapes `result` like Dify, tolerates unknown datasets."""

from __future__ import annotations

from app.engine.ports import NodeServices, NoRetriever
from tests.app.engine.harness import edge, end, graph, node, run, start


class RecordingRetriever:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def retrieve(self, workspace_id, dataset_ids, query, top_k, score_threshold, search_method, **extra):
        self.calls.append((workspace_id, dataset_ids, query, top_k, score_threshold, search_method, *extra.values()))
        return [{"content": f"chunk {i} about {query}", "title": "doc.md",
                 "metadata": {"score": 0.9 - i / 10, "dataset_id": dataset_ids[0], "document_id": "d1"}}
                for i in range(5)]


def kr_graph(**data):
    kr = node("kr", "knowledge-retrieval", query_variable_selector=["start", "q"],
              dataset_ids=["8c4620fa-15d7-464f-9cb9-561f1a59eb3f", 42], **data)
    return graph([start("q"), kr, end(result=["kr", "result"])], [edge("start", "kr"), edge("kr", "end")])


def test_multiple_mode_passes_top_k_and_threshold_and_shapes_result():
    retriever = RecordingRetriever()
    g = kr_graph(retrieval_mode="multiple", multiple_retrieval_config={"top_k": 2, "score_threshold": 0.5,
                                                                       "score_threshold_enabled": True})
    result = run(g, {"q": "refunds"}, services=NodeServices(retriever=retriever))
    assert retriever.calls == [("", ["8c4620fa-15d7-464f-9cb9-561f1a59eb3f", "42"], "refunds", 2, 0.5,
                                "semantic_search")]
    items = result.outcome.outputs["result"]
    assert [i["content"] for i in items] == ["chunk 0 about refunds", "chunk 1 about refunds"]
    assert items[0]["title"] == "doc.md"
    assert items[1]["metadata"]["_source"] == "knowledge" and items[1]["metadata"]["position"] == 2


def test_unknown_datasets_find_nothing_and_empty_query_fails():
    g = kr_graph(retrieval_mode="single")
    assert run(g, {"q": "x"}, services=NodeServices(retriever=NoRetriever())).outcome.outputs == {"result": []}
    failed = run(g, {"q": ""}, services=NodeServices(retriever=RecordingRetriever()))
    assert failed.outcome.status == "failed" and failed.outcome.error == "Query is required."


def test_weighted_score_reranking_is_a_hybrid_search_with_the_node_weights():
    retriever = RecordingRetriever()
    weights = {"vector_setting": {"vector_weight": 0.4}, "keyword_setting": {"keyword_weight": 0.6}}
    g = kr_graph(retrieval_mode="multiple", multiple_retrieval_config={
        "top_k": 3, "reranking_mode": "weighted_score", "weights": weights})
    run(g, {"q": "late parcel"}, services=NodeServices(retriever=retriever))
    assert retriever.calls[0][5:] == ("hybrid_search", weights)
