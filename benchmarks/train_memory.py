"""Peak memory and time of one training step on a long chat, with and without gradient
checkpointing: what decides how many train workers fit on a machine.

Each setting runs one BC step (the same forward/backward as KTO and DEPO's policy pass) on
one chat of ``--length`` tokens, ``--assistant-share`` of them assistant tokens, in its own
process, so peak RSS is that setting's own. Run:

    .venv/bin/python benchmarks/train_memory.py --policy smollm2-135m-instruct --lengths 1024 4096
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def one_step(policy: str, length: int, assistant_share: float, checkpointing: bool, lora: bool) -> dict:
    import torch

    from depo_ray.losses.registry import get_loss
    from depo_ray.losses.config import LossConfig
    from depo_ray.models.loading import load_tokenizer
    from depo_ray.train.config import LoraSettings, TrainConfig
    from depo_ray.train.loop import build_model
    from depo_ray.train.steps import sft_step

    config = TrainConfig(loss=LossConfig(name="sft"), global_batch_size=1,
                         micro_batch_size=1, lora=LoraSettings() if lora else None, gradient_checkpointing=checkpointing)
    tokenizer = load_tokenizer(policy)
    torch.manual_seed(0)
    ids = torch.randint(100, len(tokenizer), (length,)).tolist()
    turn = 64  # alternating user and assistant stretches, as in a chat
    mask = [int((i // turn) % round(1 / assistant_share) == 0) for i in range(length)]
    model = build_model(config, policy)
    model.train()
    loaded_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    sft_step(model, {"input_ids": [ids], "assistant_mask": [mask]}, tokenizer.pad_token_id, get_loss("sft"), config)
    return {"seconds": time.perf_counter() - started, "loaded_mb": loaded_mb,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", default="smollm2-135m-instruct", help="folder, Hugging Face id or named model")
    parser.add_argument("--lengths", type=int, nargs="+", default=[1024, 4096])
    parser.add_argument("--assistant-share", type=float, default=0.3)
    parser.add_argument("--full", action="store_true", help="train every weight instead of LoRA adapters")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(one_step(**json.loads(args.child))))
        return
    from depo_ray.config import model_under_root

    policy = model_under_root(ROOT, args.policy)
    print(f"{args.policy}, {'full' if args.full else 'LoRA'}, assistant share {args.assistant_share}")
    print(f"{'tokens':>7}{'checkpointing':>15}{'step s':>8}{'loaded MB':>11}{'peak MB':>9}{'step MB':>9}")
    for length in args.lengths:
        for checkpointing in (False, True):
            setting = dict(policy=policy, length=length, assistant_share=args.assistant_share,
                           checkpointing=checkpointing, lora=not args.full)
            out = subprocess.run([sys.executable, __file__, "--child", json.dumps(setting)],
                                 capture_output=True, text=True, check=True).stdout
            r = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
            print(f"{length:>7}{'on' if checkpointing else 'off':>15}{r['seconds']:>8.1f}{r['loaded_mb']:>11.0f}"
                  f"{r['peak_mb']:>9.0f}{r['peak_mb'] - r['loaded_mb']:>9.0f}", flush=True)


if __name__ == "__main__":
    main()
