"""Policy models: ``loading`` (any Hugging Face model or folder, and its tokenizer), ``tiny``
(the CPU default, built from scratch; its size in ``config``), ``sources`` (named models
prepared once from a package registry) and ``checks`` (what a folder must hold to be served)."""
