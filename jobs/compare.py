"""Paired differences between evaluated policies, each against the first: BabyAI or WebShop
task metrics (Succ, T@All, S@All, tokens per turn, invalid actions) and, with --math, math
accuracy and tokens per problem, as B − A with 95% bootstrap intervals over the same tasks.

    python jobs/compare.py zero-shot=runs/smollm2/zero-shot bc=runs/smollm2/eval/bc/seed-0 \\
        --math zero-shot=runs/smollm2/math-zero-shot bc=runs/smollm2/math/bc/seed-0

A folder is an evaluation output (tasks.parquet: jobs/evaluate.py, or a pipeline's
eval/<method>/seed-<n>); a math folder holds problems.parquet (jobs/eval_math.py, or a
pipeline's math/<method>/seed-<n>).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from depo_ray.evaluate.compare import describe, math_differences, task_differences


def named_folders(items: list[str], wanted: str, option: str) -> dict[str, Path]:
    folders = {}
    for item in items:
        name, _, folder = item.rpartition("=")
        path = Path(folder)
        if not (path / wanted).exists():
            raise SystemExit(f"{option}: {path} has no {wanted}")
        folders[name or path.as_posix()] = path
    if len(folders) < 2:
        raise SystemExit(f"{option}: need at least two folders to compare, got {len(folders)}")
    return folders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("evaluations", nargs="+", help="[name=]folder with tasks.parquet; the first is the baseline")
    parser.add_argument("--math", nargs="*", default=[], help="[name=]folder with problems.parquet; the first is the baseline")
    parser.add_argument("--resamples", type=int, default=2000)
    args = parser.parse_args()
    evaluations = named_folders(args.evaluations, "tasks.parquet", "evaluations")
    maths = named_folders(args.math, "problems.parquet", "--math") if args.math else {}

    import pyarrow.parquet as pq

    from depo_ray.evaluate.runner import read_results

    results = {name: read_results(folder) for name, folder in evaluations.items()}
    problems = {name: pq.read_table(folder / "problems.parquet").to_pylist() for name, folder in maths.items()}
    for table, differences in ((results, task_differences), (problems, math_differences)):
        if not table:
            continue
        (base, base_rows), *others = table.items()
        for name, rows in others:
            print(f"{name} − {base}:")
            for difference in differences(base_rows, rows, args.resamples):
                print(f"  {describe(difference)}")


if __name__ == "__main__":
    main()
