// CatTube against the AWS SDK for JavaScript v3 at its modern defaults
// (requestChecksumCalculation and responseChecksumValidation WHEN_SUPPORTED):
// PutObject with CRC32 in a header (buffer bodies) and as an aws-chunked
// trailer (stream bodies: STREAMING-UNSIGNED-PAYLOAD-TRAILER), other
// algorithms, a ~12 MiB multipart upload through @aws-sdk/lib-storage, GETs
// (whose checksums the SDK validates) and HEADs with ChecksumMode ENABLED.
//
// Environment: CATTUBE_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_REGION, optional CATTUBE_BUCKET. Prints "OK" and exits 0 on success.
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { Readable } from "node:stream";
import zlib from "node:zlib";

const endpoint = process.env.CATTUBE_ENDPOINT;
const bucket = process.env.CATTUBE_BUCKET || "js-sdk-modern";
assert.ok(endpoint, "CATTUBE_ENDPOINT is not set");

const client = new S3Client({
  endpoint,
  region: process.env.AWS_REGION || "us-east-1",
  forcePathStyle: true,
  credentials: {
    accessKeyId: process.env.AWS_ACCESS_KEY_ID,
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,
  },
  maxAttempts: 1,
});

// Records what the SDK put on the wire (after signing) per operation.
const sent = [];
client.middlewareStack.add(
  (next, context) => async (args) => {
    const h = args.request.headers || {};
    sent.push({
      op: context.commandName,
      sha: h["x-amz-content-sha256"],
      trailer: h["x-amz-trailer"],
      checksums: Object.keys(h).filter((k) => k.startsWith("x-amz-checksum-")),
    });
    return next(args);
  },
  { step: "deserialize", name: "cattubeRecordRequest" },
);

const be = (n, bytes) => {
  const b = Buffer.alloc(bytes);
  if (bytes === 4) b.writeUInt32BE(n >>> 0);
  else b.writeBigUInt64BE(n);
  return b;
};
const crc32 = (data) => be(zlib.crc32(data), 4);
const b64 = (buf) => buf.toString("base64");
const sha256 = (data) => crypto.createHash("sha256").update(data).digest();

function body(size, seed) {
  const b = Buffer.alloc(size);
  let x = seed >>> 0;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

async function readAll(stream) {
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  return Buffer.concat(chunks);
}

async function getBack(key, data) {
  const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const got = await readAll(r.Body);
  assert.ok(got.equals(data), `GET ${key}: bytes differ (${got.length} vs ${data.length})`);
  return r;
}

async function head(key) {
  return client.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: "ENABLED" }));
}

async function createBucket() {
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (e) {
    if (e.name !== "BucketAlreadyOwnedByYou") throw e;
  }
}

// Default checksum, buffer body: CRC32 in the x-amz-checksum-crc32 header.
async function putBuffer() {
  const data = body(300 * 1024, 1);
  const r = await client.send(new PutObjectCommand({ Bucket: bucket, Key: "buffer.bin", Body: data }));
  assert.equal(r.ChecksumCRC32, b64(crc32(data)));
  const last = sent.at(-1);
  assert.deepEqual(last.checksums, ["x-amz-checksum-crc32"], JSON.stringify(last));
  const g = await getBack("buffer.bin", data);
  assert.equal(g.ChecksumCRC32, b64(crc32(data)), "GET (ChecksumMode set by the SDK)");
  const h = await head("buffer.bin");
  assert.equal(h.ChecksumCRC32, b64(crc32(data)));
  assert.equal(h.ChecksumType, "FULL_OBJECT");
}

// Default checksum, stream body: aws-chunked with an x-amz-checksum-crc32 trailer.
async function putStream(key, algorithm, size, seed) {
  const data = body(size, seed);
  const input = { Bucket: bucket, Key: key, Body: Readable.from([data.subarray(0, 70000), data.subarray(70000)]),
    ContentLength: data.length };
  if (algorithm) input.ChecksumAlgorithm = algorithm;
  const r = await client.send(new PutObjectCommand(input));
  const last = sent.at(-1);
  const algo = (algorithm || "CRC32").toLowerCase();
  assert.equal(last.sha, "STREAMING-UNSIGNED-PAYLOAD-TRAILER", JSON.stringify(last));
  assert.equal(last.trailer, `x-amz-checksum-${algo}`, JSON.stringify(last));
  const member = `Checksum${algo.toUpperCase()}`;
  assert.ok(r[member], `PutObject returned no ${member}`);
  if (algo === "crc32") assert.equal(r[member], b64(crc32(data)));
  if (algo === "sha256") assert.equal(r[member], b64(sha256(data)));
  await getBack(key, data);
  const h = await head(key);
  assert.equal(h[member], r[member], `HEAD ${key} ${member}`);
}

// lib-storage: CreateMultipartUpload with ChecksumAlgorithm CRC32, parts with
// CRC32 headers, Complete with each part's ChecksumCRC32.
async function multipart() {
  const data = body(12 * 1024 * 1024 + 4321, 7);
  const up = new Upload({ client, params: { Bucket: bucket, Key: "big.bin", Body: data }, queueSize: 2 });
  const r = await up.done();
  assert.match(r.ETag, /-3"$/, `ETag ${r.ETag}`);
  const size = 5 * 1024 * 1024;
  const parts = [data.subarray(0, size), data.subarray(size, 2 * size), data.subarray(2 * size)];
  const composite = `${b64(crc32(Buffer.concat(parts.map(crc32))))}-3`;
  assert.equal(r.ChecksumCRC32, composite, "CompleteMultipartUpload ChecksumCRC32");
  const ops = sent.map((s) => s.op);
  assert.ok(ops.includes("UploadPartCommand") && ops.includes("CompleteMultipartUploadCommand"), ops.join());
  for (const s of sent.filter((s) => s.op === "UploadPartCommand"))
    assert.ok(s.checksums.includes("x-amz-checksum-crc32") || s.trailer === "x-amz-checksum-crc32", JSON.stringify(s));
  await getBack("big.bin", data);
  const h = await head("big.bin");
  assert.equal(h.ChecksumCRC32, composite);
  assert.equal(h.ChecksumType, "COMPOSITE");
  assert.equal(Number(h.ContentLength), data.length);
}

await createBucket();
await putBuffer();
await putStream("stream-crc32.bin", undefined, 200000, 2);
await putStream("stream-crc32c.bin", "CRC32C", 150000, 3);
await putStream("stream-crc64nvme.bin", "CRC64NVME", 150000, 4);
await putStream("stream-sha256.bin", "SHA256", 90000, 5);
await multipart();
console.log("OK");
