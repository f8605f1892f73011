"""Third-party S3 tools against CatTube: s3cmd and rclone (Debian packages
`s3cmd`, `rclone`; skipped with a reason when missing). Path-style, region
us-east-1, plain HTTP, SigV4; keys with spaces and unicode."""

import hashlib
import os
import shutil
import subprocess

import pytest

TREE = {
    "top.txt": b"top level\n",
    "a b/with space.txt": b"spaces " * 100,
    "ünï cødé/日本語 ファイル.txt": "héllo wörld ✓\n".encode(),
    "deep/er/plus+and&amp=eq.bin": os.urandom(70_000),
    "deep/er/empty.txt": b"",
    "big.bin": os.urandom(9 * 1024 * 1024 + 5),   # multipart for both tools
}


def write_tree(root, files):
    for rel, data in files.items():
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)


def read_tree(root):
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, root)] = f.read()
    return out


def run(cmd, env, timeout=120, check=True):
    p = subprocess.run(cmd, capture_output=True, env=env, timeout=timeout,
                       stdin=subprocess.DEVNULL, encoding="utf-8", errors="replace")
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} -> exit {p.returncode}\nstdout: "
                             f"{p.stdout[-3000:]}\nstderr: {p.stderr[-3000:]}")
    return p


def tool_env(server):
    return {"PATH": "/usr/bin:/bin", "HOME": server.home, "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8", "NO_PROXY": "*",
            "no_proxy": "*"}


def remote_keys(server, bucket, prefix=""):
    s3 = server.client("s3")
    keys = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            keys[o["Key"]] = o["Size"]
    return keys


# ---------------------------------------------------------------- s3cmd

@pytest.fixture
def s3cmd(server, tmp_path):
    exe = shutil.which("s3cmd", path="/usr/bin:/bin")
    if not exe:
        pytest.skip("s3cmd not installed (apt-get install s3cmd)")
    host = server.endpoint.split("://", 1)[1]
    cfg = tmp_path / "s3cfg"
    cfg.write_text(f"""[default]
access_key = {server.access_key}
secret_key = {server.secret_key}
host_base = {host}
host_bucket = {host}
bucket_location = {server.region}
use_https = False
signature_v2 = False
check_ssl_certificate = False
proxy_host =
proxy_port = 0
multipart_chunk_size_mb = 5
""")
    env = tool_env(server)
    return lambda *a, **kw: run([exe, "-c", str(cfg), "--no-progress"] + list(a), env, **kw)


def test_s3cmd(server, s3cmd, tmp_path):
    b = "tools-s3cmd"
    s3cmd("mb", f"s3://{b}")
    assert b in s3cmd("ls").stdout
    src = tmp_path / "src"
    write_tree(str(src), TREE)
    # put / ls / get / del of single objects, awkward names included
    for rel in ("top.txt", "a b/with space.txt", "ünï cødé/日本語 ファイル.txt", "big.bin"):
        s3cmd("put", str(src / rel), f"s3://{b}/single/{rel}")
    listing = s3cmd("ls", "--recursive", f"s3://{b}/single/").stdout
    for rel in ("top.txt", "a b/with space.txt", "ünï cødé/日本語 ファイル.txt", "big.bin"):
        assert f"s3://{b}/single/{rel}" in listing, listing
        out = tmp_path / "got"
        s3cmd("get", "--force", f"s3://{b}/single/{rel}", str(out))
        assert out.read_bytes() == TREE[rel], rel
    assert remote_keys(server, b, "single/")["single/big.bin"] == len(TREE["big.bin"])
    s3cmd("del", f"s3://{b}/single/ünï cødé/日本語 ファイル.txt")
    assert "single/ünï cødé/日本語 ファイル.txt" not in remote_keys(server, b)
    # sync a tree up, change it, sync again with --delete-removed, then down
    s3cmd("sync", str(src) + "/", f"s3://{b}/tree/")
    assert remote_keys(server, b, "tree/") == {f"tree/{k}": len(v) for k, v in TREE.items()}
    (src / "top.txt").write_bytes(b"changed\n")
    os.unlink(src / "a b/with space.txt")
    s3cmd("sync", "--delete-removed", str(src) + "/", f"s3://{b}/tree/")
    want = read_tree(str(src))
    assert remote_keys(server, b, "tree/") == {f"tree/{k}": len(v) for k, v in want.items()}
    down = tmp_path / "down"
    down.mkdir()
    s3cmd("sync", f"s3://{b}/tree/", str(down) + "/")
    assert read_tree(str(down)) == want
    s3cmd("del", "--recursive", "--force", f"s3://{b}/")
    assert remote_keys(server, b) == {}
    s3cmd("rb", f"s3://{b}")
    assert b not in s3cmd("ls").stdout


# ---------------------------------------------------------------- rclone

@pytest.fixture
def rclone(server, tmp_path):
    exe = shutil.which("rclone", path="/usr/bin:/bin")
    if not exe:
        pytest.skip("rclone not installed (apt-get install rclone)")
    cfg = tmp_path / "rclone.conf"
    cfg.write_text(f"""[ct]
type = s3
provider = Other
access_key_id = {server.access_key}
secret_access_key = {server.secret_key}
endpoint = {server.endpoint}
region = {server.region}
force_path_style = true
upload_cutoff = 5M
chunk_size = 5M
""")
    env = tool_env(server)
    return lambda *a, **kw: run([exe, "--config", str(cfg), "--retries", "1",
                                 "--low-level-retries", "1"] + list(a), env, **kw)


def test_rclone(server, rclone, tmp_path):
    b = "tools-rclone"
    rclone("mkdir", f"ct:{b}")
    assert b in rclone("lsd", "ct:").stdout
    src = tmp_path / "src"
    write_tree(str(src), TREE)
    rclone("copy", str(src), f"ct:{b}/tree")
    assert remote_keys(server, b, "tree/") == {f"tree/{k}": len(v) for k, v in TREE.items()}
    rclone("check", str(src), f"ct:{b}/tree")          # sizes + MD5 (ETag) of every file
    rclone("check", "--download", str(src), f"ct:{b}/tree")
    listed = set(rclone("lsf", "-R", "--files-only", f"ct:{b}/tree").stdout.splitlines())
    assert listed == set(TREE), listed
    assert rclone("cat", f"ct:{b}/tree/ünï cødé/日本語 ファイル.txt").stdout == \
        TREE["ünï cødé/日本語 ファイル.txt"].decode()
    # sync after local changes: update, delete, add
    (src / "top.txt").write_bytes(b"changed by sync\n")
    os.unlink(src / "a b/with space.txt")
    (src / "new file ✓.txt").write_bytes(b"new")
    rclone("sync", str(src), f"ct:{b}/tree")
    rclone("check", str(src), f"ct:{b}/tree")
    want = read_tree(str(src))
    assert remote_keys(server, b, "tree/") == {f"tree/{k}": len(v) for k, v in want.items()}
    down = tmp_path / "down"
    rclone("copy", f"ct:{b}/tree", str(down))
    got = read_tree(str(down))
    assert {k: hashlib.md5(v).hexdigest() for k, v in got.items()} == \
        {k: hashlib.md5(v).hexdigest() for k, v in want.items()}
    rclone("deletefile", f"ct:{b}/tree/new file ✓.txt")
    assert "tree/new file ✓.txt" not in remote_keys(server, b)
    rclone("purge", f"ct:{b}")
    assert b not in rclone("lsd", "ct:").stdout
