"""A sweep's outputs: every trial (results.csv), the Pareto front of success against T@All
and S@All (pareto.csv, pareto.png, a printed table), each trial's paired differences from the
pipeline's BC and KTO with 95% intervals (paired.csv), and the study's own table and plot
(sample_efficiency.* like the paper's Figure 3, ablation.csv)."""

from __future__ import annotations

import csv
from pathlib import Path

from depo_ray.evaluate.metrics import TaskResult, relative_change
from depo_ray.evaluate.stats import paired_bootstrap
from depo_ray.tune.pareto import pareto_front

# matplotlib loads only to draw the plots.

COLUMNS = ("trial", "loss", "alpha1", "alpha2", "gamma_token", "gamma_step", "beta", "fraction", "succ", "reward",
           "t_all", "s_all", "t_succ", "s_succ", "tokens_per_turn", "invalid_action_rate")
CHANGED = ("succ", "t_all", "s_all")
PAIRED = ("succ", "t_all", "s_all")
"""The metrics of paired.csv: each as B − A, its interval and its verdict."""


def _format(value) -> str:
    if value is None:
        return "–"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def table(rows: list[dict], columns: tuple[str, ...]) -> str:
    cells = [list(columns)] + [[_format(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in cells)


def write_csv(rows: list[dict], columns: tuple[str, ...], path: Path) -> None:
    with open(path, "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def changes_against(rows: list[dict], baseline: dict) -> list[dict]:
    """Each trial's relative change of Succ, T@All and S@All against a baseline summary."""
    return [{**r, **{f"{k}_change": relative_change(r[k], baseline.get(k)) for k in CHANGED}} for r in rows]


def point_label(row: dict) -> str:
    """A trial's swept settings in short: 'a1 3 a2 0 b 0.2' or 'gt 1 gs 0 b 0.2'."""
    shorts = (("alpha1", "a1"), ("alpha2", "a2"), ("gamma_token", "gt"), ("gamma_step", "gs"), ("beta", "b"))
    return " ".join(f"{short} {row[key]:g}" for key, short in shorts if row.get(key) is not None)


def plot_front(rows: list[dict], front: list[int], baselines: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    losses = sorted({r["loss"] for r in rows})
    colours = dict(zip(losses, ("tab:blue", "tab:orange", "tab:green")))
    for axis, key, label in ((axes[0], "t_all", "T@All (tokens per task)"), (axes[1], "s_all", "S@All (turns per task)")):
        for loss in losses:
            trials = [r for r in rows if r["loss"] == loss]
            axis.scatter([r[key] for r in trials], [r["succ"] for r in trials], color=colours.get(loss, "grey"),
                         alpha=0.7, label=f"{loss} trials")
        for r in rows:  # the trial's settings, without its loss and data share
            axis.annotate(point_label(r), (r[key], r["succ"]), fontsize=6, xytext=(3, 3), textcoords="offset points")
        on_front = sorted((rows[i] for i in front), key=lambda r: r[key])
        axis.plot([r[key] for r in on_front], [r["succ"] for r in on_front], "o-", color="tab:red", label="Pareto front")
        for name, marker in (("bc", "s"), ("kto", "^")):
            if name in baselines:
                axis.scatter([baselines[name][key]], [baselines[name]["succ"]], marker=marker, s=80, color="black",
                             label=name.upper())
        axis.set_xlabel(label)
        axis.set_ylabel("Succ")
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    figure.suptitle("Trials: success against cost (front: non-dominated on Succ, T@All, S@All)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_sample_efficiency(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(rows, key=lambda r: r["fraction"])
    figure, axis = plt.subplots(figsize=(5, 4))
    for key, label in (("succ", "Succ"), ("t_all", "T@All"), ("s_all", "S@All")):
        points = [(r["fraction"] * 100, r[f"{key}_change"] * 100) for r in rows if r[f"{key}_change"] is not None]
        axis.plot([p[0] for p in points], [p[1] for p in points], "o-", label=label)
    axis.axhline(0, color="grey", lw=0.8)
    axis.set_xlabel("share of the labeled data (%)")
    axis.set_ylabel("change against BC (%)")
    axis.legend()
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def paired_against(trials: dict[str, list[TaskResult]], baselines: dict[str, list[TaskResult]],
                   resamples: int = 2000) -> list[dict]:
    """Each trial minus each baseline on the same tasks: the difference, its 95% interval
    (paired bootstrap over tasks) and the verdict, per metric of PAIRED."""
    rows = []
    for base, base_results in baselines.items():
        for trial, results in trials.items():
            compared = paired_bootstrap({0: base_results}, {0: results}, baseline=base, method=trial, resamples=resamples)
            row = {"trial": trial, "against": base}
            for key in PAIRED:
                d = compared.differences[key]
                row.update({key: d.estimate, f"{key}_low": d.low, f"{key}_high": d.high, f"{key}_verdict": d.verdict})
            rows.append(row)
    return rows


def _with_interval(row: dict, key: str) -> str:
    return f"{_format(row[key])} [{_format(row[f'{key}_low'])}, {_format(row[f'{key}_high'])}] {row[f'{key}_verdict']}"


def write_outputs(rows: list[dict], study: str, baselines: dict, folder: Path,
                  paired: list[dict] | None = None) -> list[Path]:
    """Write the sweep's files and print its tables; returns the files written. ``paired``:
    the rows of ``paired_against`` (paired.csv), when the baselines' task results exist."""
    if not rows:
        raise RuntimeError(f"no trial of the sweep in {folder} finished; see the errors above")
    written = [folder / "results.csv", folder / "pareto.csv", folder / "pareto.png"]
    write_csv(rows, COLUMNS, written[0])
    front = pareto_front(rows)
    front_rows = [rows[i] for i in front]
    write_csv(front_rows, COLUMNS, written[1])
    plot_front(rows, front, baselines, written[2])
    shown = ("trial", "succ", "t_all", "s_all", "tokens_per_turn")
    print(f"Pareto front ({len(front)} of {len(rows)} trials; higher Succ, lower T@All and S@All):")
    print(table(front_rows, shown))
    for name in ("bc", "kto"):
        if name in baselines:
            b = baselines[name]
            print(f"{name.upper()}: Succ {_format(b['succ'])}  T@All {_format(b['t_all'])}  S@All {_format(b['s_all'])}")
    if paired:
        written.append(folder / "paired.csv")
        write_csv(paired, ("trial", "against", *(f"{k}{part}" for k in PAIRED for part in ("", "_low", "_high", "_verdict"))),
                  written[-1])
        print("Each trial minus the pipeline's baselines on the same tasks (95% paired-bootstrap intervals):")
        print(table([{"trial": r["trial"], "against": r["against"], **{k: _with_interval(r, k) for k in PAIRED}}
                     for r in paired], ("trial", "against", *PAIRED)))
    if study in ("sample_efficiency", "ablation"):
        if "bc" not in baselines:
            print(f"{study}: no BC evaluation of this seed in the pipeline run, so no change against BC")
        else:
            changed = changes_against(rows, baselines["bc"])
            columns = COLUMNS + tuple(f"{k}_change" for k in CHANGED)
            written.append(folder / f"{study}.csv")
            write_csv(changed, columns, written[-1])
            print(f"{study}: change against BC")
            print(table(changed, ("trial",) + tuple(f"{k}_change" for k in CHANGED)))
            if study == "sample_efficiency":
                written.append(folder / "sample_efficiency.png")
                plot_sample_efficiency(changed, written[-1])
    return written
