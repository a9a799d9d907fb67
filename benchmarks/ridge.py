"""Benchmark the brain-score engine against scikit-learn and against the machine's GEMM floor.

    python benchmarks/ridge.py            # n=800, p=2000, v=2000 and the paper shape (minutes)
    python benchmarks/ridge.py --quick    # small shapes (seconds)

In one run it measures: scikit-learn's ``RidgeCV(alphas, alpha_per_target=True)`` brain score
(the same 12-fold grouped loop and z-scoring as ``audiobrain.ridge.brain_score``); audiobrain on
the same data with each back end; himalaya's ``RidgeCV`` and ``KernelRidgeCV`` (per-voxel
penalties; 5-fold inner cross-validation, its default, since it has no exact leave-one-out) on
the same back ends and data; the float32 GEMM rate of this machine (a large matmul), and
from it the floor ``2 * folds * alphas * n_train * min(n_train, p) * v`` flops, the cost of one
residual product per fold, penalty and voxel (audiobrain skips the penalties that cannot win,
so it computes fewer; ``x/floor`` below 1 means that); audiobrain at the paper's shape (n=800 TRs,
p=7600 features, v=20,484 fsaverage5 vertices); peak traced memory with and without voxel
batching. Timings are wall-clock seconds; the load average is printed because on a shared
machine other jobs slow every number down.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import tracemalloc
import warnings
from dataclasses import dataclass

import numpy as np
import sklearn
import sklearn.linear_model
import threadpoolctl
import torch

from audiobrain.ridge import DEFAULT_ALPHAS, DEFAULT_N_SPLITS, brain_score, grouped_folds, pearson_r

FULL_SHAPE = (800, 2000, 2000)  # n_trs, n_features, n_targets: where scikit-learn takes ~100 s
PAPER_SHAPE = (800, 7600, 20484)  # section 2.6 at fsaverage5 resolution
QUICK_SHAPE = (240, 400, 300)
QUICK_PAPER_SHAPE = (240, 1200, 3000)
GEMM_SIZE = 2048
MIB = 2**20


@dataclass
class Row:
    case: str
    shape: tuple[int, int, int]
    seconds: float
    floor_seconds: float | None = None
    sklearn_seconds: float | None = None
    peak_mib: float | None = None
    note: str = ""


def simulated_recording(shape, seed=0):
    """float32 activations and responses; a third of the voxels carry a linear signal."""
    n_trs, n_features, n_targets = shape
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_trs, n_features), dtype=np.float32)
    Y = rng.standard_normal((n_trs, n_targets), dtype=np.float32)
    n_signal = n_targets // 3
    weights = rng.standard_normal((20, n_signal), dtype=np.float32) / np.sqrt(20)
    Y[:, :n_signal] += X[:, :20] @ weights
    groups = np.arange(n_trs) * DEFAULT_N_SPLITS // n_trs
    return X, Y, groups


def gemm_rates(repeats=5):
    """Best float32 matmul rate (flop/s) of NumPy and of torch on a GEMM_SIZE square product."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((GEMM_SIZE, GEMM_SIZE), dtype=np.float32)
    b = rng.standard_normal((GEMM_SIZE, GEMM_SIZE), dtype=np.float32)
    flops = 2.0 * GEMM_SIZE**3
    rates = {}
    for name, (left, right) in {
        "numpy": (a, b),
        "torch": (torch.from_numpy(a), torch.from_numpy(b)),
    }.items():
        out = left @ right
        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            out = left @ right
            seconds.append(time.perf_counter() - start)
        del out
        rates[name] = flops / min(seconds)
    return rates


def floor_flops(shape, groups, n_alphas=DEFAULT_ALPHAS.size):
    """2 * n_train * min(n_train, p) * v flops per fold and penalty: the residual products."""
    _, n_features, n_targets = shape
    return sum(
        2.0 * n_alphas * train.size * min(train.size, n_features) * n_targets
        for train, _ in grouped_folds(groups, DEFAULT_N_SPLITS)
    )


