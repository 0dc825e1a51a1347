"""`mlcd serve`: settings from flags, then the environment, then mlcd.yaml; uvicorn runs the app."""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import tempfile
from collections.abc import Mapping
from typing import Any

from mlcd.config import flag_or_env, load_config
from mlcd.errors import UsageError
from mlcd.output import get_output

DEFAULT_HOST = "127.0.0.1"
# connection limits: flag, else environment variable (how a container is configured), else default
CONNECTION_SETTINGS = (("header_timeout", "MLCD_HEADER_TIMEOUT", 10.0), ("body_timeout", "MLCD_BODY_TIMEOUT", 30.0),
                       ("max_connections", "MLCD_MAX_CONNECTIONS", 1000))
# One BLAS/OpenMP thread: set before numpy loads, unless the user chose otherwise.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _port(value: str, source: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        example = f"{source} 8080" if source.startswith("--") else f"{source}=8080"
        raise UsageError(f"{source} is {value!r}: it must be a port number from 1 to 65535", fix=f"e.g. {example}")
    return int(value)


def _connection_setting(args: argparse.Namespace, env: Mapping[str, str], name: str, variable: str,
                        default: float) -> float:
    found = flag_or_env(getattr(args, name, None), "--" + name.replace("_", "-"), env, variable)
    if found is None:
        return default
    raw, source = found
    try:
        value = type(default)(raw)
    except ValueError:
        raise UsageError(f"{source} must be a positive number, not {raw[:20]!r}", fix=f"e.g. {variable}={default:g}") \
            from None
    if value <= 0:
        raise UsageError(f"{source} must be positive", fix=f"the default, {default:g}, suits most deployments")
    return value


def resolve(args: argparse.Namespace, env: Mapping[str, str], config_port: int) -> dict[str, Any]:
    """Flag > environment variable > mlcd.yaml > default (:func:`mlcd.config.flag_or_env`)."""
    host = flag_or_env(args.host, "--host", env, "MLCD_HOST")
    port = flag_or_env(args.port, "--port", env, "MLCD_PORT")
    model = flag_or_env(args.model, "--model", env, "MLCD_MODEL")
    if args.workers < 1:
        raise UsageError("--workers must be at least 1")
    if args.max_body_bytes < 1:
        raise UsageError("--max-body-bytes must be at least 1")
    if args.timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds")
    if not 0 <= args.max_batch_wait_ms <= 1000:
        raise UsageError("--max-batch-wait-ms must be from 0 to 1000", fix="the default, 2, suits most models")
    limits = {name: _connection_setting(args, env, name, variable, default)
              for name, variable, default in CONNECTION_SETTINGS}
    return {"host": host[0] if host else DEFAULT_HOST, "port": _port(*port) if port else config_port,
            "model": model[0] if model else None, **limits}


def check_port_free(host: str, port: int) -> None:
    """A UsageError naming the port when something listens there already (uvicorn would log and exit)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                             fix="pass another --port (or MLCD_PORT), or stop what listens there") from None


def run(args: argparse.Namespace) -> int:
    for variable in THREAD_VARIABLES:
        os.environ.setdefault(variable, "1")
    config = load_config(args.config)
    chosen = resolve(args, os.environ, config.package.port)
    model = chosen["model"] or str(config.resolve(config.model.path))
    check_port_free(chosen["host"], chosen["port"])

    import uvicorn

    from mlcd.serving.app import SETTINGS_ENV, Settings
    from mlcd.serving.connections import GuardedHttpToolsProtocol
    from mlcd.serving.prediction_log import check_writable, resolve_log_settings

    prediction_log = resolve_log_settings(config, os.environ, path=args.prediction_log,
                                          sample_rate=args.log_sample_rate, rotate_mb=args.log_rotate_mb,
                                          rotate_minutes=args.log_rotate_minutes)
    if prediction_log is not None:
        check_writable(prediction_log.path)
    settings = Settings(model_path=model, config_path=config.source, max_body_bytes=args.max_body_bytes,
                        timeout=args.timeout, max_batch_wait_ms=args.max_batch_wait_ms, prediction_log=prediction_log,
                        header_timeout=chosen["header_timeout"], body_timeout=chosen["body_timeout"],
                        max_connections=int(chosen["max_connections"]))
    os.environ[SETTINGS_ENV] = settings.to_env()
    metrics_dir = None
    if args.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = tempfile.mkdtemp(prefix="mlcd-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    logging = "off" if prediction_log is None else (f"to {prediction_log.path} "
                                                     f"(sample rate {prediction_log.sample_rate:g})")
    get_output().info(f"mlcd serve: {config.model.name} from {model} on http://{chosen['host']}:{chosen['port']} "
                      f"({args.workers} worker(s)); ready once the model is loaded and verified; "
                      f"prediction log {logging}")
    try:
        uvicorn.run("mlcd.serving.app:app_from_environment", factory=True, host=chosen["host"], port=chosen["port"],
                    workers=args.workers, loop="auto", http=GuardedHttpToolsProtocol, lifespan="on", access_log=False,
                    log_config=_log_config(), timeout_graceful_shutdown=10)
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _log_config() -> dict[str, Any]:
    handler = {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "handlers": {"stderr": handler},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "mlcd.serve": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        },
    }
