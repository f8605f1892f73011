// Every MediaConvert operation of issue 5 through @aws-sdk/client-mediaconvert
// against `cattube serve`. Prints one JSON object {step: {ok, out | err}} on
// stdout; tests/integration/test_mc_js.py asserts on it. Nothing is asserted
// here, so one incompatibility shows up as one failing check in Python
// instead of hiding the steps after it.
//
// Env: CATTUBE_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION,
// CATTUBE_SEED_JOB (path of examples/seed/job.json), CATTUBE_PREFIX (names),
// CATTUBE_PROBE_URL (s3:// URL of a clip for Probe, optional), CATTUBE_PROBE_JUNK_URL,
// CATTUBE_USER_AK/SK (an IAM user for Probe's permission check, optional).
import { readFileSync } from "node:fs";
import * as mcsdk from "@aws-sdk/client-mediaconvert";

const {
  MediaConvertClient, DescribeEndpointsCommand, CreateQueueCommand, GetQueueCommand,
  ListQueuesCommand, UpdateQueueCommand, DeleteQueueCommand, CreatePresetCommand,
  GetPresetCommand, ListPresetsCommand, UpdatePresetCommand, DeletePresetCommand,
  CreateJobTemplateCommand, GetJobTemplateCommand, ListJobTemplatesCommand,
  UpdateJobTemplateCommand, DeleteJobTemplateCommand, CreateJobCommand, GetJobCommand,
  ListJobsCommand, CancelJobCommand, SearchJobsCommand, ProbeCommand,
} = mcsdk;

const env = process.env;
const P = env.CATTUBE_PREFIX || "js";
const client = new MediaConvertClient({
  endpoint: env.CATTUBE_ENDPOINT,
  region: env.AWS_REGION || "us-east-1",
  credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY },
  maxAttempts: 1,
});
const results = {};

function strip(o) {
  if (o && typeof o === "object" && "$metadata" in o) {
    const { $metadata, ...rest } = o;
    return { status: $metadata.httpStatusCode, ...rest };
  }
  return o;
}

async function step(name, Cmd, input) {
  try {
    const out = strip(await client.send(new Cmd(input)));
    results[name] = { ok: true, out };
    return out;
  } catch (e) {
    results[name] = {
      ok: false,
      err: { name: e.name, status: e.$metadata?.httpStatusCode, message: e.message },
    };
    return null;
  }
}

const seed = JSON.parse(readFileSync(env.CATTUBE_SEED_JOB, "utf8"));
const settings = (input) => {
  const s = structuredClone(seed.Settings);
  s.Inputs[0].FileInput = input;
  return s;
};
const role = seed.Role;
const paused = `${P}-paused`, q2 = `${P}-q2`, tmpl = `${P}-tmpl`, preset = `${P}-preset`;

results.sdkVersion = { ok: true, out: JSON.parse(readFileSync(new URL(
  "./node_modules/@aws-sdk/client-mediaconvert/package.json", import.meta.url), "utf8")).version };
results.sdkHasSearchJobs = { ok: true, out: typeof SearchJobsCommand === "function" };
results.sdkHasProbe = { ok: true, out: typeof ProbeCommand === "function" };

// ---- endpoints and queues ----
await step("describeEndpoints", DescribeEndpointsCommand, { MaxResults: 5 });
await step("createQueuePaused", CreateQueueCommand,
  { Name: paused, Status: "PAUSED", Description: "held", Tags: { team: "js" } });
await step("createQueue2", CreateQueueCommand, { Name: q2, PricingPlan: "ON_DEMAND" });
await step("createQueueDup", CreateQueueCommand, { Name: q2 });
await step("getQueue", GetQueueCommand, { Name: paused });
await step("getQueueMissing", GetQueueCommand, { Name: `${P}-nope` });
const lq1 = await step("listQueuesPage1", ListQueuesCommand,
  { MaxResults: 1, ListBy: "NAME", Order: "ASCENDING" });
if (lq1?.NextToken)
  await step("listQueuesPage2", ListQueuesCommand,
    { MaxResults: 20, ListBy: "NAME", Order: "ASCENDING", NextToken: lq1.NextToken });
