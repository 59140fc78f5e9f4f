// The client against a real server: a throwaway PostgreSQL cluster, `backchannel serve`
// and a webhook receiver, all on loopback.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  BackchannelClient,
  BackchannelError,
  type DeepPartial,
  type Feedback,
  FeedbackKind,
  type FeedbackSentEvent,
  ProcessingStatus,
  RecipientType,
  status,
  type StreamEvent,
} from "../src";
import { BackchannelServer, eventually, freePort, PostgresCluster, startReceiver } from "./support/servers";

const SIGNING_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/** The brief's example feedback (README, walkthrough step 5), for a given lead. */
function exampleFeedback(leadId = "LC123456789"): DeepPartial<Feedback> {
  return {
    kind: FeedbackKind.FEEDBACK_KIND_CONVERSION,
    lead: { leadId, sourceId: "SOURCE_ABC" },
    feedbackTime: new Date("2024-01-15T10:30:00Z"),
    outcome: {
      status: "converted",
      occurTime: new Date("2024-01-14T15:45:00Z"),
      value: { currencyCode: "USD", amount: "1250.00" },
      product: "home_insurance",
    },
    quality: {
      overallScore: 85,
      dimensions: { data_quality: 90, conversion_likelihood: 80, customer_satisfaction: 88 },
    },
    attribution: { campaign: "winter_2024", creative: "banner_v2", keyword: "home insurance quotes" },
  };
}

let cluster: PostgresCluster;
let server: BackchannelServer;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let client: BackchannelClient;
const extraServers: BackchannelServer[] = [];
const extraClients: BackchannelClient[] = [];

async function createWebhookRecipient(c: BackchannelClient, id: string) {
  return c.createRecipient({
    id,
    displayName: `Recipient ${id}`,
    recipientType: RecipientType.RECIPIENT_TYPE_SOURCE,
    transport: "webhook",
    format: "json",
    transportSettings: { url: receiver.url },
    secretSettings: { signing_secrets: SIGNING_SECRET },
  });
}

before(async () => {
  cluster = await PostgresCluster.start();
  server = await BackchannelServer.start({ databaseUrl: cluster.url });
  receiver = await startReceiver();
  client = new BackchannelClient(server.address, { deadlineMs: 10_000 });
});

after(async () => {
  for (const c of [client, ...extraClients]) c?.close();
  for (const s of [server, ...extraServers]) await s?.stop();
  await receiver?.close();
  await cluster?.destroy();
});

test("sends the brief's example feedback and follows its event", async () => {
  const created = await createWebhookRecipient(client, "acme-leads");
  assert.equal(created.id, "acme-leads");
  assert.deepEqual(created.secretSettingNames, ["signing_secrets"]);
  assert.equal((await client.getRecipient("acme-leads")).transportSettings?.url, receiver.url);
  assert.ok((await client.listRecipients({ pageSize: 1 })).some((r) => r.id === "acme-leads"));

  const sent = await client.sendFeedback(exampleFeedback(), { recipientIds: ["acme-leads"] });
  const feedbackId = sent.feedback!.id;
  assert.match(feedbackId, /^fb_/);
  assert.match(sent.feedback!.requestId, /^[0-9a-f-]{36}$/);
  assert.equal(sent.feedback!.outcome?.value?.amount, "1250.00");
  assert.equal(sent.deliveries.length, 1);

  let event: FeedbackSentEvent | undefined;
  const stream = client.followEvents({ filter: { recipientIds: ["acme-leads"] }, fromBeginning: true });
  for await (const item of stream) {
    if (item.type === "event" && item.event.feedbackId === feedbackId) {
      event = item.event;
      break;
    }
  }
  assert.ok(event);
  assert.equal(event.processingStatus, ProcessingStatus.PROCESSING_STATUS_SUCCEEDED);
  assert.equal(event.responseStatus?.code, 204);
  assert.equal(event.leadId, "LC123456789");
  assert.equal(event.deliveryId, sent.deliveries[0].id);
  assert.match(event.contentSha256, /^[0-9a-f]{64}$/);
  assert.ok(event.cursor);
  assert.equal(stream.cursor, event.cursor);

  const delivered = receiver.received.filter((d) => d.headers["webhook-id"] === event!.deliveryId);
  assert.equal(delivered.length, 1);
  assert.match(delivered[0].body, /1250\.00/);

  const listed = await client.listEvents(`feedback_id = "${feedbackId}"`, { pageSize: 1 });
  assert.deepEqual(listed.map((e) => e.eventId), [event.eventId]);
  const got = await client.getFeedback(feedbackId);
  assert.equal(got.deliveries[0].attempts.length, 1);
});

