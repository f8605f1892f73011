"""pytest fixtures that run the real `cattube serve` on loopback ports and
drive it with the real aws CLI (Debian's awscli 2.x), boto3 and curl.

Environment:
  CATTUBE_BIN            path of build/cattube (CTest sets it); default <repo>/build/cattube
  CATTUBE_AWS_CLI        aws CLI to use; default /usr/bin/aws (Debian's), else `aws` on PATH
  CATTUBE_START_TIMEOUT  seconds to wait for /cattube/health (default 60)
  CATTUBE_JOB_TIMEOUT    seconds to wait for a job to finish (default 180)
  CATTUBE_KEEP_DATA=1    keep the temp data dir (its path is printed)

The server fixture is session-scoped: CTest runs each test_*.py as its own
pytest process, so each file gets its own server; run together they share
one, which the tests tolerate (distinct bucket names).
Nothing here talks to anything but 127.0.0.1 (*.localhost names are pinned
to 127.0.0.1 with curl --resolve)."""

import atexit
import json
import os
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

ACCESS_KEY = "AKIACATTUBETEST00001"
SECRET_KEY = "CatTubeTestSecretKey0123456789abcdefghij"
REGION = "us-east-1"
assert len(SECRET_KEY) == 40

START_TIMEOUT = float(os.environ.get("CATTUBE_START_TIMEOUT", "60"))
JOB_TIMEOUT = float(os.environ.get("CATTUBE_JOB_TIMEOUT", "180"))
STOP_TIMEOUT = 20.0

# Keep the test process itself (boto3, urllib) off any proxy and away from
# the developer's ~/.aws.
for _v in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_v, None)
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost,.localhost"
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
_EMPTY_AWS_DIR = tempfile.mkdtemp(prefix="cattube-aws-")
atexit.register(shutil.rmtree, _EMPTY_AWS_DIR, True)
for _n in ("config", "credentials"):
    open(os.path.join(_EMPTY_AWS_DIR, _n), "w").close()
os.environ["AWS_CONFIG_FILE"] = os.path.join(_EMPTY_AWS_DIR, "config")
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.path.join(_EMPTY_AWS_DIR, "credentials")

_NOPROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def cattube_bin():
    b = os.environ.get("CATTUBE_BIN") or os.path.join(REPO, "build", "cattube")
    if not (os.path.isfile(b) and os.access(b, os.X_OK)):
        pytest.fail(f"cattube binary not found at {b!r} (set CATTUBE_BIN)", pytrace=False)
    return os.path.abspath(b)


def aws_cli():
    a = os.environ.get("CATTUBE_AWS_CLI")
    if a:
        return a
    if os.access("/usr/bin/aws", os.X_OK):
        return "/usr/bin/aws"
    a = shutil.which("aws")
    if not a:
        pytest.fail("aws CLI not found (apt-get install awscli)", pytrace=False)
    return a


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]



