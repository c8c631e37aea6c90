"""A pool of OpenAI-compatible servers as one chat model: vLLM, SGLang, llama.cpp's server, a hosted API.

``al.models.openai_pool(["http://10.0.0.1:8000/v1", "http://10.0.0.2:8000/v1"], concurrency=32)``,
or in an experiment file ``model: {kind: openai, servers: [...], concurrency: 32}`` (a bare list of
URLs, ``model: [http://..., http://...]``, means the same).

Every call of a ``batch`` goes out at once from one event loop (``event_loop``), at most
``concurrency`` requests in flight per server; each request goes to the server with the fewest in
flight, so a slow server gets less work. A rate limit (429), an overloaded or restarting server
(408, 5xx) and a dropped connection are retried with exponential backoff (``Retry-After`` when the
server gives one), on another server where one is free; a server that refused a connection rests
for the backoff before it gets new requests. After ``max_retries`` more tries the call fails with
a ``ServerPoolError`` naming each URL and its error. Tokens are the servers' own ``usage`` counts;
a server that reports none is an error, since every record's tokens must be exact.

MASLab, OASIS and AgentScope drive such pools with a thread or a client per call; here the
engine's step is one ``batch`` and the pool is one loop, so the only limit is the servers'.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import weakref
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import aiohttp
from langchain_core.language_models.base import LangSmithParams
from langchain_core.messages import AIMessage, BaseMessage, UsageMetadata, convert_to_openai_messages
from langchain_core.output_parsers.openai_tools import make_invalid_tool_call, parse_tool_call
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.utils.utils import secret_from_env
from pydantic import Field, PrivateAttr, SecretStr, field_validator

from agentlab.models import event_loop
from agentlab.models.backends import ModelSpec, backend
from agentlab.models.batching import BatchingChatModel, bound_tools

RETRIED_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class ServerPoolError(RuntimeError):
    """A call no server of the pool answered, after its retries; or a reply agentlab cannot count."""


@dataclass
class ServerUsage:
    """What one server of a pool did: requests answered, failed tries, tokens and time."""

    url: str
    answered: int = 0
    failed: int = 0  # tries that failed (each one retried, or counted in the call's error)
    input_tokens: int = 0
    output_tokens: int = 0
    seconds: float = 0.0  # summed over requests; in flight together, they overlap
    most_in_flight: int = 0

    @staticmethod
    def totals(usages: Sequence[ServerUsage]) -> dict[str, dict[str, Any]]:
        """Per URL, summed over pools (an experiment builds one per seed)."""
        out: dict[str, dict[str, Any]] = {}
        for u in usages:
            into = out.setdefault(u.url, {k: 0 for k in asdict(u) if k != "url"})
            for key, value in asdict(u).items():
                if key == "most_in_flight":
                    into[key] = max(into[key], value)
                elif key != "url":
                    into[key] = round(into[key] + value, 6)
        return out

    def __str__(self) -> str:
        mean = self.seconds / self.answered if self.answered else 0.0
        return (
            f"{self.url}: {self.answered} answered, {self.failed} failed tries, "
            f"{self.input_tokens}+{self.output_tokens} tokens, {mean * 1000:.0f} ms a request, "
            f"at most {self.most_in_flight} in flight"
        )


@dataclass
class _Server:
    url: str
    session: aiohttp.ClientSession
    usage: ServerUsage
    in_flight: int = 0
    tries: int = 0
    failing: int = 0  # connection failures in a row: it rests backoff * 2**failing before new work
    resting_until: float = 0.0


class OpenAIPoolChatModel(BatchingChatModel):
    """Chat completions from a pool of OpenAI-compatible servers serving one model (module doc).

    ``model``: the name the servers serve it under (vLLM: the path or hub id it loaded, or its
    ``--served-model-name``); None asks the first server's ``/models``. Calls to the same model
    with the same settings share cache entries whichever server answered them.
    """

    servers: list[str] = Field(min_length=1)  # base URLs, each ending in /v1 as vLLM and SGLang serve it
    model: str | None = None
    max_tokens: int | None = Field(256, ge=1, alias="max_new_tokens")
    temperature: float = Field(0.0, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: int | None = None
    concurrency: int = Field(8, ge=1)  # requests in flight per server
    timeout: float | None = Field(600.0, gt=0)  # seconds one request may take
    max_retries: int = Field(4, ge=0)  # tries after the first, for rate limits and dropped connections
    retry_backoff: float = Field(0.5, ge=0.0)  # seconds before the first retry; doubled each time
    api_key: SecretStr | None = Field(
        default_factory=secret_from_env("OPENAI_API_KEY", default=None), exclude=True, repr=False
    )  # hosted APIs; read from the environment, never written to a file or a record
    extra_body: dict[str, Any] = Field(default_factory=dict)  # more request fields (vLLM's top_k, ...)

    _pool: list[_Server] | None = PrivateAttr(None)
    _free: asyncio.Condition | None = PrivateAttr(None)
    _served: str | None = PrivateAttr(None)

    @field_validator("servers")
    @classmethod
    def _urls(cls, servers: list[str]) -> list[str]:
        return base_urls(servers)

    @property
    def _llm_type(self) -> str:
        return "openai-compatible"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        # the servers are left out: the same model answers alike whichever one serves it
        return {
            "model_name": self.served_model(),
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "seed": self.seed,
            "stop": self.stop,
            **self.extra_body,
        }

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "openai-compatible"
        params["ls_model_name"] = self.model or self._served or "unknown"
        if self.max_tokens is not None:
            params["ls_max_tokens"] = self.max_tokens
        return params

    def served_model(self) -> str:
        """``model``, or the one model the first server lists."""
        if self.model is not None:
            return self.model
        if self._served is None:
            self._served = event_loop.run(self._ask_model())
        return self._served

    def usage(self) -> list[ServerUsage]:
        """Per server: requests answered, failed tries, tokens, time (empty before the first call)."""
        return [server.usage for server in self._pool or ()]

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        (reply,) = self._generate_all([messages], stop, **bound_tools(kwargs))
        if isinstance(reply, Exception):
            raise reply
        return ChatResult(generations=[ChatGeneration(message=reply)])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        (reply,) = await event_loop.run_async(
            self._call_all([messages], stop or self.stop, bound_tools(kwargs))
        )
        if isinstance(reply, Exception):
            raise reply
        return ChatResult(generations=[ChatGeneration(message=reply)])

    def _generate_all(
        self, conversations: Sequence[Sequence[BaseMessage]], stop: list[str] | None, **tools: Any
    ) -> list[AIMessage | Exception]:
        return event_loop.run(self._call_all(conversations, stop or self.stop, tools))

    # --- on the event loop ---------------------------------------------------------------------

    async def _call_all(
        self, conversations: Sequence[Sequence[BaseMessage]], stop: list[str] | None, tools: dict[str, Any]
    ) -> list[AIMessage | Exception]:
        if self.model is None and self._served is None:
            try:
                self._served = await self._ask_model()
            except ServerPoolError as error:  # every call's error, not asked again for each
                return [error] * len(conversations)
        calls = [self._call(c, stop, tools) for c in conversations]
        return list(await asyncio.gather(*calls, return_exceptions=True))

    def _servers(self) -> list[_Server]:
        if self._pool is None:
            timeout = aiohttp.ClientTimeout(total=self.timeout)
            self._pool = [
                _Server(
                    url,
                    aiohttp.ClientSession(
                        headers=self._headers(),
                        timeout=timeout,
                        connector=aiohttp.TCPConnector(limit=self.concurrency),
                    ),
                    ServerUsage(url),
                )
                for url in self.servers
            ]
            self._free = asyncio.Condition()
            weakref.finalize(self, _close, [server.session for server in self._pool])
        return self._pool

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key.get_secret_value()}"} if self.api_key else {}

    async def _take(self, failed_on: set[str]) -> _Server:
        """The server with the fewest requests in flight, waiting until one has room. A server
        resting after failed connections, or one this call failed on, only when no other has room."""
        servers = self._servers()
        assert self._free is not None
        async with self._free:
            while True:
                now = time.monotonic()
                room = [s for s in servers if s.in_flight < self.concurrency]
                fresh = [s for s in room if s.url not in failed_on]
                awake = [s for s in fresh if s.resting_until <= now] or fresh or room
                if awake:
                    server = min(awake, key=lambda s: (s.resting_until > now, s.in_flight, s.tries))
                    server.in_flight += 1
                    server.tries += 1
                    server.usage.most_in_flight = max(server.usage.most_in_flight, server.in_flight)
                    return server
                await self._free.wait()

    async def _give_back(self, server: _Server) -> None:
        assert self._free is not None
        async with self._free:
            server.in_flight -= 1
            self._free.notify()

    async def _call(
        self, conversation: Sequence[BaseMessage], stop: list[str] | None, tools: dict[str, Any]
    ) -> AIMessage:
        body = self._request(conversation, stop, tools)
        errors: list[str] = []
        failed_on: set[str] = set()
        for attempt in range(self.max_retries + 1):
            server = await self._take(failed_on)
            started = time.perf_counter()
            wait = self.retry_backoff * 2**attempt * (0.5 + random.random())
            try:
                answer = await _post(server.session, f"{server.url}/chat/completions", body)
            except (aiohttp.ClientError, TimeoutError) as error:  # refused, reset, timed out
                problem = f"{type(error).__name__}: {error}".rstrip(": ")
                server.resting_until = time.monotonic() + min(60.0, self.retry_backoff * 2**server.failing)
                server.failing += 1
            else:
                server.failing = 0
                if answer.status == 200:
                    server.usage.seconds += time.perf_counter() - started
                    return self._reply(answer, server)
                problem = f"HTTP {answer.status}: {answer.text[:300]}"
                if answer.status not in RETRIED_STATUS:
                    server.usage.failed += 1
                    raise ServerPoolError(
                        f"{server.url} refused the request: {problem}{_hint(answer.status)}"
                    )
                wait = answer.retry_after if answer.retry_after is not None else wait
            finally:
                await self._give_back(server)
            server.usage.failed += 1
            failed_on.add(server.url)
            errors.append(f"{server.url}: {problem}")
            if attempt < self.max_retries:
                await asyncio.sleep(wait)
        raise ServerPoolError(
            f"no server answered after {self.max_retries + 1} tries ({'; '.join(dict.fromkeys(errors))}). "
            "Check that the servers run and the URLs end in /v1 (vLLM: http://HOST:8000/v1); "
            "raise max_retries or lower concurrency for a rate-limited API"
        )

    def _request(
        self, conversation: Sequence[BaseMessage], stop: list[str] | None, tools: dict[str, Any]
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self._served or self.model,
            "messages": convert_to_openai_messages(list(conversation)),
            "temperature": self.temperature,
            "top_p": self.top_p,
            **({"max_tokens": self.max_tokens} if self.max_tokens is not None else {}),
            **({"seed": self.seed} if self.seed is not None else {}),
            **({"stop": stop} if stop else {}),
            **self.extra_body,
        }
        if tools.get("tools"):
            body["tools"] = tools["tools"]
            choice = tools.get("tool_choice")
            if choice in ("auto", "none"):
                body["tool_choice"] = choice
            elif choice == "any":
                body["tool_choice"] = "required"
            elif choice:
                body["tool_choice"] = {"type": "function", "function": {"name": choice}}
        return body

    def _reply(self, answer: _Answer, server: _Server) -> AIMessage:
        try:
            data = json.loads(answer.text)
            choice = data["choices"][0]
            message = choice["message"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise ServerPoolError(
                f"{server.url} answered with no chat completion: {answer.text[:300]}"
            ) from None
        usage = data.get("usage") or {}
        if "prompt_tokens" not in usage or "completion_tokens" not in usage:
            raise ServerPoolError(
                f"{server.url} returned no token usage (the reply's `usage`), and agentlab records "
                "every call's exact tokens. vLLM, SGLang, llama.cpp's server and the hosted APIs report "
                "it; for another server, turn its usage reporting on"
            )
        cached = int(((usage.get("prompt_tokens_details") or {}).get("cached_tokens")) or 0)
        counted = UsageMetadata(
            input_tokens=int(usage["prompt_tokens"]),
            output_tokens=int(usage["completion_tokens"]),
            total_tokens=int(usage["prompt_tokens"]) + int(usage["completion_tokens"]),
            **({"input_token_details": {"cache_read": cached}} if cached else {}),
        )
        server.usage.answered += 1
        server.usage.input_tokens += counted["input_tokens"]
        server.usage.output_tokens += counted["output_tokens"]
        calls, invalid = [], []
        for raw in message.get("tool_calls") or ():
            try:
                calls.append(parse_tool_call(raw, return_id=True))
            except Exception as error:  # arguments that are not JSON: kept, as the model wrote them
                invalid.append(make_invalid_tool_call(raw, str(error)))
        return AIMessage(
            content=message.get("content") or "",
            tool_calls=calls,
            invalid_tool_calls=invalid,
            usage_metadata=counted,
            response_metadata={
                "model_name": data.get("model") or self.served_model(),
                "finish_reason": choice.get("finish_reason"),
                "server": server.url,
            },
            id=data.get("id"),
        )

    async def _ask_model(self) -> str:
        url = self.servers[0]
        timeout = aiohttp.ClientTimeout(total=min(self.timeout or 30.0, 30.0))
        try:
            async with (
                aiohttp.ClientSession(headers=self._headers(), timeout=timeout) as session,
                session.get(f"{url}/models") as response,
            ):
                response.raise_for_status()
                served = [entry["id"] for entry in (await response.json())["data"]]
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError) as error:
            raise ServerPoolError(
                f"could not ask {url}/models which model it serves ({type(error).__name__}: {error}); "
                "check that the server runs, or give the model's name (model=... / served_model: ...)"
            ) from None
        if len(served) != 1:
            raise ServerPoolError(
                f"{url} serves {len(served)} models ({served}); say which one with model=... "
                "(served_model: ... in a file)"
            )
        return served[0]


def base_urls(servers: Sequence[str]) -> list[str]:
    """The servers' API bases: checked to be http(s) URLs, without a trailing slash, ``/v1``
    added to a bare host (``http://host:8000`` serves at ``http://host:8000/v1``)."""
    urls = []
    for url in servers:
        parsed = urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"server {url!r} is not an http(s) URL, e.g. http://127.0.0.1:8000/v1")
        urls.append(url.rstrip("/") + ("" if parsed.path.strip("/") else "/v1"))
    if len(set(urls)) < len(urls):
        raise ValueError(f"servers lists a URL twice: {urls}")
    return urls


