// The client against a server that requires a bearer token (BACKCHANNEL_AUTH=on): the
// token goes with every call and stream; without it, or with an unknown one, the server
// answers UNAUTHENTICATED; and the client never sends it in plaintext to another machine.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { BackchannelClient, BackchannelError, FeedbackKind, RecipientType, status } from "../src";
import { BackchannelServer, bootstrapToken, PostgresCluster, startReceiver } from "./support/servers";

let cluster: PostgresCluster;
let server: BackchannelServer;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let token: string;
const clients: BackchannelClient[] = [];

function clientWith(options: ConstructorParameters<typeof BackchannelClient>[1]): BackchannelClient {
  const client = new BackchannelClient(server.address, options);
  clients.push(client);
  return client;
}

before(async () => {
  cluster = await PostgresCluster.start();
  server = await BackchannelServer.start({ databaseUrl: cluster.url, env: { BACKCHANNEL_AUTH: "on" } });
  token = await bootstrapToken(cluster.url);
  receiver = await startReceiver();
});

after(async () => {
  for (const c of clients) c.close();
  await server?.stop();
  await receiver?.close();
  await cluster?.destroy();
});

test("without a token, or with an unknown one, calls are UNAUTHENTICATED", async () => {
  for (const options of [{}, { token: "bck_" + "A".repeat(43) }]) {
    const error = await clientWith(options)
      .listRecipients()
      .then(() => assert.fail("expected UNAUTHENTICATED"), (e: unknown) => e);
    assert.ok(error instanceof BackchannelError);
    assert.equal(error.code, status.UNAUTHENTICATED);
  }
});

test("the token goes with every call and with the event stream", async () => {
  const client = clientWith({ token: () => token });
  await client.createRecipient({
    id: "token-leads",
    recipientType: RecipientType.RECIPIENT_TYPE_SOURCE,
    transport: "webhook",
    transportSettings: { url: receiver.url },
  });
  const sent = await client.sendFeedback(
    { kind: FeedbackKind.FEEDBACK_KIND_CONVERSION, lead: { leadId: "LC-TOKEN", sourceId: "SOURCE_ABC" } },
    { recipientIds: ["token-leads"] },
  );
  let seen = false;
  for await (const item of client.followEvents({ fromBeginning: true, signal: AbortSignal.timeout(30_000) })) {
    if (item.type === "event" && item.event.feedbackId === sent.feedback!.id) {
      seen = true;
      break;
    }
  }
  assert.ok(seen, "the event was streamed within 30 s");
});

test("a token is never sent in plaintext to another machine", () => {
  assert.throws(() => new BackchannelClient("10.1.2.3:50051", { token }), /plaintext connection to 10\.1\.2\.3/);
  clientWith({ token }); // loopback
  clients.push(new BackchannelClient("10.1.2.3:50051", { token, insecure: true }));
});
