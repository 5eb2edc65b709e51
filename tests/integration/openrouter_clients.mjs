// OpenRouter's own JS clients, pointed at smart-router by their base URL only. The test copies
// this file into .agents/ (where `make agents` installed them) and reads one JSON object per line.
//   node openrouter_clients.mjs <sdk|aisdk> <base url ending in /api/v1> <api key>
import { OpenRouter } from "@openrouter/sdk";
import { createOpenRouter } from "@openrouter/ai-sdk-provider";
import { generateText, streamText } from "ai";

const [mode, baseURL, apiKey] = process.argv.slice(2);
const out = (name, value) => console.log(JSON.stringify({ name, ...value }));
const fail = (name, error) => out(name, { error: `${error.constructor.name}: ${String(error.message).slice(0, 400)}`, status: error.statusCode ?? error.status });
const hello = [{ role: "user", content: "hello there" }];

if (mode === "sdk") {
  const client = new OpenRouter({ apiKey, serverURL: baseURL, httpReferer: "https://example.app", appTitle: "sdk-app", retryConfig: { strategy: "none" } });
  const ask = async (name, chatRequest) => {
    try {
      const answer = await client.chat.send({ chatRequest });
      out(name, { id: answer.id, model: answer.model, content: answer.choices[0].message.content, cost: answer.usage?.cost });
    } catch (error) { fail(name, error); }
  };
  await ask("variant free", { model: "qwen/qwen3-30b-a3b:free", messages: hello });
  await ask("models and provider", { model: "no-such/model", models: ["gpt-4o-mini", "auto:free"], messages: hello,
    provider: { sort: "price", maxPrice: { prompt: "1", completion: "2" }, ignore: ["free-cloud"] } });
  await ask("floor", { model: "tag:qwen:floor", messages: hello });
  await ask("only nobody", { model: "auto", messages: hello, provider: { only: ["nobody"] } });
  try {
    const stream = await client.chat.send({ chatRequest: { model: "auto:free", messages: hello, stream: true } });
    let text = "", cost;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? "";
      if (chunk.usage) cost = chunk.usage.cost;
    }
    out("stream", { content: text, cost });
  } catch (error) { fail("stream", error); }
  try {
    const page = await client.models.list();
    const models = page.result ?? page;  // a page: its `result` is the listing
    out("models", { ids: models.data.map((m) => m.id), total: models.totalCount, price: models.data.find((m) => m.id === "gpt-4o-mini")?.pricing.prompt });
  } catch (error) { fail("models", error); }
  try {
    const key = await client.apiKeys.getCurrentKeyMetadata();
    out("key", { label: key.data.label, usage: key.data.usage, limit: key.data.limit });
  } catch (error) { fail("key", error); }
} else if (mode === "aisdk") {
  const provider = createOpenRouter({ apiKey, baseURL, appName: "aisdk-app", appUrl: "https://example.app" });
  const settings = { models: ["gpt-4o-mini"], provider: { order: ["paid-cloud"], max_price: { prompt: 5 } }, usage: { include: true } };
  try {
    const answer = await generateText({ model: provider.chat("qwen3-235b:nitro", settings), prompt: "hello there", maxRetries: 0 });
    out("generate", { content: answer.text, meta: answer.providerMetadata?.openrouter });
  } catch (error) { fail("generate", error); }
  try {
    const result = streamText({ model: provider.chat("tag:qwen,free", settings), prompt: "hello there", maxRetries: 0, onError: ({ error }) => { throw error; } });
    let text = "";
    for await (const part of result.textStream) text += part;
    out("stream", { content: text, meta: (await result.providerMetadata)?.openrouter });
  } catch (error) { fail("stream", error); }
}
