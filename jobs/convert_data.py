"""Labeled trajectories in and out of other projects' formats (depo_ray.records.interop).

    python jobs/convert_data.py import-paper kto_data.json runs/paper/all.parquet --env babyai
    python jobs/convert_data.py export-paper runs/cpu/labeled/all.parquet kto_data.jsonl
    python jobs/convert_data.py export-trl runs/cpu/labeled/all.parquet trl.jsonl
    python jobs/convert_data.py import-trl trl.jsonl runs/trl/all.parquet --env babyai --tokenizer <model>
    python jobs/convert_data.py export-llamafactory runs/cpu/labeled/all.parquet lf_data --name depo_babyai
    python jobs/convert_data.py import-llamafactory lf_data runs/lf/all.parquet --name depo_babyai --env babyai --tokenizer <model>

An imported shard trains like a labeled one: point a train config's shards (or
jobs/train_depo.py) at it. Imports without counts (TRL, LLaMA-Factory) count tokens with
--tokenizer, which should be the policy's.
"""

from __future__ import annotations

import argparse

from depo_ray.records import RecordError, read_records, write_shard
from depo_ray.records import interop


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["import-paper", "export-paper", "import-trl", "export-trl",
                                            "import-llamafactory", "export-llamafactory"])
    parser.add_argument("source", help="file (or LLaMA-Factory folder) to read")
    parser.add_argument("target", help="file (or LLaMA-Factory folder) to write")
    parser.add_argument("--env", help="environment name of imported trajectories (babyai, webshop, ...)")
    parser.add_argument("--tokenizer", help="policy model or tokenizer folder that counts imported tokens")
    parser.add_argument("--name", help="LLaMA-Factory dataset name")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    direction, fmt = args.command.split("-", 1)
    needs = (["env"] if direction == "import" else []) + (["tokenizer"] if direction == "import" and fmt != "paper" else []) \
        + (["name"] if fmt == "llamafactory" else [])
    missing = [f"--{n}" for n in needs if getattr(args, n) is None]
    if missing:
        raise SystemExit(f"{args.command} needs {' and '.join(missing)}")
    try:
        if direction == "export":
            records = read_records(args.source)
            if fmt == "paper":
                written = interop.write_paper_kto(records, args.target)
            elif fmt == "trl":
                written = interop.write_trl(records, args.target)
            else:
                written = interop.write_llamafactory(records, args.target, args.name)
            labeled = sum(r.label is not None for r in records)
            print(f"wrote {labeled} labeled of {len(records)} records to {written}")
            return
        if fmt == "paper":
            records = interop.read_paper_kto(args.source, args.env)
        else:
            from depo_ray.models.loading import load_tokenizer

            tokenizer = load_tokenizer(args.tokenizer)
            records = (interop.read_trl(args.source, args.env, tokenizer) if fmt == "trl"
                       else interop.read_llamafactory(args.source, args.name, args.env, tokenizer))
    except (RecordError, OSError) as error:
        raise SystemExit(f"data error: {error}") from None
    write_shard(records, args.target)
    desirable = sum(r.label == "desirable" for r in records)
    print(f"wrote {len(records)} records ({desirable} desirable) to {args.target}")


if __name__ == "__main__":
    main()
