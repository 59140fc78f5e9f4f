// The client against a real Backchannel that requires TLS and a client certificate signed
// by its CA (clients/testserver/start.py --tls mtls; certificates made by it with
// Python's cryptography): served with the CA and the client certificate and otherwise
// default options; refused without a certificate or with a forged one; and the bearer
// token travels with the client certificate.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { Server, ServerCredentials, type ServerUnaryCall, type sendUnaryData } from "@grpc/grpc-js";
import {
  BackchannelClient,
  BackchannelError,
  FeedbackKind,
  FeedbackServiceService,
  type FeedbackServiceServer,
  GetFeedbackResponse,
  type GetFeedbackRequest,
  status,
  tlsFromFiles,
} from "../src";
import { TestServer } from "./support/testserver";

let server: TestServer;
const clients: BackchannelClient[] = [];

before(async () => {
  server = await TestServer.start("mtls");
});

after(async () => {
  for (const c of clients) c.close();
  await server?.stop();
});

function mtlsClient(certFile?: string, keyFile?: string, options: { once?: boolean } = {}): BackchannelClient {
  const tls = tlsFromFiles({ caFile: server.values.BACKCHANNEL_CA_FILE, certFile, keyFile });
  const client = new BackchannelClient(server.address, options.once ? { tls, retry: { maxAttempts: 1 } } : { tls });
  clients.push(client);
  return client;
}

test("with the CA and a client certificate, a client with default options is served", async () => {
  const client = mtlsClient(server.values.BACKCHANNEL_CERT_FILE, server.values.BACKCHANNEL_KEY_FILE);

  const answer = await client.sendFeedback({
    kind: FeedbackKind.FEEDBACK_KIND_QUALITY,
    lead: { leadId: "LC-TLS", sourceId: "SOURCE_ABC" },
    quality: { overallScore: 85 },
  });
  const stored = await client.getFeedback(answer.feedback!.id);

  assert.equal(stored.feedback?.lead?.leadId, "LC-TLS");
  assert.deepEqual(await client.listRecipients(), []);
});

async function refusal(client: BackchannelClient): Promise<BackchannelError> {
  try {
    await client.getFeedback("fb_nothing");
  } catch (error) {
    assert.ok(error instanceof BackchannelError);
    return error;
  }
  throw new Error("the call was served");
}

test("without a client certificate the handshake is refused (UNAVAILABLE)", async () => {
  const error = await refusal(mtlsClient(undefined, undefined, { once: true }));

  assert.equal(error.code, status.UNAVAILABLE);
});

test("a forged client certificate (another CA) is refused (UNAVAILABLE)", async () => {
  const error = await refusal(
    mtlsClient(server.values.BACKCHANNEL_FORGED_CERT_FILE, server.values.BACKCHANNEL_FORGED_KEY_FILE, { once: true }),
  );

  assert.equal(error.code, status.UNAVAILABLE);
});

test("half a client certificate is refused before connecting", () => {
  assert.throws(
    () => new BackchannelClient(server.address, { tls: { certChain: readFileSync(server.values.BACKCHANNEL_CERT_FILE) } }),
    /needs both certChain and privateKey/,
  );
});

test("the bearer token is sent with every call over an mTLS connection", async () => {
  // A stand-in server with the same certificates, requiring client certificates, that
  // records the authorization header of each GetFeedback.
  const seen: (string | undefined)[] = [];
  const standIn = new Server();
  standIn.addService(FeedbackServiceService, {
    getFeedback(call: ServerUnaryCall<GetFeedbackRequest, GetFeedbackResponse>, done: sendUnaryData<GetFeedbackResponse>) {
      seen.push(call.metadata.get("authorization")[0]?.toString());
      done(null, GetFeedbackResponse.fromPartial({}));
    },
  } satisfies Partial<FeedbackServiceServer> as FeedbackServiceServer);
  const credentials = ServerCredentials.createSsl(
    readFileSync(server.values.BACKCHANNEL_CA_FILE),
    [
      {
        cert_chain: readFileSync(server.values.BACKCHANNEL_SERVER_CERT_FILE),
        private_key: readFileSync(server.values.BACKCHANNEL_SERVER_KEY_FILE),
      },
    ],
    true,
  );
  const port = await new Promise<number>((resolve, reject) =>
    standIn.bindAsync("127.0.0.1:0", credentials, (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  const tokens = ["first", "second"];
  const client = new BackchannelClient(`127.0.0.1:${port}`, {
    tls: tlsFromFiles({
      caFile: server.values.BACKCHANNEL_CA_FILE,
      certFile: server.values.BACKCHANNEL_CERT_FILE,
      keyFile: server.values.BACKCHANNEL_KEY_FILE,
    }),
    token: () => tokens.shift() ?? "none",
  });
  try {
    await client.getFeedback("fb_1");
    await client.getFeedback("fb_2");
  } finally {
    client.close();
    standIn.forceShutdown();
  }

  assert.deepEqual(seen, ["Bearer first", "Bearer second"]);
});
