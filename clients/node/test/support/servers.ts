// Real servers for the tests, all on loopback: a throwaway PostgreSQL cluster (system
// binaries, run as the `postgres` OS user when we are root, as tests/support/postgres_cluster.py
// does), `backchannel serve` from the workspace's .venv, and a webhook receiver answering 204.
// Every wait is bounded.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, rmSync, chownSync } from "node:fs";
import { createServer as createHttpServer, type IncomingHttpHeaders } from "node:http";
import { createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** The repository root: the first folder above this file holding protos/backchannel. */
export function repoRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, "protos", "backchannel"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error("repository root not found above " + __dirname);
    dir = parent;
  }
  return dir;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

function postgresBin(): string {
  const base = "/usr/lib/postgresql";
  const versions = existsSync(base) ? readdirSync(base).sort((a, b) => Number(b) - Number(a)) : [];
  for (const version of versions) {
    const bin = join(base, version, "bin");
    if (existsSync(join(bin, "initdb"))) return bin;
  }
  throw new Error("PostgreSQL server binaries (initdb, pg_ctl) not found under " + base);
}

export class PostgresCluster {
  private constructor(
    readonly root: string,
    readonly port: number,
    private readonly bin: string,
    private readonly asPostgres: boolean,
  ) {}

  get url(): string {
    return `postgresql://postgres@127.0.0.1:${this.port}/postgres`;
  }

  static async start(): Promise<PostgresCluster> {
    const root = mkdtempSync(join(tmpdir(), "backchannel-node-pg-"));
    const asPostgres = process.getuid?.() === 0;
    if (asPostgres) {
      const { stdout: uid } = await run("id", ["-u", "postgres"]);
      const { stdout: gid } = await run("id", ["-g", "postgres"]);
      chownSync(root, Number(uid.trim()), Number(gid.trim()));
    }
    const cluster = new PostgresCluster(root, await freePort(), postgresBin(), asPostgres);
    try {
      await cluster.pg("initdb", "-D", join(root, "data"), "-A", "trust", "-U", "postgres", "-E", "UTF8");
      await cluster.pg(
        "pg_ctl", "-D", join(root, "data"), "-l", join(root, "log"), "-w", "-t", "60",
        "-o", `-p ${cluster.port} -k ${root} -c listen_addresses=127.0.0.1 -c max_connections=300`,
        "start",
      );
    } catch (error) {
      await cluster.destroy();
      throw error;
    }
    return cluster;
  }

  private async pg(tool: string, ...args: string[]): Promise<void> {
    const command = join(this.bin, tool);
    const [file, argv] = this.asPostgres ? ["runuser", ["-u", "postgres", "--", command, ...args]] : [command, args];
    await run(file, argv, { timeout: 90_000 });
  }

  async destroy(): Promise<void> {
    if (existsSync(join(this.root, "data", "postmaster.pid"))) {
      await this.pg("pg_ctl", "-D", join(this.root, "data"), "-m", "immediate", "-w", "-t", "30", "stop").catch(() => {});
    }
    rmSync(this.root, { recursive: true, force: true });
  }
}

export interface ServerOptions {
  databaseUrl: string;
  /** Listen on this loopback port; default: a free one chosen by the server. */
  port?: number;
  env?: Record<string, string>;
}

/**
 * The keys test servers seal recipients' secrets with: a real Postgres needs them, as in
 * production. One for the whole run, so a restarted server opens what an earlier one sealed.
 */
const SECRET_KEYS = `test-1:${randomBytes(32).toString("base64")}`;

export class BackchannelServer {
  private output = "";

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Starts `backchannel serve` and resolves once it prints its listen address (60 s at most). */
  static async start(options: ServerOptions): Promise<BackchannelServer> {
    const bin = process.env.BACKCHANNEL_SERVE_BIN ?? join(repoRoot(), ".venv", "bin", "backchannel");
    // The server refuses unknown BACKCHANNEL_* variables: pass none from our environment.
    const inherited = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !name.startsWith("BACKCHANNEL_")),
    );
    const child = spawn(bin, ["serve"], {
      env: {
        ...inherited,
        BACKCHANNEL_DATABASE_URL: options.databaseUrl,
        BACKCHANNEL_LISTEN: `127.0.0.1:${options.port ?? 0}`,
        BACKCHANNEL_OUTBOUND_ALLOW_NETWORKS: "127.0.0.0/8",
        BACKCHANNEL_STREAM_HEARTBEAT_SECONDS: "1",
        BACKCHANNEL_POLL_INTERVAL_SECONDS: "0.2",
        BACKCHANNEL_SHUTDOWN_GRACE_SECONDS: "2",
        BACKCHANNEL_SECRET_KEYS: SECRET_KEYS,
        ...options.env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let log = "";
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error("backchannel serve did not start in 60 s")), 60_000);
      const fail = (error: Error) => {
        clearTimeout(timer);
        child.kill("SIGKILL");
        reject(new Error(`${error.message}\n${log.slice(-4000)}`));
      };
      const onData = (chunk: Buffer) => {
        log += chunk.toString();
        const match = /Backchannel listening on 127\.0\.0\.1:(\d+)/.exec(log);
        if (match) {
          clearTimeout(timer);
          child.off("exit", onExit);
          resolve(Number(match[1]));
        }
      };
      const onExit = (code: number | null) => fail(new Error(`backchannel serve exited (${code}) before listening`));
      child.stdout!.on("data", onData);
      child.stderr!.on("data", onData);
      child.once("exit", onExit);
      child.once("error", fail);
    });
    const server = new BackchannelServer(child, port);
    server.output = log;
    const keep = (chunk: Buffer) => {
      server.output = (server.output + chunk.toString()).slice(-64_000);
    };
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    return server;
  }

  /** What the server printed lately (for failure messages). */
  get log(): string {
    return this.output;
  }

  /** SIGTERM, then SIGKILL after 20 s. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 20_000);
    await exited;
    clearTimeout(timer);
  }
}

/** A token with every scope for the server on `databaseUrl`, made as an operator makes
 * the first one (`backchannel tokens bootstrap`). */
export async function bootstrapToken(databaseUrl: string): Promise<string> {
  const bin = process.env.BACKCHANNEL_SERVE_BIN ?? join(repoRoot(), ".venv", "bin", "backchannel");
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith("BACKCHANNEL_")),
  );
  const { stdout } = await run(bin, ["tokens", "bootstrap", "--name", "node-tests"], {
    env: { ...inherited, BACKCHANNEL_DATABASE_URL: databaseUrl },
    timeout: 60_000,
  });
  return stdout.trim();
}

export interface Delivery {
  headers: IncomingHttpHeaders;
  body: string;
}

/** An HTTP receiver on 127.0.0.1 that records each request and answers 204. */
export async function startReceiver(): Promise<{ url: string; received: Delivery[]; close(): Promise<void> }> {
  const received: Delivery[] = [];
  const server = createHttpServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      received.push({ headers: request.headers, body: Buffer.concat(chunks).toString() });
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/feedback`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Polls `check` every 50 ms until it returns a value, for at most `timeoutMs`. */
export async function eventually<T>(check: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
