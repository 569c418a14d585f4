"""`photogen worker` and `photogen beat`: the GPU workers and the periodic work of the distributed (Celery) mode."""

from __future__ import annotations

import os
from typing import Annotated, Optional

import typer

from photogen.cli.common import fail, fail_with, load_settings, quiet_libraries


def _celery_settings():
    """The settings, refused unless they describe a Celery mode that can start."""
    from photogen.container import check_queue_settings
    from photogen.domain.errors import PhotogenError

    settings = load_settings()
    if settings.queue != "celery":
        raise fail("invalid_settings", "workers and beat run in the Celery mode only",
                   "set PHOTOGEN_QUEUE=celery and PHOTOGEN_BROKER_URL=redis://host:6379/0")
    try:
        check_queue_settings(settings)
    except PhotogenError as exc:
        raise fail_with(exc) from None
    return settings


def worker(
    gpu: Annotated[Optional[int], typer.Option(help="GPU index this worker owns (sets CUDA_VISIBLE_DEVICES "
                                               "before torch loads); default: what the environment gives.")] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Jobs groups run at once; 1 per GPU (one process owns "
                                             "the model, its jobs run on one thread). Above 1 uses a prefork "
                                             "pool.")] = 1,
    beat: Annotated[bool, typer.Option("--beat", help="Also run the periodic work (what `photogen beat` runs); "
                                       "have exactly one of these in a deployment.")] = False,
    metrics_port: Annotated[Optional[int], typer.Option(min=1, max=65535, help="Serve this worker's Prometheus "
                                                        "metrics (batch sizes, step times, errors, GPU memory, its "
                                                        "heartbeat labels) at http://HOST:PORT/metrics; needs "
                                                        "--concurrency 1.")] = None,
    metrics_host: Annotated[str, typer.Option(help="Address the metrics port binds to; 0.0.0.0 lets a "
                                              "Prometheus on another host scrape it.")] = "127.0.0.1",
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
) -> None:
    """Run a Celery worker that claims queued jobs from the database and runs them (PHOTOGEN_QUEUE=celery)."""
    if gpu is not None:  # before anything imports torch
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    if metrics_port is not None and concurrency != 1:
        raise fail("invalid_option", "--metrics-port serves one process's metrics, and --concurrency above 1 runs "
                   "jobs in several", "run one worker per GPU with --concurrency 1, each with its own --metrics-port")
    settings = _celery_settings()
    from photogen.domain.errors import PhotogenError
    from photogen.queue.celery_worker import CeleryWorkerHost, worker_app

    host = CeleryWorkerHost(settings, gpu=None if gpu is None else str(gpu))
    # The port first: a taken one ends the command before the heavy imports and before the worker registers.
    stop_metrics = None if metrics_port is None else _serve_metrics(host, metrics_port, metrics_host)
    quiet_libraries()
    app = worker_app(settings, host)
    if concurrency == 1:
        try:  # registered, recovered and heartbeating before the first message arrives
            host.container()
        except PhotogenError as exc:
            if stop_metrics is not None:
                stop_metrics()
            raise fail_with(exc) from None
    name = f"photogen-gpu{gpu}" if gpu is not None else "photogen"
    # One job group at a time runs on the pool's one thread, not on the consumer's: the consumer keeps answering
    # the broker (AMQP heartbeats: RabbitMQ drops a connection that misses two) while a long group runs.
    argv = ["worker", f"--concurrency={concurrency}", f"--pool={'threads' if concurrency == 1 else 'prefork'}",
            f"--loglevel={loglevel}", f"--hostname={name}-{os.getpid()}@%h", "--without-gossip", "--without-mingle"]
    if beat:
        argv += ["--beat", f"--schedule={settings.home / 'celerybeat-schedule'}"]
    try:
        app.worker_main(argv)
    finally:
        if stop_metrics is not None:
            stop_metrics()
        host.close()


def _serve_metrics(host, port: int, address: str):
    from photogen.observability.metrics import serve_worker_metrics

    try:
        return serve_worker_metrics(host.metrics(), port, address)
    except OSError as exc:
        raise fail("metrics_port_unavailable", f"cannot serve metrics on {address}:{port} ({exc.strerror or exc})",
                   "pick a free --metrics-port (one per worker on a host), or leave it out") from None


def beat(
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
) -> None:
    """Schedule the periodic work (requeue expired leases, webhook outbox, retention purge) for the workers."""
    settings = _celery_settings()
    from photogen.queue.celery_app import celery_app

    settings.home.mkdir(parents=True, exist_ok=True)
    celery_app(settings).start(["beat", f"--loglevel={loglevel}",
                                f"--schedule={settings.home / 'celerybeat-schedule'}"])
