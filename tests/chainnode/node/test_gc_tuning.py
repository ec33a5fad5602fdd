"""The node's collector settings (chainnode.node.lifecycle.tune_gc): start-up objects frozen
out of collections, higher thresholds; the figures behind them come from bench.run."""

from __future__ import annotations

import gc

from chainnode.node.lifecycle import GC_THRESHOLDS, tune_gc


def test_tune_gc_freezes_start_up_objects_and_raises_the_thresholds() -> None:
    before = gc.get_threshold()
    try:
        gc.unfreeze()
        tune_gc()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert GC_THRESHOLDS[0] > before[0]
        assert gc.get_freeze_count() > 1000  # the modules and objects imported so far
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
