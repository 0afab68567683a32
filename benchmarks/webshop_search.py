"""WebShop search speed and memory on a generated catalog, against rank-bm25 (a script, not a test).

    .venv/bin/python benchmarks/webshop_search.py                      # 100k products, 500 queries
    .venv/bin/python benchmarks/webshop_search.py --products 20000 --queries 500 --tracemalloc

In one run: generate and load the catalog; build our index (environments/webshop/search.py:
Lucene's analyzer and BM25 on bm25s) and rank-bm25's BM25Okapi (same k1 and b) on the same
analyzed terms; time the same queries, the human goals' keywords, on both (p50 / p99 per
query, k = 50: analysis, scoring and the top 50); save the index and load it memory-mapped;
then the environment's reset and step latency with the oracle expert (--episodes 0 skips it).

Memory per build: the peak resident set while building, above the resident set before it (the
kernel's high-water mark, reset before each build), and what the built index keeps resident;
with --tracemalloc also the Python heap peak (numpy included) in a second, traced build (slower,
so build times come from the untraced one).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

MIB = 2**20


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def _status(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current resident set (Linux 4.0+)
        return True
    except OSError:
        return False


def _release() -> None:
    """Collect garbage and hand freed heap pages back, so that a build does not reuse the last one's."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def measured_build(build):
    """(index, seconds, peak MiB above the start, MiB kept resident) of ``build()``."""
    _release()
    exact = _reset_peak()
    before = _status("VmRSS")
    index, seconds = timed(build)
    peak = _status("VmHWM") - before
    _release()
    kept = _status("VmRSS") - before
    return index, seconds, peak / MIB if exact else float("nan"), kept / MIB


def heap_peak(build) -> float:
    gc.collect()
    tracemalloc.start()
    build()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / MIB


