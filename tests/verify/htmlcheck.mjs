// htmlcheck.mjs FILE — checks a self-contained report page (fleetpipe loadtest's report.html):
// valid HTML by html-validate (its standard and document presets), no script, no resource from
// elsewhere (no src/href to a URL; the one allowed URL is the SVG namespace), and prints one
// JSON line {"svg": N, "figures": [ids...], "errors": [...]} for the test to compare with the
// charts report.json lists. Exit 1 when there is any error.
import { readFileSync } from "node:fs";
import { HtmlValidate } from "html-validate";

const file = process.argv[2];
const text = readFileSync(file, "utf8");
const errors = [];
const v = new HtmlValidate({
  extends: ["html-validate:standard", "html-validate:document"],
  rules: {
    // The report is one generated page with its CSS in a <style> element, and SVG drawn inline.
    "no-inline-style": "off",
  },
});
const report = await v.validateString(text, file);
for (const r of report.results)
  for (const m of r.messages) errors.push(`${m.line}:${m.column} ${m.ruleId}: ${m.message}`);
if (/<script\b/i.test(text)) errors.push("has a <script> element");
const urls = [...text.matchAll(/\b(?:src|href|xlink:href)\s*=\s*"([^"]*)"/gi)].map((m) => m[1]);
for (const u of urls) errors.push(`references ${u}`);
const ext = [...text.matchAll(/(?:https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}[^\s"<]*/gi)]
  .map((m) => m[0])
  .filter((u) => u !== "http://www.w3.org/2000/svg");
for (const u of ext) errors.push(`mentions an external URL ${u}`);
if (/@import|url\(/i.test(text)) errors.push("CSS loads something (@import or url())");
const svg = (text.match(/<svg\b/g) || []).length;
const figures = [...text.matchAll(/<figure id="chart-([a-z0-9-]+)"/g)].map((m) => m[1]);
console.log(JSON.stringify({ svg, figures, errors }));
process.exit(errors.length ? 1 : 0);
