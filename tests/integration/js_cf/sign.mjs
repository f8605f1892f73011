// CatTube integration test helper: signs CloudFront URLs / cookies with the
// real @aws-sdk/cloudfront-signer. Usage: node sign.mjs '<json>' where json is
//   {"mode": "url"|"cookies", "url": ..., "keyPairId": ..., "privateKeyFile": ...,
//    "dateLessThan": ISO or epoch-seconds, "dateGreaterThan"?, "ipAddress"?,
//    "policy"? (a custom policy JSON string), "algorithm"? ("SHA1"|"SHA256")}
// Prints {"url": signedUrl} or {"cookies": {...}} as JSON on stdout.
import { readFileSync } from "node:fs";
import { getSignedCookies, getSignedUrl } from "@aws-sdk/cloudfront-signer";

const p = JSON.parse(process.argv[2]);
const date = (v) => (typeof v === "number" ? new Date(v * 1000).toISOString() : v);
const args = {
  keyPairId: p.keyPairId,
  privateKey: readFileSync(p.privateKeyFile, "utf8"),
};
if (p.url) args.url = p.url;
if (p.policy) args.policy = p.policy;
if (p.dateLessThan !== undefined) args.dateLessThan = date(p.dateLessThan);
if (p.dateGreaterThan !== undefined) args.dateGreaterThan = date(p.dateGreaterThan);
if (p.ipAddress) args.ipAddress = p.ipAddress;
if (p.algorithm) args.algorithm = p.algorithm;

const out = p.mode === "cookies" ? { cookies: getSignedCookies(args) } : { url: getSignedUrl(args) };
process.stdout.write(JSON.stringify(out) + "\n");
