"""Command line: ``orlop up`` (everything on one machine) and ``orlop agent`` (one more node).

Why this exists: the one entry point users type; it only parses options and hands
over to the module that runs the mode asked for.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

import click

from . import up as up_mod
from .store import StoreInUse

EVENT_LOOPS = ("uvloop", "asyncio")
_EVENT_LOOP_HELP = ("The event loop: uvloop (default: libuv's, 7% less CPU per bound PV/PVC pair; README) "
                    "or asyncio (the standard library's).")


def run_loop(coro: Coroutine[Any, Any, None], event_loop: str) -> None:
    """Run ``coro`` to the end on a new loop of the kind asked for (``EVENT_LOOPS``)."""
    if event_loop == "uvloop":
        import uvloop
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(coro)
    else:
        asyncio.run(coro)


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
@click.option("--node-name", default="", help="Name of the embedded node (default: the host name).")
@click.option("--runtime", type=click.Choice(["process", "simulated", "none"]), default=None,
              help="Container runtime of the embedded node: process (default as root), simulated (kwok-style, "
                   "no processes; default without root) or none (no node in this process).")
@click.option("--agent-port", default=0, show_default=True, type=int,
              help="HTTPS port of the embedded node agent (exec/logs); 0 picks a free one.")
@click.option("--event-loop", type=click.Choice(EVENT_LOOPS), default="uvloop", show_default=True,
              help=_EVENT_LOOP_HELP)
def up(data_dir: str, port: int, address: str, tls_san: tuple[str, ...], compact_interval: float,
       compact_keep: int, node_name: str, runtime: str | None, agent_port: int, event_loop: str) -> None:
    """Run API server, controllers, scheduler and a node agent in the foreground until stopped (Ctrl-C)."""
    cfg = up_mod.Config(data_dir=data_dir, port=port, address=address, extra_names=list(tls_san),
                        compact_interval=compact_interval, compact_keep=compact_keep, node_name=node_name,
                        runtime=runtime or "", agent_port=agent_port)
    try:
        run_loop(up_mod.run(cfg), event_loop)
    except StoreInUse as e:
        raise click.ClickException(f"the data directory {data_dir} is in use by another orlop"
                                   + (f" (pid {e.pid})" if e.pid else "")) from None
    except OSError as e:
        raise click.ClickException(f"cannot serve on {address}:{port}: {e.strerror or e}") from None
    except KeyboardInterrupt:
        pass


@main.command()
@click.option("--kubeconfig", required=True, type=click.Path(exists=True, dir_okay=False),
              help="How to reach the API server (the kubeconfig `orlop up` writes).")
@click.option("--node-name", default="", help="Name of this node (default: the host name).")
@click.option("--root-dir", default="/var/lib/orlop-agent", show_default=True,
              help="Pods' volumes, container state and logs live here.")
@click.option("--runtime", type=click.Choice(["process", "simulated"]), default=None,
              help="process (default as root) or simulated (kwok-style, no processes).")
@click.option("--address", default="127.0.0.1", show_default=True,
              help="Address the agent listens on and publishes as the Node's InternalIP.")
@click.option("--port", default=10250, show_default=True, type=int,
              help="HTTPS port for exec and logs (the API server relays to it); 0 picks a free one.")
@click.option("--event-loop", type=click.Choice(EVENT_LOOPS), default="uvloop", show_default=True,
              help=_EVENT_LOOP_HELP)
def agent(kubeconfig: str, node_name: str, root_dir: str, runtime: str | None, address: str, port: int,
          event_loop: str) -> None:
    """Run a node agent: register this machine as a Node and run the pods scheduled to it."""
    try:
        run_loop(up_mod.run_agent(kubeconfig, node_name, root_dir, runtime or "", address, port), event_loop)
    except OSError as e:
        raise click.ClickException(f"cannot serve on {address}:{port}: {e.strerror or e}") from None
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
