"""report.md of a pipeline run: the paper's Table 1 for BC, KTO and DEPO with DEPO's relative
change, whether the run shows what DEPO claims, the labeling summary, wall time per stage,
and PNG plots (tokens per turn and turns per task per method; success against T@All)."""

from __future__ import annotations

import json
from pathlib import Path

from depo_ray.evaluate.metrics import median_summary, relative_change
from depo_ray.pipeline.config import METHODS, PipelineConfig

CLAIMED = "depo"
"""The method whose claims the report checks, against every other method."""
BASELINES = tuple(m for m in METHODS if m.name != CLAIMED)
TITLES = {m.name: m.title for m in METHODS}
COLUMNS = (("succ", "Succ", "{:.3f}"), ("reward", "Reward", "{:.3f}"), ("t_all", "T@All", "{:.1f}"),
           ("s_all", "S@All", "{:.2f}"), ("t_succ", "T@Succ", "{:.1f}"), ("s_succ", "S@Succ", "{:.2f}"),
           ("tokens_per_turn", "tokens/turn", "{:.1f}"), ("invalid_action_rate", "invalid", "{:.3f}"),
           ("seconds_per_task", "s/task", "{:.2f}"))


def _cell(value, fmt: str) -> str:
    return "–" if value is None else fmt.format(value)


def _change(value) -> str:
    return "–" if value is None else f"{value:+.1%}"


def results_table(summaries: dict[str, dict]) -> str:
    head = "| Method | " + " | ".join(c[1] for c in COLUMNS) + " |"
    lines = [head, "|---|" + "---:|" * len(COLUMNS)]
    for method in METHODS:
        lines.append(f"| {method.title} | " + " | ".join(_cell(summaries[method.name][k], f) for k, _, f in COLUMNS) + " |")
    for base in BASELINES:
        changes = [_change(relative_change(summaries[CLAIMED][k], summaries[base.name][k])) for k, _, _ in COLUMNS]
        lines.append(f"| {TITLES[CLAIMED]} vs {base.title} | " + " | ".join(changes) + " |")
    return "\n".join(lines)


def claim_holds(summaries: dict[str, dict]) -> dict[str, bool]:
    """What the paper claims of DEPO, checked on this run."""
    depo, bc = summaries[CLAIMED], summaries["bc"]

    def lower(key: str) -> bool:
        others = [summaries[base.name][key] for base in BASELINES]
        return None not in (depo[key], *others) and depo[key] < min(others)

    against = " and ".join(base.title for base in BASELINES)
    return {f"T@All lower than {against}": lower("t_all"), f"S@All lower than {against}": lower("s_all"),
            "Succ no lower than BC": None not in (depo["succ"], bc["succ"]) and depo["succ"] >= bc["succ"]}


def seeds_table(per_seed: dict[str, dict[int, dict]]) -> str:
    lines = ["| Method | seed | Succ | T@All | S@All |", "|---|---:|---:|---:|---:|"]
    for method in METHODS:
        for seed, s in per_seed[method.name].items():
            lines.append(f"| {method.title} | {seed} | {_cell(s['succ'], '{:.3f}')} | {_cell(s['t_all'], '{:.1f}')} | "
                         f"{_cell(s['s_all'], '{:.2f}')} |")
    return "\n".join(lines)


def math_section(config: PipelineConfig, run) -> list[str]:
    """The out-of-domain math table (median over seeds), or nothing when the stage is off."""
    if config.math is None:
        return []
    import statistics

    lines = [f"## Math, out of domain: `{config.math.benchmark}` (greedy; median over seeds)", "",
             "| Method | accuracy | tokens / problem | answered | problems |", "|---|---:|---:|---:|---:|"]
    for method in METHODS:
        runs = [json.loads((run.math(method.name, seed) / "summary.json").read_text()) for seed in config.seeds]
        median = {k: statistics.median(r[k] for r in runs) for k in ("accuracy", "mean_tokens", "answered", "problems")}
        lines.append(f"| {method.title} | {median['accuracy']:.3f} | {median['mean_tokens']:.1f} | "
                     f"{median['answered']:.3f} | {median['problems']:.0f} |")
    return lines + [""]


