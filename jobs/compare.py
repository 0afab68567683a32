"""Paired differences between evaluated policies, each against the first: BabyAI or WebShop
task metrics (Succ, T@All, S@All, tokens per turn, invalid actions) and, with --math, math
accuracy and tokens per problem, as B − A with 95% bootstrap intervals over the same seeds
and tasks.

    python jobs/compare.py zero_shot=runs/smollm2/zero-shot bc=runs/smollm2/eval/bc/seed-0 \\
        --math zero_shot=runs/smollm2/math-zero-shot bc=runs/smollm2/math/bc/seed-0

A folder is an evaluation output (tasks.parquet: jobs/evaluate.py, or a pipeline's
eval/<method>/seed-<n>); a math folder holds problems.parquet (jobs/eval_math.py, or a
pipeline's math/<method>/seed-<n>). Name a training seed as ``method@seed=folder``; the
folders of one method's seeds are paired with the other method's same seeds (math folders
too).

    # every policy's per-task outcome in one CSV, and the intervals recomputed from it
    python jobs/compare.py bc@0=DIR kto@0=DIR --write-outcomes outcomes.csv
    python jobs/compare.py --outcomes outcomes.csv bc kto
    # the same for math problems
    python jobs/compare.py --math bc@0=DIR kto@0=DIR --write-math-outcomes math_outcomes.csv
    python jobs/compare.py --math-outcomes math_outcomes.csv bc kto
"""

from __future__ import annotations

import argparse
from pathlib import Path

from depo_ray.evaluate.compare import describe, math_differences, task_differences
from depo_ray.pipeline.artifacts import parquet_problem


def named_folders(items: list[str], wanted: str, option: str, methods: int = 2) -> dict[tuple[str, int], Path]:
    """``[name[@seed]=]folder`` items -> {(name, seed): folder}, each folder holding ``wanted``,
    of at least ``methods`` methods."""
    folders = {}
    for item in items:
        label, _, folder = item.rpartition("=")
        path = Path(folder)
        if not (path / wanted).exists():
            raise SystemExit(f"{option}: {path} has no {wanted}")
        if problem := parquet_problem(path / wanted):
            raise SystemExit(f"{option}: {path / wanted}: {problem}")
        name, _, seed = (label or path.as_posix()).partition("@")
        if seed and not seed.isdigit():
            raise SystemExit(f"{option}: {item!r}: the seed after @ must be a non-negative integer")
        folders[(name, int(seed or 0))] = path
    if len({name for name, _ in folders}) < methods:
        raise SystemExit(f"{option}: need at least two methods to compare, got {sorted({n for n, _ in folders})}")
    return folders


def by_method(items: dict[tuple[str, int], object]) -> dict[str, dict[int, object]]:
    grouped: dict[str, dict[int, object]] = {}
    for (name, seed), value in items.items():
        grouped.setdefault(name, {})[seed] = value
    return grouped


def print_differences(table: dict[str, dict[int, object]], differences) -> None:
    (base, base_rows), *others = table.items()
    for name, rows in others:
        print(f"{name} − {base}:")
        for difference in differences(base_rows, rows):
            print(f"  {describe(difference)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("evaluations", nargs="*",
                        help="[name[@seed]=]folder with tasks.parquet (or, with --outcomes or --math-outcomes, "
                             "method names); the first is the baseline")
    parser.add_argument("--math", nargs="*", default=[],
                        help="[name[@seed]=]folder with problems.parquet; the first is the baseline")
    parser.add_argument("--outcomes", type=Path, help="read the methods' per-task outcomes from this CSV")
    parser.add_argument("--math-outcomes", type=Path, help="read the methods' per-problem math outcomes from this CSV")
    parser.add_argument("--write-outcomes", type=Path, help="write the evaluations' per-task outcomes to this CSV")
    parser.add_argument("--write-math-outcomes", type=Path, help="write the --math folders' per-problem outcomes to this CSV")
    parser.add_argument("--resamples", type=int, default=2000)
    args = parser.parse_args(argv)
    if not (args.evaluations or args.math):
        parser.error("give evaluation folders, --math folders, or method names with --outcomes or --math-outcomes")

    from depo_ray.evaluate.outcomes import (EvaluatedPolicy, read_math_outcomes, read_outcomes, write_math_outcomes,
                                            write_outcomes)

    results = {}
    if args.outcomes:
        policies = {(p.method, p.seed): list(p.results) for p in read_outcomes(existing(args.outcomes, "--outcomes"))}
        results = chosen(by_method(policies), args.evaluations, "--outcomes")
    elif args.evaluations and not args.math_outcomes:
        from depo_ray.evaluate.episodes import read_results

        # writing one policy's outcomes needs no second one to compare with
        folders = named_folders(args.evaluations, "tasks.parquet", "evaluations", 1 if args.write_outcomes else 2)
        results = by_method({key: read_results(folder) for key, folder in folders.items()})
    if args.write_outcomes:
        write_outcomes([EvaluatedPolicy(method, seed, tuple(rows)) for method, seeds in results.items()
                        for seed, rows in seeds.items()], args.write_outcomes)
        print(f"outcomes: {args.write_outcomes}")
    if len(results) > 1:
        print_differences(results, lambda a, b: task_differences(a, b, args.resamples))

    math = {}
    if args.math_outcomes:
        math = chosen(by_method(read_math_outcomes(existing(args.math_outcomes, "--math-outcomes"))), args.evaluations,
                      "--math-outcomes")
    elif args.math:
        import pyarrow.parquet as pq

        folders = named_folders(args.math, "problems.parquet", "--math", 1 if args.write_math_outcomes else 2)
        math = by_method({key: pq.read_table(folder / "problems.parquet").to_pylist() for key, folder in folders.items()})
    if args.write_math_outcomes:
        if not args.math:
            raise SystemExit("--write-math-outcomes: give the math folders with --math")
        write_math_outcomes({(method, seed): rows for method, seeds in math.items() for seed, rows in seeds.items()},
                            args.write_math_outcomes)
        print(f"math outcomes: {args.write_math_outcomes}")
    if len(math) > 1:
        print_differences(math, lambda a, b: math_differences(a, b, args.resamples))


def existing(path: Path, option: str) -> Path:
    if not path.exists():
        raise SystemExit(f"{option}: {path} does not exist")
    return path


def chosen(grouped: dict[str, dict[int, object]], methods: list[str], option: str) -> dict[str, dict[int, object]]:
    """The named methods of an outcomes file, in the order given (two or more, all in it)."""
    missing = [m for m in methods if m not in grouped]
    if missing or len(methods) < 2:
        raise SystemExit(f"{option}: give two or more of its methods {sorted(grouped)}"
                         + (f"; not in it: {missing}" if missing else ""))
    return {method: grouped[method] for method in methods}


if __name__ == "__main__":
    main()
