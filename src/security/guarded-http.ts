/**
 * HTTP(S) agents for talking to tenant endpoints with the SSRF guard applied to every new
 * connection (see guarded-lookup.ts for why registration-time checks are not enough).
 *
 * Use `guardedRequestHandlerOptions` as `requestHandler` of the AWS SDK v3 clients (S3, STS,
 * KMS): the SDK's NodeHttpHandler accepts its constructor options in place of an instance
 * and uses agent instances passed there as they are. The SDK never follows HTTP redirects
 * (a 301/307 surfaces as an error or a region hint), so a redirect cannot lead a request
 * to an unchecked host. `guardedAgents` is for clients that take plain agents (the Azure
 * clients, later). Any other client that connects to tenant URLs must use one of these.
 *
 * `client.destroy()` destroys the agents it was given: give each long-lived client its own
 * options object rather than sharing one across clients destroyed independently.
 */
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { AllowList } from './endpoint-guard.js';
import { guardedLookup, type Resolve, refuseLiteralHost, toAllowList } from './guarded-lookup.js';

export interface GuardedAgentOptions {
  /** Per-origin socket cap of each agent. Default 64. */
  maxSockets?: number;
  /** Name resolution for the guard; default `dns.lookup`. Tests inject a fake DNS. */
  resolve?: Resolve;
}

export interface GuardedHttpOptions extends GuardedAgentOptions {
  /** Milliseconds to establish a connection (NodeHttpHandler `connectionTimeout`). */
  connectionTimeout?: number;
  /** Milliseconds for a whole request (NodeHttpHandler `requestTimeout`). */
  requestTimeout?: number;
}

export interface GuardedAgents {
  httpAgent: http.Agent;
  httpsAgent: https.Agent;
}

/** Structurally a `NodeHttpHandlerOptions` (@smithy/types), without depending on that package. */
export interface GuardedRequestHandlerOptions extends GuardedAgents {
  connectionTimeout?: number;
  requestTimeout?: number;
}

type ConnectCallback = (err: Error | null, stream: Duplex) => void;

/**
 * Node connects to IP-literal hosts without calling `lookup`, so the agents check literals
 * here, before any socket exists. Returns true when the connection was refused (and reported).
 */
function refusedLiteral(allow: AllowList, host: string | null | undefined, callback?: ConnectCallback) {
  // No host means net's default, 'localhost': a name, so guardedLookup still applies.
  const refusal = host ? refuseLiteralHost(host, allow) : undefined;
  if (refusal === undefined) return false;
  // The agent passes a callback and reports its error on the request; direct callers get a throw.
  if (callback === undefined) throw refusal;
  callback(refusal, undefined as unknown as Duplex);
  return true;
}

class GuardedHttpAgent extends http.Agent {
  constructor(
    private readonly allow: AllowList,
    options: http.AgentOptions,
  ) {
    super(options);
  }

  override createConnection(options: http.ClientRequestArgs, callback?: ConnectCallback) {
    if (refusedLiteral(this.allow, options.host, callback)) return undefined;
    return super.createConnection(options, callback);
  }
}

class GuardedHttpsAgent extends https.Agent {
  constructor(
    private readonly allow: AllowList,
    options: https.AgentOptions,
  ) {
    super(options);
  }

  override createConnection(options: https.RequestOptions, callback?: ConnectCallback) {
    if (refusedLiteral(this.allow, options.host, callback)) return undefined;
    return super.createConnection(options, callback);
  }
}

/** Keep-alive http and https agents whose every new connection goes through the guard. */
export function guardedAgents(
  allow: AllowList | readonly string[],
  opts: GuardedAgentOptions = {},
): GuardedAgents {
  const list = toAllowList(allow);
  // Agent options win over per-request options in Node's agent, so a caller cannot pass
  // its own `lookup` around the guard.
  const options = {
    keepAlive: true,
    maxSockets: opts.maxSockets ?? 64,
    lookup: guardedLookup(list, opts.resolve),
  };
  return { httpAgent: new GuardedHttpAgent(list, options), httpsAgent: new GuardedHttpsAgent(list, options) };
}

/** `requestHandler` for AWS SDK v3 clients: `new S3Client({ requestHandler: guardedRequestHandlerOptions(allow) })`. */
export function guardedRequestHandlerOptions(
  allow: AllowList | readonly string[],
  opts: GuardedHttpOptions = {},
): GuardedRequestHandlerOptions {
  const { connectionTimeout, requestTimeout, ...agentOptions } = opts;
  return {
    ...guardedAgents(allow, agentOptions),
    ...(connectionTimeout === undefined ? {} : { connectionTimeout }),
    ...(requestTimeout === undefined ? {} : { requestTimeout }),
  };
}
