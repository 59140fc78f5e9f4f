package dev.backchannel.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import backchannel.v1.FeedbackOuterClass.Feedback;
import backchannel.v1.FeedbackOuterClass.FeedbackKind;
import backchannel.v1.FeedbackOuterClass.LeadReference;
import backchannel.v1.FeedbackOuterClass.QualityScores;
import backchannel.v1.FeedbackServiceGrpc;
import backchannel.v1.FeedbackServiceOuterClass.GetFeedbackRequest;
import backchannel.v1.FeedbackServiceOuterClass.GetFeedbackResponse;
import backchannel.v1.FeedbackServiceOuterClass.SendFeedbackResponse;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsServerCredentials;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.net.InetSocketAddress;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The client against a real Backchannel that requires TLS and a client certificate signed by
 * its CA (start.py --tls mtls; certificates made by it with Python's cryptography): served
 * with the CA and the client certificate and otherwise default options; refused without a
 * certificate or with a forged one; and the bearer token travels with the certificate.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class TlsTest {
  private static TestServer server;

  @BeforeAll
  static void startServer() throws Exception {
    server = TestServer.start(0, "mtls");
  }

  @AfterAll
  static void stopServer() {
    if (server != null) {
      server.close();
    }
  }

  static TlsFiles clientFiles() {
    return TlsFiles.trusting(server.file("BACKCHANNEL_CA_FILE"))
        .withClientCertificate(server.file("BACKCHANNEL_CERT_FILE"), server.file("BACKCHANNEL_KEY_FILE"));
  }

  static Feedback quality(String leadId) {
    return Feedback.newBuilder()
        .setKind(FeedbackKind.FEEDBACK_KIND_QUALITY)
        .setLead(LeadReference.newBuilder().setLeadId(leadId).setSourceId("SOURCE_ABC"))
        .setQuality(QualityScores.newBuilder().setOverallScore(85))
        .build();
  }

  @Test
  void aClientCertificateOfTheCaIsServedWithDefaultOptions() throws Exception {
    try (BackchannelClient client = BackchannelClient.connect(server.address, clientFiles())) {
      SendFeedbackResponse sent = client.sendFeedback(quality("LC-JAVA-TLS"), List.of());
      GetFeedbackResponse stored =
          client.feedback.getFeedback(
              GetFeedbackRequest.newBuilder().setFeedbackId(sent.getFeedback().getId()).build());
      assertEquals(sent.getFeedback().getRequestId(), stored.getFeedback().getRequestId());
    }
  }

  static Status.Code refusal(TlsFiles files) throws Exception {
    try (BackchannelClient client = BackchannelClient.connect(server.address, files)) {
      StatusRuntimeException error =
          assertThrows(
              StatusRuntimeException.class,
              () ->
                  client
                      .feedback
                      .withDeadlineAfter(30, TimeUnit.SECONDS)
                      .getFeedback(GetFeedbackRequest.newBuilder().setFeedbackId("fb_nothing").build()));
      return error.getStatus().getCode();
    }
  }

  @Test
  void withoutAClientCertificateTheHandshakeIsRefused() throws Exception {
    TlsFiles withoutCertificate = TlsFiles.trusting(server.file("BACKCHANNEL_CA_FILE"));
    assertEquals(Status.Code.UNAVAILABLE, refusal(withoutCertificate));
  }

  @Test
  void aForgedClientCertificateIsRefused() throws Exception {
    TlsFiles forged =
        TlsFiles.trusting(server.file("BACKCHANNEL_CA_FILE"))
            .withClientCertificate(
                server.file("BACKCHANNEL_FORGED_CERT_FILE"), server.file("BACKCHANNEL_FORGED_KEY_FILE"));
    assertEquals(Status.Code.UNAVAILABLE, refusal(forged));
  }

  @Test
  void halfAClientCertificateIsRefusedBeforeConnecting() {
    assertThrows(
        IllegalArgumentException.class,
        () ->
            new TlsFiles(
                server.file("BACKCHANNEL_CA_FILE"), server.file("BACKCHANNEL_CERT_FILE"), null));
  }

  @Test
  void theBearerTokenTravelsWithTheClientCertificate() throws Exception {
    // A stand-in with the same certificates that requires client certificates too, and
    // records the authorization header of each call.
    List<String> seen = new CopyOnWriteArrayList<>();
    Metadata.Key<String> authorization =
        Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    ServerInterceptor record =
        new ServerInterceptor() {
          @Override
          public <Q, A> ServerCall.Listener<Q> interceptCall(
              ServerCall<Q, A> call, Metadata headers, ServerCallHandler<Q, A> next) {
            seen.add(headers.get(authorization));
            return next.startCall(call, headers);
          }
        };
    FeedbackServiceGrpc.FeedbackServiceImplBase answering =
        new FeedbackServiceGrpc.FeedbackServiceImplBase() {
          @Override
          public void getFeedback(GetFeedbackRequest request, StreamObserver<GetFeedbackResponse> done) {
            done.onNext(GetFeedbackResponse.getDefaultInstance());
            done.onCompleted();
          }
        };
    TlsServerCredentials.Builder credentials =
        TlsServerCredentials.newBuilder()
            .keyManager(
                server.file("BACKCHANNEL_SERVER_CERT_FILE").toFile(),
                server.file("BACKCHANNEL_SERVER_KEY_FILE").toFile())
            .trustManager(server.file("BACKCHANNEL_CA_FILE").toFile())
            .clientAuth(TlsServerCredentials.ClientAuth.REQUIRE);
    Server standIn =
        NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0), credentials.build())
            .addService(ServerInterceptors.intercept(answering, record))
            .build()
            .start();
    Iterator<String> tokens = List.of("first", "second").iterator();
    try (BackchannelClient client =
        BackchannelClient.connect("127.0.0.1:" + standIn.getPort(), clientFiles(), tokens::next)) {
      for (String id : List.of("fb_1", "fb_2")) {
        client
            .feedback
            .withDeadlineAfter(30, TimeUnit.SECONDS)
            .getFeedback(GetFeedbackRequest.newBuilder().setFeedbackId(id).build());
      }
    } finally {
      standIn.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    assertEquals(List.of("Bearer first", "Bearer second"), seen);
  }
}
