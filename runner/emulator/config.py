"""What the emulator does: its key, its credit budget and the faults it injects."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from runner.emulator.ratelimits import LIMIT_MODELS
from runner.emulator.render_cache import render_cache_from_env

# Credits the emulator charges per generated image, by quality. 1min.ai does not publish its
# exact credit prices; these keep the ratio of OpenAI's list prices (low : medium : high is
# roughly 1 : 4 : 16) so a budget runs out in a realistic order.
# Ample for any rehearsal (62,500 high-quality images); --credit-limit sets a smaller budget
# to rehearse running out.
DEFAULT_CREDIT_LIMIT = 1_000_000_000
DEFAULT_CREDITS_PER_IMAGE: Mapping[str, int] = {"low": 1000, "medium": 4000, "high": 16000}

Latency = float | tuple[float, float]


@dataclass(frozen=True)
class EmulatorConfig:
    """The emulator's behaviour. Every probability is per request, from 0 to 1."""

    api_key: str | None = None  # when set, API-KEY must equal it; else any non-empty key works
    reject_key: bool = False  # answer every API request with 401
    latency: Latency = 0.0  # seconds per generation: fixed, or uniform within (low, high)
    error_rate: float = 0.0  # probability of a 500/502/503/504 on an API request
    # The "message" of those answers' JSON (500 and 503), to rehearse an odd or hostile API text.
    error_message: str | None = None
    charge_then_fail_rate: float = 0.0  # probability of a 504 on a generation already charged
    # probability of hanging up on a generation already charged: its answer never arrives
    charge_then_drop_rate: float = 0.0
    rpm_limit: int | None = None  # API requests per minute accepted; beyond it, 429
    rpm_burst: float | None = None  # token-bucket depth; default: 1 s worth, at least 3
    # How rpm_limit is counted: "token-bucket", "sliding-1s", "fixed-1s" or "fixed-60s".
    limit_model: str = "token-bucket"
    max_in_flight: int | None = None  # API requests answered at once; beyond it, 429
    retry_after: bool = True  # send Retry-After (seconds) with every 429
    # Seconds before a 429 is answered (fixed, or uniform within (low, high)). The refusal is
    # decided when the request arrives; some servers hold it that long (as long as a generation
    # takes, say) before they answer. A refused request holds no place under max_in_flight.
    refusal_delay: Latency = 0.0
    # When set (with max_in_flight), a request past the cap is not refused at once: it waits,
    # first come first served, up to this many seconds (fixed, or uniform within (low, high))
    # for a place, and is answered 429 only when its time is up. A waiting request holds no
    # place. None: the cap refuses at once (after refusal_delay).
    queue_timeout: Latency | None = None
    # Seconds per upload and per asset download (fixed or a range): the short calls around a
    # generation, which a real API answers in tens of milliseconds.
    transfer_latency: Latency = 0.0
    burst_429: float = 0.0  # probability that a request starts a burst of spurious 429s
    burst_seconds: float = 1.0  # how long such a burst lasts
    drop_rate: float = 0.0  # probability of dropping the connection mid-answer on API requests
    truncate_rate: float = 0.0  # probability that an asset download is cut short
    credit_limit: int = DEFAULT_CREDIT_LIMIT
    credits_per_image: Mapping[str, int] = field(
        default_factory=lambda: dict(DEFAULT_CREDITS_PER_IMAGE), hash=False
    )
    cache_results: bool = False  # one cached image per (size, format): benchmarks the runner
    seed: int | None = None  # makes fault decisions (and ids) deterministic
    asset_base_url: str | None = None  # default: "<the request's base URL>/asset"
    # When set, uploads, results, charges and the presigning secret are kept in this folder and
    # loaded on start, so a new emulator serves what an earlier one answered (as the real one
    # does). When None, nothing is written anywhere.
    state_dir: Path | None = None
    # Where rendered results are shared with other emulators (render_cache.py); by default the
    # folder named by BACKDROP_EMULATOR_RENDER_CACHE, which the test suite sets.
    render_cache: Path | None = field(default_factory=render_cache_from_env)

    def __post_init__(self) -> None:
        for name in (
            "error_rate",
            "charge_then_fail_rate",
            "charge_then_drop_rate",
            "burst_429",
            "drop_rate",
            "truncate_rate",
        ):
            check_probability(name, getattr(self, name))
        for name in ("latency", "refusal_delay", "transfer_latency", "queue_timeout"):
            if getattr(self, name) is None:
                continue
            low, high = latency_range(getattr(self, name))
            if not (math.isfinite(low) and math.isfinite(high)) or low < 0 or high < low:
                raise ValueError(
                    f"{name} {getattr(self, name)!r} must be seconds >= 0 (or low <= high)"
                )
        if self.rpm_limit is not None and self.rpm_limit < 1:
            raise ValueError(
                f"rpm_limit must be at least 1 request per minute, not {self.rpm_limit}"
            )
        if self.limit_model not in LIMIT_MODELS:
            raise ValueError(
                f"limit model {self.limit_model!r} is not one of {', '.join(LIMIT_MODELS)}"
            )
        if self.max_in_flight is not None and self.max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, not {self.max_in_flight}")
        if self.queue_timeout is not None and self.max_in_flight is None:
            raise ValueError(
                "queue_timeout needs max_in_flight: requests queue only for a concurrency cap"
            )
        if self.rpm_burst is not None and self.rpm_burst < 1:
            raise ValueError(f"rpm_burst must be at least 1, not {self.rpm_burst}")
        if self.burst_seconds <= 0:
            raise ValueError(f"burst_seconds must be more than 0, not {self.burst_seconds}")
        if self.credit_limit < 0:
            raise ValueError(f"credit_limit must be 0 or more, not {self.credit_limit}")
        missing = {"low", "medium", "high"} - set(self.credits_per_image)
        if missing:
            raise ValueError(f"credits_per_image lacks {', '.join(sorted(missing))}")
        if self.api_key is not None and not self.api_key:
            raise ValueError("api_key must not be empty (use None to accept any key)")
        if self.asset_base_url is not None and not self.asset_base_url.startswith(
            ("http://", "https://")
        ):
            raise ValueError(f"asset_base_url {self.asset_base_url!r} must start with http(s)://")
        if self.state_dir is not None and not isinstance(self.state_dir, Path):
            object.__setattr__(self, "state_dir", Path(self.state_dir))


