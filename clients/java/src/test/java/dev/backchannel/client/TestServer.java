package dev.backchannel.client;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A throwaway Backchannel (its own Postgres cluster) started by the shared helper
 * clients/testserver/start.py, which removes both when its stdin is closed.
 */
final class TestServer implements AutoCloseable {
  final String address;

  /**
   * Every NAME=VALUE line start.py printed; with TLS, the files (BACKCHANNEL_CA_FILE,
   * BACKCHANNEL_CERT_FILE, BACKCHANNEL_KEY_FILE, BACKCHANNEL_FORGED_CERT_FILE, ...).
   */
  final Map<String, String> values;

  private final Process process;

  private TestServer(Process process, String address, Map<String, String> values) {
    this.process = process;
    this.address = address;
    this.values = values;
  }

  /** The file start.py printed under {@code name}. */
  Path file(String name) {
    String value = values.get(name);
    if (value == null) {
      throw new IllegalStateException("start.py printed no " + name + ": " + values.keySet());
    }
    return Path.of(value);
  }

  static Path repoRoot() {
    return Path.of(System.getProperty("user.dir")).resolve("../..").normalize();
  }

  /** Starts start.py (port 0: any free port) and waits at most two minutes for its address. */
  static TestServer start(int port) throws IOException, InterruptedException, TimeoutException {
    return start(port, "none");
  }

  /**
   * {@link #start(int)} with start.py's {@code --tls} mode: "none", "tls" or "mtls" (client
   * certificates required); the certificate files are in {@link #values}.
   */
  static TestServer start(int port, String tls)
      throws IOException, InterruptedException, TimeoutException {
    Path root = repoRoot();
    String python = System.getenv("BACKCHANNEL_PYTHON");
    if (python == null || python.isEmpty()) {
      python = root.resolve(".venv/bin/python").toString();
    }
    Process process =
        new ProcessBuilder(
                python,
                root.resolve("clients/testserver/start.py").toString(),
                "--port",
                String.valueOf(port),
                "--tls",
                tls)
            .redirectError(ProcessBuilder.Redirect.INHERIT)
            .start();
    Map<String, String> values = new ConcurrentHashMap<>();
    CompletableFuture<String> address =
        CompletableFuture.supplyAsync(
            () -> {
              try (BufferedReader out =
                  new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = out.readLine()) != null) {
                  int equals = line.indexOf('=');
                  if (!line.startsWith("BACKCHANNEL_") || equals < 0) {
                    continue;
                  }
                  String name = line.substring(0, equals);
                  String value = line.substring(equals + 1);
                  if (name.equals("BACKCHANNEL_ADDRESS")) {
                    return value; // the last line: values is complete
                  }
                  values.put(name, value);
                }
              } catch (IOException e) {
                // ended below
              }
              return null;
            });
    try {
      String value = address.get(2, TimeUnit.MINUTES);
      if (value == null) {
        throw new IOException("start.py ended without an address");
      }
      return new TestServer(process, value, Map.copyOf(values));
    } catch (java.util.concurrent.ExecutionException | TimeoutException | IOException e) {
      stop(process);
      if (e instanceof TimeoutException timeout) {
        throw timeout;
      }
      throw new IOException("start.py did not start", e);
    }
  }

  static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      return socket.getLocalPort();
    }
  }

  private static void stop(Process process) {
    try {
      process.getOutputStream().close(); // start.py stops the server and removes the cluster
    } catch (IOException e) {
      // already gone
    }
    try {
      if (!process.waitFor(30, TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      process.destroyForcibly();
      Thread.currentThread().interrupt();
    }
  }

  @Override
  public void close() {
    stop(process);
  }
}
