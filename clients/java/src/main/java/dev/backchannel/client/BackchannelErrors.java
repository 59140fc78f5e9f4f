package dev.backchannel.client;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.rpc.BadRequest;
import com.google.rpc.ErrorInfo;
import io.grpc.protobuf.StatusProto;
import java.util.List;
import java.util.Optional;

/** Reads the {@code google.rpc.Status} details Backchannel puts in its error trailers. */
public final class BackchannelErrors {
  private BackchannelErrors() {}

  /** The field violations of the error's {@code BadRequest} (sent with INVALID_ARGUMENT). */
  public static List<BadRequest.FieldViolation> fieldViolations(Throwable error) {
    return detail(error, BadRequest.class).map(BadRequest::getFieldViolationsList).orElse(List.of());
  }

  /** The error's {@code ErrorInfo} (reason, domain {@code backchannel.dev}, metadata). */
  public static Optional<ErrorInfo> errorInfo(Throwable error) {
    return detail(error, ErrorInfo.class);
  }

  private static <T extends com.google.protobuf.Message> Optional<T> detail(Throwable error, Class<T> type) {
    com.google.rpc.Status status = StatusProto.fromThrowable(error);
    if (status == null) {
      return Optional.empty();
    }
    for (Any any : status.getDetailsList()) {
      if (any.is(type)) {
        try {
          return Optional.of(any.unpack(type));
        } catch (InvalidProtocolBufferException e) {
          return Optional.empty();
        }
      }
    }
    return Optional.empty();
  }
}
