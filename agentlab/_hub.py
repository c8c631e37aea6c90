"""Whether the Hugging Face hub answers, asked once and quickly: offline, datasets and transformers
spend 25-50 s in retries before they fail, so a load first asks here and, when the hub is out of
reach, goes straight to the local cache (and to a message on how to load a local copy)."""

from __future__ import annotations

import contextlib
import functools
import os
import urllib.error
import urllib.request
from collections.abc import Iterator

TIMEOUT = 3.0  # seconds


def _offline_set() -> bool:
    return any(
        os.environ.get(v, "").lower() in ("1", "true", "yes")
        for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    )


@functools.cache
def unreachable() -> str | None:
    """None when the hub answers (within ``TIMEOUT``); otherwise why it is taken as out of reach."""
    if _offline_set():
        return "HF_HUB_OFFLINE is set"
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    try:  # urllib honours HTTPS_PROXY, as the hub's own clients do
        urllib.request.urlopen(urllib.request.Request(endpoint, method="HEAD"), timeout=TIMEOUT).close()
    except urllib.error.HTTPError:
        return None  # it answered, if only to refuse this request
    except (OSError, ValueError) as error:  # URLError, a timeout, a refused connection
        reason = getattr(error, "reason", error)
        return f"{endpoint}: {reason}"
    return None


@contextlib.contextmanager
def offline() -> Iterator[None]:
    """The hub's clients use only their local cache inside this block."""
    import datasets.config
    import huggingface_hub.constants

    saved = (
        os.environ.get("HF_HUB_OFFLINE"),
        datasets.config.HF_HUB_OFFLINE,
        huggingface_hub.constants.HF_HUB_OFFLINE,
    )
    os.environ["HF_HUB_OFFLINE"] = "1"
    datasets.config.HF_HUB_OFFLINE = huggingface_hub.constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        if saved[0] is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = saved[0]
        datasets.config.HF_HUB_OFFLINE, huggingface_hub.constants.HF_HUB_OFFLINE = saved[1], saved[2]