class _Answer(NamedTuple):
    status: int
    text: str
    retry_after: float | None  # seconds, when the server said how long to wait


async def _post(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> _Answer:
    async with session.post(url, json=body) as response:
        text = await response.text()
        try:
            retry_after = max(0.0, float(response.headers.get("retry-after", "")))
        except ValueError:
            retry_after = None
        return _Answer(response.status, text, retry_after)


def _hint(status: int) -> str:
    if status == 404:
        return " (is the URL the API's base, ending in /v1, and the model name one the server serves?)"
    if status in (401, 403):
        return " (set the key in the environment: OPENAI_API_KEY)"
    return ""


def _close(sessions: list[aiohttp.ClientSession]) -> None:
    """Closes a pool's connections when the pool is collected, or at exit (without waiting when
    that happens on the loop's own thread, which must not block on itself)."""

    async def close() -> None:
        for session in sessions:
            await session.close()

    with contextlib.suppress(Exception):  # the loop is gone at exit: the sockets close with the process
        if event_loop.on_loop_thread():
            event_loop.loop().create_task(close())
        else:
            event_loop.submit(close()).result(timeout=2)


@backend("openai", requires=("aiohttp",), install="pip install aiohttp")
def _openai_backend(spec: ModelSpec, seed: int, device: str | None) -> OpenAIPoolChatModel:
    """``spec.servers`` as one pool; sampling is seeded with the run's seed."""
    return OpenAIPoolChatModel(
        servers=spec.servers,
        model=spec.served_model,
        max_tokens=spec.max_new_tokens,
        temperature=spec.temperature,
        top_p=spec.top_p,
        seed=seed if spec.temperature > 0 else None,
        concurrency=spec.concurrency,
    )
