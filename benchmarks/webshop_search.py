"""WebShop search and environment speed on a generated catalog, against rank-bm25.

    .venv/bin/python benchmarks/webshop_search.py                      # 100k products
    .venv/bin/python benchmarks/webshop_search.py --products 20000 --queries 200

In one run: generate and load the catalog; build our BM25 index (bm25s) and rank-bm25's
BM25Okapi on the same stemmed tokens; time the same queries (the goals' keywords) on both
(p50 / p99 per query; rank-bm25 on fewer queries, it is much slower); the index's save and
memory-mapped load; and the environment's reset and step latency. Memory is the Python heap
peak (tracemalloc, numpy included) while each index is built.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def traced(fn):
    tracemalloc.start()
    result, seconds = timed(fn)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return result, seconds, peak / 2**20


def percentiles(seconds: list[float]) -> tuple[float, float]:
    ordered = sorted(seconds)
    return statistics.median(ordered) * 1e3, ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=500, help="queries timed on our index")
    parser.add_argument("--peer-queries", type=int, default=50, help="queries timed on rank-bm25")
    parser.add_argument("--episodes", type=int, default=200, help="oracle episodes timed in the environment")
    args = parser.parse_args()

    from rank_bm25 import BM25Okapi

    from environments.webshop.catalog import Shop, ShopConfig
    from environments.webshop.env import WebShopConfig, WebShopTextEnv
    from environments.webshop.expert import WebShopExpert, goal_keywords
    from environments.webshop.generate import generate_catalog
    from environments.webshop.products import human_goals, load_products, product_prices
    from environments.webshop.search import SearchIndex, index_text, tokenize

    work = Path(tempfile.mkdtemp(prefix="webshop-bench-"))
    _, generate_s = timed(lambda: generate_catalog(work / "catalog", num_products=args.products, seed=0))
    catalog, load_s = timed(lambda: load_products(work / "catalog" / "items_shuffle.json", work / "catalog" / "items_ins_v2.json",
                                                  work / "catalog" / "items_human_ins.json"))
    goals = human_goals(catalog, product_prices(catalog.products, 0), 0)
    queries = [goal_keywords(g) for g in goals[:args.queries]]

    ours, ours_build_s, ours_mib = traced(lambda: SearchIndex.build(catalog.products))
    texts = [index_text(p) for p in catalog.products]
    peer, peer_build_s, peer_mib = traced(lambda: BM25Okapi(tokenize(texts)))
    ours_times = [timed(lambda q=q: ours.search(q, 50))[1] for q in queries]
    peer_tokens = tokenize(queries[:args.peer_queries])
    peer_times = [timed(lambda t=t: peer.get_top_n(t, catalog.products, n=50))[1] for t in peer_tokens]
    _, save_s = timed(lambda: ours.save(work / "index"))
    loaded, load_index_s = timed(lambda: SearchIndex.load(work / "index", mmap=True))
    assert [loaded.search(q) for q in queries[:20]] == [ours.search(q) for q in queries[:20]]

    config = ShopConfig(data_dir=str(work / "catalog"), num_products=None, cache_dir=str(work))
    env = WebShopTextEnv(WebShopConfig(shop=config), shop=Shop(config))
    expert = WebShopExpert(env, seed=0)
    resets, steps, rewards = [], [], []
    original_step = env.step

    def step(response):
        result, seconds = timed(lambda: original_step(response))
        steps.append(seconds)
        return result

    env.step = step
    for task in range(min(args.episodes, len(env.shop.goals))):
        resets.append(timed(lambda task=task: env.reset(options={"task_id": task}))[1])
        rewards.append(expert.demonstrate(task).episode.reward)

    ours_p50, ours_p99 = percentiles(ours_times)
    peer_p50, peer_p99 = percentiles(peer_times)
    print(f"catalog: {len(catalog.products)} products generated in {generate_s:.1f} s, loaded (streamed) in {load_s:.1f} s")
    print(f"\n{'search (k=50)':<22}{'build s':>9}{'build MiB':>11}{'p50 ms':>9}{'p99 ms':>9}{'queries':>9}")
    print(f"{'bm25s (ours)':<22}{ours_build_s:>9.1f}{ours_mib:>11.0f}{ours_p50:>9.2f}{ours_p99:>9.2f}{len(ours_times):>9}")
    print(f"{'rank-bm25 BM25Okapi':<22}{peer_build_s:>9.1f}{peer_mib:>11.0f}{peer_p50:>9.2f}{peer_p99:>9.2f}{len(peer_times):>9}")
    print(f"ratio rank-bm25 / ours: p50 {peer_p50 / ours_p50:.0f}x, p99 {peer_p99 / ours_p99:.0f}x, "
          f"build memory {peer_mib / ours_mib:.1f}x")
    disk = sum(f.stat().st_size for f in (work / "index").iterdir()) / 2**20
    print(f"\nindex save {save_s:.2f} s ({disk:.0f} MiB on disk), memory-mapped load {load_index_s:.2f} s")
    reset_p50, reset_p99 = percentiles(resets)
    step_p50, step_p99 = percentiles(steps)
    print(f"environment: reset p50 {reset_p50:.2f} ms p99 {reset_p99:.2f} ms; step p50 {step_p50:.2f} ms "
          f"p99 {step_p99:.2f} ms over {len(steps)} steps; oracle reward 1.0 on "
          f"{sum(r == 1.0 for r in rewards)}/{len(rewards)} goals")


if __name__ == "__main__":
    main()
