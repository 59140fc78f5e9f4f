package dev.backchannel.client;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A throwaway Backchannel (its own Postgres cluster) started by the shared helper
 * clients/testserver/start.py, which removes both when its stdin is closed.
 */
final class TestServer implements AutoCloseable {
  final String address;
  /** The admin token of a server that requires one; null otherwise. */
  final String token;
  private final Process process;

  private TestServer(Process process, String address, String token) {
    this.process = process;
    this.address = address;
    this.token = token;
  }

  static Path repoRoot() {
    return Path.of(System.getProperty("user.dir")).resolve("../..").normalize();
  }

  /** Starts start.py (port 0: any free port) and waits at most two minutes for its address. */
  static TestServer start(int port) throws IOException, InterruptedException, TimeoutException {
    return start(port, false);
  }

  /**
   * Like {@link #start(int)}; with {@code requireToken} the server refuses calls without a
   * bearer token and {@link #token} holds its admin token.
   */
  static TestServer start(int port, boolean requireToken)
      throws IOException, InterruptedException, TimeoutException {
    Path root = repoRoot();
    String python = System.getenv("BACKCHANNEL_PYTHON");
    if (python == null || python.isEmpty()) {
      python = root.resolve(".venv/bin/python").toString();
    }
    List<String> command =
        new ArrayList<>(List.of(python, root.resolve("clients/testserver/start.py").toString(), "--port", String.valueOf(port)));
    if (requireToken) {
      command.add("--require-token");
    }
    Process process = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    String[] token = new String[1];
    CompletableFuture<String> address =
        CompletableFuture.supplyAsync(
            () -> {
              try (BufferedReader out =
                  new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = out.readLine()) != null) {
                  if (line.startsWith("BACKCHANNEL_TOKEN=")) {
                    token[0] = line.substring("BACKCHANNEL_TOKEN=".length());
                  }
                  if (line.startsWith("BACKCHANNEL_ADDRESS=")) {
                    return line.substring("BACKCHANNEL_ADDRESS=".length());
                  }
                }
              } catch (IOException e) {
                // ended below
              }
              return null;
            });
    try {
      String value = address.get(2, TimeUnit.MINUTES);
      if (value == null || (requireToken && token[0] == null)) {
        throw new IOException("start.py ended without an address (or token)");
      }
      return new TestServer(process, value, token[0]);
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
