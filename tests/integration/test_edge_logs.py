"""Edge access logs (CloudFront standard format) and /metrics."""
import os
import re
import time
import uuid


def _dist(server):
    bucket = "logs-" + uuid.uuid4().hex[:10]
    server.aws("s3api", "create-bucket", "--bucket", bucket)
    body = os.path.join(server.work, "log-body.txt")
    with open(body, "w") as f:
        f.write("0123456789" * 10)
    server.aws("s3api", "put-object", "--bucket", bucket, "--key", "a b.txt", "--body", body,
               "--content-type", "text/plain")
    import json
    # No origin access control: the edge reads anonymously, so the bucket is public
    # (List too, so a missing key is a 404 rather than a 403).
    server.client("s3").put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
             "Resource": f"arn:aws:s3:::{bucket}/*"},
            {"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket",
             "Resource": f"arn:aws:s3:::{bucket}"}]}))
    cfg = {"CallerReference": uuid.uuid4().hex, "Comment": "", "Enabled": True,
           "Origins": {"Quantity": 1, "Items": [{"Id": "o", "DomainName": bucket,
                                                 "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
           "DefaultCacheBehavior": {"TargetOriginId": "o",
                                    "ViewerProtocolPolicy": "allow-all"}}
    p = os.path.join(server.work, "logcfg.json")
    with open(p, "w") as f:
        json.dump(cfg, f)
    return server.aws("cloudfront", "create-distribution", "--distribution-config",
                      "file://" + p)["Distribution"]


def _lines(server):
    with open(os.path.join(server.data_dir, "edge", "access.log")) as f:
        return f.read().splitlines()


def test_access_log_format(server):
    d = _dist(server)
    host = d["DomainName"]
    r = server.curl(f"https://{host}:{server.edge_https_port}/a%20b.txt?x=1", "-A", "my agent",
                    "-H", "Range: bytes=2-5")
    assert r.status == 206
    r = server.curl(f"https://{host}:{server.edge_https_port}/missing", "-A",
                    "q\"u'o\\te\u00e9~")
    assert r.status == 404
    deadline = time.time() + 5
    while time.time() < deadline:
        lines = _lines(server)
        if sum(1 for x in lines if "/missing" in x) >= 1:
            break
        time.sleep(0.1)
    assert lines[0] == "#Version: 1.0"
    fields = lines[1].split(" ")[1:]
    assert fields[0] == "date" and fields[-1] == "sc-range-end" and len(fields) == 33
    hit = [x.split("\t") for x in lines if "a%20b.txt" in x][-1]
    assert len(hit) == 33
    assert re.match(r"\d{4}-\d\d-\d\d$", hit[0]) and re.match(r"\d\d:\d\d:\d\d$", hit[1])
    assert hit[3] == "4" and hit[5] == "GET" and hit[6] == host
    assert hit[7] == "/a%20b.txt" and hit[8] == "206"
    assert hit[9] == "-" and hit[10] == "my%20agent" and hit[11] == "x=1"
    assert hit[13] in ("Hit", "Miss") and hit[16] == "https"
    assert hit[29] == "text/plain" and hit[31] == "2" and hit[32] == "5"
    miss = [x.split("\t") for x in lines if "/missing" in x][-1]
    assert miss[8] == "404" and miss[13] == "Error"
    assert miss[10] == "q%22u%27o%5Cte%C3%A9~"  # quotes, backslash, non-ASCII escaped


def test_metrics(server):
    d = _dist(server)
    url = f"https://{d['DomainName']}:{server.edge_https_port}/a%20b.txt"
    for _ in range(3):
        assert server.curl(url).status == 200
    r = server.curl(server.edge_http + "/metrics")
    assert r.status == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.body.decode()
    vals = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            vals[k] = float(v)
    assert vals['cattube_edge_requests_total{status="200"}'] >= 3
    assert vals["cattube_edge_bytes_sent_total"] >= 300
    assert vals["cattube_edge_cache_hits_total"] >= 2
    assert vals["cattube_edge_cache_misses_total"] >= 1
    assert "cattube_edge_cache_evictions_total" in vals
    assert vals['cattube_edge_origin_latency_seconds_bucket{le="+Inf"}'] == \
        vals["cattube_edge_origin_latency_seconds_count"] >= 1
    assert 'cattube_edge_origin_latency_seconds_bucket{le="0.001"}' in vals
    assert "# TYPE cattube_edge_origin_latency_seconds histogram" in text
