// An MCP client on the official TypeScript SDK that signs in by OAuth, for
// tests/authserver/test_typescript_sdk_oauth.py.
//
//   node ts_oauth_client.mjs MCP_URL CALLBACK_PORT TEXT
//
// It connects with no token, follows the 401 to the hub's metadata, registers itself
// (RFC 7591), and "opens the browser" by printing {"authorize": URL} on stdout; the test
// signs in and consents in Chromium, which is sent back to this client's callback server
// on CALLBACK_PORT. Then it lists the tools and calls text_statistics with TEXT, and
// prints one JSON object with what happened.
import http from "node:http";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";

const [url, port, text] = process.argv.slice(2);
const redirectUrl = `http://127.0.0.1:${port}/callback`;
const say = (object) => process.stdout.write(JSON.stringify(object) + "\n");

const codes = [];
const waiting = [];
const server = http.createServer((request, response) => {
  const query = new URL(request.url, redirectUrl).searchParams;
  response.end("You may close this window.");
  const answer = { code: query.get("code"), error: query.get("error") };
  if (waiting.length) waiting.shift()(answer);
  else codes.push(answer);
});
await new Promise((resolve) => server.listen(Number(port), "127.0.0.1", resolve));
const nextCode = () => new Promise((resolve) => (codes.length ? resolve(codes.shift()) : waiting.push(resolve)));

const store = { client: undefined, tokens: undefined, verifier: undefined };
const provider = {
  get redirectUrl() { return redirectUrl; },
  get clientMetadata() {
    return {
      client_name: "TypeScript SDK test client", redirect_uris: [redirectUrl],
      grant_types: ["authorization_code", "refresh_token"], response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  },
  clientInformation: () => store.client,
  saveClientInformation: (info) => { store.client = info; },
  tokens: () => store.tokens,
  saveTokens: (tokens) => { store.tokens = tokens; },
  redirectToAuthorization: (authorizationUrl) => say({ authorize: authorizationUrl.toString() }),
  saveCodeVerifier: (verifier) => { store.verifier = verifier; },
  codeVerifier: () => store.verifier,
};

const output = {};
try {
  const client = new Client({ name: "mcpsite-oauth-test", version: "1.0.0" });
  let transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider });
  try {
    await client.connect(transport);
  } catch (error) {
    if (!(error instanceof UnauthorizedError)) throw error;
    output.firstAttempt = "unauthorized";
    const { code, error: refused } = await nextCode();
    if (refused) throw new Error(`authorization refused: ${refused}`);
    await transport.finishAuth(code);
    transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider });
    await client.connect(transport);
  }
  output.tokenScope = store.tokens?.scope ?? null;
  output.hasRefreshToken = Boolean(store.tokens?.refresh_token);
  output.clientId = store.client?.client_id ?? null;
  output.tools = (await client.listTools()).tools.map((tool) => tool.name);
  try {
    const result = await client.callTool({ name: "text_statistics", arguments: { text } });
    output.call = { isError: result.isError ?? false, structuredContent: result.structuredContent ?? null };
  } catch (error) {
    output.call = { thrown: true, name: error.name ?? null, message: String(error.message ?? error) };
  }
  await client.close();
  say(output);
  server.close();
  process.exit(0);
} catch (error) {
  say({ ...output, error: String(error.message ?? error), name: error.name ?? null });
  server.close();
  process.exit(1);
}