test("retries with the same request id and stores one feedback", async () => {
  const port = await freePort();
  const early = new BackchannelClient(`127.0.0.1:${port}`, {
    retry: { maxAttempts: 100, initialBackoffMs: 50, maxBackoffMs: 300 },
  });
  extraClients.push(early);
  const retries: { requestId: string; code: number }[] = [];
  const sending = early.sendFeedback(exampleFeedback("LC-RETRY-1"), {
    recipientIds: ["acme-leads"],
    onRetry: (r) => retries.push({ requestId: r.requestId, code: r.error.code }),
  });
  await eventually(() => (retries.length >= 3 ? true : undefined));
  const late = await BackchannelServer.start({ databaseUrl: cluster.url, port });
  extraServers.push(late);
  const sent = await sending;

  const requestId = sent.feedback!.requestId;
  assert.ok(retries.every((r) => r.requestId === requestId && r.code === status.UNAVAILABLE), JSON.stringify(retries));
  const again = await early.sendFeedback(exampleFeedback("LC-RETRY-1"), { recipientIds: ["acme-leads"], requestId });
  assert.equal(again.feedback!.id, sent.feedback!.id);
  assert.deepEqual(again.deliveries.map((d) => d.id), sent.deliveries.map((d) => d.id));

  const events = await eventually(async () => {
    const found = await client.listEvents('lead_id = "LC-RETRY-1"');
    return found.length > 0 ? found : undefined;
  });
  await new Promise((resolve) => setTimeout(resolve, 1000));
  assert.equal((await client.listEvents('lead_id = "LC-RETRY-1"')).length, events.length);
  assert.equal(events.length, 1);
  assert.equal(receiver.received.filter((d) => d.body.includes("LC-RETRY-1")).length, 1);
});

test("INVALID_ARGUMENT surfaces the field violations", async () => {
  let retried = false;
  const error = await client
    .sendFeedback({ lead: { leadId: "" } }, { onRetry: () => (retried = true) })
    .then(() => assert.fail("expected an error"), (e: unknown) => e);
  assert.ok(error instanceof BackchannelError);
  assert.equal(error.code, status.INVALID_ARGUMENT);
  assert.equal(error.codeName, "INVALID_ARGUMENT");
  assert.equal(error.domain, "backchannel.dev");
  assert.ok(error.reason, "an ErrorInfo reason");
  const fields = error.fieldViolations.map((v) => v.field);
  assert.ok(fields.some((f) => f.includes("kind")), fields.join(", "));
  assert.ok(fields.some((f) => f.includes("lead")), fields.join(", "));
  assert.ok(error.fieldViolations.every((v) => v.description));
  assert.equal(retried, false);

  const missing = await client.getRecipient("no-such-recipient").catch((e: unknown) => e);
  assert.ok(missing instanceof BackchannelError);
  assert.equal(missing.code, status.NOT_FOUND);
  assert.ok(missing.reason);
});

test("followEvents resumes after a server restart without gaps or duplicates", async () => {
  const own = await BackchannelServer.start({ databaseUrl: cluster.url });
  extraServers.push(own);
  const port = own.port;
  const follower = new BackchannelClient(own.address, { retry: { initialBackoffMs: 100, maxBackoffMs: 500 } });
  extraClients.push(follower);
  await createWebhookRecipient(follower, "restart-leads");

  const abort = new AbortController();
  const seen: StreamEvent[] = [];
  const reconnects: { code: number; cursor: string }[] = [];
  const stream = follower.followEvents({
    filter: { recipientIds: ["restart-leads"] },
    fromBeginning: true,
    signal: abort.signal,
    onReconnect: (r) => reconnects.push({ code: r.error.code, cursor: r.cursor }),
  });
  const reading = (async () => {
    for await (const item of stream) seen.push(item);
  })();
  const seenLead = (lead: string) => () => (seen.some((s) => s.type === "event" && s.event.leadId === lead) ? true : undefined);

  await follower.sendFeedback(exampleFeedback("LC-RESTART-A"), { recipientIds: ["restart-leads"] });
  await eventually(seenLead("LC-RESTART-A"));

  await own.stop();
  // Recorded while the follower is disconnected (delivered by the other server).
  await client.sendFeedback(exampleFeedback("LC-RESTART-B"), { recipientIds: ["restart-leads"] });
  await eventually(async () => ((await client.listEvents('lead_id = "LC-RESTART-B"')).length ? true : undefined));
  const restarted = await BackchannelServer.start({ databaseUrl: cluster.url, port });
  extraServers.push(restarted);
  await follower.sendFeedback(exampleFeedback("LC-RESTART-C"), { recipientIds: ["restart-leads"] });
  await eventually(seenLead("LC-RESTART-B"));
  await eventually(seenLead("LC-RESTART-C"));

  // Everything the log holds for the recipient, once each, in order.
  const listed = await client.listEvents('recipient_id = "restart-leads"');
  assert.deepEqual(
    seen.map((s) => s.event.eventId),
    listed.map((e) => e.eventId),
  );
  assert.equal(new Set(seen.map((s) => s.event.eventId)).size, seen.length);
  assert.deepEqual(
    seen.map((s) => (s.type === "event" ? s.event.leadId : "")),
    ["LC-RESTART-A", "LC-RESTART-B", "LC-RESTART-C"],
  );

  // It did reconnect, each time resuming after a cursor (A's event or a later heartbeat).
  assert.ok(reconnects.length >= 1);
  assert.ok(reconnects.every((r) => r.cursor !== ""), JSON.stringify(reconnects));
  assert.ok(stream.cursor);

  console.log(`reconnects: ${JSON.stringify(reconnects.map((r) => status[r.code]))}`);
  abort.abort();
  await reading; // ends without an error
});
