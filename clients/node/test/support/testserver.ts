// A throwaway Backchannel started by the shared helper clients/testserver/start.py (its own
// PostgreSQL cluster, and with `--tls mtls` certificates made on the spot), which removes
// everything when its stdin closes.
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { repoRoot } from "./servers";

export type TlsMode = "none" | "tls" | "mtls";

export class TestServer {
  private constructor(
    private readonly child: ChildProcess,
    /** Every NAME=VALUE line start.py printed: BACKCHANNEL_ADDRESS, and with TLS the
     * files (BACKCHANNEL_CA_FILE, BACKCHANNEL_CERT_FILE, BACKCHANNEL_KEY_FILE,
     * BACKCHANNEL_FORGED_CERT_FILE, ...). */
    readonly values: Readonly<Record<string, string>>,
  ) {}

  get address(): string {
    return this.values.BACKCHANNEL_ADDRESS;
  }

  /** Starts start.py and resolves once it printed its address (two minutes at most). */
  static async start(tls: TlsMode = "none"): Promise<TestServer> {
    const root = repoRoot();
    const python = process.env.BACKCHANNEL_PYTHON || join(root, ".venv", "bin", "python");
    const child = spawn(python, [join(root, "clients", "testserver", "start.py"), "--tls", tls], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    const values: Record<string, string> = {};
    const lines = createInterface({ input: child.stdout! });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("start.py printed no address within 2 minutes")), 120_000);
        lines.on("line", (line) => {
          const match = /^(BACKCHANNEL_[A-Z_]+)=(.*)$/.exec(line);
          if (!match) return;
          values[match[1]] = match[2];
          if (match[1] === "BACKCHANNEL_ADDRESS") {
            clearTimeout(timer);
            resolve();
          }
        });
        child.once("exit", (code) => {
          clearTimeout(timer);
          reject(new Error(`start.py exited (${code}) without an address`));
        });
      });
    } catch (error) {
      child.kill("SIGKILL");
      throw error;
    }
    return new TestServer(child, values);
  }

  /** Closes start.py's stdin (it stops the server and removes the cluster and files), and
   * kills it after 30 s. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.stdin!.end();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 30_000);
    await exited;
    clearTimeout(timer);
  }
}
