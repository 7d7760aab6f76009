"""`flask datasets import FOLDER` through Flask's CLI runner on embedded backends."""

from __future__ import annotations

from app import create_app
from app.services.knowledge import RetrievalModel
from tests.conftest import build_test_container


def test_import_folder_indexes_supported_files(make_settings, tmp_path):
    folder = tmp_path / "kb"
    (folder / "sub").mkdir(parents=True)
    (folder / "shipping.md").write_text("Late parcels: shipping fee refunded after five business days.")
    (folder / "sub" / "hours.txt").write_text("Stores open at 9am.")
    (folder / "logo.png").write_bytes(b"\x89PNG")
    container = build_test_container(make_settings())
    container.huey.immediate = False  # as in production: the CLI only queues unless --inline
    runner = create_app(container.settings, container).test_cli_runner()
    result = runner.invoke(args=["datasets", "import", str(folder), "--dataset", "support", "--inline"])
    assert result.exit_code == 0, result.output
    assert "Importing 2 files" in result.output and "2 documents indexed" in result.output
    kb = container.knowledge
    workspace_id = container.accounts.default_workspace_id()
    dataset_id = kb.datasets.list(workspace_id, 1, 10)[0][0]["id"]
    docs, total = kb.documents.list(workspace_id, dataset_id, 1, 10, None)
    assert total == 2 and {d["name"] for d in docs} == {"shipping.md", "sub/hours.txt"}
    assert all(d["indexing_status"] == "completed" for d in docs)
    hits = kb.knowledge.search(workspace_id, [dataset_id], "parcel late refund", RetrievalModel(top_k=1))
    assert hits[0][1].name == "shipping.md"
    again = runner.invoke(args=["datasets", "import", str(folder), "--dataset", "support"])
    assert "2 documents queued" in again.output and kb.datasets.list(workspace_id, 1, 10)[1] == 1
    container.close()
