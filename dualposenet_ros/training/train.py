"""``dualposenet train``: train DualPoseNet on prepared instance stores.

``--dataset`` follows the original's recipe: ``REAL275`` learns from the CAMERA train instances and
the REAL train instances together (concatenated, shuffled as one set every epoch), ``CAMERA25`` from
CAMERA alone, read from ``--instances`` (``data/training_instances/{CAMERA25,REAL275}_train``, where
``dualposenet prepare`` writes by default). ``--data`` names the stores directly (one or more).

Single process (CPU or one GPU) or ``torchrun --nproc_per_node=N -m dualposenet_ros.cli train ...``
(DistributedDataParallel; detected from ``WORLD_SIZE`` / ``LOCAL_RANK``; NCCL on CUDA, gloo on
CPU). ``--batch-size`` is the *global* batch: each of the W processes takes ``batch / W``, so the
recipe (lr, schedule in steps) is the same for any number of GPUs.

A run directory holds:

* ``model.safetensors`` + ``model.json``: the latest weights (a checkpoint
  :func:`~dualposenet_ros.model.checkpoint.load_checkpoint` reads from the run directory itself);
* ``checkpoints/epoch_XXXX.{safetensors,json}``: the weights after each epoch;
* ``training_state.pt``: what ``--resume`` needs besides the weights (optimizer, grad scaler,
  step, epoch, position inside the epoch, RNG states), tensors and plain Python values only, read
  back with ``torch.load(..., weights_only=True)``;
* ``metrics.jsonl``: one JSON object per line (``"kind": "train"`` every ``log_every`` steps with
  step, epoch, lr, each loss component and instances/s; ``"kind": "val"`` per epoch);
* ``run_config.yaml``: the resolved model + training configuration;
* ``losses.png``: the loss curves (training, validation, learning rate), redrawn at every save.

The learning rate is a pure function of the step (staircase decay, floor), and the data order is a
pure function of (seed, epoch) (:class:`ResumableDistributedSampler`), so a resumed run continues
exactly where the interrupted one stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler

from ..core.config import ModelConfig, load_config

STATE_FILE = "training_state.pt"
METRICS_FILE = "metrics.jsonl"
RUN_CONFIG_FILE = "run_config.yaml"
PLOT_FILE = "losses.png"
MODEL_STEM = "model"

def learning_rate(step: int, train: Mapping[str, Any]) -> float:
    """Staircase schedule: ``lr * rate ** (step // decay_steps)``, never below ``lr_min``."""
    decay_steps = int(train["lr_decay_steps"] or 0)
    factor = float(train["lr_decay_rate"]) ** (step // decay_steps) if decay_steps > 0 else 1.0
    return max(float(train["lr"]) * factor, float(train["lr_min"]))


# --------------------------------------------------------------------------- distributed helpers


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed(device_request: str | None) -> tuple[DistInfo, torch.device]:
    """Initialise the process group under torchrun (WORLD_SIZE > 1); pick this process's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device_request != "cpu"
    if device_request and device_request.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda requested but CUDA is not available")
    if use_cuda:
        index = local_rank if world_size > 1 else (torch.device(device_request or "cuda").index or 0)
        device = torch.device("cuda", index)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    info = DistInfo(rank, world_size, local_rank)
    if info.enabled and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return info, device


class ResumableDistributedSampler(DistributedSampler):
    """``DistributedSampler`` (order a function of seed + epoch) that can start part-way into an epoch."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.start = 0

    def set_start(self, start: int) -> None:
        self.start = int(start)

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        return iter(indices[self.start:])

    def __len__(self) -> int:
        return max(self.num_samples - self.start, 0)


def _seed_worker(worker_id: int) -> None:
    """DataLoader worker_init_fn: derive NumPy and Python seeds from the worker's torch seed."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _rng_state() -> dict[str, Any]:
    """RNG states as tensors / plain values (loadable with weights_only=True)."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    version, python_state, gauss = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "position": int(position),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "python": {"version": int(version), "state": list(python_state), "gauss": gauss},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    numpy_state = state["numpy"]
    np.random.set_state((numpy_state["kind"], numpy_state["keys"].numpy().astype(np.uint32), numpy_state["position"],
                         numpy_state["has_gauss"], numpy_state["cached"]))
    python_state = state["python"]
    random.setstate((python_state["version"], tuple(python_state["state"]), python_state["gauss"]))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


# --------------------------------------------------------------------------- training


TRAINING_SOURCES: dict[str, tuple[str, ...]] = {"CAMERA25": ("CAMERA25",), "REAL275": ("CAMERA25", "REAL275")}
"""--dataset -> the datasets whose train instances it learns from (the original's loader)."""


def training_stores(dataset: str, instances: str | os.PathLike[str]) -> list[str]:
    """The instance stores of ``--dataset``: ``INSTANCES/<source>_train`` for each of its sources."""
    if dataset not in TRAINING_SOURCES:
        raise ValueError(f"unknown dataset {dataset!r}: expected one of {', '.join(TRAINING_SOURCES)}")
    return [os.fspath(Path(instances) / f"{source}_train") for source in TRAINING_SOURCES[dataset]]


@dataclass
class TrainOptions:
    data: str | list[str]
    out: str
    config: str | None = "paper"
    val_data: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    workers: int | None = None
    amp: bool | None = None
    amp_dtype: str | None = None
    resume: bool = False
    seed: int | None = None
    max_steps: int | None = None
    log_every: int | None = None
    device: str | None = None
    threads: int | None = None
    progress: bool = True
    time_limit_minutes: float | None = None  # stop (resumably) at the first step after this long
    init: str | None = None  # start from these weights (fine-tuning), with a fresh optimiser and step 0


TARGET_KEYS = ("quaternion", "translation", "size", "canonical_points")
LOSS_KEYS = ("total", "rotation", "translation", "size", "implicit")


def _to_device(batch: Mapping[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    non_blocking = device.type == "cuda"
    return {key: value.to(device, non_blocking=non_blocking) for key, value in batch.items()}


def _autocast(device: torch.device, train: Mapping[str, Any]) -> contextlib.AbstractContextManager:
    if device.type == "cuda" and train["amp"]:
        return torch.autocast("cuda", dtype=getattr(torch, train["amp_dtype"]))
    return contextlib.nullcontext()


def _losses(model: torch.nn.Module, batch: Mapping[str, torch.Tensor], device: torch.device,
            train: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    from ..model.losses import training_loss

    with _autocast(device, train):
        output = model(batch["distance_map"], batch["rgb_map"], batch["points"])
    # Losses in float32 whatever the autocast dtype (the outputs are cast up, cheaply).
    output = type(output)(*(tensor.float() for tensor in output))
    weights = train["loss_weights"]
    return training_loss(output, {key: batch[key] for key in TARGET_KEYS},
                         rotation_weight=float(weights["rotation"]), translation_weight=float(weights["translation"]),
                         size_weight=float(weights["size"]), implicit_weight=float(weights["implicit"]))


class MetricsLog:
    """Append-only JSON-lines log (main process only); on resume, entries after the resumed step are dropped."""

    def __init__(self, path: Path, enabled: bool, resume_step: int | None) -> None:
        self.path = path
        self.enabled = enabled
        if not enabled:
            return
        if resume_step is not None and path.exists():
            kept = [line for line in path.read_text(encoding="utf-8").splitlines()
                    if line.strip() and json.loads(line).get("step", 0) <= resume_step]
            path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        elif resume_step is None:
            path.write_text("", encoding="utf-8")

    def write(self, entry: Mapping[str, Any]) -> None:
        if self.enabled:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry) + "\n")


def _save(run_dir: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
          position: Mapping[str, int], metadata: Mapping[str, Any], epoch_checkpoint: bool) -> None:
    """Weights (safetensors + JSON) and the resumable state, written atomically, weights first."""
    from ..model.checkpoint import save_checkpoint

    meta = {**metadata, **position}
    save_checkpoint(run_dir / f"{MODEL_STEM}.safetensors", model, meta)
    if epoch_checkpoint:
        save_checkpoint(run_dir / "checkpoints" / f"epoch_{position['epoch']:04d}.safetensors", model, meta)
    state = {
        "format_version": 1,
        "step": int(position["step"]),
        "epoch": int(position["epoch"]),
        "batch_in_epoch": int(position["batch_in_epoch"]),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict(),
        "rng": _rng_state(),
    }
    temporary = run_dir / (STATE_FILE + ".tmp")
    torch.save(state, temporary)
    os.replace(temporary, run_dir / STATE_FILE)
    if (run_dir / METRICS_FILE).is_file():
        from ..evaluation.training_curves import plot_training_curves

        plot_training_curves(run_dir / METRICS_FILE, run_dir / PLOT_FILE)


@torch.no_grad()
def evaluate(model: torch.nn.Module, loader: DataLoader, device: torch.device, train: Mapping[str, Any],
             info: DistInfo, max_batches: int | None = None) -> dict[str, float]:
    """Mean of each loss component over a validation loader (summed over all processes)."""
    was_training = model.training
    model.eval()
    sums = torch.zeros(len(LOSS_KEYS) + 1, dtype=torch.float64, device=device)
    for index, batch in enumerate(loader):
        if max_batches is not None and index >= max_batches:
            break
        batch = _to_device(batch, device)
        losses = _losses(model, batch, device, train)
        count = batch["quaternion"].shape[0]
        sums[:-1] += torch.stack([losses[key].detach().double() for key in LOSS_KEYS]) * count
        sums[-1] += count
    if info.enabled:
        dist.all_reduce(sums)
    model.train(was_training)
    total = max(float(sums[-1]), 1.0)
    return {key: float(sums[i]) / total for i, key in enumerate(LOSS_KEYS)}


def _resolve(options: TrainOptions, run_dir: Path) -> tuple[ModelConfig, dict[str, Any], dict[str, Any]]:
    spec = options.config
    if options.resume and (run_dir / RUN_CONFIG_FILE).is_file() and spec is None:
        spec = str(run_dir / RUN_CONFIG_FILE)
    model_config, train, augment = load_config(spec or "paper")
    for key in ("epochs", "batch_size", "lr", "workers", "amp", "amp_dtype", "seed", "max_steps", "log_every"):
        value = getattr(options, key)
        if value is not None:
            train[key] = value
    if train["amp_dtype"] not in ("float16", "bfloat16"):
        raise ValueError(f"amp_dtype must be float16 or bfloat16, got {train['amp_dtype']!r}")
    return model_config, train, augment


def _categories(dataset: Any) -> Any:
    """The categories the stores record (the NOCS six without a record); stores of different ones are refused."""
    from ..core.categories import categories_from_metadata

    found = [categories_from_metadata(store.manifest.get("metadata")) for store in dataset.stores]
    if any(categories != found[0] for categories in found[1:]):
        raise ValueError("the instance stores hold different categories: "
                         + "; ".join(f"{store.root}: {', '.join(c.names)}" for store, c in zip(dataset.stores, found)))
    return found[0]


def _check_resumed_data(saved: Mapping[str, Any], dataset: Any) -> None:
    """A resumed run must read the data it started on: other stores would change the sampler's
    position, the steps per epoch and the categories the checkpoint records, without a word."""
    def summary(sources: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [(source.get("dataset"), source.get("split"), source.get("instances")) for source in sources]

    saved_sources = saved.get("sources")
    if saved_sources is not None and summary(saved_sources) != summary(dataset.sources):
        raise ValueError(f"--resume: the run was trained on {summary(saved_sources)} (dataset, split, instances), "
                         f"not on {summary(dataset.sources)}: give it the same --data / --dataset")
    saved_categories = saved.get("categories")
    if saved_categories is not None and saved_categories != _categories(dataset).to_json():
        raise ValueError("--resume: the stores hold other categories than the run was trained on")


def train(options: TrainOptions) -> dict[str, Any]:
    """Run (or resume) training; returns a summary (final step, last losses, throughput)."""
    from tqdm import tqdm

    from ..data.instances import ColorJitter, InstanceDataset
    from ..model.checkpoint import read_checkpoint_config, read_weights, load_state_into
    from ..model.network import DualPoseNet

    run_dir = Path(options.out)
    if options.threads:
        torch.set_num_threads(int(options.threads))
    info, device = setup_distributed(options.device)
    try:
        model_config, train_cfg, augment_cfg = _resolve(options, run_dir)
        state = None
        if options.resume:
            state_path = run_dir / STATE_FILE
            if not state_path.is_file():
                raise FileNotFoundError(f"--resume: no {STATE_FILE} in {run_dir}")
            state = torch.load(state_path, map_location="cpu", weights_only=True)
            saved_config, saved_meta = read_checkpoint_config(run_dir / f"{MODEL_STEM}.safetensors")
            if saved_meta.get("step") != state["step"]:
                raise RuntimeError(f"{run_dir}: weights (step {saved_meta.get('step')}) and {STATE_FILE} "
                                   f"(step {state['step']}) disagree")
            model_config = saved_config  # the weights decide the architecture
        seed = int(train_cfg["seed"])
        seed_everything(seed + info.rank)

        jitter = augment_cfg.get("color_jitter")
        augment = ColorJitter(**jitter) if isinstance(jitter, Mapping) else (ColorJitter() if jitter else None)
        dataset = InstanceDataset(options.data, augment=augment, seed=seed)
        if state is not None:
            _check_resumed_data(saved_meta, dataset)
        if dataset.resolution != model_config.resolution:
            n = model_config.resolution
            raise ValueError(f"{dataset.store.root} holds {dataset.resolution}x{dataset.resolution} maps but the model "
                             f"expects {n}x{n}: re-run prepare with --resolution {n} (or --config of this model)")
        global_batch = int(train_cfg["batch_size"])
        if global_batch % info.world_size:
            raise ValueError(f"batch size {global_batch} is not divisible by the {info.world_size} processes")
        batch = global_batch // info.world_size
        sampler = ResumableDistributedSampler(dataset, num_replicas=info.world_size, rank=info.rank, shuffle=True,
                                              seed=seed, drop_last=True)
        steps_per_epoch = sampler.num_samples // batch
        if steps_per_epoch == 0:
            raise ValueError(f"{len(dataset)} instances are fewer than one batch of {global_batch}")
        val_loader = None
        if options.val_data:
            val_set = InstanceDataset(options.val_data)
            val_sampler = DistributedSampler(val_set, num_replicas=info.world_size, rank=info.rank, shuffle=False)
            val_loader = DataLoader(val_set, batch_size=batch, sampler=val_sampler,
                                    num_workers=int(train_cfg["workers"]),
                                    pin_memory=device.type == "cuda", worker_init_fn=_seed_worker)

        model = DualPoseNet(model_config).to(device)
        if state is not None:
            load_state_into(model, read_weights(run_dir / f"{MODEL_STEM}.safetensors", "cpu"))
        elif options.init:
            load_state_into(model, read_weights(options.init, "cpu"))  # names the first mismatch
        optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate(0, train_cfg),
                                     betas=tuple(train_cfg["betas"]), weight_decay=float(train_cfg["weight_decay"]))
        use_scaler = device.type == "cuda" and bool(train_cfg["amp"]) and train_cfg["amp_dtype"] == "float16"
        scaler = torch.amp.GradScaler("cuda" if device.type == "cuda" else "cpu", enabled=use_scaler)
        if train_cfg["amp"] and device.type != "cuda" and info.is_main:
            print("dualposenet train: --amp has no effect on the CPU (float32 training)", file=sys.stderr)
        step = epoch = batch_in_epoch = 0
        if state is not None:
            optimizer.load_state_dict(state["optimizer"])
            scaler.load_state_dict(state["scaler"])
            step, epoch, batch_in_epoch = int(state["step"]), int(state["epoch"]), int(state["batch_in_epoch"])
            _set_rng_state(state["rng"])
        net: torch.nn.Module = model
        if info.enabled:
            net = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None)

        if info.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            import yaml

            (run_dir / RUN_CONFIG_FILE).write_text(yaml.safe_dump(
                {"model": model_config.to_dict(), "train": {**train_cfg, "max_steps": None}, "augment": augment_cfg},
                sort_keys=False),
                encoding="utf-8")
        log = MetricsLog(run_dir / METRICS_FILE, info.is_main, step if state is not None else None)
        metadata = {"model_preset_or_file": options.config, "data": [source["path"] for source in dataset.sources],
                    "dataset": "+".join(str(source["dataset"]) for source in dataset.sources),
                    "split": dataset.manifest.get("split"), "sources": dataset.sources,
                    "train": train_cfg, "world_size": info.world_size, "init": options.init,
                    # the categories the model learns, the names its estimates carry (default the NOCS six)
                    "categories": _categories(dataset).to_json()}
        epochs = int(train_cfg["epochs"])
        max_steps = train_cfg["max_steps"]
        max_steps = int(max_steps) if max_steps is not None else None
        log_every = max(1, int(train_cfg["log_every"]))
        checkpoint_every = int(train_cfg["checkpoint_every_steps"] or 0)
        grad_clip = train_cfg["grad_clip"]
        if info.is_main:
            print("dualposenet train: " + " + ".join(f"{source['instances']} {source['dataset']} {source['split']}"
                                                      for source in dataset.sources)
                  + f" = {len(dataset)} instances, shuffled together", file=sys.stderr)
            print(f"dualposenet train: {len(dataset)} instances, {steps_per_epoch} steps/epoch, global batch "
                  f"{global_batch} ({info.world_size} process(es) on {device}), {model.count_parameters():,} parameters"
                  + (f", resuming at step {step} (epoch {epoch + 1}, batch {batch_in_epoch})" if state else ""),
                  file=sys.stderr)

        def position() -> dict[str, int]:
            return {"step": step, "epoch": epoch, "batch_in_epoch": batch_in_epoch}

        sums = torch.zeros(len(LOSS_KEYS), dtype=torch.float64, device=device)
        interval_steps, interval_start = 0, time.perf_counter()
        last: dict[str, float] = {}
        throughput: list[float] = []
        deadline = (time.monotonic() + 60.0 * options.time_limit_minutes
                    if options.time_limit_minutes is not None else None)

        def should_stop() -> bool:
            """--max-steps reached or --time-limit passed (the chunk of a job on a time-limited machine);
            under DDP the processes agree on the time limit, so they stop at the same step."""
            if max_steps is not None and step >= max_steps:
                return True
            if deadline is None:
                return False
            late = torch.tensor([float(time.monotonic() >= deadline)], device=device)
            if info.enabled:
                dist.all_reduce(late, op=dist.ReduceOp.MAX)
            return bool(late.item())

        stop = max_steps is not None and step >= max_steps
        net.train()
        while epoch < epochs and not stop:
            if batch_in_epoch >= steps_per_epoch:
                epoch, batch_in_epoch = epoch + 1, 0
                continue
            sampler.set_epoch(epoch)
            sampler.set_start(batch_in_epoch * batch)
            dataset.set_epoch(epoch)
            generator = torch.Generator().manual_seed(seed * 1000003 + epoch)
            loader = DataLoader(dataset, batch_size=batch, sampler=sampler, num_workers=int(train_cfg["workers"]),
                                pin_memory=device.type == "cuda", drop_last=True, worker_init_fn=_seed_worker,
                                generator=generator, persistent_workers=False,
                                prefetch_factor=4 if int(train_cfg["workers"]) > 0 else None)
            bar = tqdm(total=steps_per_epoch, initial=batch_in_epoch, desc=f"epoch {epoch + 1}/{epochs}", unit="step",
                       disable=not (options.progress and info.is_main), dynamic_ncols=True, leave=False)
            for data in loader:
                lr = learning_rate(step, train_cfg)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                data = _to_device(data, device)
                losses = _losses(net, data, device, train_cfg)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(losses["total"]).backward()
                if grad_clip:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), float(grad_clip))
                scaler.step(optimizer)
                scaler.update()
                step += 1
                batch_in_epoch += 1
                sums += torch.stack([losses[key].detach().double() for key in LOSS_KEYS])
                interval_steps += 1
                bar.update(1)
                stop = should_stop()
                if step % log_every == 0 or stop or batch_in_epoch == steps_per_epoch:
                    reduced = sums.clone()
                    if info.enabled:
                        dist.all_reduce(reduced)
                        reduced /= info.world_size
                    elapsed = time.perf_counter() - interval_start
                    rate = interval_steps * global_batch / max(elapsed, 1e-9)
                    last = {key: float(reduced[i]) / interval_steps for i, key in enumerate(LOSS_KEYS)}
                    throughput.append(rate)
                    log.write({"kind": "train", "step": step, "epoch": epoch + 1, "lr": lr,
                               **{f"loss_{key}": value for key, value in last.items()},
                               "instances_per_s": rate, "steps": interval_steps})
                    bar.set_postfix(loss=f"{last['total']:.4f}", lr=f"{lr:.2e}", ips=f"{rate:.0f}", refresh=False)
                    sums.zero_()
                    interval_steps, interval_start = 0, time.perf_counter()
                end_of_epoch = batch_in_epoch == steps_per_epoch
                if stop or end_of_epoch:
                    break
                if checkpoint_every and step % checkpoint_every == 0 and info.is_main:
                    _save(run_dir, model, optimizer, scaler, position(), metadata, epoch_checkpoint=False)
            bar.close()
            del loader
            if batch_in_epoch == steps_per_epoch:  # a whole epoch done
                if val_loader is not None:
                    val = evaluate(net, val_loader, device, train_cfg, info, train_cfg["val_max_batches"])
                    log.write({"kind": "val", "step": step, "epoch": epoch + 1,
                               **{f"val_{key}": value for key, value in val.items()}})
                    if info.is_main:
                        print(f"epoch {epoch + 1}: val loss {val['total']:.4f}", file=sys.stderr)
                epoch, batch_in_epoch = epoch + 1, 0
                if info.is_main:
                    _save(run_dir, model, optimizer, scaler, {"step": step, "epoch": epoch, "batch_in_epoch": 0},
                          metadata, epoch_checkpoint=True)
            elif info.is_main:  # stopped part-way (max_steps, time limit)
                _save(run_dir, model, optimizer, scaler, position(), metadata, epoch_checkpoint=False)
            if info.enabled:
                dist.barrier()
        if info.is_main and not (run_dir / f"{MODEL_STEM}.safetensors").exists():
            _save(run_dir, model, optimizer, scaler, position(), metadata, epoch_checkpoint=False)
        return {"step": step, "epoch": epoch, "last_losses": last,
                "instances_per_s": float(np.median(throughput)) if throughput else math.nan}
    finally:
        if info.enabled and dist.is_initialized():
            dist.destroy_process_group()


