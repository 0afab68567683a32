"""Training losses behind a small registry (``registry``): a new loss registers itself and
the training loop picks it by name, without being edited. ``config`` holds ``LossConfig``
(no torch); ``sft``, ``preference`` (KTO, DEPO and its variants) and ``distill`` (token_kd,
sad, trained by ``depo_ray.train.steps.distill_step`` from a teacher's stored
distributions) define the losses."""