await step("listQueuesByDate", ListQueuesCommand, { ListBy: "CREATION_DATE", Order: "DESCENDING" });
await step("updateQueuePause", UpdateQueueCommand, { Name: q2, Status: "PAUSED", Description: "d2" });
await step("updateQueueResume", UpdateQueueCommand, { Name: q2, Status: "ACTIVE" });
await step("updateQueueBadStatus", UpdateQueueCommand, { Name: q2, Status: "SLEEPING" });
// per-queue concurrency: ConcurrentJobs (ON_DEMAND) and a RESERVED plan's ReservedSlots
const lim = `${P}-limited`, rsv = `${P}-reserved`;
await step("createQueueLimited", CreateQueueCommand, { Name: lim, ConcurrentJobs: 2 });
await step("updateQueueLimit", UpdateQueueCommand, { Name: lim, ConcurrentJobs: 1 });
await step("updateQueueLimitBad", UpdateQueueCommand, { Name: lim, ConcurrentJobs: 0 });
await step("getQueueLimited", GetQueueCommand, { Name: lim });
await step("createQueueReserved", CreateQueueCommand, {
  Name: rsv, PricingPlan: "RESERVED",
  ReservationPlanSettings: { Commitment: "ONE_YEAR", RenewalType: "AUTO_RENEW", ReservedSlots: 3 },
});
await step("updateQueueReservedBad", UpdateQueueCommand, { Name: rsv, ConcurrentJobs: 2 });
await step("deleteQueueLimited", DeleteQueueCommand, { Name: lim });
await step("deleteQueueReserved", DeleteQueueCommand, { Name: rsv });

// ---- presets ----
const hd = seed.Settings.OutputGroups[0].Outputs[0];
await step("createPreset", CreatePresetCommand, {
  Name: preset, Category: `${P}-cat`, Description: "hd",
  Settings: { ContainerSettings: hd.ContainerSettings, VideoDescription: hd.VideoDescription,
    AudioDescriptions: [{ CodecSettings: hd.AudioDescriptions[0].CodecSettings }] },
});
await step("getPreset", GetPresetCommand, { Name: preset });
await step("listPresetsCategory", ListPresetsCommand, { Category: `${P}-cat`, MaxResults: 20 });
await step("listPresetsOtherCategory", ListPresetsCommand, { Category: `${P}-none` });
await step("updatePreset", UpdatePresetCommand, { Name: preset, Description: "hd v2", Category: `${P}-cat2` });

// ---- job templates ----
const tsettings = structuredClone(seed.Settings);
delete tsettings.Inputs[0].FileInput;
tsettings.OutputGroups[0].Outputs[0] = { Preset: preset, NameModifier: "-hd" };
const ct = await step("createJobTemplate", CreateJobTemplateCommand, {
  Name: tmpl, Category: `${P}-cat`, Description: "t", Queue: paused, Priority: 7,
  StatusUpdateInterval: "SECONDS_10", Settings: tsettings,
});
await step("getJobTemplate", GetJobTemplateCommand, { Name: tmpl });
await step("listJobTemplatesCategory", ListJobTemplatesCommand,
  { Category: `${P}-cat`, ListBy: "NAME", Order: "ASCENDING", MaxResults: 20 });
await step("updateJobTemplate", UpdateJobTemplateCommand, { Name: tmpl, Description: "t2", Priority: 8 });

// ---- jobs ----
const pausedArn = results.getQueue?.out?.Queue?.Arn;
const base = { Role: role, Queue: paused };
await step("createJob", CreateJobCommand, {
  ...base, Settings: settings(`s3://${P}-src/a.mov`), Priority: 50, ClientRequestToken: `${P}-tok1`,
  UserMetadata: { owner: "js", "café": "ü" }, StatusUpdateInterval: "SECONDS_12",
  AccelerationSettings: { Mode: "DISABLED" },
});
await step("createJobRepeat", CreateJobCommand, {
  ...base, Settings: settings(`s3://${P}-src/a.mov`), Priority: 50, ClientRequestToken: `${P}-tok1`,
  UserMetadata: { owner: "js", "café": "ü" }, StatusUpdateInterval: "SECONDS_12",
});
await step("createJobQueueArn", CreateJobCommand, {
  Role: role, Queue: pausedArn, Settings: settings(`s3://${P}-src/b.mov`), Priority: -50,
});
await step("createJobPriorityTooHigh", CreateJobCommand,
  { ...base, Settings: settings(`s3://${P}-src/c.mov`), Priority: 51 });
