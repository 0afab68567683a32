"""report.md of a pipeline run: the paper's Table 1 for the trained methods (BC, KTO, DEPO and
any further one) with each efficiency method's relative change, the paired differences between the methods with 95% bootstrap intervals (which decide
whether the run shows what DEPO claims, for each efficiency method), the labeling summary, wall time per stage, and PNG
plots (tokens per turn and turns per task per method; success against T@All; the paired
differences with their intervals)."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path

from depo_ray.evaluate.episodes import read_results
from depo_ray.evaluate.metrics import TaskResult, median_summary, relative_change, summarize
from depo_ray.evaluate.outcomes import EvaluatedPolicy, write_outcomes
from depo_ray.evaluate.stats import METRICS, PairedComparison, PairedDifference, Verdict, paired_bootstrap
from depo_ray.losses.config import EFFICIENCY_SETTINGS
from depo_ray.pipeline.config import METHODS, Method, PipelineConfig

# matplotlib loads only to draw the plots.

TITLES = {m.name: m.title for m in METHODS}
COLUMNS = (("succ", "Succ", "{:.3f}"), ("reward", "Reward", "{:.3f}"), ("t_all", "T@All", "{:.1f}"),
           ("s_all", "S@All", "{:.2f}"), ("t_succ", "T@Succ", "{:.1f}"), ("s_succ", "S@Succ", "{:.2f}"),
           ("tokens_per_turn", "tokens/turn", "{:.1f}"), ("invalid_action_rate", "invalid", "{:.3f}"),
           ("seconds_per_task", "s/task", "{:.2f}"))
SYMBOLS = {"alpha1": "α1", "alpha2": "α2", "gamma_token": "γ_token", "gamma_step": "γ_step"}
PAIRED = ("succ", "t_all", "s_all", "t_succ", "s_succ")
"""The metrics of the paired table, in its column order."""


def name(method: str) -> str:
    return TITLES.get(method, method.upper())


def _cell(value, fmt: str) -> str:
    return "–" if value is None else fmt.format(value)


def _change(value) -> str:
    return "–" if value is None else f"{value:+.1%}"


def pooled_summaries(results: dict[str, dict[int, list[TaskResult]]]) -> dict[str, dict]:
    """Each method's metrics over all its seeds' tasks together: the values whose differences
    the paired table estimates (its intervals resample these cells)."""
    return {method: summarize([r for rows in runs.values() for r in rows]) for method, runs in results.items()}


def results_table(summaries: dict[str, dict], pooled: dict[str, dict], methods: tuple[Method, ...]) -> str:
    """A row per method from ``summaries`` (medians over seeds), then each efficiency method's
    change against each other method from ``pooled``, so a "vs" row and the paired
    difference it sits beside come from the same numbers."""
    head = "| Method | " + " | ".join(c[1] for c in COLUMNS) + " |"
    lines = [head, "|---|" + "---:|" * len(COLUMNS)]
    for method in methods:
        lines.append(f"| {method.title} | " + " | ".join(_cell(summaries[method.name][k], f) for k, _, f in COLUMNS) + " |")
    for method in (m for m in methods if m.efficiency):
        for base in (m for m in methods if not m.efficiency):
            changes = [_change(relative_change(pooled[method.name][k], pooled[base.name][k])) for k, _, _ in COLUMNS]
            lines.append(f"| {method.title} vs {base.title} | " + " | ".join(changes) + " |")
    return "\n".join(lines)


def comparisons(results: dict[str, dict[int, list[TaskResult]]], resamples: int = 2000) -> list[PairedComparison]:
    """Each method against every method before it in ``results`` (B − A, paired over seeds and
    tasks), the last method first: for BC, KTO, DEPO that is DEPO − KTO, DEPO − BC, KTO − BC."""
    methods, paired = list(results), []
    for later in range(len(methods) - 1, 0, -1):
        b = methods[later]
        for a in reversed(methods[:later]):
            paired.append(paired_bootstrap(results[a], results[b], baseline=a, method=b, resamples=resamples))
    return paired


def _signed(key: str, value: float | None) -> str:
    fmt = next(f for k, _, f in COLUMNS if k == key)
    return "–" if value is None else fmt.replace("{:", "{:+").format(value)


def _interval(difference: PairedDifference) -> str:
    """"−3.2 [−5.1, −1.0]": the estimate and its interval, in the metric's format."""
    text = _signed(difference.metric, difference.estimate)
    if difference.low is not None:
        text += f" [{_signed(difference.metric, difference.low)}, {_signed(difference.metric, difference.high)}]"
    return text


