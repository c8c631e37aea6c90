"""An OpenAI-compatible server on 127.0.0.1 that answers from a script: for tests, benchmarks, and
dry runs of an experiment written for a pool of servers.

It speaks the part of the API the pool uses (``GET /v1/models``, ``POST /v1/chat/completions``
with ``usage``), counts one token per whitespace-separated word, as ``ScriptedChatModel`` does,
and can be slow (``latency``), rate-limited (``busy_first``), or silent about usage.

>>> from agentlab.models import OpenAIPoolChatModel
>>> with StandInServer("The answer is 7") as server:
...     reply = OpenAIPoolChatModel(servers=[server.url]).invoke("3 + 4?")
>>> reply.content, reply.usage_metadata["output_tokens"], reply.response_metadata["model_name"]
('The answer is 7', 4, 'stand-in')

From a shell: ``python -m agentlab.models.stand_in_server --latency 0.05`` prints its URL and serves.
"""

from __future__ import annotations

import argparse
import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = Callable[[list[dict[str, Any]]], "str | dict[str, Any]"]


class StandInServer:
    """``reply``: the text of every answer, or a function of the request's messages giving the
    text or a whole assistant message (with ``tool_calls``, say). ``latency``: seconds each answer
    takes. ``busy_first``: that many chat requests get 429 (``Retry-After: 0``) before any answer.
    ``usage=False`` leaves ``usage`` out of answers. ``requests`` keeps every chat request's body."""

    def __init__(
        self,
        reply: str | Reply = "The answer is 0",
        *,
        model: str = "stand-in",
        latency: float = 0.0,
        busy_first: int = 0,
        usage: bool = True,
        port: int = 0,
    ) -> None:
        self.reply = (lambda messages: reply) if isinstance(reply, str) else reply
        self.model, self.latency, self.usage = model, latency, usage
        self.busy_left = busy_first
        self.requests: list[dict[str, Any]] = []
        self.authorizations: list[str | None] = []  # each chat request's Authorization header
        self.reported = {"prompt_tokens": 0, "completion_tokens": 0}  # the usage it answered with
        self.in_flight = self.most_in_flight = 0
        self._lock = threading.Lock()
        self._http = _HTTPServer(("127.0.0.1", port), _handler(self))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}/v1"

    def start(self) -> StandInServer:
        self._thread = threading.Thread(target=self._http.serve_forever, name="stand-in-server", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def __enter__(self) -> StandInServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append(body)
            if self.busy_left > 0:
                self.busy_left -= 1
                return 429, {"error": {"message": "rate limited", "type": "rate_limit"}}
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.latency:
                time.sleep(self.latency)
            given = self.reply(body.get("messages", []))
        finally:
            with self._lock:
                self.in_flight -= 1
        message = {"role": "assistant", "content": given} if isinstance(given, str) else given
        text = str(message.get("content") or "")
        for stop in body.get("stop") or ():
            text = text.split(stop, 1)[0]
        words = text.split()[: body.get("max_tokens") or None]
        message = {**message, "content": " ".join(words) if words != text.split() else text}
        prompt = sum(len(str(m.get("content") or "").split()) for m in body.get("messages", []))
        answer: dict[str, Any] = {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        }
        if self.usage:
            answer["usage"] = {
                "prompt_tokens": prompt,
                "completion_tokens": len(words),
                "total_tokens": prompt + len(words),
            }
            with self._lock:
                self.reported["prompt_tokens"] += prompt
                self.reported["completion_tokens"] += len(words)
        return 200, answer


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # a pool opens many connections at once


def _handler(server: StandInServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real servers do

        def setup(self) -> None:
            super().setup()  # replies go out whole: no Nagle delay waiting on the client's ACK
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/v1/models":
                self._send(200, {"object": "list", "data": [{"id": server.model, "object": "model"}]})
            else:
                self._send(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            if self.path != "/v1/chat/completions":
                self._send(404, {"error": {"message": f"no route {self.path}"}})
                return
            server.authorizations.append(self.headers.get("Authorization"))
            if body.get("model") != server.model:
                self._send(404, {"error": {"message": f"the model {body.get('model')!r} does not exist"}})
                return
            self._send(*server.answer(body))

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 429:
                self.send_header("Retry-After", "0")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # quiet, like a test fixture
            pass

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reply", default="The answer is 0")
    parser.add_argument("--model", default="stand-in")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds each answer takes")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = StandInServer(args.reply, model=args.model, latency=args.latency, port=args.port)
    print(server.url, flush=True)
    server._http.serve_forever()


if __name__ == "__main__":
    main()