def latency_range(latency: Latency) -> tuple[float, float]:
    if isinstance(latency, tuple):
        return float(latency[0]), float(latency[1])
    return float(latency), float(latency)


def check_probability(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and 0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be a probability between 0 and 1, not {value!r}")


def parse_latency(text: str, name: str = "latency") -> Latency:
    """'0.2' -> 0.2 seconds; '0.1-0.5' -> uniform between 0.1 and 0.5 seconds."""
    raw = text.strip().removesuffix("s")
    low_text, sep, high_text = raw.partition("-")
    try:
        if not sep:
            value = float(low_text)
            if not math.isfinite(value) or value < 0:
                raise ValueError
            return value
        low, high = float(low_text), float(high_text)
    except ValueError:
        raise ValueError(
            f"{name} {text!r} is not a number of seconds; write e.g. 0.2 or 0.1-0.5"
        ) from None
    if not (math.isfinite(low) and math.isfinite(high)) or low < 0 or high < low:
        raise ValueError(f"{name} range {text!r} must be LOW-HIGH with 0 <= LOW <= HIGH")
    return (low, high)


def parse_probability(name: str, text: str) -> float:
    """'0.2' or '20%' -> 0.2, with a message naming the option when it is not a probability."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise ValueError(f"{name} {text!r} is not a number; write e.g. 0.2 or 20%") from None
    check_probability(name, value)
    return value


def config_from_options(
    *,
    api_key: str | None = None,
    reject_key: bool = False,
    latency: str | float | None = None,
    error_rate: str | float | None = None,
    charge_then_fail_rate: str | float | None = None,
    charge_then_drop_rate: str | float | None = None,
    rpm_limit: int | None = None,
    limit_model: str = "token-bucket",
    max_in_flight: int | None = None,
    retry_after: bool = True,
    refusal_delay: str | float | None = None,
    queue_timeout: str | float | None = None,
    transfer_latency: str | float | None = None,
    burst_429: str | float | None = None,
    drop_rate: str | float | None = None,
    truncate_rate: str | float | None = None,
    credit_limit: int | None = None,
    cache_results: bool = False,
    seed: int | None = None,
    asset_base_url: str | None = None,
    state_dir: Path | None = None,
) -> EmulatorConfig:
    """An EmulatorConfig from command-line style values ('0.1-0.5', '20%'); ValueError if bad."""

    def rate(name: str, value: str | float | None) -> float:
        if value is None:
            return 0.0
        if isinstance(value, str):
            return parse_probability(name, value)
        check_probability(name, value)
        return float(value)

    def seconds(name: str, value: str | float | None) -> Latency:
        if value is None:
            return 0.0
        if isinstance(value, str):
            return parse_latency(value, name)
        return float(value)

    def seconds_or_latency(name: str, value: str | float | None) -> Latency:
        if isinstance(value, str) and value.strip().lower() == "latency":
            return parsed_latency  # as long as a generation would take
        return seconds(name, value)

    parsed_latency = seconds("latency", latency)
    if queue_timeout is not None and max_in_flight is None:
        raise ValueError(
            "a queue timeout needs a concurrency cap: add --max-in-flight N (requests queue"
            " only for one of N places)"
        )
    return EmulatorConfig(
        api_key=api_key,
        reject_key=reject_key,
        latency=parsed_latency,
        error_rate=rate("error rate", error_rate),
        charge_then_fail_rate=rate("charge-then-fail rate", charge_then_fail_rate),
        charge_then_drop_rate=rate("charge-then-drop rate", charge_then_drop_rate),
        rpm_limit=rpm_limit,
        limit_model=limit_model,
        max_in_flight=max_in_flight,
        retry_after=retry_after,
        refusal_delay=seconds_or_latency("refusal delay", refusal_delay),
        queue_timeout=(
            None if queue_timeout is None else seconds_or_latency("queue timeout", queue_timeout)
        ),
        transfer_latency=seconds("transfer latency", transfer_latency),
        burst_429=rate("429 burst rate", burst_429),
        drop_rate=rate("drop rate", drop_rate),
        truncate_rate=rate("truncate rate", truncate_rate),
        credit_limit=DEFAULT_CREDIT_LIMIT if credit_limit is None else credit_limit,
        cache_results=cache_results,
        seed=seed,
        asset_base_url=asset_base_url,
        state_dir=state_dir,
    )
