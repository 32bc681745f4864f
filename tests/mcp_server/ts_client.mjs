// An MCP client on the official TypeScript SDK, for tests/mcp_server/test_interop.py.
//
//   node ts_client.mjs URL TEXT        (the bearer token, if any, in MCP_TOKEN)
//
// Connects over Streamable HTTP, lists the tools, calls text_statistics with TEXT and
// then with a bad argument (text as a number), ends the session (HTTP DELETE) and prints
// one JSON object on stdout.
// If the connection or a request fails, it prints {"error": ...} and exits with 1.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, text] = process.argv.slice(2);
if (!url || text === undefined) {
  console.error("usage: node ts_client.mjs URL TEXT");
  process.exit(2);
}

const headers = process.env.MCP_TOKEN ? { Authorization: `Bearer ${process.env.MCP_TOKEN}` } : {};
const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
const client = new Client({ name: "mcpsite-interop-test", version: "1.0.0" });

function callOutcome(result) {
  return {
    isError: result.isError ?? false,
    structuredContent: result.structuredContent ?? null,
    content: result.content ?? [],
    meta: result._meta ?? null,
  };
}

async function callTool(name, args) {
  try {
    return callOutcome(await client.callTool({ name, arguments: args }));
  } catch (error) {
    // A JSON-RPC error (or the SDK's own validation) instead of a tool result.
    return { thrown: true, code: error.code ?? null, message: String(error.message ?? error) };
  }
}

try {
  await client.connect(transport);
  const { tools } = await client.listTools();
  const good = await callTool("text_statistics", { text });
  const bad = await callTool("text_statistics", { text: 12345 });
  const output = {
    protocolVersion: transport.protocolVersion ?? null,
    sessionId: transport.sessionId ?? null,
    serverVersion: client.getServerVersion() ?? null,
    tools: tools.map((tool) => tool.name),
    good,
    bad,
  };
  // End the session as a well-behaved client does (HTTP DELETE with its Mcp-Session-Id).
  await transport.terminateSession();
  await client.close();
  process.stdout.write(JSON.stringify(output) + "\n");
} catch (error) {
  process.stdout.write(
    JSON.stringify({ error: String(error.message ?? error), name: error.name ?? null, code: error.code ?? null }) + "\n",
  );
  await client.close().catch(() => {});
  process.exit(1);
}
