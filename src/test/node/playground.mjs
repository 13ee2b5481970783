// Drives the playground at / in headless Chromium (Debian's, never a downloaded one), as a person
// would: node playground.mjs http://localhost:8080/ SCREENSHOT.png
// Types a prompt, generates, watches the progress and the live previews arrive, checks the result
// and the N tiles (no unsafe tile carries image data), prefers a candidate and sees the feedback
// accepted; then catches a live preview in the large frame of a longer run for a second screenshot.
// Exits 0 when every step holds. Run by PlaygroundBrowserTest.
import puppeteer from "puppeteer-core";
import assert from "node:assert/strict";

const [url, screenshot] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const browser = await puppeteer.launch({ executablePath, headless: true,
  args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"] });
let failed = false;
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1100, height: 1400 });
  const errors = [];
  page.on("pageerror", e => errors.push(String(e)));
  await page.goto(url, { waitUntil: "load" });

  // the form by its labels, as a keyboard user reaches it
  await page.$eval("#prompt", el => { el.value = ""; });
  await page.type("#prompt", "two green triangles");
  await page.$eval("#n", el => { el.value = "6"; });
  await page.$eval("#steps", el => { el.value = "12"; });
  await page.$eval("#seed", el => { el.value = "4242"; });
  const progress = [];
  await page.exposeFunction("reportProgress", v => progress.push(v));
  await page.evaluate(() => new MutationObserver(() => window.reportProgress(document.getElementById("status").textContent))
    .observe(document.getElementById("status"), { childList: true, characterData: true, subtree: true }));
  await page.focus("#go");
  await page.keyboard.press("Enter");
  await page.waitForSelector("#chosen:not([hidden]):not([data-preview])", { timeout: 120_000 }); // the result, not a preview

  const previews = progress.filter(t => t.startsWith("live preview at step "));
  assert.ok(previews.length >= 1, `live previews came into the large frame: ${JSON.stringify(progress)}`);
  assert.equal(await page.$eval("#chosen", el => el.dataset.preview ?? null), null, "the result replaced the preview");
  const steps = progress.filter(t => t.startsWith("step "));
  assert.ok(steps.length >= 2, `progress arrived step by step: ${JSON.stringify(progress)}`);
  assert.ok(steps.at(-1).startsWith("step 12 of 12"), `the last step: ${steps.at(-1)}`);
  const tiles = await page.$$eval("#grid li", lis => lis.map(li => ({
    verdict: li.dataset.verdict, img: li.querySelector("img")?.src ?? null, html: li.innerHTML })));
  assert.equal(tiles.length, 6, "one tile per candidate");
  for (const t of tiles) {
    if (t.verdict === "safe") assert.ok(t.img?.startsWith("data:image/png;base64,"), "a safe tile shows its picture");
    else assert.ok(!t.html.includes("data:image"), `a ${t.verdict} tile carries no image data`);
  }
  const parameters = await page.$eval("#parameters", el => el.textContent);
  assert.match(parameters, /Steps: 12, Sampler: DDIM, CFG scale: 5.0, Seed: \d+/);
  assert.ok((await page.$eval("#chosen-img", el => el.src)).startsWith("data:image/png;base64,"));

  const prefer = await page.$$("button.prefer");
  assert.ok(prefer.length >= 2, "safe tiles offer 'I prefer this one'");
  await prefer[1].click();
  await page.waitForFunction(() => document.getElementById("status").textContent.includes("recorded")
    || document.getElementById("error").textContent !== "", { timeout: 30_000 });
  assert.equal(await page.$eval("#error", el => el.textContent), "", "no error");
  assert.match(await page.$eval("#status", el => el.textContent), /recorded/);
  assert.deepEqual(errors, [], "no script errors");

  // a phone-sized window: the chosen image and the grid stack in one column
  await page.setViewport({ width: 390, height: 844 });
  const width = await page.$eval("#chosen-img", el => el.getBoundingClientRect().width);
  assert.ok(width <= 390, `fits a phone (${width}px)`);
  await page.setViewport({ width: 1100, height: 1400 });
  await page.screenshot({ path: screenshot, fullPage: true });

  // a longer run, to catch the large frame showing a live preview while candidates are still denoised
  await page.$eval("#n", el => { el.value = "8"; });
  await page.$eval("#steps", el => { el.value = "100"; });
  await page.$eval("#seed", el => { el.value = "4243"; });
  await page.click("#go");
  await page.waitForSelector("#chosen[data-preview]", { timeout: 120_000 });
  const caption = await page.$eval("#chosen-caption", el => el.textContent);
  assert.match(caption, /live preview 1: step \d+ of 100, candidate #\d+/);
  assert.ok((await page.$eval("#chosen-img", el => el.src)).startsWith("data:image/png;base64,"));
  const previewShot = screenshot.replace(/\.png$/, "-preview.png");
  await page.screenshot({ path: previewShot, fullPage: true });
  await page.waitForSelector("#chosen:not([data-preview])", { timeout: 120_000 });
  console.log(`ok   playground: ${steps.length} progress updates, ${previews.length} live previews, ${tiles.length} tiles, `
      + `feedback recorded; ${screenshot}, ${previewShot} (${caption})`);
} catch (e) {
  failed = true;
  console.log(`FAIL playground: ${e.stack ?? e}`);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