await step("createJobFromTemplate", CreateJobCommand, {
  Role: role, JobTemplate: ct?.JobTemplate?.Arn || tmpl, UserMetadata: { t: "1" },
  Settings: {
    Inputs: [{ FileInput: `s3://${P}-src/tmpl.mov` }],
    OutputGroups: [{ OutputGroupSettings: { Type: "FILE_GROUP_SETTINGS",
      FileGroupSettings: { Destination: `s3://${P}-dst/over/` } } }],
  },
});
await step("createJobTemplatePriorityOverride", CreateJobCommand, {
  Role: role, JobTemplate: tmpl, Priority: -3, Queue: q2, StatusUpdateInterval: "SECONDS_15",
  Settings: { Inputs: [{ FileInput: `s3://${P}-src/tmpl2.mov` }] },
});
await step("createJobMissingTemplate", CreateJobCommand,
  { Role: role, JobTemplate: `${P}-no-tmpl`, Settings: { Inputs: [{ FileInput: "s3://bkt/k.mov" }] } });
await step("createJobMissingQueue", CreateJobCommand,
  { Role: role, Queue: `${P}-no-queue`, Settings: settings("s3://bkt/k.mov") });
const jobId = results.createJob?.out?.Job?.Id;
await step("getJob", GetJobCommand, { Id: jobId });
await step("getJobMissing", GetJobCommand, { Id: "0000000000000-nojob" });

const ids = [];
for (let i = 0; i < 3; i++) {
  const r = await step(`createJobPage${i}`, CreateJobCommand,
    { ...base, Settings: settings(`s3://${P}-src/page${i}.mov`) });
  if (r) ids.push(r.Job.Id);
}
const l1 = await step("listJobsPage1", ListJobsCommand,
  { Queue: paused, Status: "SUBMITTED", Order: "ASCENDING", MaxResults: 1 });
if (l1?.NextToken)
  await step("listJobsPage2", ListJobsCommand,
    { Queue: paused, Status: "SUBMITTED", Order: "ASCENDING", MaxResults: 20, NextToken: l1.NextToken });
await step("listJobsDesc", ListJobsCommand, { Queue: pausedArn, Order: "DESCENDING", MaxResults: 20 });
await step("listJobsMax21", ListJobsCommand, { Queue: paused, MaxResults: 21 });
await step("listJobsBadStatus", ListJobsCommand, { Status: "DONE" });
await step("listJobsBadToken", ListJobsCommand, { NextToken: "garbage!" });

// ---- SearchJobs ----
if (SearchJobsCommand) {
  await step("searchInputFile", SearchJobsCommand, { InputFile: `s3://${P}-src/page1.mov` });
  await step("searchInputFilePartial", SearchJobsCommand, { InputFile: "page", Queue: paused });
  await step("searchQueueStatus", SearchJobsCommand,
    { Queue: pausedArn, Status: "SUBMITTED", Order: "ASCENDING", MaxResults: 20 });
  const s1 = await step("searchPage1", SearchJobsCommand,
    { Queue: paused, InputFile: `${P}-src`, MaxResults: 2, Order: "DESCENDING" });
  if (s1?.NextToken)
    await step("searchPage2", SearchJobsCommand,
      { Queue: paused, InputFile: `${P}-src`, MaxResults: 20, Order: "DESCENDING",
        NextToken: s1.NextToken });
  await step("searchBadMax", SearchJobsCommand, { MaxResults: 0 });
}

// ---- DeleteQueue conflict, cancel, cleanup ----
await step("deleteQueueConflict", DeleteQueueCommand, { Name: paused });
await step("cancelJob", CancelJobCommand, { Id: jobId });
await step("getJobCanceled", GetJobCommand, { Id: jobId });
await step("cancelJobAgain", CancelJobCommand, { Id: jobId });
await step("cancelJobMissing", CancelJobCommand, { Id: "0000000000000-nojob" });
const all = [];
for (let tok; ;) {
  const r = await client.send(new ListJobsCommand({ Queue: paused, Status: "SUBMITTED", NextToken: tok }));
  all.push(...r.Jobs.map((j) => j.Id));
  if (!(tok = r.NextToken)) break;
}
const q2jobs = await client.send(new ListJobsCommand({ Queue: q2, Status: "SUBMITTED" }));
for (const id of all.concat(q2jobs.Jobs.map((j) => j.Id))) {
  try {
    await client.send(new CancelJobCommand({ Id: id }));
  } catch (e) { /* a job of the active queue may have finished meanwhile */ }
}
if (SearchJobsCommand)
  await step("searchCanceled", SearchJobsCommand, { Queue: paused, Status: "CANCELED", MaxResults: 20 });
await step("deleteQueue", DeleteQueueCommand, { Name: paused });
await step("deleteQueue2", DeleteQueueCommand, { Name: q2 });
await step("getQueueDeleted", GetQueueCommand, { Name: paused });
await step("deleteJobTemplate", DeleteJobTemplateCommand, { Name: tmpl });
await step("getJobTemplateDeleted", GetJobTemplateCommand, { Name: tmpl });
await step("deletePreset", DeletePresetCommand, { Name: preset });
await step("getPresetDeleted", GetPresetCommand, { Name: preset });
await step("deletePresetMissing", DeletePresetCommand, { Name: preset });

