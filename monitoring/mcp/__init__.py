"""An MCP (Model Context Protocol) server over one team's monitoring data: `python manage.py
mcp_server`, read-only tools for agents. See docs/mcp.md."""
