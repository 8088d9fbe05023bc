"""`hcml serve` (the realtime service under uvicorn) and `hcml dev-token` (a token for the local key)."""

from __future__ import annotations

import gc
import sys

import click


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="interface to listen on (0.0.0.0 in a container)")
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="uvicorn worker processes")
@click.option("--log-level", default="info", show_default=True)
@click.option(
    "--access-log/--no-access-log",
    default=False,
    show_default=True,
    help="uvicorn's access log (the audit log already records every /v1 request)",
)
@click.option(
    "--keep-alive",
    default=65,
    show_default=True,
    type=int,
    help="seconds an idle keep-alive connection stays open (longer than the proxy's idle timeout)",
)
def serve(host: str, port: int, workers: int, log_level: str, access_log: bool, keep_alive: int) -> None:
    """Run the realtime clinical service (HTTP + WebSocket API and the clinical page).

    Loads the reference bundle ($HCML_BUNDLE_DIR) and the pathogenicity model at start; tokens are checked
    against $HCML_OIDC_JWKS_URL, or the local development key when no issuer is configured.
    """
    # No cyclic collection while starting: everything created up to ready (modules, bundle, reference, model)
    # lives as long as the process, and the lifespan collects once, freezes it and turns the collector on
    # (full collections during imports and warm-up cost a cold start ~0.1 s of CPU).
    gc.disable()
    import uvicorn

    from hcml.observability import configure_logging
    from realtime.protocol import GuardedHttpProtocol, GuardedWebSocketProtocol
    from realtime.settings import load_settings, protocol_limits

    try:
        load_settings()  # a malformed setting is one line and exit 2, not a traceback from the worker
        protocol_limits()
    except ValueError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    configure_logging("realtime")
    uvicorn.run(
        "realtime.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=access_log,
        log_config=None,  # keep the redacting JSON handler configured above
        http=GuardedHttpProtocol,  # header size and read-time limits (realtime/protocol.py)
        ws=GuardedWebSocketProtocol,  # small frames until authenticated, a close that a non-reader cannot hold
        ws_max_size=64 << 20,  # after authentication; HCML_REALTIME_MAX_SUBMISSION_BYTES caps it further
        timeout_graceful_shutdown=10,
        timeout_keep_alive=keep_alive,
    )


@click.command("dev-token")
@click.option("--role", type=click.Choice(["clinician", "researcher", "admin"]), required=True)
@click.option("--subject", default=None, help="the token's `sub` (default: dev-<role>)")
@click.option("--ttl", default=8 * 3600, show_default=True, type=int, help="lifetime in seconds")
def dev_token(role: str, subject: str | None, ttl: int) -> None:
    """Print a bearer token signed by the local development key (under $HCML_DATA_DIR/realtime).

    Refused when HCML_OIDC_ISSUER names a real identity provider: development tokens never open a real
    deployment.
    """
    from realtime.auth import DevTokenRefused, mint_dev_token
    from realtime.settings import load_settings

    try:
        token = mint_dev_token(load_settings(), role, subject=subject, ttl_seconds=ttl)
    except DevTokenRefused as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    click.echo(token)