def paired_table(paired: list[PairedComparison]) -> str:
    labels = {k: label for k, label, _ in COLUMNS}
    lines = ["| B − A | " + " | ".join(labels[k] for k in PAIRED) + " |", "|---|" + "---:|" * len(PAIRED)]
    for comparison in paired:
        cells = [f"{_interval(d)} {d.verdict}" for d in (comparison.differences[k] for k in PAIRED)]
        lines.append(f"| {name(comparison.method)} − {name(comparison.baseline)} | " + " | ".join(cells) + " |")
    skips = [f"{name(c.method)} − {name(c.baseline)}: {c.differences['t_succ'].skipped} of {c.resamples}"
             for c in paired if c.differences["t_succ"].skipped]
    if skips:
        lines += ["", "Resamples left out of T@Succ and S@Succ (a method solved none of their tasks): "
                  + "; ".join(skips) + "."]
    return "\n".join(lines)


@dataclass(frozen=True)
class Claim:
    text: str
    """What the paper claims of DEPO, e.g. "T@All lower than KTO"."""
    method: str
    """The efficiency method the claim is checked for (DEPO or another)."""
    baseline: str
    """The method the claim compares it with."""
    difference: PairedDifference
    """method − baseline in the claim's metric."""
    holds_when: tuple[Verdict, ...]
    """The verdicts that make the claim hold."""

    @property
    def holds(self) -> bool:
        return self.difference.verdict in self.holds_when


def depo_claims(paired: list[PairedComparison], method: str = "depo") -> list[Claim]:
    """What the paper claims of DEPO, for ``method`` (DEPO or another efficiency method),
    decided by the paired intervals, not by the sign of a point difference: "lower" holds
    when the interval of method − baseline lies below 0 (better); "no lower" success holds
    unless it lies below 0 (better or within noise)."""
    against = {c.baseline: c for c in paired if c.method == method}
    claims = [Claim(f"{label} lower than {name(base)}", method, base, against[base].differences[key], ("better",))
              for key, label in (("t_all", "T@All"), ("s_all", "S@All")) for base in ("bc", "kto")]
    return claims + [Claim("Succ no lower than BC", method, "bc", against["bc"].differences["succ"],
                           ("better", "within noise"))]


def claim_line(claim: Claim) -> str:
    outcome = "holds" if claim.holds else "not shown" if claim.difference.verdict in ("within noise", "undefined") \
        else "does not hold"
    return (f"- {claim.text}: **{claim.difference.verdict}**, {outcome} "
            f"({name(claim.method)} − {name(claim.baseline)}: {_interval(claim.difference)})")


def seeds_table(per_seed: dict[str, dict[int, dict]]) -> str:
    lines = ["| Method | seed | Succ | T@All | S@All |", "|---|---:|---:|---:|---:|"]
    for method in per_seed:
        for seed, s in per_seed[method].items():
            lines.append(f"| {name(method)} | {seed} | {_cell(s['succ'], '{:.3f}')} | {_cell(s['t_all'], '{:.1f}')} | "
                         f"{_cell(s['s_all'], '{:.2f}')} |")
    return "\n".join(lines)


