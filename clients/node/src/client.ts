// BackchannelClient: a thin, idiomatic wrapper over the generated @grpc/grpc-js clients.
import { randomUUID } from "node:crypto";
import {
  type CallOptions as GrpcCallOptions,
  Channel,
  type ChannelCredentials,
  type ChannelOptions,
  type ClientReadableStream,
  type ClientUnaryCall,
  Metadata,
  type ServiceError,
  status as Status,
} from "@grpc/grpc-js";
import { type FeedbackSentEvent, type OperatorEvent } from "./generated/backchannel/v1/event";
import { Feedback } from "./generated/backchannel/v1/feedback";
import {
  EventFilter,
  FeedbackServiceClient,
  type GetFeedbackResponse,
  type SendFeedbackResponse,
  type StreamFeedbackEventsRequest,
  type StreamFeedbackEventsResponse,
} from "./generated/backchannel/v1/feedback_service";
import { Recipient } from "./generated/backchannel/v1/recipient";
import { RecipientServiceClient } from "./generated/backchannel/v1/recipient_service";
import { DeliveryServiceClient } from "./generated/backchannel/v1/delivery_service";
import { BackchannelError, fromStatus, toBackchannelError } from "./errors";
import { backoffMs, DEFAULT_RETRY, RESUMABLE, RETRYABLE, type RetryOptions, sleep } from "./retry";
import { channelCredentials, type TlsOptions } from "./tls";

/** A bearer token, or a function giving the current one (called before every call). */
export type Token = string | (() => string | Promise<string>);

export interface BackchannelClientOptions {
  /** TLS: `true` (trust Node's bundled roots), or the CAs to trust and the client
   * certificate to present to a server that requires one (mTLS); `tlsFromFiles(...)`
   * reads them from PEM files. Default: plaintext. */
  tls?: boolean | TlsOptions;
  /** Ready channel credentials instead of `tls` (e.g. `credentials.createSsl(...)`). */
  credentials?: ChannelCredentials;
  /** Sent as `authorization: Bearer <token>` on every call. */
  token?: Token;
  /** Deadline of each unary call attempt, in ms (default 10000). */
  deadlineMs?: number;
  /** How sendFeedback retries UNAVAILABLE and DEADLINE_EXCEEDED, and how followEvents
   * paces its reconnections. */
  retry?: RetryOptions;
  /** Extra @grpc/grpc-js channel options. */
  channelOptions?: ChannelOptions;
}

export interface CallOptions {
  /** Overrides the client's deadlineMs for this call. */
  deadlineMs?: number;
  /** Cancels the call (and any pause between retries). */
  signal?: AbortSignal;
}

export interface SendFeedbackOptions extends CallOptions {
  /** The recipients to deliver to; empty or absent: every recipient whose subscription
   * matches the feedback. */
  recipientIds?: string[];
  /** Idempotency key (AIP-155); a UUID is generated when absent. Every retry reuses it. */
  requestId?: string;
  /** Called before each pause between attempts (for logging). */
  onRetry?: (retry: { attempt: number; requestId: string; error: BackchannelError; delayMs: number }) => void;
}

export interface FollowEventsOptions {
  /** Which events to send (recipientIds, feedbackId, leadId, sourceId, processingStatuses,
   * includeOperatorEvents). */
  filter?: DeepPartial<EventFilter>;
  /** Start after this cursor (from an event or a heartbeat). */
  afterCursor?: string;
  /** Start with every retained event. Neither: start from now. */
  fromBeginning?: boolean;
  /** Stops the stream; the iteration then ends without an error. */
  signal?: AbortSignal;
  /** Give up (throw the last error) after failing to reconnect for this long, in ms
   * (default 300000). */
  reconnectTimeoutMs?: number;
  /** Called before each pause before reconnecting (for logging). */
  onReconnect?: (reconnect: { error: BackchannelError; cursor: string; delayMs: number }) => void;
}

/** What followEvents yields: feedback-sent events, and operator events when asked for. */
export type StreamEvent =
  | { type: "event"; event: FeedbackSentEvent; cursor: string }
  | { type: "operatorEvent"; event: OperatorEvent; cursor: string };

type Unary<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<GrpcCallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => ClientUnaryCall;

type Builtin = Date | Function | Uint8Array | string | number | boolean | undefined;

/** A message with every field optional, at every depth (as the generated fromPartial takes). */
export type DeepPartial<T> = T extends Builtin
  ? T
  : T extends Array<infer U>
    ? Array<DeepPartial<U>>
    : T extends { $case: string }
      ? { [K in keyof Omit<T, "$case">]?: DeepPartial<T[K]> } & { $case: T["$case"] }
      : T extends object
        ? { [K in keyof T]?: DeepPartial<T[K]> }
        : Partial<T>;

/** An event stream that resumes after its last cursor; iterate it with `for await`. */
export interface EventStream extends AsyncIterable<StreamEvent> {
  /** The cursor to resume after: the latest event's or heartbeat's ("" before any). */
  readonly cursor: string;
  /** Ends the stream (as `break` in a `for await` does). */
  close(): void;
}