def reference_brain_score(make_model, X, Y, groups, to_numpy=np.asarray):
    """The paper's loop around another library's ridge: z-score on the training fold, fit the
    model (which picks each voxel's penalty), r on the test fold."""
    r_per_fold, chosen = [], []
    for train, test in grouped_folds(groups, DEFAULT_N_SPLITS):
        x_mean, x_std = X[train].mean(0), X[train].std(0)
        y_mean, y_std = Y[train].mean(0), Y[train].std(0)
        model = make_model()
        model.fit((X[train] - x_mean) / x_std, (Y[train] - y_mean) / y_std)
        prediction = to_numpy(model.predict((X[test] - x_mean) / x_std))
        r_per_fold.append(pearson_r(prediction, (Y[test] - y_mean) / y_std))
        # himalaya names the chosen penalties best_alphas_, scikit-learn alpha_
        chosen.append(to_numpy(getattr(model, "best_alphas_", getattr(model, "alpha_", None))))
    return np.array(r_per_fold), np.array(chosen)


def sklearn_brain_score(X, Y, groups):
    """scikit-learn's ``RidgeCV`` with exact leave-one-out per voxel: the paper's estimator."""

    def make_model():
        return sklearn.linear_model.RidgeCV(alphas=DEFAULT_ALPHAS, alpha_per_target=True)

    return reference_brain_score(make_model, X, Y, groups)


def himalaya_brain_score(X, Y, groups, model_name, backend):
    """himalaya's ``RidgeCV`` or ``KernelRidgeCV`` (per-voxel penalties, its default 5-fold
    inner cross-validation: it has no exact leave-one-out) on ``backend``."""
    import himalaya.backend
    from himalaya.kernel_ridge import KernelRidgeCV
    from himalaya.ridge import RidgeCV as HimalayaRidgeCV

    himalaya.backend.set_backend(backend, on_error="raise")
    model_class = {"RidgeCV": HimalayaRidgeCV, "KernelRidgeCV": KernelRidgeCV}[model_name]
    to_numpy = himalaya.backend.get_backend().to_numpy
    with warnings.catch_warnings():  # its advice on which of its two solvers suits the shape
        warnings.simplefilter("ignore", UserWarning)
        return reference_brain_score(
            lambda: model_class(alphas=DEFAULT_ALPHAS), X, Y, groups, to_numpy
        )


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


def best_of(repeats, function, *args, **kwargs):
    """Minimum and median wall time over ``repeats`` calls, and the last result."""
    seconds, result = [], None
    for _ in range(repeats):
        elapsed, result = timed(function, *args, **kwargs)
        seconds.append(elapsed)
    return min(seconds), statistics.median(seconds), result


def traced_peak_mib(function, *args, **kwargs):
    """Peak memory allocated through Python/NumPy while ``function`` runs (inputs excluded)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    baseline = tracemalloc.get_traced_memory()[0]
    function(*args, **kwargs)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return (peak - baseline) / MIB


def compare_with_sklearn(args, rates, shape):
    X, Y, groups = simulated_recording(shape)
    floor_s = floor_flops(shape, groups) / max(rates.values())
    rows = []
    sklearn_s = None
    reference = None
    if not args.skip_sklearn:
        print(f"scikit-learn RidgeCV brain score at {shape} ...", flush=True)
        sklearn_s, reference = timed(sklearn_brain_score, X, Y, groups)
        rows.append(Row("scikit-learn RidgeCV", shape, sklearn_s, floor_s, sklearn_s))
    for backend in args.backends:
        print(f"audiobrain ({backend}, float32) at {shape} ...", flush=True)
        best, median, ours = best_of(args.repeats, brain_score, X, Y, groups, backend=backend)
        note = f"median {median:.2f} s of {args.repeats}"
        rows.append(
            Row(
                f"audiobrain {backend}",
                shape,
                best,
                floor_s,
                sklearn_s,
                note=note + agreement(ours.r_per_fold, ours.alphas, reference),
            )
        )
    for backend in [] if args.skip_himalaya else args.backends:
        for model_name in ("RidgeCV", "KernelRidgeCV"):
            print(f"himalaya {model_name} ({backend}) at {shape} ...", flush=True)
            seconds, theirs = timed(himalaya_brain_score, X, Y, groups, model_name, backend)
            rows.append(
                Row(
                    f"himalaya {model_name} {backend}",
                    shape,
                    seconds,
                    floor_s,
                    sklearn_s,
                    note="5-fold inner CV" + agreement(*theirs, reference),
                )
            )
    return rows


def agreement(r_per_fold, alphas, reference) -> str:
    """How far a brain score is from scikit-learn's: largest |r| difference, share of alphas."""
    if reference is None:
        return ""
    delta_r = np.abs(r_per_fold - reference[0]).max()
    same_alpha = np.mean(np.isclose(alphas, reference[1], rtol=1e-6))  # himalaya's are float32
    return f"; vs sklearn: max |dr| {delta_r:.1e}, same alpha {same_alpha:.1%}"


