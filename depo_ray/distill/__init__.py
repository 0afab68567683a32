"""Structured Agent Distillation's data side: the teacher's top-k next-token distributions
and the curriculum that orders trajectories from simple to complex. The losses are in
``depo_ray.losses.distill``."""
