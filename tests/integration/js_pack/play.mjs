// Plays one manifest in headless Chromium with hls.js or dash.js and prints
// one JSON line: {ok, player, currentTime, width, height, levels, error}.
//
//   node play.mjs ROOT MANIFEST [seconds]
//
// ROOT is a directory of CatTube outputs; it is served on 127.0.0.1 (a free
// port) together with this directory's node_modules, so nothing but
// loopback is touched. MANIFEST is a path under ROOT (.m3u8 or .mpd).
// Playback is muted; success is currentTime reaching `seconds` (default 2.5).
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer from 'puppeteer-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const [root, manifest, secs] = process.argv.slice(2);
const want = Number(secs || 2.5);
const types = { '.m3u8': 'application/vnd.apple.mpegurl', '.mpd': 'application/dash+xml',
  '.mp4': 'video/mp4', '.cmfv': 'video/mp4', '.cmfa': 'audio/mp4', '.ts': 'video/mp2t',
  '.js': 'text/javascript', '.html': 'text/html' };

const page = `<!doctype html><html><body><video id="v" muted playsinline></video>
<script src="/lib/hls.min.js"></script><script src="/lib/dash.all.min.js"></script>
<script>
window.result = null;
const v = document.getElementById('v'), src = '/media/' + ${JSON.stringify(manifest)};
let player = '', levels = 0;
function done(ok, error) { if (!window.result) window.result = { ok, player, levels,
  currentTime: v.currentTime, width: v.videoWidth, height: v.videoHeight, error: error || null }; }
if (src.endsWith('.mpd')) {
  player = 'dash.js';
  const p = dashjs.MediaPlayer().create();
  p.on('error', e => done(false, JSON.stringify(e.error || e).slice(0, 300)));
  p.on('streamInitialized', () => { levels = p.getBitrateInfoListFor('video').length; });
  p.initialize(v, src, true);
} else {
  player = 'hls.js';
  const h = new Hls();
  h.on(Hls.Events.ERROR, (e, d) => { if (d.fatal) done(false, d.type + ' ' + d.details); });
  h.on(Hls.Events.MANIFEST_PARSED, (e, d) => { levels = d.levels.length; v.play(); });
  h.loadSource(src);
  h.attachMedia(v);
}
v.addEventListener('error', () => done(false, 'video error ' + (v.error && v.error.message)));
v.addEventListener('timeupdate', () => { if (v.currentTime >= ${want}) done(true); });
</script></body></html>`;

function serve(req, res) {
  const url = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  let file = null;
  if (url === '/') {
    res.writeHead(200, { 'content-type': 'text/html' });
    return res.end(page);
  }
  if (url.startsWith('/lib/'))
    file = path.join(here, 'node_modules', url.endsWith('hls.min.js') ? 'hls.js/dist' : 'dashjs/dist',
                     path.basename(url));
  else if (url.startsWith('/media/'))
    file = path.join(root, url.slice(7));
  if (!file || !path.resolve(file).startsWith(path.resolve(url.startsWith('/lib/') ? here : root)) ||
      !fs.existsSync(file)) {
    res.writeHead(404);
    return res.end();
  }
  res.writeHead(200, { 'content-type': types[path.extname(file)] || 'application/octet-stream' });
  fs.createReadStream(file).pipe(res);
}

const server = http.createServer(serve);
await new Promise(r => server.listen(0, '127.0.0.1', r));
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required', '--mute-audio',
    '--no-proxy-server', '--disable-gpu'],
});
let out;
try {
  const tab = await browser.newPage();
  await tab.goto(`http://127.0.0.1:${server.address().port}/`);
  await tab.waitForFunction('window.result !== null', { timeout: 60000, polling: 200 })
    .catch(() => null);
  out = await tab.evaluate(() => window.result || { ok: false, error: 'timeout',
    currentTime: document.getElementById('v').currentTime });
} finally {
  await browser.close();
  server.close();
}
console.log(JSON.stringify(out));
process.exit(out && out.ok ? 0 : 1);
