// Drives Winnow's POST /v1/images/generations with OpenAI's official Node SDK, as a client app
// would: node openai-sdk.mjs http://localhost:8080/v1
// Exits 0 when every check passes; prints what failed otherwise. Run by OpenAiSdkTest.
import OpenAI from "openai";
import assert from "node:assert/strict";

const baseURL = process.argv[2];
const client = new OpenAI({ baseURL, apiKey: "unused-by-winnow", maxRetries: 0, timeout: 120_000 });
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47]);

async function expectError(promise, status, code, param) {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof OpenAI.APIError, `an APIError, got ${e}`);
    assert.equal(e.status, status, `status of ${JSON.stringify(e.error)}`);
    assert.equal(e.code, code, `code of ${JSON.stringify(e.error)}`);
    if (param !== undefined) assert.equal(e.param, param);
    assert.ok(e.message.length > 0);
    return e;
  }
  assert.fail(`expected a ${status} ${code}`);
}

const checks = {
  async generate() {
    const r = await client.images.generate({ prompt: "a red circle to the left of a blue square", seed: 15,
                                             best_of: 8, response_format: "b64_json" });
    assert.equal(r.data.length, 1);
    assert.ok(Buffer.from(r.data[0].b64_json, "base64").subarray(0, 4).equals(PNG), "a PNG");
    assert.ok(r.created > 1_600_000_000);
  },
  async twoImages() {
    const r = await client.images.generate({ model: "shapes-scenes", prompt: "two green triangles", n: 2, size: "64x64", seed: 11 });
    assert.equal(r.data.length, 2);
    assert.notEqual(r.data[0].b64_json, r.data[1].b64_json, "two different candidates");
  },
  async streaming() {
    // stream: true, as a client app shows a picture growing sharper: partial images, then the images
    const stream = await client.images.generate({ prompt: "two green triangles", n: 2, best_of: 4, seed: 7,
                                                  stream: true, partial_images: 2 });
    const partial = [], completed = [];
    for await (const event of stream) {
      if (event.type === "image_generation.partial_image") {
        assert.equal(completed.length, 0, "partial images come before the completed ones");
        partial.push(event);
      } else if (event.type === "image_generation.completed") {
        completed.push(event);
      } else {
        assert.fail(`an event OpenAI does not send: ${event.type}`);
      }
    }
    assert.ok(partial.length >= 1 && partial.length <= 2, `${partial.length} partial images of 2 asked for`);
    partial.forEach((p, i) => {
      assert.equal(p.partial_image_index, i, "indices count the partial images, from 0");
      assert.ok(Buffer.from(p.b64_json, "base64").subarray(0, 4).equals(PNG), "a partial image is a PNG");
      assert.equal(p.size, "64x64");
      assert.equal(p.output_format, "png");
      assert.ok(p.created_at > 1_600_000_000);
    });
    assert.equal(completed.length, 2, "one completed event per image");
    for (const c of completed) {
      assert.ok(Buffer.from(c.b64_json, "base64").subarray(0, 4).equals(PNG), "the final image is a PNG");
      assert.ok(c.usage.input_tokens > 0);
    }
    assert.notEqual(completed[0].b64_json, completed[1].b64_json, "two different candidates");
  },
  async streamingBadPartialImages() {
    const e = await expectError(client.images.generate({ prompt: "a red circle", stream: true, partial_images: 5 }),
                                400, "invalid_request", "partial_images");
    assert.ok(e instanceof OpenAI.BadRequestError);
  },
  async badSize() {
    const e = await expectError(client.images.generate({ prompt: "a red circle", size: "1024x1024" }), 400,
                                "invalid_request", "size");
    assert.ok(e instanceof OpenAI.BadRequestError);
  },
  async wrongModel() {
    const e = await expectError(client.images.generate({ model: "dall-e-3", prompt: "a red circle" }), 404,
                                "model_not_found", "model");
    assert.ok(e instanceof OpenAI.NotFoundError);
  },
  async overload() {
    // The test profile admits two jobs at a time: of six at once, some are refused with 429.
    const all = await Promise.allSettled([1, 2, 3, 4, 5, 6].map(() =>
      client.images.generate({ prompt: "two blue squares", best_of: 4, seed: 11 })));
    const refused = all.filter(r => r.status === "rejected");
    assert.ok(refused.length >= 1, "at least one 429");
    for (const r of refused) {
      assert.ok(r.reason instanceof OpenAI.RateLimitError, `a RateLimitError, got ${r.reason}`);
      assert.equal(r.reason.code, "queue_full");
      assert.ok(Number(r.reason.headers.get("retry-after")) >= 1, "Retry-After");
    }
    assert.ok(all.some(r => r.status === "fulfilled"), "the admitted one is answered");
  },
};

let failed = 0;
for (const [name, check] of Object.entries(checks)) {
  try {
    await check();
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e.stack ?? e}`);
  }
}
console.log(`openai ${JSON.parse((await import("node:fs")).readFileSync(
  new URL("./node_modules/openai/package.json", import.meta.url))).version}: ${failed} of ${Object.keys(checks).length} failed`);
process.exit(failed ? 1 : 0);
