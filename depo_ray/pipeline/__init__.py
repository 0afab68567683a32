"""The end-to-end job (jobs/pipeline.py): bootstrap → generate → label → bc → kto, depo →
evaluate → report, each stage resumable under ``runs/<run>/``."""
