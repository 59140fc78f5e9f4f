// Errors the server answers with, as one exception type: a google.rpc.Status (AIP-193)
// carried in the `grpc-status-details-bin` trailer, with one ErrorInfo and, for bad
// input, a BadRequest listing every field violation.
import { Metadata, status as Status, type ServiceError } from "@grpc/grpc-js";
import { BadRequest, ErrorInfo } from "./generated/google/rpc/error_details";
import { Status as RpcStatus } from "./generated/google/rpc/status";

const STATUS_DETAILS_KEY = "grpc-status-details-bin";
const ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo";
const BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest";

/** One bad field of a request: its path (e.g. `feedback.lead.lead_id`) and what is wrong. */
export interface FieldViolation {
  field: string;
  description: string;
  reason?: string;
}

/**
 * A call the server (or the connection to it) refused. `code` is the gRPC status code
 * (`status.INVALID_ARGUMENT`...), `codeName` its name, `reason` the ErrorInfo reason
 * (empty when the server sent none, e.g. for a connection that failed), `domain` and
 * `errorMetadata` the rest of the ErrorInfo, `fieldViolations` every field violation of a
 * BadRequest (empty when there is none).
 */
export class BackchannelError extends Error {
  readonly code: Status;
  readonly codeName: string;
  readonly details: string;
  readonly reason: string;
  readonly domain: string;
  readonly errorMetadata: Record<string, string>;
  readonly fieldViolations: FieldViolation[];
  readonly metadata: Metadata | undefined;

  constructor(
    code: Status,
    details: string,
    extra: {
      reason?: string;
      domain?: string;
      errorMetadata?: Record<string, string>;
      fieldViolations?: FieldViolation[];
      metadata?: Metadata;
      cause?: unknown;
    } = {},
  ) {
    const codeName = Status[code] ?? String(code);
    super(`${codeName}: ${details}`, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = "BackchannelError";
    this.code = code;
    this.codeName = codeName;
    this.details = details;
    this.reason = extra.reason ?? "";
    this.domain = extra.domain ?? "";
    this.errorMetadata = extra.errorMetadata ?? {};
    this.fieldViolations = extra.fieldViolations ?? [];
    this.metadata = extra.metadata;
  }
}

function isServiceError(error: unknown): error is ServiceError {
  return (
    error instanceof Error &&
    typeof (error as Partial<ServiceError>).code === "number" &&
    "details" in error
  );
}

/** The BackchannelError for anything a gRPC call failed with. */
export function toBackchannelError(error: unknown): BackchannelError {
  if (error instanceof BackchannelError) return error;
  if (!isServiceError(error)) {
    return new BackchannelError(Status.UNKNOWN, error instanceof Error ? error.message : String(error), {
      cause: error,
    });
  }
  return fromStatus(error.code, error.details, error.metadata, error);
}

/** Builds the error from a gRPC status, decoding the rich status in the trailer if any. */
export function fromStatus(
  code: Status,
  details: string,
  metadata: Metadata | undefined,
  cause?: unknown,
): BackchannelError {
  let message = details;
  let reason = "";
  let domain = "";
  let errorMetadata: Record<string, string> = {};
  const fieldViolations: FieldViolation[] = [];
  const raw = metadata?.get(STATUS_DETAILS_KEY)[0];
  if (raw !== undefined) {
    try {
      const rich = RpcStatus.decode(typeof raw === "string" ? Buffer.from(raw, "base64") : raw);
      if (rich.message) message = rich.message;
      for (const any of rich.details) {
        if (any.typeUrl === ERROR_INFO_TYPE) {
          const info = ErrorInfo.decode(any.value);
          reason = info.reason;
          domain = info.domain;
          errorMetadata = { ...info.metadata };
        } else if (any.typeUrl === BAD_REQUEST_TYPE) {
          for (const v of BadRequest.decode(any.value).fieldViolations) {
            fieldViolations.push({
              field: v.field,
              description: v.description,
              ...(v.reason ? { reason: v.reason } : {}),
            });
          }
        }
      }
    } catch {
      // A trailer we cannot decode leaves the plain status.
    }
  }
  return new BackchannelError(code, message, {
    reason,
    domain,
    errorMetadata,
    fieldViolations,
    metadata,
    cause,
  });
}
