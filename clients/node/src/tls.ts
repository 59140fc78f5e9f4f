// TLS for the client's channel: the CAs to trust and the client certificate to present
// to a server that requires one (mTLS).
import { readFileSync } from "node:fs";
import { type ChannelCredentials, credentials as grpcCredentials } from "@grpc/grpc-js";

/** TLS settings of a connection. Every field is optional: `{}` is TLS trusting Node's
 * bundled root CAs, without a client certificate. */
export interface TlsOptions {
  /** PEM of the CAs to trust instead of Node's bundled roots. */
  rootCerts?: Buffer | string;
  /** The client certificate chain (PEM) for a server that requires one; with privateKey. */
  certChain?: Buffer | string;
  /** The private key (PEM) of certChain. */
  privateKey?: Buffer | string;
}

/** PEM files to read TlsOptions from (e.g. BACKCHANNEL_CA_FILE, _CERT_FILE, _KEY_FILE). */
export interface TlsFiles {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

/** TlsOptions from PEM files, read now; a file that cannot be read throws. */
export function tlsFromFiles(files: TlsFiles): TlsOptions {
  const read = (path: string | undefined) => (path ? readFileSync(path) : undefined);
  return { rootCerts: read(files.caFile), certChain: read(files.certFile), privateKey: read(files.keyFile) };
}

function pem(value: Buffer | string | undefined): Buffer | null {
  if (value === undefined) return null;
  return typeof value === "string" ? Buffer.from(value) : value;
}

/** The channel credentials for `credentials` (used as they are) or `tls`; plaintext when
 * neither is given. Giving both, or half a client certificate, throws. */
export function channelCredentials(
  credentials: ChannelCredentials | undefined,
  tls: TlsOptions | boolean | undefined,
): ChannelCredentials {
  if (credentials !== undefined) {
    if (tls !== undefined && tls !== false) throw new Error("give credentials or tls, not both");
    return credentials;
  }
  if (tls === undefined || tls === false) return grpcCredentials.createInsecure();
  const options = tls === true ? {} : tls;
  const certChain = pem(options.certChain);
  const privateKey = pem(options.privateKey);
  if ((certChain === null) !== (privateKey === null)) {
    throw new Error("a client certificate needs both certChain and privateKey");
  }
  return grpcCredentials.createSsl(pem(options.rootCerts), privateKey, certChain);
}