def _plots(run, seeds: tuple[int, ...], summaries: dict[str, dict]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from depo_ray.evaluate.runner import read_results

    folder = run.root / "plots"
    folder.mkdir(parents=True, exist_ok=True)
    results = {m.name: [r for seed in seeds for r in read_results(run.evaluation(m.name, seed))] for m in METHODS}
    paths = []
    for name, title, value in (("tokens_per_turn", "Generated tokens per turn (per task)",
                                lambda r: r.generated_tokens / r.turns if r.turns else 0.0),
                               ("turns_per_task", "Agent turns per task", lambda r: r.turns)):
        figure, axes = plt.subplots(figsize=(6, 4))
        axes.hist([[value(r) for r in results[m.name]] for m in METHODS], bins=12, label=[m.title for m in METHODS])
        axes.set_title(title + (f", {len(seeds)} seeds pooled" if len(seeds) > 1 else ""))
        axes.set_ylabel("tasks")
        axes.legend()
        paths.append(folder / f"{name}.png")
        figure.savefig(paths[-1], dpi=100, bbox_inches="tight")
        plt.close(figure)
    figure, axes = plt.subplots(figsize=(5, 4))
    for method in METHODS:
        summary = summaries[method.name]
        axes.scatter(summary["t_all"], summary["succ"], s=60)
        axes.annotate(method.title, (summary["t_all"], summary["succ"]),
                      textcoords="offset points", xytext=(6, 4))
    axes.set_xlabel("T@All (generated tokens per task)")
    axes.set_ylabel("Succ")
    axes.set_title("Success against T@All" + (f" (medians over {len(seeds)} seeds)" if len(seeds) > 1 else ""))
    paths.append(folder / "success_vs_tokens.png")
    figure.savefig(paths[-1], dpi=100, bbox_inches="tight")
    plt.close(figure)
    return paths


def write_report(config: PipelineConfig, run, seconds: dict[str, float]) -> Path:
    """Write ``report.md`` (and its plots) from the run folder's artifacts; ``seconds``: the
    wall time of each completed stage, in stage order."""
    root = run.root
    per_seed = {m.name: {seed: json.loads((run.evaluation(m.name, seed) / "summary.json").read_text())
                         for seed in config.seeds} for m in METHODS}
    summaries = {name: median_summary(list(runs.values())) for name, runs in per_seed.items()}
    plots = _plots(run, config.seeds, summaries)
    seeds = ", ".join(str(s) for s in config.seeds)
    checks = claim_holds(summaries)
    lines = [
        f"# depo-ray run `{config.run_dir}`", "",
        f"Environment `{config.env.name}`"
        + "".join(f", {k} = {v}" for k, v in sorted(config.env.options.items())) + "; starting policy "
        + (f"`{config.policy}`" if config.policy else "the CPU default's tiny model, bootstrapped on expert demos") + ".",
        f"DEPO: loss `{config.depo.loss.name}`, α1 = {config.depo.loss.alpha1}, α2 = {config.depo.loss.alpha2}, "
        f"β = {config.depo.loss.beta}; KTO β = {config.kto.loss.beta}.", "",
        f"## Results on {summaries['bc']['tasks']} held-out tasks (greedy; median over seeds {seeds})", "",
        results_table(summaries), "",
        "T: generated tokens per task; S: agent turns per task; @Succ over solved tasks only. Each seed "
        "trains its own π_BC, then KTO and DEPO from it.", "",
        "What DEPO claims, on this run:", "",
        *[f"- {claim}: **{'yes' if ok else 'no'}**" for claim, ok in checks.items()], "",
        "Per seed:", "", seeds_table(per_seed), "",
        *math_section(config, run),
        "## Labeling", "", "```", (root / "labeled" / "summary.txt").read_text().rstrip(), "```", "",
        "## Wall time per stage", "", "| stage | seconds |", "|---|---:|",
        *[f"| {stage} | {wall:.0f} |" for stage, wall in seconds.items()], "",
        "## Plots", "",
        *[f"![{p.stem}](plots/{p.name})" for p in plots], "",
    ]
    path = root / "report.md"
    path.write_text("\n".join(lines))
    return path