def percentiles(seconds: list[float]) -> tuple[float, float]:
    ordered = sorted(seconds)
    return statistics.median(ordered) * 1e3, ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=500, help="queries timed on both indexes")
    parser.add_argument("--peer-queries", type=int, default=None,
                        help="queries timed on rank-bm25 (default: --queries; it takes ~0.3 s each at 100k)")
    parser.add_argument("--tracemalloc", action="store_true", help="also trace each build's Python heap peak")
    parser.add_argument("--episodes", type=int, default=200, help="oracle episodes timed in the environment")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import numpy as np
    from rank_bm25 import BM25Okapi

    from environments.webshop.expert import goal_keywords
    from environments.webshop.generate import generate_catalog
    from environments.webshop.goals import human_goals
    from environments.webshop.products import load_products, product_prices
    from environments.webshop.search import B, K1, SearchIndex, index_text, tokenize

    work = Path(tempfile.mkdtemp(prefix="webshop-bench-"))
    _, generate_s = timed(lambda: generate_catalog(work / "catalog", num_products=args.products, seed=args.seed))
    catalog, load_s = timed(lambda: load_products(work / "catalog" / "items_shuffle.json",
                                                  work / "catalog" / "items_ins_v2.json",
                                                  work / "catalog" / "items_human_ins.json"))
    products = catalog.products
    goals = human_goals(catalog, product_prices(products, args.seed), args.seed)
    queries = [goal_keywords(g) for g in goals[:args.queries]]
    peer_queries = queries[:args.peer_queries or len(queries)]

    # Build ours and the peer (the peer's build includes our analyzer, as ours does), after a
    # warm-up so that neither counts its imports.
    SearchIndex.build(products[:10]).search("x")
    BM25Okapi(tokenize([index_text(p) for p in products[:10]]), k1=K1, b=B)
    ours, ours_s, ours_peak, ours_kept = measured_build(lambda: SearchIndex.build(products))

    def build_peer():
        return BM25Okapi(tokenize([index_text(p) for p in products]), k1=K1, b=B)

    peer, peer_s, peer_peak, peer_kept = measured_build(build_peer)
    ours_heap = heap_peak(lambda: SearchIndex.build(products)) if args.tracemalloc else float("nan")
    peer_heap = heap_peak(build_peer) if args.tracemalloc else float("nan")

    def peer_search(query: str, k: int = 50) -> list[str]:
        scores = peer.get_scores(tokenize([query])[0])
        best = np.argsort(-scores, kind="stable")[:k]
        return [products[i]["asin"] for i in best if scores[i] > 0]

    ours_times = [timed(lambda q=q: ours.search(q, 50))[1] for q in queries]
    peer_times, overlap = [], []
    for q in peer_queries:
        theirs, seconds = timed(lambda q=q: peer_search(q, 50))
        peer_times.append(seconds)
        mine = ours.search(q, 10)
        overlap.append(len(set(mine) & set(theirs[:10])) / max(1, min(10, len(mine))))
    found = sum(g["asin"] in ours.search(q, 50) for g, q in zip(goals, queries))

    _, save_s = timed(lambda: ours.save(work / "index"))
    gc.collect()
    before = _status("VmRSS")
    loaded, load_index_s = timed(lambda: SearchIndex.load(work / "index", mmap=True))
    loaded_mib = (_status("VmRSS") - before) / MIB
    assert [loaded.search(q) for q in queries[:50]] == [ours.search(q) for q in queries[:50]]
    disk = sum(f.stat().st_size for f in (work / "index").iterdir()) / MIB

    ours_p50, ours_p99 = percentiles(ours_times)
    peer_p50, peer_p99 = percentiles(peer_times)
    print(f"catalog: {len(products)} products generated in {generate_s:.1f} s, loaded (streamed) in {load_s:.1f} s; "
          f"{len(queries)} goal queries, k = 50")
    head = f"{'':<22}{'build s':>9}{'peak RSS MiB':>14}{'kept MiB':>10}{'heap peak MiB':>15}" \
           f"{'p50 ms':>9}{'p99 ms':>9}{'queries':>9}"
    print("\n" + head)
    for name, s, peak, kept, heap, p50, p99, n in (
            ("bm25s, Lucene (ours)", ours_s, ours_peak, ours_kept, ours_heap, ours_p50, ours_p99, len(ours_times)),
            ("rank-bm25 BM25Okapi", peer_s, peer_peak, peer_kept, peer_heap, peer_p50, peer_p99, len(peer_times))):
        print(f"{name:<22}{s:>9.1f}{peak:>14.0f}{kept:>10.0f}{heap:>15.0f}{p50:>9.2f}{p99:>9.2f}{n:>9}")
    print(f"{'ratio rank-bm25 / ours':<22}{peer_s / ours_s:>8.1f}x{peer_peak / ours_peak:>13.1f}x"
          f"{peer_kept / ours_kept:>9.1f}x{peer_heap / ours_heap:>14.1f}x{peer_p50 / ours_p50:>8.0f}x"
          f"{peer_p99 / ours_p99:>8.0f}x")
    print(f"\ntop-10 overlap with rank-bm25 (same terms, k1, b; other idf and exact lengths): "
          f"{100 * statistics.mean(overlap):.0f}%; the goal's product in our top 50 for {found}/{len(queries)} goals")
    print(f"index save {save_s:.2f} s ({disk:.0f} MiB on disk), memory-mapped load {load_index_s:.2f} s "
          f"(+{loaded_mib:.0f} MiB resident); process RSS now {_status('VmRSS') / MIB:.0f} MiB")

    if args.episodes > 0:
        from environments.webshop.catalog import Shop, ShopConfig
        from environments.webshop.env import WebShopConfig, WebShopTextEnv
        from environments.webshop.expert import WebShopExpert

        config = ShopConfig(data_dir=str(work / "catalog"), num_products=None, cache_dir=str(work), seed=args.seed)
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
        reset_p50, reset_p99 = percentiles(resets)
        step_p50, step_p99 = percentiles(steps)
        print(f"environment: reset p50 {reset_p50:.2f} ms p99 {reset_p99:.2f} ms; step p50 {step_p50:.2f} ms "
              f"p99 {step_p99:.2f} ms over {len(steps)} steps; oracle reward 1.0 on "
              f"{sum(r == 1.0 for r in rewards)}/{len(rewards)} goals")


if __name__ == "__main__":
    main()
