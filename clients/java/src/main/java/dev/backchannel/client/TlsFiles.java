package dev.backchannel.client;

import io.grpc.ChannelCredentials;
import io.grpc.TlsChannelCredentials;
import java.io.IOException;
import java.nio.file.Path;

/**
 * The PEM files of a TLS connection to Backchannel (the files the CLI reads from {@code
 * BACKCHANNEL_CA_FILE}, {@code BACKCHANNEL_CERT_FILE} and {@code BACKCHANNEL_KEY_FILE}).
 *
 * @param caFile the CAs to trust; {@code null}: the JVM's default trust store
 * @param certFile the client certificate chain presented to a server that requires client
 *     certificates (mTLS); {@code null} for none. Given with {@code keyFile}, or not at all.
 * @param keyFile the client certificate's private key (unencrypted PKCS#8 PEM)
 */
public record TlsFiles(Path caFile, Path certFile, Path keyFile) {
  public TlsFiles {
    if ((certFile == null) != (keyFile == null)) {
      throw new IllegalArgumentException("a client certificate needs both certFile and keyFile");
    }
  }

  /** TLS trusting the CAs of {@code caFile}, without a client certificate. */
  public static TlsFiles trusting(Path caFile) {
    return new TlsFiles(caFile, null, null);
  }

  /** These files with a client certificate (mTLS). */
  public TlsFiles withClientCertificate(Path certFile, Path keyFile) {
    return new TlsFiles(caFile, certFile, keyFile);
  }

  /** The channel credentials these files make; reads them now. */
  public ChannelCredentials credentials() throws IOException {
    TlsChannelCredentials.Builder builder = TlsChannelCredentials.newBuilder();
    if (caFile != null) {
      builder.trustManager(caFile.toFile());
    }
    if (certFile != null) {
      builder.keyManager(certFile.toFile(), keyFile.toFile());
    }
    return builder.build();
  }
}