def math_section(config: PipelineConfig, run) -> list[str]:
    """The out-of-domain math table (median over seeds), or nothing when the stage is off."""
    if config.math is None:
        return []
    lines = [f"## Math, out of domain: `{config.math.benchmark}` (greedy; median over seeds)", "",
             "| Method | accuracy | tokens / problem | answered | problems |", "|---|---:|---:|---:|---:|"]
    for method in config.methods():
        runs = [json.loads((run.math(method.name, seed) / "summary.json").read_text()) for seed in config.seeds]
        median = {k: statistics.median(r[k] for r in runs) for k in ("accuracy", "mean_tokens", "answered", "problems")}
        lines.append(f"| {method.title} | {median['accuracy']:.3f} | {median['mean_tokens']:.1f} | "
                     f"{median['answered']:.3f} | {median['problems']:.0f} |")
    return lines + [""]


def _paired_plot(paired: list[PairedComparison], path: Path) -> None:
    """One panel per metric: each B − A as its estimate (dot) and 95% interval (bar), green
    when B is better, red when worse, grey within noise."""
    import matplotlib.pyplot as plt

    labels = {k: label for k, label, _ in COLUMNS}
    better_when = {m.key: "higher" for m in METRICS if m.higher_is_better}
    colours = {"better": "tab:green", "worse": "tab:red"}
    figure, axes = plt.subplots(1, len(PAIRED), figsize=(3 * len(PAIRED), 1.2 + 0.5 * len(paired)), sharey=True)
    for axis, key in zip(axes, PAIRED):
        for row, comparison in enumerate(paired):
            difference = comparison.differences[key]
            if difference.low is None:
                continue
            colour = colours.get(difference.verdict, "grey")
            # the bar spans the percentile interval, which need not be centred on the estimate
            axis.errorbar((difference.low + difference.high) / 2, row, xerr=(difference.high - difference.low) / 2,
                          fmt="none", ecolor=colour, elinewidth=2, capsize=4)
            axis.plot(difference.estimate, row, "o", color=colour)
        axis.axvline(0, color="black", lw=0.8)
        axis.set_title(f"{labels[key]} ({better_when.get(key, 'lower')} is better)", fontsize=9)
        axis.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(paired)), [f"{name(c.method)} − {name(c.baseline)}" for c in paired])
    axes[0].set_ylim(len(paired) - 0.5, -0.5)
    figure.suptitle(f"Paired differences B − A with 95% bootstrap intervals ({paired[0].resamples} resamples)")
    figure.tight_layout()
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)


