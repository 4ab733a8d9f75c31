"""`backdrop emulator`: the local 1min.ai emulator with fault injection, for rehearsals."""

from __future__ import annotations

import click

from runner.diagnostics import UsageError


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback address.")
@click.option(
    "--port",
    "-p",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="0 picks a free port.",
)
@click.option(
    "--api-key",
    "emulator_key",
    metavar="KEY",
    help="Accept only this key (default: any non-empty key).",
)
@click.option("--reject-key", is_flag=True, help="Answer every API request with 401.")
@click.option("--latency", metavar="S|LOW-HIGH", help="Seconds per generation, e.g. 2 or 1-5.")
@click.option("--error-rate", metavar="P", help="Share of API requests answered 500/502/503/504.")
@click.option(
    "--charge-then-fail-rate", metavar="P", help="Share of generations charged, then answered 504."
)
@click.option(
    "--charge-then-drop-rate",
    metavar="P",
    help="Share of generations charged, then hung up on: the answer never arrives.",
)
@click.option(
    "--rpm-limit",
    type=click.IntRange(min=1),
    help="API requests per minute accepted; beyond it, 429.",
)
@click.option(
    "--limit-model",
    type=click.Choice(["token-bucket", "sliding-1s", "fixed-1s", "fixed-60s"]),
    default="token-bucket",
    show_default=True,
    help="How --rpm-limit is counted: a token bucket (small burst), a sliding 1-second window,"
    " or a fixed window per second or per minute.",
)
@click.option(
    "--max-in-flight",
    type=click.IntRange(min=1),
    help="API requests answered at once; beyond it, 429 (a concurrency cap; see --queue-timeout).",
)
@click.option("--no-retry-after", is_flag=True, help="Send 429 without a Retry-After header.")
@click.option(
    "--refusal-delay",
    metavar="S|LOW-HIGH|latency",
    help="Answer each 429 this many seconds after the request arrived ('latency': as long as a"
    " generation takes), as servers that hold a refusal back before they send it.",
)
@click.option(
    "--queue-timeout",
    metavar="S|LOW-HIGH|latency",
    help="With --max-in-flight: a request beyond the cap waits, first come first served, up to"
    " this many seconds for a place, and is answered 429 only then ('latency': as long as a"
    " generation takes).",
)
@click.option(
    "--transfer-latency",
    metavar="S|LOW-HIGH",
    help="Seconds per upload and per asset download, e.g. 0.02.",
)
@click.option("--burst-429", metavar="P", help="Share of requests that start a burst of 429s.")
@click.option("--drop-rate", metavar="P", help="Share of API connections dropped mid-answer.")
@click.option("--truncate-rate", metavar="P", help="Share of downloads cut short.")
@click.option(
    "--credit-limit",
    type=click.IntRange(min=0),
    help="Credits before they run out (default 1,000,000,000: ample for any rehearsal).",
)
@click.option("--seed", type=int, help="Make the faults repeatable.")
def emulator(
    host: str,
    port: int,
    emulator_key: str | None,
    reject_key: bool,
    latency: str | None,
    error_rate: str | None,
    charge_then_fail_rate: str | None,
    charge_then_drop_rate: str | None,
    rpm_limit: int | None,
    limit_model: str,
    max_in_flight: int | None,
    no_retry_after: bool,
    refusal_delay: str | None,
    queue_timeout: str | None,
    transfer_latency: str | None,
    burst_429: str | None,
    drop_rate: str | None,
    truncate_rate: str | None,
    credit_limit: int | None,
    seed: int | None,
) -> None:
    """Serve the local 1min.ai emulator on loopback, with optional faults (P: 0.2 or 20%)."""
    from runner.commands import terminal
    from runner.emulator.config import config_from_options
    from runner.emulator.server import serve_forever

    try:
        config = config_from_options(
            api_key=emulator_key,
            reject_key=reject_key,
            latency=latency,
            error_rate=error_rate,
            charge_then_fail_rate=charge_then_fail_rate,
            charge_then_drop_rate=charge_then_drop_rate,
            rpm_limit=rpm_limit,
            limit_model=limit_model,
            max_in_flight=max_in_flight,
            retry_after=not no_retry_after,
            refusal_delay=refusal_delay,
            queue_timeout=queue_timeout,
            transfer_latency=transfer_latency,
            burst_429=burst_429,
            drop_rate=drop_rate,
            truncate_rate=truncate_rate,
            credit_limit=credit_limit,
            seed=seed,
        )
        serve_forever(config, host, port, on_ready=terminal.show_emulator_ready)
    except ValueError as err:
        raise UsageError(str(err)) from None
    except OSError as err:
        raise UsageError(
            f"cannot listen on {host}:{port}: {err.strerror or err}",
            hint="choose another --port (0 picks a free one)",
        ) from None
