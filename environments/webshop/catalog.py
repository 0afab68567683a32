"""The shop behind WebShop's pages: products, prices, goals, search and the reward.

``Shop`` holds one catalog, its BM25 index and its goals. Environments call it directly, or
through ``RemoteShop``, a client of one ``Shop`` running as a named Ray actor, so N MCTS
workers share one catalog and index instead of each loading them (a client keeps the few
products it has shown).

Data: the real WebShop files when ``data_dir`` is set (items_shuffle.json,
items_ins_v2.json, items_human_ins.json), else a catalog generated offline in the same
schema under ``cache_dir``. Goals are ordered the way the original shuffles them, so task i
is goal i: test 0-499, dev 500-1499, train 1500 and up.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from environments.webshop.generate import FILE_NAMES as REAL_FILES


@dataclass(frozen=True)
class ShopConfig:
    data_dir: str | None = None
    """Folder with the real WebShop files (items_shuffle.json, items_ins_v2.json,
    items_human_ins.json); None: a generated catalog (``generated_products``)."""
    num_products: int | None = 1000
    """Products read from the catalog (the original's 1000-product set, or None for all)."""
    human_goals: bool = True
    """Human instructions (the paper's setting) or synthetic ones built from the attributes."""
    generated_products: int = 1000
    """Size of the generated catalog when no data_dir is given."""
    cache_dir: str = "runs/webshop_cache"
    """Where the generated catalog and the BM25 index are written once and reused."""
    seed: int = 0
    """Seed of the generated catalog and of the price draws (the original's are not seeded)."""
    show_attrs: bool = False
    """Show the Attributes sub page (off in the original's text mode)."""

    def __post_init__(self):
        if self.num_products is not None and self.num_products < 1:
            raise ValueError(f"num_products must be at least 1 or null, got {self.num_products}")
        # a relative folder is checked once taken from the project root (the pipeline's paths_under)
        if self.data_dir is not None and Path(self.data_dir).is_absolute():
            missing = [name for name in REAL_FILES[:2] if not (Path(self.data_dir) / name).exists()]
            if missing:
                raise ValueError(f"data_dir: {self.data_dir} lacks {missing} (the WebShop data files)")

    def source(self) -> tuple[Path, str]:
        """(folder with the files in the real schema, a name for its index)."""
        if self.data_dir is not None:
            return Path(self.data_dir), f"real-{self.num_products or 'all'}"
        return Path(self.cache_dir) / f"catalog-{self.generated_products}-seed{self.seed}", "generated"


class Shop:
    """One catalog with its index and goals (a plain class: run it as a Ray actor to share it)."""

    def __init__(self, config: ShopConfig):
        from environments.webshop.generate import generate_catalog
        from environments.webshop.goals import human_goals, shuffle_goals, synthetic_goals
        from environments.webshop.products import load_products, product_prices
        from environments.webshop.reward import default_noun_tagger
        from environments.webshop.search import SearchIndex

        folder, name = config.source()
        if config.data_dir is None and not (folder / REAL_FILES[0]).exists():
            generate_catalog(folder, num_products=config.generated_products, seed=config.seed)
        human = folder / REAL_FILES[2]
        self.catalog = load_products(folder / REAL_FILES[0], folder / REAL_FILES[1],
                                     human if config.human_goals else None, num_products=config.num_products,
                                     human_goals=config.human_goals)
        self.prices = product_prices(self.catalog.products, config.seed)
        make_goals = human_goals if config.human_goals else synthetic_goals
        self.goals = shuffle_goals(make_goals(self.catalog, self.prices, config.seed))
        index_folder = (Path(config.cache_dir) if config.data_dir is not None else folder) / f"index-{name}"
        self.index = SearchIndex.load_or_build(index_folder, self.catalog.products)
        self.nouns = default_noun_tagger()

    def search(self, query: str, k: int) -> list[str]:
        return self.index.search(query, k)

    def product(self, asin: str) -> dict:
        return self.catalog.by_asin[asin]

    def products(self, asins: list[str]) -> list[dict]:
        return [self.catalog.by_asin[a] for a in asins]

    def goal(self, task_id: int) -> dict:
        if not 0 <= task_id < len(self.goals):
            raise ValueError(f"task {task_id}: the catalog has {len(self.goals)} goals")
        return self.goals[task_id]

    def num_goals(self) -> int:
        return len(self.goals)

    def reward(self, asin: str, goal: dict, options: dict):
        from environments.webshop.reward import reward

        return reward(self.product(asin), goal, self.prices[asin], options, nouns=self.nouns)


class RemoteShop:
    """The ``Shop`` interface over a shared Ray actor; products it has shown are kept."""

    def __init__(self, actor):
        self._actor, self._products = actor, {}

    def search(self, query: str, k: int) -> list[str]:
        import ray

        return ray.get(self._actor.search.remote(query, k))

    def products(self, asins: list[str]) -> list[dict]:
        import ray

        missing = [a for a in asins if a not in self._products]
        if missing:
            self._products.update(zip(missing, ray.get(self._actor.products.remote(missing))))
        return [self._products[a] for a in asins]

    def product(self, asin: str) -> dict:
        return self.products([asin])[0]

    def goal(self, task_id: int) -> dict:
        import ray

        return ray.get(self._actor.goal.remote(task_id))

    def reward(self, asin: str, goal: dict, options: dict):
        import ray

        return ray.get(self._actor.reward.remote(asin, goal, options))


def shared_shop(config: ShopConfig) -> RemoteShop:
    """The cluster's one Shop actor for this config (started on first use), as a client.
    The first caller owns it: a stage's driver calls this before starting its workers, so
    the actor lives as long as the stage."""
    import hashlib
    import json
    from dataclasses import asdict

    import ray

    key = hashlib.sha1(json.dumps(asdict(config), sort_keys=True).encode()).hexdigest()[:12]
    actor = ray.remote(Shop).options(name=f"webshop-shop-{key}", get_if_exists=True, num_cpus=0).remote(config)
    return RemoteShop(actor)