// ---- real jobs in Default: one COMPLETE, one ERROR, read back through the SDK ----
if (env.CATTUBE_PROBE_URL) {
  const tiny = (input, dest) => ({
    Role: role, UserMetadata: { real: "1" },
    Settings: {
      Inputs: [{ FileInput: input, AudioSelectors: { "Audio Selector 1": { DefaultSelection: "DEFAULT" } } }],
      OutputGroups: [{ Name: "File Group",
        OutputGroupSettings: { Type: "FILE_GROUP_SETTINGS", FileGroupSettings: { Destination: dest } },
        Outputs: [{ NameModifier: "-tiny", ContainerSettings: { Container: "MP4", Mp4Settings: {} },
          VideoDescription: { Width: 64, Height: 48, CodecSettings: { Codec: "H_264",
            H264Settings: { RateControlMode: "QVBR", MaxBitrate: 200000 } } },
          AudioDescriptions: [{ CodecSettings: { Codec: "AAC", AacSettings: {
            Bitrate: 64000, CodingMode: "CODING_MODE_2_0", SampleRate: 48000 } } }] }] }],
    },
  });
  const bucket = env.CATTUBE_PROBE_URL.split("/")[2];
  const good = await step("createJobReal", CreateJobCommand,
    tiny(env.CATTUBE_PROBE_URL, `s3://${bucket}/out/`));
  const bad = await step("createJobJunk", CreateJobCommand,
    tiny(env.CATTUBE_PROBE_JUNK_URL, `s3://${bucket}/out-junk/`));
  for (const [name, created] of [["getJobComplete", good], ["getJobError", bad]]) {
    if (!created) continue;
    const deadline = Date.now() + 150000;
    while (Date.now() < deadline) {
      const r = await step(name, GetJobCommand, { Id: created.Job.Id });
      if (!r || ["COMPLETE", "ERROR", "CANCELED"].includes(r.Job.Status)) break;
      await new Promise((res) => setTimeout(res, 200));
    }
  }
  await step("searchComplete", SearchJobsCommand,
    { InputFile: env.CATTUBE_PROBE_URL.split("/").pop(), Status: "COMPLETE" });
}

// ---- Probe ----
if (ProbeCommand && env.CATTUBE_PROBE_URL) {
  await step("probe", ProbeCommand, { InputFiles: [{ FileUrl: env.CATTUBE_PROBE_URL }] });
  await step("probeMissing", ProbeCommand, { InputFiles: [{ FileUrl: `s3://${P}-nobucket/x.mov` }] });
  await step("probeNoKey", ProbeCommand,
    { InputFiles: [{ FileUrl: env.CATTUBE_PROBE_URL.replace(/[^/]*$/, "none.mov") }] });
  await step("probeJunk", ProbeCommand, { InputFiles: [{ FileUrl: env.CATTUBE_PROBE_JUNK_URL }] });
  await step("probeHttp", ProbeCommand, { InputFiles: [{ FileUrl: "https://example.com/a.mp4" }] });
  if (env.CATTUBE_USER_AK) {
    // an IAM user allowed mediaconvert:* and s3:GetObject on <probe bucket>/dir/* only
    const user = new MediaConvertClient({
      endpoint: env.CATTUBE_ENDPOINT, region: env.AWS_REGION || "us-east-1", maxAttempts: 1,
      credentials: { accessKeyId: env.CATTUBE_USER_AK, secretAccessKey: env.CATTUBE_USER_SK },
    });
    for (const [name, url] of [["probeUserAllowed", env.CATTUBE_PROBE_URL],
                               ["probeUserDenied", env.CATTUBE_PROBE_JUNK_URL]]) {
      try {
        results[name] = { ok: true, out: strip(await user.send(new ProbeCommand(
          { InputFiles: [{ FileUrl: url }] }))) };
      } catch (e) {
        results[name] = { ok: false, err: { name: e.name, status: e.$metadata?.httpStatusCode,
          message: e.message } };
      }
    }
  }
  await step("probeTwo", ProbeCommand,
    { InputFiles: [{ FileUrl: env.CATTUBE_PROBE_URL }, { FileUrl: env.CATTUBE_PROBE_URL }] });
}

process.stdout.write(JSON.stringify(results) + "\n");