def paper_shape(args, rates, shape):
    X, Y, groups = simulated_recording(shape, seed=1)
    floor_s = floor_flops(shape, groups) / max(rates.values())
    rows = []
    for backend in args.backends:
        print(f"audiobrain ({backend}, float32) at {shape} ...", flush=True)
        best, median, _ = best_of(args.paper_repeats, brain_score, X, Y, groups, backend=backend)
        note = f"median {median:.2f} s of {args.paper_repeats}"
        rows.append(Row(f"audiobrain {backend}", shape, best, floor_s, note=note))
    if not args.skip_memory:
        print(f"peak traced memory (numpy back end) at {shape} ...", flush=True)
        for batch, label in ((None, "batched (default)"), (shape[2], "one batch")):
            start = time.perf_counter()
            peak = traced_peak_mib(brain_score, X, Y, groups, targets_batch_size=batch)
            seconds = time.perf_counter() - start
            rows.append(
                Row(
                    f"audiobrain numpy, {label}",
                    shape,
                    seconds,
                    floor_s,
                    peak_mib=peak,
                    note=f"inputs X+Y {(X.nbytes + Y.nbytes) / MIB:.0f} MiB (traced run)",
                )
            )
    return rows


def print_table(rows):
    header = (
        f"{'case':<32} {'n x p x v':>18} {'seconds':>8} {'sklearn/x':>9} "
        f"{'floor s':>8} {'x/floor':>7} {'peak MiB':>8}  note"
    )
    print("\n" + header + "\n" + "-" * len(header))
    for row in rows:
        shape = "x".join(str(size) for size in row.shape)
        speedup = f"{row.sklearn_seconds / row.seconds:.1f}" if row.sklearn_seconds else "-"
        floor = f"{row.floor_seconds:.2f}" if row.floor_seconds else "-"
        ratio = f"{row.seconds / row.floor_seconds:.2f}" if row.floor_seconds else "-"
        peak = f"{row.peak_mib:.0f}" if row.peak_mib is not None else "-"
        print(
            f"{row.case:<32} {shape:>18} {row.seconds:>8.2f} {speedup:>9} "
            f"{floor:>8} {ratio:>7} {peak:>8}  {row.note}"
        )


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small shapes, seconds not minutes")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="BLAS/torch threads")
    parser.add_argument("--backends", nargs="+", default=["numpy", "torch"])
    parser.add_argument("--repeats", type=int, default=3, help="audiobrain runs (best is shown)")
    parser.add_argument("--paper-repeats", type=int, default=1, help="runs at the paper shape")
    parser.add_argument("--skip-sklearn", action="store_true")
    parser.add_argument("--skip-himalaya", action="store_true")
    parser.add_argument("--skip-paper", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    return parser.parse_args()


def main():
    args = parse_arguments()
    torch.set_num_threads(args.threads)
    with threadpoolctl.threadpool_limits(args.threads):
        print(
            f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
            f"{args.threads} threads; numpy {np.__version__}, torch {torch.__version__}, "
            f"scikit-learn {sklearn.__version__}; load average {os.getloadavg()[0]:.2f}"
        )
        rates = gemm_rates()
        print(
            "float32 GEMM rate ("
            + ", ".join(f"{name} {rate / 1e9:.0f} GFLOP/s" for name, rate in rates.items())
            + f"); the floor uses the faster, {max(rates.values()) / 1e9:.0f} GFLOP/s"
        )
        rows = compare_with_sklearn(args, rates, QUICK_SHAPE if args.quick else FULL_SHAPE)
        if not args.skip_paper:
            rows += paper_shape(args, rates, QUICK_PAPER_SHAPE if args.quick else PAPER_SHAPE)
        print_table(rows)
        print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