def _plots(run, results: dict[str, dict[int, list[TaskResult]]], summaries: dict[str, dict],
           paired: list[PairedComparison]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = run.root / "plots"
    folder.mkdir(parents=True, exist_ok=True)
    seeds = len(next(iter(results.values())))
    pooled = {m: [r for outcomes in results[m].values() for r in outcomes] for m in results}
    paths = []
    for stem, title, value in (("tokens_per_turn", "Generated tokens per turn (per task)",
                                lambda r: r.generated_tokens / r.turns if r.turns else 0.0),
                               ("turns_per_task", "Agent turns per task", lambda r: r.turns)):
        figure, axes = plt.subplots(figsize=(6, 4))
        axes.hist([[value(r) for r in rows] for rows in pooled.values()], bins=12, label=[name(m) for m in pooled])
        axes.set_title(title + (f", {seeds} seeds pooled" if seeds > 1 else ""))
        axes.set_ylabel("tasks")
        axes.legend()
        paths.append(folder / f"{stem}.png")
        figure.savefig(paths[-1], dpi=100, bbox_inches="tight")
        plt.close(figure)
    figure, axes = plt.subplots(figsize=(5, 4))
    for method in summaries:
        axes.scatter(summaries[method]["t_all"], summaries[method]["succ"], s=60)
        axes.annotate(name(method), (summaries[method]["t_all"], summaries[method]["succ"]),
                      textcoords="offset points", xytext=(6, 4))
    axes.set_xlabel("T@All (generated tokens per task)")
    axes.set_ylabel("Succ")
    axes.set_title("Success against T@All" + (f" (medians over {seeds} seeds)" if seeds > 1 else ""))
    paths.append(folder / "success_vs_tokens.png")
    figure.savefig(paths[-1], dpi=100, bbox_inches="tight")
    plt.close(figure)
    paths.append(folder / "paired_differences.png")
    _paired_plot(paired, paths[-1])
    return paths


def write_report(config: PipelineConfig, run, seconds: dict[str, float]) -> Path:
    """Write ``report.md`` (and its plots) from the run folder's artifacts; ``seconds``: the
    wall time of each completed stage, in stage order."""
    root, methods = run.root, config.methods()
    per_seed = {m.name: {seed: json.loads((run.evaluation(m.name, seed) / "summary.json").read_text())
                         for seed in config.seeds} for m in methods}
    summaries = {m: median_summary(list(runs.values())) for m, runs in per_seed.items()}
    results = {m.name: {seed: read_results(run.evaluation(m.name, seed)) for seed in config.seeds} for m in methods}
    write_outcomes([EvaluatedPolicy(m, seed, tuple(outcomes)) for m, runs in results.items()
                    for seed, outcomes in runs.items()], root / "outcomes.csv")
    paired = comparisons(results)
    plots = _plots(run, results, summaries, paired)
    seeds = ", ".join(str(s) for s in config.seeds)
    efficiency = [m for m in methods if m.efficiency]
    lines = [
        f"# depo-ray run `{config.run_dir}`", "",
        f"Environment `{config.env.name}`"
        + "".join(f", {k} = {v}" for k, v in sorted(config.env.options.items())) + "; starting policy "
        + (f"`{config.policy}`" if config.policy else "the CPU default's tiny model, bootstrapped on expert demos") + ".",
        *[f"{m.title}: loss `{getattr(config, m.name).loss.name}`, "
          + "".join(f"{SYMBOLS[k]} = {getattr(getattr(config, m.name).loss, k)}, "
                    for k in EFFICIENCY_SETTINGS[getattr(config, m.name).loss.name])
          + f"β = {getattr(config, m.name).loss.beta}." for m in efficiency],
        f"KTO β = {config.kto.loss.beta}.", "",
        f"## Results on {summaries['bc']['tasks']} held-out tasks (greedy; median over seeds {seeds})", "",
        results_table(summaries, pooled_summaries(results), methods), "",
        "T: generated tokens per task; S: agent turns per task; @Succ over solved tasks only. The “vs” rows are "
        "relative changes of the values pooled over all seeds and tasks, the estimates of the paired table below. "
        + ("π_BC is the warm start's policy, shared by every seed; each seed trains the preference methods from it."
           if config.pi_bc == "bootstrap" else "Each seed trains its own π_BC, then the preference methods from it."), "",
        "Paired differences B − A over the same seeds and tasks (pooled over seeds), with 95% intervals from "
        f"a paired bootstrap ({paired[0].resamples} resamples of seeds, then tasks); the verdict is B's: better or "
        "worse when the interval excludes 0, within noise when it holds 0:", "",
        paired_table(paired), "",
        "Every policy's outcome on every task is in `outcomes.csv` (`jobs/compare.py --outcomes outcomes.csv "
        "kto depo` recomputes a row of this table).", "",
        *[line for m in efficiency for line in (
            f"What DEPO claims, for {m.title} on this run (decided by the intervals above):", "",
            *[claim_line(claim) for claim in depo_claims(paired, m.name)], "")],
        "Per seed:", "", seeds_table(per_seed), "",
        *math_section(config, run),
        "## Labeling", "", "```", run.labeling_summary.read_text().rstrip(), "```", "",
        "## Wall time per stage", "", "| stage | seconds |", "|---|---:|",
        *[f"| {stage} | {wall:.0f} |" for stage, wall in seconds.items()], "",
        "## Plots", "",
        *[f"![{p.stem}](plots/{p.name})" for p in plots], "",
    ]
    path = root / "report.md"
    path.write_text("\n".join(lines))
    return path
