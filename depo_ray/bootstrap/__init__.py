"""Expert demonstrations as trajectory records, and the warm start on them (the bootstrap stage).

There is no pretrained policy offline, so the tiny model first learns from an expert's
demonstrations (the BabyAI bot, the WebShop oracle: ``depo_ray.env_setup.EXPERTS``),
by behaviour cloning with the same training code as everything else. Until
search-generated data exists, the same demonstrations, labeled, are also what BC and DEPO
train on. ``bootstrap_policy`` is that warm start as a resumable stage. A pretrained policy
(a Hugging Face id or folder) takes the same warm start when asked (``warm_start``): a chat
model that cannot yet write the harness's actions would otherwise search, and be trained
from, nothing but invalid turns. Without it, ``write_expert_demos`` alone gives the
demonstrations, tokenized for that policy, when the labeled data should include them.

``config`` holds ``BootstrapConfig``; ``warm_start`` the demos and the BC rounds.
"""
