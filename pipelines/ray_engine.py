"""``recsys build --engine ray [--address ADDR]``: the parallel stages of a build on Ray.

* **document encoding**: Ray Data ``map_batches`` over an actor pool, one encoder load per
  actor (``num_gpus=1`` per actor when the cluster has GPUs), batches of the same texts in the
  same order as a local build, so the vectors are the same;
* **vector index** (flat and IVF parts): trained once, filled shard by shard in parallel
  tasks, merged in shard order (HNSW cannot be merged: it is built in one place);
* **co-visitation**: one task per block of item rows, stacked in row order;
* **recommendation training lists**: one task per shard of users, joined in user order.

Everything else runs in the driver as in a local build, and the artifact is the same: the
tests build a data slice both ways and compare the manifest checksums. Without ``--address``
a local Ray is started (``ray.init()``, the machine's CPUs); with it, the build joins that
cluster (``ray://host:10001`` or ``auto``; deploy/README.md shows a RayJob).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from recsys.core.errors import RecsysError

log = logging.getLogger(__name__)
R = TypeVar("R")


class RayRunner:
    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None) -> None:
        try:
            import ray
        except ImportError as exc:  # pragma: no cover - ray is a dependency
            raise RecsysError(
                "--engine ray needs the ray package (pip install 'ray[data]')"
            ) from exc
        if not ray.is_initialized():
            try:
                ray.init(
                    address=address,
                    num_cpus=None if address else num_cpus,
                    include_dashboard=False,
                    log_to_driver=True,
                    logging_level=logging.WARNING,
                )
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise RecsysError(
                    f"cannot start or reach Ray at {address or 'local'}: {exc}"
                ) from exc
        resources = ray.cluster_resources()
        self.cpus = int(resources.get("CPU", 1))
        self.gpus = int(resources.get("GPU", 0))
        self.workers = max(1, self.cpus)
        self.address = address or "local"
        log.info("ray: %d CPUs, %d GPUs (%s)", self.cpus, self.gpus, self.address)

    def describe(self) -> dict[str, Any]:
        return {"engine": "ray", "address": self.address, "cpus": self.cpus, "gpus": self.gpus}

    def map_shards(
        self, fn: Callable[..., R], shards: Sequence[Any], shared: dict[str, Any]
    ) -> list[R]:
        import ray

        refs = {name: ray.put(value) for name, value in shared.items()}
        task: Any = ray.remote(num_cpus=1)(_call)
        return list(ray.get([task.remote(fn, shard, **refs) for shard in shards]))

    def encode(
        self, texts: list[str], encoder_config: dict[str, Any], batch_size: int, chunk: int
    ) -> np.ndarray:
        """Texts (already in encoding order) -> vectors, by an actor pool of encoders."""
        import ray.data

        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False
        rows = ray.data.from_items([{"row": i, "text": t} for i, t in enumerate(texts)])
        gpus = 1 if self.gpus else 0
        actors = max(1, self.gpus if gpus else self.cpus)
        encoded = rows.map_batches(
            _EncodeBatch,
            fn_constructor_kwargs={"config": encoder_config, "batch_size": batch_size},
            batch_size=chunk,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_gpus=gpus,
            num_cpus=0 if gpus else 1,
        )
        out = None
        for batch in encoded.iter_batches(batch_size=None, batch_format="numpy"):
            if out is None:
                out = np.zeros((len(texts), batch["vector"].shape[1]), dtype=np.float32)
            out[batch["row"]] = batch["vector"]
        if out is None:
            raise RecsysError("the Ray encoding stage returned nothing")
        return out


def _call(fn: Callable[..., R], shard: Any, **shared: Any) -> R:
    return fn(shard, **shared)  # Ray resolved the top-level object refs before the call


class _EncodeBatch:
    """One encoder per actor, loaded once (on the actor's GPU when it has one)."""

    def __init__(self, config: dict[str, Any], batch_size: int) -> None:
        from recsys.search.encoder import EncoderConfig, load_encoder

        self.encoder = load_encoder(EncoderConfig.from_dict(config), device=config.get("device"))
        self.batch_size = batch_size

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = [str(t) for t in batch["text"]]
        vectors = self.encoder.encode_documents(texts, batch_size=self.batch_size, progress=False)
        return {"row": batch["row"], "vector": np.asarray(vectors, dtype=np.float32)}
