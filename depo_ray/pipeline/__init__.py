"""The end-to-end job (jobs/pipeline.py): bootstrap → generate → label → bc → kto, depo →
evaluate → math → report, each stage resumable under ``runs/<run>/``.

- ``config``: ``PipelineConfig`` (one section per stage) and ``METHODS``, the trained policies;
- ``stage``: what a ``Stage`` is, and the ``RunFolder`` every stage writes in;
- ``recipe``: the run functions and ``STAGES``, the one ordered list of stages;
- ``runner``: markers, stale settings, ``--from`` and resume over that list (``run_pipeline``);
- ``plan``: each stage's status and resources before any work (``plan_run``);
- ``report``: report.md; ``outputs``: what a finished run offers to work built on it (sweeps).
"""
