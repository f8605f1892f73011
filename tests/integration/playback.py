"""Plays HLS and DASH outputs in headless Chromium with hls.js and dash.js
(tests/integration/js_pack/play.mjs; npm packages pinned by its
package-lock.json, installed on first use). Everything is served from
127.0.0.1; the tests skip without node, npm, the registry or chromium."""

import json
import os
import shutil
import subprocess

import pytest

PLAY_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "js_pack")
NEEDED = ("dashjs", "hls.js", "puppeteer-core")


def node_or_skip():
    """node, with js_pack's node_modules installed; pytest.skip otherwise."""
    node, npm = shutil.which("node"), shutil.which("npm")
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not node or not os.access(chromium, os.X_OK):
        pytest.skip("playback needs node and chromium (scripts/deps.sh)")
    modules = os.path.join(PLAY_DIR, "node_modules")
    if not all(os.path.isfile(os.path.join(modules, p, "package.json")) for p in NEEDED):
        if not npm:
            pytest.skip("npm is not installed and js_pack/node_modules is missing")
        try:
            p = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PLAY_DIR, capture_output=True,
                               text=True, timeout=300, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            pytest.skip("npm ci timed out (is the npm registry reachable?)")
        if p.returncode != 0:
            pytest.skip("npm ci failed: " + (p.stderr or p.stdout)[-1000:])
    return node


def play(node, root, manifest, seconds=2.5):
    """Plays root/manifest; returns play.mjs's result dict."""
    p = subprocess.run([node, "play.mjs", str(root), manifest, str(seconds)], cwd=PLAY_DIR,
                       capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    assert lines, (p.stdout[-2000:], p.stderr[-2000:])
    return json.loads(lines[-1])