def node_with_modules(js_dir, needed):
    """node's path, with the npm packages `needed` installed in js_dir
    (`npm ci` from its package-lock.json on first use); pytest.skip when node
    or npm is missing or the registry can't be reached."""
    node, npm = shutil.which("node"), shutil.which("npm")
    modules = os.path.join(js_dir, "node_modules")
    installed = lambda: all(os.path.isfile(os.path.join(modules, n, "package.json"))
                            for n in needed)
    if not node:
        pytest.skip("node is not installed (the JS tests need node >= 18 and npm)")
    if installed():
        return node
    if not npm:
        pytest.skip(f"npm is not installed and {modules} is missing")
    cmd = [npm, "ci" if os.path.exists(os.path.join(js_dir, "package-lock.json")) else
           "install", "--no-audit", "--no-fund"]
    try:
        p = subprocess.run(cmd, cwd=js_dir, capture_output=True, text=True, timeout=300,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.skip("npm install timed out (is the npm registry reachable?)")
    if p.returncode != 0 or not installed():
        pytest.skip("npm install failed (is the npm registry reachable?):\n" +
                    (p.stderr or p.stdout)[-2000:])
    return node

class AwsError(Exception):
    def __init__(self, args, rc, stdout, stderr):
        self.cmd, self.rc, self.stdout, self.stderr = args, rc, stdout, stderr
        super().__init__(f"aws {' '.join(args)} -> exit {rc}\nstdout: {stdout[-2000:]}\n"
                         f"stderr: {stderr[-4000:]}")


class CurlResponse:
    def __init__(self, status, headers, body, all_headers):
        self.status = status
        self.headers = headers          # last response's headers, names lower-cased
        self.body = body
        self.all_headers = all_headers  # raw header text of every response

    def __repr__(self):
        return f"<CurlResponse {self.status} {self.headers} {len(self.body)} bytes>"


class Server:
    """One running `cattube serve`."""

    def __init__(self, base):
        self.bin = cattube_bin()
        self.base = base
        self.data_dir = os.path.join(base, "data")
        self.log_path = os.path.join(base, "server.log")
        self.work = os.path.join(base, "work")
        self.home = os.path.join(base, "home")
        for d in (self.work, self.home):
            os.makedirs(d, exist_ok=True)
        self.aws_config = os.path.join(base, "aws-config")
        self.aws_credentials = os.path.join(base, "aws-credentials")
        for p in (self.aws_config, self.aws_credentials):
            open(p, "w").close()
        self.access_key, self.secret_key, self.region = ACCESS_KEY, SECRET_KEY, REGION
        self.proc = None
        self._log = None
        self._clients = {}
        self.extra_args = []  # more `cattube serve` options (e.g. --domain)

    # ---- lifecycle ----
    def _pick_ports(self):
        ports = set()
        while len(ports) < 3:
            ports.add(free_port())
        self.port, self.edge_https_port, self.edge_http_port = sorted(ports)
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.edge_https = f"https://127.0.0.1:{self.edge_https_port}"
        self.edge_http = f"http://127.0.0.1:{self.edge_http_port}"

    def server_env(self):
        env = dict(os.environ)
        env["CATTUBE_ROOT_ACCESS_KEY"] = self.access_key
        env["CATTUBE_ROOT_SECRET_KEY"] = self.secret_key
        return env

    def start(self):
        last = ""
        for _attempt in range(3):
            if self._log:
                self._log.close()
            self._pick_ports()
            os.makedirs(self.data_dir, exist_ok=True)
            self._log = open(self.log_path, "ab")
            cmd = [self.bin, "serve", "--data", self.data_dir,
                   "--listen", f"127.0.0.1:{self.port}",
                   "--edge-listen", f"127.0.0.1:{self.edge_https_port}",
                   "--edge-http-listen", f"127.0.0.1:{self.edge_http_port}",
                   "--region", self.region] + list(self.extra_args)
            self._log.write(("### " + " ".join(cmd) + "\n").encode())
            self._log.flush()
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log,
                                         stderr=self._log, env=self.server_env(),
                                         cwd=self.work, start_new_session=True)
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                if self.health() == 200:
                    return
                time.sleep(0.1)
            last = self.log_text()
            if self.proc.poll() is None:
                self._kill()
                raise RuntimeError(f"cattube serve did not answer GET /cattube/health with 200 "
                                   f"within {START_TIMEOUT:.0f} s\n--- server log ---\n"
                                   f"{last[-8000:]}")
            if "in use" not in last.lower():
                break
        raise RuntimeError(f"cattube serve exited during start-up with status "
                           f"{self.proc.returncode}\n--- server log ---\n{last[-8000:]}")

    @staticmethod
    def _proc_stat(pid):
        """(state, ppid, starttime) of a process, or None."""
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return fields[0], int(fields[1]), int(fields[19])
        except (OSError, ValueError, IndexError):
            return None

    def _descendants(self):
        """[(pid, starttime)] of every live process below the server (transcode
        children run in their own process groups, so killpg alone would miss
        them)."""
        children = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                st = self._proc_stat(d)
                if st:
                    children.setdefault(st[1], []).append((int(d), st[2]))
        out, todo = [], [self.proc.pid]
        while todo:
            for c in children.get(todo.pop(), []):
                out.append(c)
                todo.append(c[0])
        return out

    def _kill_leftovers(self, kids):
        """SIGKILLs those of kids (from _descendants) still running; returns them."""
        left = []
        for pid, start in kids:
            st = self._proc_stat(pid)
            if st and st[2] == start and st[0] not in ("Z", "X"):
                try:
                    os.kill(pid, signal.SIGKILL)
                    left.append(pid)
                except (ProcessLookupError, PermissionError):
                    pass
        return left

    def _kill(self):
        kids = self._descendants()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._kill_leftovers(kids)
        self.proc.wait()

    def stop(self):
        """SIGTERM, then SIGKILL. Returns a list of problems (empty when clean)."""
        problems = []
        if self.proc is None:
            return problems
        if self.proc.poll() is not None:
            problems.append(f"cattube serve died during the tests (status {self.proc.returncode})")
        else:
            kids = self._descendants()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                problems.append(f"cattube serve did not exit within {STOP_TIMEOUT:.0f} s of SIGTERM")
                self._kill()
            rc = self.proc.returncode
            if rc not in (0, -signal.SIGTERM, 128 + signal.SIGTERM) and not problems:
                problems.append(f"cattube serve exited with status {rc} after SIGTERM")
            # A clean shutdown stops (and reaps) its transcode children.
            time.sleep(0.5)
            left = self._kill_leftovers(kids)
            if left and not problems:
                problems.append(f"processes {left} started by the server outlived it")
        if self._log:
            self._log.close()
        log = self.log_text()
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                       "Sanitizer:DEADLYSIGNAL"):
            if marker in log:
                problems.append(f"sanitizer report in the server log ({marker!r})")
                break
        return problems

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def health(self):
        try:
            with _NOPROXY.open(self.endpoint + "/cattube/health", timeout=2) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except (urllib.error.URLError, OSError):
            return None

    # ---- logs ----
    def log_size(self):
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def log_text(self, since=0):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(since)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    # ---- clients ----
    def aws_env(self, access_key=None, secret_key=None):
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": self.home,
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "PYTHONIOENCODING": "utf-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "AWS_ACCESS_KEY_ID": access_key or self.access_key,
            "AWS_SECRET_ACCESS_KEY": secret_key or self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_CONFIG_FILE": self.aws_config,
            "AWS_SHARED_CREDENTIALS_FILE": self.aws_credentials,
            "AWS_PAGER": "",
            "AWS_CLI_AUTO_PROMPT": "off",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_RETRY_MODE": "standard",
            "AWS_MAX_ATTEMPTS": "2",
            "NO_PROXY": "*",
            "no_proxy": "*",
        }
        return env

    def aws_cmd(self, *args):
        return [aws_cli(), "--endpoint-url", self.endpoint, "--output", "json",
                "--cli-connect-timeout", "10", "--cli-read-timeout", "120"] + [str(a) for a in args]

    def aws_run(self, *args, access_key=None, secret_key=None, cwd=None, timeout=180):
        """Runs the aws CLI against this server. Returns CompletedProcess (text)."""
        return subprocess.run(self.aws_cmd(*args), capture_output=True,
                              env=self.aws_env(access_key, secret_key), cwd=cwd or self.work,
                              timeout=timeout, stdin=subprocess.DEVNULL, encoding="utf-8",
                              errors="replace")

    def aws_popen(self, *args, cwd=None):
        """Starts the aws CLI in the background (e.g. an upload while the test
        watches what it triggers). Popen with text stdout/stderr pipes."""
        return subprocess.Popen(self.aws_cmd(*args), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=self.aws_env(), cwd=cwd or self.work,
                                stdin=subprocess.DEVNULL, encoding="utf-8", errors="replace")

    def aws(self, *args, **kw):
        """aws CLI call that must succeed: parsed JSON when the output is JSON,
        else the stdout text. Raises AwsError with stderr on failure."""
        p = self.aws_run(*args, **kw)
        if p.returncode != 0:
            raise AwsError([str(a) for a in args], p.returncode, p.stdout, p.stderr)
        out = p.stdout.strip()
        if out[:1] in ("{", "["):
            try:
                return json.loads(out)
            except ValueError:
                pass
        return p.stdout

    def aws_fail(self, *args, **kw):
        """aws CLI call that must fail; returns the AwsError (rc, stdout, stderr)."""
        p = self.aws_run(*args, **kw)
        if p.returncode == 0:
            raise AssertionError(f"aws {' '.join(map(str, args))} unexpectedly succeeded:\n"
                                 f"{p.stdout[-2000:]}")
        return AwsError([str(a) for a in args], p.returncode, p.stdout, p.stderr)

    def client(self, service, access_key=None, secret_key=None):
        """A boto3 client for status-code checks and fast polling."""
        import boto3
        from botocore.config import Config
        ck = (service, access_key, secret_key)
        if ck not in self._clients:
            cfg = Config(retries={"max_attempts": 1, "mode": "standard"},
                         s3={"addressing_style": "path"}, connect_timeout=10,
                         read_timeout=120, proxies={})
            self._clients[ck] = boto3.session.Session().client(
                service, endpoint_url=self.endpoint, region_name=self.region,
                aws_access_key_id=access_key or self.access_key,
                aws_secret_access_key=secret_key or self.secret_key, config=cfg)
        return self._clients[ck]

    def cattube(self, *args, timeout=60, check=True):
        """Runs the cattube binary (admin CLI) with the root credentials in env."""
        env = self.server_env()
        env["NO_PROXY"] = "*"
        p = subprocess.run([self.bin] + [str(a) for a in args], capture_output=True,
                           env=env, cwd=self.work, timeout=timeout, stdin=subprocess.DEVNULL,
                           encoding="utf-8", errors="replace")
        if check and p.returncode != 0:
            raise AssertionError(f"cattube {' '.join(map(str, args))} -> exit {p.returncode}\n"
                                 f"stdout: {p.stdout[-2000:]}\nstderr: {p.stderr[-4000:]}")
        return p

    def curl(self, url, *args, insecure=True, timeout=60):
        """curl one URL (loopback only). Follows no redirects. Returns CurlResponse."""
        u = urllib.parse.urlsplit(url)
        host = u.hostname or ""
        if host not in ("127.0.0.1", "localhost") and not host.endswith(".localhost"):
            raise AssertionError(f"refusing to fetch non-loopback URL {url}")
        port = u.port or (443 if u.scheme == "https" else 80)
        fd, body_path = tempfile.mkstemp(dir=self.work)
        os.close(fd)
        hdr_path = body_path + ".h"
        cmd = ["curl", "-sS", "--noproxy", "*", "--max-time", str(timeout), "-o", body_path,
               "-D", hdr_path, "-w", "%{http_code}", "--path-as-is"]
        if host != "127.0.0.1":
            cmd += ["--resolve", f"{host}:{port}:127.0.0.1"]
        if insecure:
            cmd.append("-k")
        cmd += [str(a) for a in args] + [url]
        try:
            p = subprocess.run(cmd, capture_output=True, timeout=timeout + 10, text=True)
            if p.returncode != 0:
                raise AssertionError(f"curl {url} failed ({p.returncode}): {p.stderr}")
            with open(body_path, "rb") as f:
                body = f.read()
            with open(hdr_path, "rb") as f:
                raw = f.read().decode("latin-1")
        finally:
            for q in (body_path, hdr_path):
                try:
                    os.unlink(q)
                except OSError:
                    pass
        blocks = [b for b in raw.replace("\r\n", "\n").split("\n\n") if b.strip()]
        headers = {}
        if blocks:
            for line in blocks[-1].split("\n")[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
        return CurlResponse(int(p.stdout.strip() or 0), headers, body, raw)

    # ---- MediaConvert helpers ----
    def get_job(self, job_id):
        return self.client("mediaconvert").get_job(Id=job_id)["Job"]

    def wait_job(self, job_id, timeout=None, poll=0.2, history=None):
        """Polls GetJob until COMPLETE/ERROR/CANCELED. Returns (job, history) where
        history is the list of (status, percent) transitions observed (appended
        to the given list, if any)."""
        timeout = timeout or JOB_TIMEOUT
        deadline = time.monotonic() + timeout
        history = list(history or [])
        job = None
        while time.monotonic() < deadline:
            if not self.alive():
                raise AssertionError(f"server died while job {job_id} ran (status "
                                     f"{self.proc.returncode})")
            job = self.get_job(job_id)
            st = (job["Status"], job.get("JobPercentComplete"))
            if not history or history[-1] != st:
                history.append(st)
            if job["Status"] in ("COMPLETE", "ERROR", "CANCELED"):
                return job, history
            time.sleep(poll)
        raise AssertionError(f"job {job_id} did not finish within {timeout:.0f} s; "
                             f"history {history}; last {json.dumps(job, default=str)[:3000]}")

    def wait_jobs_for_input(self, queue, file_input, count=1, timeout=30):
        """Waits until ListJobs(queue) shows `count` jobs whose first input is
        file_input; returns them."""
        mc = self.client("mediaconvert")
        deadline = time.monotonic() + timeout
        found = []
        while time.monotonic() < deadline:
            found = [j for j in list_all_jobs(mc, queue)
                     if job_file_input(j) == file_input]
            if len(found) >= count:
                return found
            time.sleep(0.25)
        return found


def make_user(srv, name, policy):
    """Creates IAM user name on srv with one identity policy; returns (key id, secret)."""
    out = json.loads(srv.cattube("admin", "user", "create", name, "--endpoint",
                                 srv.endpoint).stdout)["accessKey"]
    doc = os.path.join(srv.base, f"{name}.json")
    with open(doc, "w") as f:
        json.dump(policy, f)
    srv.cattube("admin", "user", "attach-policy", name, "--policy-document", f"file://{doc}",
                "--endpoint", srv.endpoint)
    return out["accessKeyId"], out["secretAccessKey"]


def make_test_ca(base):
    """A private CA and a certificate it signed for 127.0.0.1 and localhost
    (openssl, EC P-256), under base/tls: (ca.pem, cert.pem, key.pem) paths.
    ca.pem is what --ca-bundle / --origin-ca-file are given."""
    d = os.path.join(base, "tls")
    os.makedirs(d, exist_ok=True)
    ca, ca_key, cert, key, csr, ext = (os.path.join(d, n) for n in (
        "ca.pem", "ca-key.pem", "cert.pem", "key.pem", "cert.csr", "ext.cnf"))
    with open(ext, "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\n"
                "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    for cmd in (["req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2",
                 "-subj", "/CN=CatTube test CA"],
                ["req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"],
                ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
                 "-out", cert, "-days", "2", "-extfile", ext]):
        subprocess.run(["openssl", *cmd], check=True, capture_output=True)
    return ca, cert, key


