"""Submit the pipeline to a Ray cluster as `make pipeline` does, on a machine that may never
have run Ray: check the config, create Ray's authentication token when there is none, start a
local head unless one answers at ``--address``, say where the dashboard is and how to log in,
then ``ray job submit`` the pipeline under a job name and follow its log to the end.

    python jobs/submit.py --config configs/cpu_pipeline.yaml
    python jobs/submit.py --config configs/cpu_pipeline.yaml --set 'seeds=[0,1,2]'

Ray 2.60 clusters use token authentication (it keeps other users off the cluster); every Ray
command here runs with ``RAY_AUTH_MODE=token``, and the token lives where ``ray
get-auth-token`` finds it (``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

from depo_ray.cluster import free_port

ROOT = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).with_name("ray"))  # the CLI of the environment running this script


def ray_env() -> dict[str, str]:
    return {**os.environ, "RAY_AUTH_MODE": "token"}


def token_path() -> Path | None:
    """Where Ray reads the token from a file, or None when it comes from the environment."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return None
    return Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")


def ensure_token() -> None:
    """Create the token when none exists (a machine that never ran Ray has none)."""
    path = token_path()
    existed = path is None or path.exists()
    done = subprocess.run([RAY, "get-auth-token", "--generate"], capture_output=True, text=True, env=ray_env())
    if done.returncode != 0:
        raise SystemExit(f"ray get-auth-token --generate failed: {done.stderr.strip().splitlines()[-1:]}")
    if not existed:
        print(f"created a Ray authentication token at {path}")


def head_answers(address: str) -> bool:
    return subprocess.run([RAY, "job", "list", f"--address={address}"], capture_output=True, env=ray_env()).returncode == 0



def start_head(address: str, gcs_port: int, temp_dir: str | None, wait_s: float = 120) -> None:
    dashboard = urlparse(address)
    if dashboard.hostname not in ("127.0.0.1", "localhost"):
        raise SystemExit(f"no Ray cluster answers at {address}, and a head is started here only for a local address")
    # The job agent's fixed default port (52365) may be held by another Ray instance on this
    # machine; the head would start but never accept a job ("No available agent").
    command = [RAY, "start", "--head", f"--port={gcs_port}", f"--dashboard-port={dashboard.port or 8265}",
               f"--dashboard-agent-listen-port={free_port()}", "--include-dashboard=true", "--disable-usage-stats"]
    command += [f"--temp-dir={temp_dir}"] if temp_dir else []
    print(f"starting a local Ray head: {' '.join(command[1:])}", flush=True)
    started = subprocess.run(command, capture_output=True, text=True, env=ray_env())
    if started.returncode != 0:
        raise SystemExit(f"ray start failed (exit {started.returncode}): {started.stderr.strip()[-2000:]}")
    deadline = time.monotonic() + wait_s
    while not head_answers(address):  # the job API comes up a few seconds after `ray start` returns
        if time.monotonic() > deadline:
            raise SystemExit(f"the Ray head started but its job API at {address} did not answer within {wait_s:.0f} s")
        time.sleep(1)


def job_name(config: str) -> str:
    return f"depo-ray pipeline ({config})"


def submit(address: str, name: str, entrypoint: list[str], wait_s: float = 120) -> str:
    """Submit without waiting and return the submission id. A head that has just started (or
    a loaded machine) can answer "No available agent to submit job" for a while: retried."""
    submission = f"depo-ray-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
    command = [RAY, "job", "submit", f"--address={address}", f"--submission-id={submission}", "--no-wait",
               f"--metadata-json={json.dumps({'job_name': name})}", "--", *entrypoint]
    deadline = time.monotonic() + wait_s
    while True:
        done = subprocess.run(command, capture_output=True, text=True, env=ray_env())
        if done.returncode == 0:
            return submission
        if "No available agent" not in done.stdout + done.stderr or time.monotonic() > deadline:
            raise SystemExit(f"ray job submit failed (exit {done.returncode}): {(done.stdout + done.stderr).strip()[-2000:]}")
        time.sleep(2)


def follow(address: str, submission: str) -> bool:
    """Stream the job's log until it ends; True when it succeeded."""
    print(f"job {submission} submitted; its log follows (Ctrl-C stops following, not the job: "
          f"`{RAY} job stop {submission}` stops it)", flush=True)
    subprocess.run([RAY, "job", "logs", "--follow", f"--address={address}", submission], env=ray_env())
    status = subprocess.run([RAY, "job", "status", f"--address={address}", submission],
                            capture_output=True, text=True, env=ray_env())
    return f"Job '{submission}' succeeded" in status.stdout + status.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/cpu_pipeline.yaml", help="pipeline config (relative to the project root)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, passed on to jobs/pipeline.py; repeatable")
    parser.add_argument("--address", default="http://127.0.0.1:8265", help="the cluster's dashboard (job API) address")
    parser.add_argument("--gcs-port", type=int, default=6379, help="port of a head started here")
    parser.add_argument("--temp-dir", help="Ray's temp folder for a head started here (default: Ray's, /tmp/ray)")
    args = parser.parse_args()

    from depo_ray.config import load_job_config
    from depo_ray.pipeline.config import PipelineConfig

    load_job_config(PipelineConfig, ROOT, args.config, overrides=args.overrides)  # a bad config stops here, named
    ensure_token()
    if not head_answers(args.address):
        start_head(args.address, args.gcs_port, args.temp_dir)
    print(f"Ray dashboard: {args.address}  (log in with the token that `{RAY} get-auth-token` prints)", flush=True)
    pipeline = [sys.executable, str(ROOT / "jobs" / "pipeline.py"), "--config", args.config]
    pipeline += [f"--set={override}" for override in args.overrides]
    submission = submit(args.address, job_name(args.config), pipeline)
    raise SystemExit(0 if follow(args.address, submission) else 1)

if __name__ == "__main__":
    main()
