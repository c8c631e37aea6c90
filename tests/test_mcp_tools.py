"""An MCP server's tools, through langchain-mcp-adapters, used by an agent: the server is a real
process speaking MCP over stdio, started by the client as Anemoi's agents start theirs."""

import asyncio
import sys

from langchain_core.messages import AIMessage
from langchain_mcp_adapters.client import MultiServerMCPClient

import agentlab as al

SERVER = '''
from mcp.server.fastmcp import FastMCP

server = FastMCP("calculator")


@server.tool()
def multiply(a: int, b: int) -> int:
    """Multiplies two whole numbers."""
    return a * b


server.run()
'''


def test_an_agent_uses_a_tool_of_an_mcp_server(tmp_path):
    (tmp_path / "server.py").write_text(SERVER)
    client = MultiServerMCPClient(
        {
            "calculator": {
                "command": sys.executable,
                "args": [str(tmp_path / "server.py")],
                "transport": "stdio",
            }
        }
    )
    tools = asyncio.run(client.get_tools())
    assert [t.name for t in tools] == ["multiply"]

    def respond(messages):
        results = [m for m in messages if m.type == "tool"]
        if not results:
            return AIMessage("", tool_calls=[{"name": "multiply", "args": {"a": 6, "b": 7}, "id": "m1"}])
        return f"The answer is {results[-1].text}"

    team = al.Team([al.Agent("a", tools=tools)], model=al.models.ScriptedChatModel(respond=respond))
    run = team.run(al.tasks.load("arithmetic", n=2), cache=False, progress=False)
    for m in run.records:
        (use,) = m.tool_calls
        assert (use.name, use.output, use.error) == ("multiply", "42", None)
        assert m.content == "The answer is 42"
