"""How far the `volume` check's fold change wanders on clean traffic, to choose its thresholds.

    .venv/bin/python benchmarks/volume_noise.py

Clean traffic is simulated as Poisson counts per window (the noise of independent arrivals) at 100,
1,000 and 10,000 events per window, and, because real traffic is burstier than Poisson, as
over-dispersed counts whose sd is 10% of the mean. Each window is compared, as the check does, with
the mean of the previous 10 windows (`stream_guard.core.judging.checks.volume`, vectorised here).
"""

from __future__ import annotations

import argparse

import numpy as np

WINDOWS = 1_000_000
REFERENCE = 10
THRESHOLDS = (1.3, 1.5, 1.8, 2.0)


def fold_changes(counts: np.ndarray) -> np.ndarray:
    """Each window's fold change (>= 1) against the mean of the previous REFERENCE windows."""
    before = np.convolve(counts, np.ones(REFERENCE) / REFERENCE, mode="valid")[:-1]
    ratio = np.maximum(counts[REFERENCE:], 1) / np.maximum(before, 1.0)
    return np.maximum(ratio, 1 / ratio)


def row(label: str, folds: np.ndarray) -> str:
    q = np.quantile(folds, [0.5, 0.99, 0.999, 0.9999])
    above = " | ".join(f"{int((folds >= t).sum()):,}" for t in THRESHOLDS)
    return f"| {label} | " + " | ".join(f"{v:.3f}" for v in q) + f" | {folds.max():.3f} | {above} |"


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    rng = np.random.default_rng(5)
    print(f"{WINDOWS:,} clean windows each; the last columns count windows at or above each fold change\n")
    print("| traffic | median | 99% | 99.9% | 99.99% | max | " + " | ".join(f"≥ {t}" for t in THRESHOLDS) + " |")
    print("|---|" + "---:|" * (5 + len(THRESHOLDS)))
    for mean in (100, 1_000, 10_000):
        print(row(f"Poisson, {mean:,} per window", fold_changes(rng.poisson(mean, WINDOWS + REFERENCE))))
    for mean in (1_000, 10_000):
        shape = 1 / (0.1 ** 2 - 1 / mean)        # gamma-Poisson: variance mean + mean² / shape = (0.1 mean)²
        rates = rng.gamma(shape, mean / shape, WINDOWS + REFERENCE)
        print(row(f"sd 10% of the mean, {mean:,} per window", fold_changes(rng.poisson(rates))))


if __name__ == "__main__":
    main()
