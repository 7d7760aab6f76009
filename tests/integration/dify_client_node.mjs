// Drives the npm `dify-client` SDK against a running Trellis for tests/integration/test_client_sdks.py.
// Reads BASE (the /v1 URL), CHAT_KEY and WORKFLOW_KEY from the environment; prints one JSON object with what
// each call returned (or the HTTP error it met), and leaves the asserting to the Python test.
import { ChatClient, CompletionClient } from "dify-client";

const { BASE, CHAT_KEY, WORKFLOW_KEY } = process.env;
const user = "node-user";

async function events(stream) {
  let text = "";
  for await (const chunk of stream) text += chunk.toString();
  return text.split("\n").filter((line) => line.startsWith("data: ")).map((line) => JSON.parse(line.slice(6)));
}

async function call(name, action, out) {
  try {
    out[name] = await action();
  } catch (error) {
    out[name] = { error: error.message, status: error.response?.status ?? null, body: error.response?.data ?? null };
  }
}

const out = {};
const chat = new ChatClient(CHAT_KEY, BASE);
await call("blocking", async () => (await chat.createChatMessage({}, "Hello node", user, false)).data, out);
const conversation = out.blocking?.conversation_id;
await call("streamed", async () => events((await chat.createChatMessage({}, "Stream node", user, true,
  conversation)).data), out);
await call("messages", async () => (await chat.getConversationMessages(user, conversation)).data, out);
await call("conversations", async () => (await chat.getConversations(user)).data, out);
await call("renamed", async () => (await chat.renameConversation(conversation, "Node talk", user)).data, out);
await call("feedback", async () => (await chat.messageFeedback(out.blocking?.message_id, "like", user)).data, out);
await call("parameters", async () => (await chat.getApplicationParameters(user)).data, out);
await call("upload", async () => {
  const form = new FormData();
  form.append("file", new Blob(["node file"], { type: "text/plain" }), "node.txt");
  form.append("user", user);
  return (await chat.fileUpload(form)).data;
}, out);
await call("deleted", async () => (await chat.deleteConversation(conversation, user)).status, out);

const flow = new CompletionClient(WORKFLOW_KEY, BASE);
await call("run", async () => (await flow.runWorkflow({ query: "node" }, user, false)).data, out);
await call("runStream", async () => events((await flow.runWorkflow({ query: "node stream" }, user, true)).data), out);
console.log(JSON.stringify(out));