export class BackchannelClient {
  /** The generated clients, sharing one channel, for anything the wrapper does not cover. */
  readonly raw: {
    feedback: FeedbackServiceClient;
    recipients: RecipientServiceClient;
    deliveries: DeliveryServiceClient;
  };
  private readonly channel: Channel;
  private readonly token: Token | undefined;
  private readonly deadlineMs: number;
  private readonly retry: Required<RetryOptions>;

  constructor(address: string, options: BackchannelClientOptions = {}) {
    const creds = channelCredentials(options.credentials, options.tls);
    // Reconnect quickly after an outage: sendFeedback's own backoff paces the retries.
    const channelOptions: ChannelOptions = {
      "grpc.initial_reconnect_backoff_ms": 100,
      "grpc.max_reconnect_backoff_ms": 2000,
      "grpc.keepalive_time_ms": 30000,
      "grpc.keepalive_timeout_ms": 10000,
      ...options.channelOptions,
    };
    this.channel = new Channel(address, creds, channelOptions);
    const shared = { channelOverride: this.channel };
    this.raw = {
      feedback: new FeedbackServiceClient(address, creds, shared),
      recipients: new RecipientServiceClient(address, creds, shared),
      deliveries: new DeliveryServiceClient(address, creds, shared),
    };
    this.token = options.token;
    this.deadlineMs = options.deadlineMs ?? 10000;
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
  }

  /** Closes the channel; calls in flight fail. */
  close(): void {
    this.channel.close();
  }

