"""Message feedback, `/site`, `/meta` and stopping an unknown chat task on the Service API (`app-` keys),
through Flask's test client on embedded backends (Huey immediate mode)."""

from __future__ import annotations

import yaml

from tests.app.api.test_chat import CHATFLOW, HELLO, chat


def test_feedback_rates_lists_and_withdraws(client, app_with_key):
    headers = app_with_key(CHATFLOW)
    reply = chat(client, headers, "Rate me", user="alice").get_json()
    message_id = reply["message_id"]
    url = f"/v1/messages/{message_id}/feedbacks"
    done = client.post(url, headers=headers, json={"rating": "like", "user": "alice", "content": "great"})
    assert done.status_code == 200 and done.get_json() == {"result": "success"}
    listing = client.get("/v1/app/feedbacks?page=1&limit=20", headers=headers).get_json()["data"]
    assert len(listing) == 1
    item = listing[0]
    assert item["rating"] == "like" and item["content"] == "great" and item["message_id"] == message_id
    assert item["conversation_id"] == reply["conversation_id"] and item["from_source"] == "user"
    assert item["from_end_user_id"] and item["from_account_id"] is None and item["created_at"].endswith("Z")
    history = client.get(f"/v1/messages?conversation_id={reply['conversation_id']}&user=alice",
                         headers=headers).get_json()["data"]
    assert history[0]["feedback"] == {"rating": "like"}

    # A new rating replaces the old one; null withdraws it.
    client.post(url, headers=headers, json={"rating": "dislike", "user": "alice"})
    listing = client.get("/v1/app/feedbacks", headers=headers).get_json()["data"]
    assert [(f["rating"], f["content"]) for f in listing] == [("dislike", None)]
    client.post(url, headers=headers, json={"rating": None, "user": "alice"})
    assert client.get("/v1/app/feedbacks", headers=headers).get_json()["data"] == []
    assert client.get(f"/v1/messages?conversation_id={reply['conversation_id']}&user=alice",
                      headers=headers).get_json()["data"][0]["feedback"] is None


def test_feedback_refuses_others_messages_and_bad_ratings(client, app_with_key):
    headers = app_with_key(CHATFLOW)
    message_id = chat(client, headers, "mine", user="alice").get_json()["message_id"]
    url = f"/v1/messages/{message_id}/feedbacks"
    other_user = client.post(url, headers=headers, json={"rating": "like", "user": "mallory"})
    assert other_user.status_code == 404 and other_user.get_json()["code"] == "not_found"
    other_app = client.post(url, headers=app_with_key(CHATFLOW), json={"rating": "like", "user": "alice"})
    assert other_app.status_code == 404
    bad = client.post(url, headers=headers, json={"rating": "love", "user": "alice"})
    assert bad.status_code == 400 and bad.get_json()["code"] == "invalid_param"
    assert client.post(url, headers=headers, json={"rating": "like"}).status_code == 400
    assert client.post("/v1/messages/nope/feedbacks", headers=headers,
                       json={"rating": "like", "user": "alice"}).status_code == 404
    assert client.get("/v1/app/feedbacks?limit=0", headers=headers).status_code == 400


def test_site_and_meta_come_from_the_published_dsl(client, app_with_key):
    doc = yaml.safe_load(HELLO)
    doc["app"].update({"icon": "\U0001f916", "icon_background": "#FFEAD5", "description": "Says hello",
                       "use_icon_as_answer_icon": True})
    headers = app_with_key(yaml.safe_dump(doc))
    site = client.get("/v1/site", headers=headers).get_json()
    assert site["title"] == doc["app"]["name"] and site["description"] == "Says hello"
    assert site["icon"] == "\U0001f916" and site["icon_type"] == "emoji" and site["icon_background"] == "#FFEAD5"
    assert site["use_icon_as_answer_icon"] is True
    assert client.get("/v1/meta", headers=headers).get_json() == {"tool_icons": {}}  # no tool nodes
    assert client.get("/v1/site").status_code == 401


def test_stopping_an_unknown_chat_task_succeeds_like_dify(client, app_with_key):
    headers = app_with_key(CHATFLOW)
    response = client.post("/v1/chat-messages/no-such-task/stop", headers=headers, json={"user": "alice"})
    assert response.status_code == 200 and response.get_json() == {"result": "success"}
