// CatTube playback driver: plays one source in headless Chromium (Debian's,
// driven by playwright-core) and prints one JSON object with the page's
// result and every response from the source's origin.
//
//   node play.mjs '{"kind":"hls|dash|mp4","src":"https://...","seekTo":8,
//                   "playS":1,"timeoutMs":60000,"chromium":"/usr/bin/chromium",
//                   "width":320,     (optional: lock the rendition that wide)
//                   "cookies":{...}, "withCredentials":true,  (optional: signed cookies)
//                   "pageHost":"player.cattube.localhost",
//                   "pageTls":{"cert":"c.pem","key":"k.pem"}}'  (optional: the page's origin)
//
// The page and the players are served by a tiny static server on its own
// loopback port, so every request to the edge is cross-origin (CORS). The
// edge's certificate is self-signed: --ignore-certificate-errors.
import http from "node:http";
import https from "node:https";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const FILES = {
  "/player.html": ["player.html", "text/html; charset=utf-8"],
  "/hls.js": ["node_modules/hls.js/dist/hls.min.js", "text/javascript"],
  "/dash.js": ["node_modules/dashjs/dist/modern/umd/dash.all.min.js", "text/javascript"],
};

function serve(tls) {
  const handler = (req, res) => {
    const f = FILES[new URL(req.url, "http://x").pathname];
    if (req.url === "/favicon.ico") {
      res.writeHead(204).end();
      return;
    }
    if (!f) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "Content-Type": f[1], "Cache-Control": "no-store" });
    fs.createReadStream(path.join(HERE, f[0])).pipe(res);
  };
  const srv = tls
    ? https.createServer({ cert: fs.readFileSync(tls.cert), key: fs.readFileSync(tls.key) }, handler)
    : http.createServer(handler);
  return new Promise((resolve) => srv.listen(0, "127.0.0.1", () => resolve(srv)));
}

async function main() {
  const cfg = JSON.parse(process.argv[2]);
  const srcOrigin = new URL(cfg.src).origin;
  // pageHost (+ pageTls {cert, key}): serve the page as https://pageHost, e.g.
  // on the edge's site (a *.cattube.localhost name) as a real player would be
  const srv = await serve(cfg.pageTls);
  const page_url = `${cfg.pageTls ? "https" : "http"}://${cfg.pageHost || "127.0.0.1"}:` +
    `${srv.address().port}/player.html`;
  const browser = await chromium.launch({
    executablePath: cfg.chromium || "/usr/bin/chromium",
    headless: true,
    timeout: 120000,
    args: [
      "--ignore-certificate-errors",
      "--autoplay-policy=no-user-gesture-required",
      "--no-proxy-server",
      "--host-resolver-rules=MAP *.localhost 127.0.0.1",
      "--disable-dev-shm-usage",
      "--disable-gpu",
      "--mute-audio",
    ],
  });
  const out = { responses: [], console: [], pageErrors: [], failed: [] };
  try {
    const ctx = await browser.newContext({ ignoreHTTPSErrors: true });
    if (cfg.cookies) // e.g. CloudFront signed cookies, set on the source's host
      await ctx.addCookies(Object.entries(cfg.cookies).map(([name, value]) => ({
        name, value, url: srcOrigin + "/", secure: true, sameSite: "None" })));
    const page = await ctx.newPage();
    page.on("console", (m) => out.console.push(`${m.type()}: ${m.text()}`.slice(0, 500)));
    page.on("pageerror", (e) => out.pageErrors.push(String(e).slice(0, 500)));
    page.on("requestfailed", (r) => {
      if (r.url().startsWith(srcOrigin))
        out.failed.push({ url: r.url(), error: r.failure() ? r.failure().errorText : "" });
    });
    page.on("response", async (resp) => {
      const url = resp.url();
      if (!url.startsWith(srcOrigin)) return;
      const req = resp.request();
      let reqHeaders = {};
      try {
        reqHeaders = await req.allHeaders();
      } catch (e) {
        reqHeaders = req.headers();
      }
      const h = resp.headers();
      out.responses.push({
        url, method: req.method(), status: resp.status(), resourceType: req.resourceType(),
        range: reqHeaders["range"] || null,
        contentRange: h["content-range"] || null,
        contentType: h["content-type"] || null,
        acao: h["access-control-allow-origin"] || null,
      });
    });
    await page.goto(page_url, { waitUntil: "load", timeout: 60000 });
    out.result = await page.evaluate(
      ([kind, src, opts]) => window.runPlayback(kind, src, opts),
      [cfg.kind, cfg.src, { seekTo: cfg.seekTo, playS: cfg.playS, timeoutMs: cfg.timeoutMs,
                            width: cfg.width || 0, withCredentials: !!cfg.withCredentials }]);
    out.browserVersion = browser.version();
  } finally {
    await browser.close();
    srv.close();
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((e) => {
  process.stdout.write(JSON.stringify({ fatal: String(e && e.stack ? e.stack : e) }) + "\n");
  process.exit(1);
});