# --------------------------------------------------------------------------- CLI


def configure_parser(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", choices=sorted(TRAINING_SOURCES),
                        help="the original's recipe: REAL275 = CAMERA train + REAL train instances shuffled "
                             "together, CAMERA25 = CAMERA train alone (stores INSTANCES/<dataset>_train)")
    source.add_argument("--data", nargs="+", metavar="STORE",
                        help="instance store(s) made by `dualposenet prepare`, concatenated and shuffled together")
    parser.add_argument("--instances", default=os.path.join("data", "training_instances"),
                        help="with --dataset: folder of the prepared stores (default data/training_instances)")
    parser.add_argument("--val-data", default=None, help="instance store for a validation loss after each epoch")
    parser.add_argument("--config", default=None,
                        help="'paper', 'compact' or a YAML file (default paper; with --resume, the run's own config)")
    parser.add_argument("--out", required=True, help="run directory (checkpoints, metrics.jsonl, training state)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None, help="global batch (split over torchrun processes)")
    parser.add_argument("--lr", type=float, default=None, help="initial learning rate")
    parser.add_argument("--workers", type=int, default=None, help="DataLoader worker processes per training process")
    parser.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                        help="mixed precision on CUDA (autocast + GradScaler for float16)")
    parser.add_argument("--amp-dtype", choices=("float16", "bfloat16"), default=None)
    parser.add_argument("--resume", action="store_true", help="continue the run in --out exactly where it stopped")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this many optimizer steps in total")
    parser.add_argument("--log-every", type=int, default=None, help="steps between metrics lines")
    parser.add_argument("--device", default=None, help="cpu or cuda[:i] (default: cuda when available)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op CPU threads (default: torch's; 1 is faster on a busy shared CPU)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--init", default=None, metavar="CHECKPOINT",
                        help="start from these weights (fine-tuning; the model config must match, e.g. "
                             "--config compact for the shipped model)")
    parser.add_argument("--time-limit", type=float, default=None, metavar="MINUTES",
                        help="stop and save after this long (continue with --resume): training in chunks that fit "
                             "a time-limited machine")


def run(args: argparse.Namespace) -> int:
    from ..model.checkpoint import CheckpointError

    data = args.data if args.data else training_stores(args.dataset, args.instances)
    options = TrainOptions(
        data=data, out=args.out, config=args.config, val_data=args.val_data, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, workers=args.workers, amp=args.amp, amp_dtype=args.amp_dtype,
        resume=args.resume, seed=args.seed, max_steps=args.max_steps, log_every=args.log_every, device=args.device,
        threads=args.threads, progress=not args.no_progress, time_limit_minutes=args.time_limit,
        init=args.init)
    try:
        summary = train(options)
    except (FileNotFoundError, ValueError, CheckpointError) as error:
        print(f"dualposenet train: error: {error}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) == 0:
        losses = ", ".join(f"{k} {v:.4f}" for k, v in summary["last_losses"].items())
        print(f"finished at step {summary['step']} (epoch {summary['epoch']}); last losses: {losses}; "
              f"{summary['instances_per_s']:.1f} instances/s")
    return 0
