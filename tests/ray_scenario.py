"""A 2-node Ray cluster dubs a folder while one node is killed; run by tests/test_batch_ray.py inside a network namespace.

    python tests/ray_scenario.py IN_DIR OUT_DIR VOICE RESULT.json

Checks, before any task runs, that every node's address is in 127.0.0.0/8 (the namespace has only
loopback), then dubs IN_DIR with :class:`emodub.batch.RayRunner` (cues in groups of one, so the 2-cue
video is spread over the cluster), kills the second node a few seconds in, and writes what happened.
"""

from __future__ import annotations

import ipaddress
import json
import os
import sys
import threading
import time
from pathlib import Path

os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
KILL_AFTER_S = 6.0  # every dub takes longer: the node dies with a task on it


def main() -> int:
    in_dir, out_dir, voice, result_path = map(Path, sys.argv[1:5])
    import ray
    from ray.cluster_utils import Cluster

    from emodub.batch import RayRunner, plan_batch, run_batch
    from emodub.dub import DubOptions
    from emodub.media import VIDEO_SUFFIXES

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    victim = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    outcome: dict = {}
    try:
        runner = RayRunner(cluster.address, cue_group=1)
        runner.connect()
        addresses = sorted({node["NodeManagerAddress"] for node in ray.nodes()})
        outcome["addresses"] = addresses
        if len(ray.nodes()) != 2 or not all(ipaddress.ip_address(a) in ipaddress.ip_network("127.0.0.0/8") for a in addresses):
            outcome["error"] = f"nodes are not both on loopback: {addresses}"
            return 3
        outcome["head"] = next(n["NodeID"] for n in ray.nodes() if n["NodeID"] != victim.node_id)
        outcome["victim"] = victim.node_id
        finished: list[str] = []

        def kill() -> None:
            time.sleep(KILL_AFTER_S)
            outcome["finished_before_kill"] = list(finished)
            cluster.remove_node(victim, allow_graceful=False)
            outcome["killed_at_s"] = round(time.perf_counter() - started, 2)

        items = plan_batch(in_dir, None, out_dir, VIDEO_SUFFIXES)
        options = DubOptions(base_voice="flite-slt", max_rounds=1, consent="test voices made with flite")
        started = time.perf_counter()
        killer = threading.Thread(target=kill)
        killer.start()
        results = run_batch(items, {"*": voice}, options, runner, done=lambda r: finished.append(r.video))
        killer.join()
        outcome["seconds"] = round(time.perf_counter() - started, 2)
        outcome["results"] = [vars(r) for r in results]
        outcome["node_ids"] = runner.nodes
        shared_out = out_dir.parent / "shared-out"  # then shared storage: the task reads and writes the paths itself
        shared_out.mkdir()
        shared = run_batch(plan_batch(in_dir, None, shared_out, VIDEO_SUFFIXES)[:1], {"*": voice}, options,
                           RayRunner(cluster.address, shared=True))
        outcome["shared"] = [vars(r) for r in shared]
    finally:
        result_path.write_text(json.dumps(outcome, indent=2, default=str))
        ray.shutdown()
        cluster.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