def bad_ca_files(base):
    """[(path, the reason cattube gives)] for CA bundle options: a missing
    file, one with only a key, one whose certificate block does not parse."""
    keyonly, broken = os.path.join(base, "key-only.pem"), os.path.join(base, "broken.pem")
    with open(keyonly, "w") as f:
        f.write("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with open(broken, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    return [(os.path.join(base, "missing.pem"), "no such file"),
            (keyonly, "no PEM certificate"),
            (broken, "a certificate in it does not parse")]


class TlsFront:
    """https://127.0.0.1:PORT in front of a plain-HTTP port on loopback: a
    TLS-terminating TCP forwarder (Python's ssl module, so a real TLS
    handshake with cert/key) for clients that must verify a private CA.
    A client that refuses the certificate just ends its connection."""

    def __init__(self, backend_port, cert, key):
        self.backend_port = backend_port
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self.handshake_failures = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed by stop()
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            tls = self.ctx.wrap_socket(conn, server_side=True)
        except (OSError, ssl.SSLError):
            self.handshake_failures += 1
            conn.close()
            return
        up = socket.create_connection(("127.0.0.1", self.backend_port))
        try:
            while True:
                ready = [tls] if tls.pending() else select.select([tls, up], [], [], 120)[0]
                if not ready:
                    return
                for s in ready:
                    data = s.recv(1 << 16)
                    if not data:
                        return
                    (up if s is tls else tls).sendall(data)
        except (OSError, ssl.SSLError):
            pass
        finally:
            up.close()
            tls.close()

    def stop(self):
        self.sock.close()