  /**
   * Stores feedback and one delivery per recipient; resolves once it is durable. Retries
   * UNAVAILABLE and DEADLINE_EXCEEDED with exponential backoff and jitter, always with the
   * same request id, so a retry never stores the feedback twice.
   */
  async sendFeedback(
    feedback: DeepPartial<Feedback>,
    options: SendFeedbackOptions = {},
  ): Promise<SendFeedbackResponse> {
    const request = {
      requestId: options.requestId ?? randomUUID(),
      feedback: Feedback.fromPartial(feedback as Feedback),
      recipientIds: options.recipientIds ?? [],
    };
    const send = this.bound(this.raw.feedback, "sendFeedback");
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.unary(send, request, options);
      } catch (error) {
        const failure = toBackchannelError(error);
        if (!RETRYABLE.has(failure.code) || attempt >= this.retry.maxAttempts || options.signal?.aborted) {
          throw failure;
        }
        const delayMs = backoffMs(attempt - 1, this.retry);
        options.onRetry?.({ attempt, requestId: request.requestId, error: failure, delayMs });
        await sleep(delayMs, options.signal);
      }
    }
  }

  /** A feedback record with each of its deliveries and every attempt. */
  getFeedback(feedbackId: string, options: CallOptions = {}): Promise<GetFeedbackResponse> {
    return this.unary(this.bound(this.raw.feedback, "getFeedback"), { feedbackId }, options);
  }

  /** Every feedback-sent event matching an AIP-160 `filter` (e.g. `feedback_id = "fb_..."`),
   * oldest first, reading all pages. */
  async listEvents(
    filter = "",
    options: CallOptions & { pageSize?: number } = {},
  ): Promise<FeedbackSentEvent[]> {
    const list = this.bound(this.raw.feedback, "listFeedbackEvents");
    const events: FeedbackSentEvent[] = [];
    let pageToken = "";
    do {
      const page = await this.unary(list, { filter, pageToken, pageSize: options.pageSize ?? 0 }, options);
      events.push(...page.events);
      pageToken = page.nextPageToken;
    } while (pageToken);
    return events;
  }

  /** Creates a recipient (with its id); returns it as stored, without secret values. */
  async createRecipient(recipient: DeepPartial<Recipient>, options: CallOptions = {}): Promise<Recipient> {
    const create = this.bound(this.raw.recipients, "createRecipient");
    const response = await this.unary(create, { recipient: Recipient.fromPartial(recipient as Recipient) }, options);
    return response.recipient!;
  }

  /** A recipient, without its secret values. */
  async getRecipient(recipientId: string, options: CallOptions = {}): Promise<Recipient> {
    const response = await this.unary(this.bound(this.raw.recipients, "getRecipient"), { recipientId }, options);
    return response.recipient!;
  }

  /** Every recipient, ordered by id, reading all pages. */
  async listRecipients(options: CallOptions & { pageSize?: number } = {}): Promise<Recipient[]> {
    const list = this.bound(this.raw.recipients, "listRecipients");
    const recipients: Recipient[] = [];
    let pageToken = "";
    do {
      const page = await this.unary(list, { pageToken, pageSize: options.pageSize ?? 0 }, options);
      recipients.push(...page.recipients);
      pageToken = page.nextPageToken;
    } while (pageToken);
    return recipients;
  }

  /** Deletes a recipient; its undelivered deliveries are cancelled. */
  async deleteRecipient(recipientId: string, options: CallOptions = {}): Promise<void> {
    await this.unary(this.bound(this.raw.recipients, "deleteRecipient"), { recipientId }, options);
  }

  /**
   * Follows feedback-sent events (and operator events when the filter asks for them):
   * those after `afterCursor` (or every retained one with `fromBeginning`, or from now),
   * then live ones. On a disconnect, UNAVAILABLE or RESOURCE_EXHAUSTED it reconnects with
   * backoff and resumes right after the last cursor it saw (events and heartbeats advance
   * it), so the caller sees no gap and no duplicate. Ends on `break`/`return()`, `close()`
   * or the abort signal; throws any other error as a BackchannelError.
   */
  followEvents(options: FollowEventsOptions = {}): EventStream {
    if (options.afterCursor && options.fromBeginning) {
      throw new TypeError("give afterCursor or fromBeginning, not both");
    }
    const stop = new AbortController();
    const outer = options.signal;
    const onOuterAbort = () => stop.abort(outer?.reason);
    if (outer?.aborted) stop.abort(outer.reason);
    else outer?.addEventListener("abort", onOuterAbort, { once: true });
    const state = { cursor: options.afterCursor ?? "" };
    const filter = EventFilter.fromPartial((options.filter ?? {}) as EventFilter);
    const reconnectTimeoutMs = options.reconnectTimeoutMs ?? 300000;
    const client = this;

    async function* run(): AsyncGenerator<StreamEvent, void, undefined> {
      let failures = 0;
      let failingSince: number | undefined;
      try {
        while (!stop.signal.aborted) {
          const request: StreamFeedbackEventsRequest = {
            filter,
            start: state.cursor
              ? { $case: "afterCursor", afterCursor: state.cursor }
              : options.fromBeginning
                ? { $case: "fromBeginning", fromBeginning: true }
                : undefined,
          };
          const call: ClientReadableStream<StreamFeedbackEventsResponse> =
            client.raw.feedback.streamFeedbackEvents(request, await client.metadata());
          call.on("error", () => {}); // errors are read through the iterator below
          const cancel = () => call.cancel();
          stop.signal.addEventListener("abort", cancel, { once: true });
          let failure: BackchannelError;
          try {
            for await (const message of call as AsyncIterable<StreamFeedbackEventsResponse>) {
              failures = 0;
              failingSince = undefined;
              const item = message.item;
              if (item?.$case === "heartbeat") {
                state.cursor = item.heartbeat.cursor || state.cursor;
              } else if (item?.$case === "event") {
                state.cursor = item.event.cursor || state.cursor;
                yield { type: "event", event: item.event, cursor: state.cursor };
              } else if (item?.$case === "operatorEvent") {
                state.cursor = item.operatorEvent.cursor || state.cursor;
                yield { type: "operatorEvent", event: item.operatorEvent, cursor: state.cursor };
              }
            }
            // The server ends a stream without an error only while shutting down.
            failure = new BackchannelError(Status.UNAVAILABLE, "stream ended by the server");
          } catch (error) {
            failure = toBackchannelError(error);
          } finally {
            stop.signal.removeEventListener("abort", cancel);
            call.cancel();
          }
          if (stop.signal.aborted) return;
          if (!isResumable(failure)) throw failure;
          failingSince ??= Date.now();
          if (Date.now() - failingSince > reconnectTimeoutMs) throw failure;
          const delayMs = backoffMs(failures++, client.retry);
          options.onReconnect?.({ error: failure, cursor: state.cursor, delayMs });
          try {
            await sleep(delayMs, stop.signal);
          } catch {
            return; // aborted while waiting
          }
        }
      } finally {
        outer?.removeEventListener("abort", onOuterAbort);
      }
    }

    const generator = run();
    return {
      get cursor() {
        return state.cursor;
      },
      close() {
        stop.abort();
        void generator.return(undefined);
      },
      [Symbol.asyncIterator]() {
        return generator;
      },
    };
  }

  private bound<C extends object, K extends keyof C>(client: C, name: K): C[K] {
    return (client[name] as unknown as (...args: unknown[]) => unknown).bind(client) as C[K];
  }

  private async metadata(): Promise<Metadata> {
    const metadata = new Metadata();
    if (this.token !== undefined) {
      const value = typeof this.token === "function" ? await this.token() : this.token;
      metadata.set("authorization", `Bearer ${value}`);
    }
    return metadata;
  }

  private async unary<Req, Res>(call: Unary<Req, Res>, request: Req, options: CallOptions): Promise<Res> {
    const metadata = await this.metadata();
    options.signal?.throwIfAborted();
    return new Promise<Res>((resolve, reject) => {
      const deadline = new Date(Date.now() + (options.deadlineMs ?? this.deadlineMs));
      const pending = call(request, metadata, { deadline }, (error, response) => {
        options.signal?.removeEventListener("abort", onAbort);
        if (error) reject(toBackchannelError(error));
        else resolve(response);
      });
      const onAbort = () => pending.cancel();
      options.signal?.addEventListener("abort", onAbort, { once: true });
    });
  }
}

function isResumable(error: BackchannelError): boolean {
  // An HTTP/2 stream reset by a proxy (an idle timeout...) surfaces as INTERNAL.
  return RESUMABLE.has(error.code) || (error.code === Status.INTERNAL && error.details.includes("RST_STREAM"));
}

export { fromStatus };
