"""Command line: ``orlop up`` (and, later, ``orlop agent``).

Why this exists: the one entry point users type; it only parses options and hands
over to the module that runs the mode asked for.
"""

from __future__ import annotations

import asyncio
import logging

import click

from . import up as up_mod


@click.group()
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def main(verbose: int) -> None:
    """orlop: a Kubernetes-compatible persistent-storage control plane."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@main.command()
@click.option("--data-dir", default=up_mod.DEFAULT_DATA_DIR, show_default=True,
              help="Holds the store, the certificates and the kubeconfig.")
@click.option("--port", default=up_mod.DEFAULT_PORT, show_default=True, type=int, help="HTTPS port.")
@click.option("--address", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--tls-san", multiple=True, help="Extra host name or IP for the server certificate.")
@click.option("--compact-interval", default=up_mod.COMPACT_INTERVAL, show_default=True, type=float,
              help="Seconds between compactions of the watch history.")
@click.option("--compact-keep", default=up_mod.COMPACT_KEEP, show_default=True, type=int,
              help="Revisions of history kept for watch resume (older ones answer 410 Gone).")
def up(data_dir: str, port: int, address: str, tls_san: tuple[str, ...], compact_interval: float,
       compact_keep: int) -> None:
    """Run API server and controllers in the foreground until stopped (Ctrl-C)."""
    cfg = up_mod.Config(data_dir=data_dir, port=port, address=address, extra_names=list(tls_san),
                        compact_interval=compact_interval, compact_keep=compact_keep)
    try:
        asyncio.run(up_mod.run(cfg))
    except OSError as e:
        raise click.ClickException(f"cannot serve on {address}:{port}: {e.strerror or e}") from None
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