def job_file_input(job):
    try:
        return job["Settings"]["Inputs"][0]["FileInput"]
    except (KeyError, IndexError, TypeError):
        return None


def list_all_jobs(mc, queue=None):
    jobs, token = [], None
    while True:
        kw = {"MaxResults": 20}
        if queue:
            kw["Queue"] = queue
        if token:
            kw["NextToken"] = token
        r = mc.list_jobs(**kw)
        jobs += r.get("Jobs", [])
        token = r.get("NextToken")
        if not token:
            return jobs


_SERVERS = []
_PROBLEMS = []


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("cattube"))
    srv = Server(base)
    _SERVERS.append(srv)
    try:
        srv.start()
    except Exception:
        srv.stop()
        _SERVERS.remove(srv)
        raise
    yield srv
    problems = srv.stop()
    _SERVERS.remove(srv)
    if problems:
        # Reported (and turned into a failing exit status) at session end:
        # raising here would be an internal error when -x stopped the run.
        _PROBLEMS.append("; ".join(problems) + "\n--- server log (tail) ---\n" +
                         "\n".join(srv.log_text().splitlines()[-200:]))


@pytest.fixture
def tmpdir_path(tmp_path):
    return tmp_path


# ---- attach the server's log lines to every failing test report ----
@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    item._cattube_log_off = {id(s): s.log_size() for s in _SERVERS}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    offs = getattr(item, "_cattube_log_off", {})
    for s in _SERVERS:
        text = s.log_text(offs.get(id(s), 0))
        lines = text.splitlines()
        if len(lines) > 300:
            lines = [f"... ({len(lines) - 300} earlier lines in {s.log_path})"] + lines[-300:]
        state = "running" if s.alive() else f"EXITED with {s.proc.returncode}"
        rep.sections.append((f"cattube server log during this test ({state})",
                             "\n".join(lines) or "(nothing logged)"))


# ---- a private temp root per pytest process (CTest runs files in parallel);
# removed when everything passed, kept (and named) when something failed ----
_OWN_BASETEMP = None


def pytest_configure(config):
    global _OWN_BASETEMP
    if not config.option.basetemp and not hasattr(config, "workerinput"):
        _OWN_BASETEMP = tempfile.mkdtemp(prefix="cattube-pytest-")
        config.option.basetemp = _OWN_BASETEMP


@pytest.hookimpl(hookwrapper=True)
def pytest_sessionfinish(session, exitstatus):
    yield  # session fixtures (the server) are torn down inside
    if _PROBLEMS:
        sys.stderr.write("\n\n===== cattube server problems =====\n" + "\n\n".join(_PROBLEMS)
                         + "\n")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if not _OWN_BASETEMP:
        return
    if session.exitstatus == 0 and os.environ.get("CATTUBE_KEEP_DATA") != "1":
        shutil.rmtree(_OWN_BASETEMP, ignore_errors=True)
    else:
        sys.stderr.write(f"\ncattube test files kept in {_OWN_BASETEMP}\n")
