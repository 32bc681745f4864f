"""The hub as an MCP server: Streamable HTTP at /mcp (``http``) and stdio (``mcp_stdio``)."""
