// @backchannel/client: the Node.js/TypeScript client of Backchannel.
export {
  BackchannelClient,
  type BackchannelClientOptions,
  type CallOptions,
  type DeepPartial,
  type EventStream,
  type FollowEventsOptions,
  type SendFeedbackOptions,
  type StreamEvent,
  type Token,
} from "./client";
export { BackchannelError, type FieldViolation } from "./errors";
export { type RetryOptions } from "./retry";
export { type TlsFiles, type TlsOptions, tlsFromFiles } from "./tls";
export { credentials, status } from "@grpc/grpc-js";
// Every message, enum and generated service client of the API.
export * from "./generated/backchannel/v1/event";
export * from "./generated/backchannel/v1/feedback";
export * from "./generated/backchannel/v1/feedback_service";
export * from "./generated/backchannel/v1/recipient";
export * from "./generated/backchannel/v1/recipient_service";
export * from "./generated/backchannel/v1/delivery_service";
