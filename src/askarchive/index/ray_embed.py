"""Embedding on a Ray cluster: ``askarchive index PATH --ray [ADDRESS]``.

Only the model's forward passes leave this process. Discovery, chunking (the tokenizer is local
and cheap), deciding what changed and every write stay in the indexer here, the one writer, so
commits, crash safety and resuming are exactly those of a local run.

A pool of actors, one CPU each, holds the model: each loads it once, from the model package
installed on its node, with the Hugging Face libraries forced offline. A batch of texts is cut
into length-contiguous shards (the indexer sorts them by length) that go to whichever actor is
free. An actor that dies (a killed worker, a lost node) is restarted by Ray and its calls are
retried there; should it die for good, its shards go to the others.

Ray is an optional extra (``pip install 'askarchive[ray]'``), imported lazily by ``ray_address``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections import deque
from typing import TYPE_CHECKING, Any

import numpy as np

from askarchive.errors import BadInput
from askarchive.index.ray_address import (
    RayUnavailable,
    check_reachable,
    import_ray,
    normalise,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from typing import TypeAlias

    from askarchive.embed.embedding import Embedder, Tokens

    # ``Archive.index(ray=...)``: None or False (no Ray), True, "" or "local" (a local Ray for
    # the run), an address (HOST:PORT, ray://HOST:PORT, auto), or a pool the caller keeps open.
    RayOption: TypeAlias = "str | bool | RayEmbedder | None"

# Seconds for the pool to start: every actor loads the model (a few seconds each; on a node's
# first run, the ONNX export of its encoder variant takes about a minute more).
# Actors that are still pending then (the cluster lacks free CPUs) are dropped.
START_TIMEOUT = 300.0
# Most texts per call to one actor: enough to amortise the call (a few ms), few enough that a
# batch spreads over many workers and that a retried call repeats little work.
SHARD_MAX = 64
# Texts per forward pass on a worker: the indexer's mini-batch size.
WORKER_BATCH = 32
# Calls queued per actor, so it starts the next shard while the driver collects the last one.
DEPTH = 2
# A killed worker is restarted this many times, and each call on it retried as often.
RETRIES = 3
# The object store only carries texts in and vectors out (under 1 MB a batch).
LOCAL_OBJECT_STORE = 128 * 1024 * 1024
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "ORT_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def _remote_model(embedder: Embedder) -> tuple[str | None, str]:
    """What each worker loads: the model (None for the bundled one, found in the worker's own
    install) and the encoder variant the index is built with, so the vectors match."""
    from askarchive.embed.embedding import DEFAULT_MODEL, SentenceTransformerEmbedder

    if not isinstance(embedder, SentenceTransformerEmbedder):
        raise BadInput("--ray works with the sentence-transformers embedder only")
    # A model folder given with --model must exist at the same path on every node.
    model = None if embedder.name == DEFAULT_MODEL else str(embedder._path)
    return model, embedder.encoder


def _pin(slot: int, threads: int) -> None:
    """Keep this worker on ``threads`` cores of its node, the ``slot``-th group of them.

    The runtimes size their thread pools from the cores a process may use; unpinned, every
    worker of a node would start one thread per core of the node and they would fight.
    """
    try:
        cores = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux: leave it to the runtime
        return
    if threads < len(cores):
        first = slot * threads
        os.sched_setaffinity(0, {cores[(first + k) % len(cores)] for k in range(threads)})


class EmbedWorker:
    """One Ray actor: loads the model once and embeds the shards it is sent."""

    def __init__(self, model: str | None, encoder: str, threads: int, slot: int) -> None:
        os.environ.update(OFFLINE_ENV)  # forced: a worker never downloads anything
        _pin(slot, threads)
        from askarchive.embed.embedding import SentenceTransformerEmbedder

        self.embedder = SentenceTransformerEmbedder(
            model, fast_queries=False, encoder=encoder, device="cpu"
        )
        # Loads (or on a node's first run, exports) the model now, not in the first batch.
        self.embedder.encode([f"warm-up text {i}" for i in range(8)])

    def info(self) -> dict[str, Any]:
        return {
            "name": self.embedder.name,
            "dim": self.embedder.dim,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "offline": os.environ.get("HF_HUB_OFFLINE"),
            "encoder": self.embedder.encoder,
            "backend": self.embedder.bulk_backend()[1],
        }

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        return self.embedder.encode(texts, batch_size=batch_size)


class RayEmbedder:
    """An ``Embedder`` whose ``encode`` runs on a pool of Ray actors.

    Tokenizing (chunking, token counts) stays with ``local``, which never loads its model here.
    ``close()`` stops the pool and, if this object started or connected Ray, disconnects.
    """

    remote = True

    def __init__(
        self,
        local: Embedder,
        address: str = "",
        *,
        workers: int | None = None,
        cpus_per_worker: int = 1,
        num_cpus: int | None = None,
    ) -> None:
        self.local = local
        self.name = local.name
        self.dim = local.dim
        self.address = address
        self.workers_info: list[dict[str, Any]] = []
        self._ray = ray = import_ray()
        model = _remote_model(local)
        self._owns_ray = not ray.is_initialized()
        self._restore_printer: Callable[[], None] | None = None
        if self._owns_ray:
            self._init(address, num_cpus)
        try:
            self._actors = self._start_pool(model, workers, cpus_per_worker)
        except BaseException:
            self.close()
            raise

    @property
    def max_tokens(self) -> int:
        return self.local.max_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.local.count_tokens(texts)

    def tokens(self, text: str) -> Tokens:
        return self.local.tokens(text)

    @property
    def workers(self) -> int:
        return len(self._actors)

    def _init(self, address: str, num_cpus: int | None) -> None:
        ray = self._ray
        # Ray's own INFO and WARNING lines (cluster start, token notice) would garble the
        # progress bar; its errors still show.
        logging.getLogger("ray").setLevel(logging.ERROR)
        common: dict[str, Any] = {
            "logging_level": logging.ERROR,
            "log_to_driver": False,
            "runtime_env": {"env_vars": dict(OFFLINE_ENV)},
        }
        self._restore_printer = _worker_notices_to_stderr(ray)
        if address == "":
            ray.init(
                address="local",
                num_cpus=num_cpus or os.cpu_count() or 1,
                object_store_memory=LOCAL_OBJECT_STORE,
                include_dashboard=False,
                **common,
            )
            return
        check_reachable(address)
        try:
            ray.init(address=address, **common)
        except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RayUnavailable(
                f"cannot connect to the Ray cluster at {address} ({first}); run "
                "`ray start --address=HEAD:6379` on this machine first, or use "
                "ray://HEAD:10001"
            ) from None

    def _start_pool(
        self, model: tuple[str | None, str], workers: int | None, cpus: int
    ) -> list[Any]:
        ray = self._ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        # Workers go to the nodes' CPUs, spread over nodes first; on each node the n-th worker
        # is pinned to the n-th group of cores. Soft affinity: a worker whose node is lost is
        # restarted elsewhere.
        places = sorted(
            (slot, node["NodeID"])
            for node in ray.nodes()
            if node.get("Alive")
            for slot in range(int(node.get("Resources", {}).get("CPU", 0)) // max(1, cpus))
        )
        if workers is not None:
            places = places[:workers]
        if not places:
            raise RayUnavailable(
                f"the Ray cluster has no node with {cpus} free CPU(s); `ray status` shows them"
            )
        options = {
            "num_cpus": cpus,
            "max_restarts": RETRIES,
            "max_task_retries": RETRIES,
            "runtime_env": {"env_vars": dict(OFFLINE_ENV)},
        }
        actor_cls = ray.remote(EmbedWorker)
        actors = [
            actor_cls.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=True), **options
            ).remote(*model, cpus, slot)
            for slot, node in places
        ]
        pending = {a.info.remote(): a for a in actors}
        ready, late = ray.wait(list(pending), num_returns=len(pending), timeout=START_TIMEOUT)
        for ref in late:
            ray.kill(pending[ref])
        started = []
        errors = []
        for ref in ready:
            try:
                self.workers_info.append(ray.get(ref))
                started.append(pending[ref])
            except ray.exceptions.RayError as exc:
                errors.append(_one_line(exc))
        if not started:
            why = errors[0] if errors else f"none started within {START_TIMEOUT:.0f} s"
            raise RayUnavailable(
                f"no embedding worker started on the Ray cluster ({why}); every node needs "
                "askarchive and its model installed (`pip install 'askarchive[ray]'`), and "
                "`ray status` should show free CPUs"
            )
        for info in self.workers_info:
            if (info["name"], info["dim"]) != (self.name, self.dim):
                raise RayUnavailable(
                    f"a Ray worker on {info['host']} loads model {info['name']} "
                    f"(dim {info['dim']}), but this index uses {self.name} (dim {self.dim}); "
                    "install the same askarchive and model on every node"
                )
        return started

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        ray = self._ray
        texts = list(texts)
        n = len(texts)
        # The caller may pass its whole batch as one call; a worker's forward passes stay small.
        worker_batch = max(1, min(batch_size, WORKER_BATCH))
        shards = max(min(n, len(self._actors)), -(-n // SHARD_MAX))
        bounds = [n * q // shards for q in range(shards + 1)]
        todo = deque(range(shards))
        out: list[np.ndarray | None] = [None] * shards
        slots = [a for _ in range(DEPTH) for a in self._actors]
        inflight: dict[Any, tuple[int, Any]] = {}
        while todo or inflight:
            while todo and slots:
                actor, s = slots.pop(0), todo.popleft()
                ref = actor.encode.remote(texts[bounds[s] : bounds[s + 1]], worker_batch)
                inflight[ref] = (s, actor)
            ready, _ = ray.wait(list(inflight), num_returns=1)
            for ref in ready:
                s, actor = inflight.pop(ref)
                try:
                    out[s] = ray.get(ref)
                except ray.exceptions.RayActorError as exc:
                    # Restarted and retried RETRIES times already: give its shards to the rest.
                    todo.appendleft(s)
                    self._drop(actor, slots)
                    if not self._actors:
                        raise RayUnavailable(
                            f"every Ray embedding worker died ({_one_line(exc)}); the index "
                            "keeps what was committed: run the command again to resume"
                        ) from None
                except ray.exceptions.RayError as exc:
                    raise RayUnavailable(
                        f"a Ray embedding worker failed ({_one_line(exc)}); the index keeps "
                        "what was committed: run the command again to resume"
                    ) from None
                else:
                    slots.append(actor)
        return np.ascontiguousarray(np.concatenate(out), dtype=np.float32)  # type: ignore[arg-type]

    def _drop(self, actor: Any, slots: list[Any]) -> None:
        if actor in self._actors:
            self._actors.remove(actor)
        slots[:] = [a for a in slots if a is not actor]

    def close(self) -> None:
        ray = self._ray
        for actor in getattr(self, "_actors", []):
            with contextlib.suppress(Exception):  # already gone: nothing to stop
                ray.kill(actor)
        self._actors = []
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
            self._owns_ray = False
        restore, self._restore_printer = self._restore_printer, None
        if restore is not None:
            restore()

    def __enter__(self) -> RayEmbedder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _worker_notices_to_stderr(ray: Any) -> Callable[[], None] | None:
    """Send Ray's notices about workers (a killed worker, a retried call) to stderr.

    Ray prints them on the driver's stdout, where they would corrupt ``index --json``. Its
    printer is a module function looked up at each call, so it is wrapped for this run only.
    """
    module = getattr(getattr(ray, "_private", None), "worker", None)
    original = getattr(module, "print_to_stdstream", None)
    if original is None:
        return None

    def to_stderr(data: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        return original({**data, "is_err": True}, *args, **kwargs)

    module.print_to_stdstream = to_stderr

    def restore() -> None:
        module.print_to_stdstream = original

    return restore


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    # Ray's errors start with a banner line and end with the cause; the cause is what helps.
    return (lines[-1] if lines else type(exc).__name__)[:200]


def check(ray: RayOption) -> None:
    """Fail at once, before any work, when Ray is asked for but not installed."""
    if not isinstance(ray, RayEmbedder) and normalise(ray) is not None:
        import_ray()


@contextlib.contextmanager
def remote_encoder(local: Embedder, ray: RayOption) -> Iterator[RayEmbedder | None]:
    """The Ray pool an index run encodes with: None without Ray, the caller's own pool, or one
    started (and stopped) for the run."""
    if isinstance(ray, RayEmbedder):
        yield ray
        return
    address = normalise(ray)
    if address is None:
        yield None
        return
    with RayEmbedder(local, address) as pool:
        yield pool
