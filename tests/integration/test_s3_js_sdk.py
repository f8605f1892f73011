"""The AWS SDK for JavaScript v3 at its modern defaults (CRC32 checksums on
every upload, aws-chunked trailers for streams, lib-storage multipart,
response checksum validation) against the real server: runs
tests/integration/js/s3_modern.mjs with node.

`npm install` runs once when tests/integration/js/node_modules is missing
(package-lock.json pins the versions); the test is skipped when node/npm are
not installed or the npm registry cannot be reached."""

import os
import subprocess

import pytest

from conftest import node_with_modules

JS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "js")
NEEDED = ("@aws-sdk/client-s3", "@aws-sdk/lib-storage")


@pytest.fixture(scope="module")
def node():
    return node_with_modules(JS_DIR, NEEDED)


def test_js_sdk_modern_defaults(server, node):
    env = dict(os.environ)
    env.update({
        "CATTUBE_ENDPOINT": server.endpoint,
        "AWS_ACCESS_KEY_ID": server.access_key,
        "AWS_SECRET_ACCESS_KEY": server.secret_key,
        "AWS_REGION": server.region,
        "CATTUBE_BUCKET": "js-sdk-modern",
    })
    for v in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REQUEST_CHECKSUM_CALCULATION",
              "AWS_RESPONSE_CHECKSUM_VALIDATION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        env.pop(v, None)
    p = subprocess.run([node, "s3_modern.mjs"], cwd=JS_DIR, env=env, capture_output=True,
                       text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert p.returncode == 0 and p.stdout.strip().endswith("OK"), (
        f"node s3_modern.mjs -> exit {p.returncode}\nstdout: {p.stdout[-3000:]}\n"
        f"stderr: {p.stderr[-6000:]}\nserver log: {server.log_path}")
