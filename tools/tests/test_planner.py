"""The greedy arena planner of SPEC "PLAN" and the lifetimes it shares with the reader."""
import time

import numpy as np
import pytest

from roentgen_tools.fileformat import DT_FLOAT32, DT_INT8, ROLE_ACTIVATION, ROLE_CONSTANT, Op, Tensor, lifetimes, ops, plan_arena


def act(name, nbytes):
    return Tensor(name, DT_INT8, ROLE_ACTIVATION, (1, nbytes))


def overlaps(plan, tensors, lt):
    """Every pair of activations live at the same time that share a byte (brute force)."""
    bad = []
    acts = sorted(plan)
    for x, a in enumerate(acts):
        for b in acts[x + 1:]:
            if lt[a][0] <= lt[b][1] and lt[b][0] <= lt[a][1]:
                if plan[a] < plan[b] + tensors[b].nbytes and plan[b] < plan[a] + tensors[a].nbytes:
                    bad.append((a, b))
    return bad


def peak(tensors, ops_, lt):
    """A lower bound of any plan: the most bytes (each rounded up to 64) live during one op."""
    return max(sum(-(-tensors[t].nbytes // 64) * 64 for t, (f, l) in lt.items() if f <= i <= l)
               for i in range(len(ops_)))


def test_lifetimes_dag():
    # 0 input -> op0 -> 1; 1 -> op1 -> 2; (1, 2) -> op2 -> 3 (a residual: 1 is read late); 3 -> op3 -> 4
    t = [act(f"t{i}", 64) for i in range(5)] + [Tensor("w", DT_INT8, ROLE_CONSTANT, (4,))]
    o = [Op(ops.OP_QUANTIZE, [0], 1), Op(ops.OP_CONV2D, [1, 5], 2), Op(ops.OP_ADD, [1, 2], 3),
         Op(ops.OP_RESHAPE, [3], 4)]
    lt = lifetimes(t, o, 0, 4)
    assert lt == {0: (0, 0), 1: (0, 2), 2: (1, 2), 3: (2, 3), 4: (3, 3)}  # no entry for the constant


def test_lifetimes_graph_input_and_output():
    # the graph input is live from op 0 even when only op 2 reads it; the output to the last op
    t = [act(f"t{i}", 64) for i in range(4)]
    o = [Op(ops.OP_RESHAPE, [0], 1), Op(ops.OP_RESHAPE, [1], 2), Op(ops.OP_ADD, [2, 0], 3)]
    lt = lifetimes(t, o, 0, 1)
    assert lt[0] == (0, 2)
    assert lt[1] == (0, 2)  # the graph output lives to the end although op 1 is its last reader


def test_chain_known_plan():
    # a -> b -> c -> d: the largest (b) at 0, c beside it, a beside b, d reuses 0
    sizes = [100, 1000, 500, 40]
    tensors = [act(f"t{i}", s) for i, s in enumerate(sizes)]
    o = [Op(ops.OP_RESHAPE, [i], i + 1) for i in range(3)]
    arena, plan = plan_arena(tensors, o, 0, 3)
    lt = lifetimes(tensors, o, 0, 3)
    assert overlaps(plan, tensors, lt) == []
    assert plan == {0: 1024, 1: 0, 2: 1024, 3: 0}
    assert arena == 1024 + 512 == peak(tensors, o, lt)


def test_residual_dag_is_as_small_as_possible():
    # x (the input) -> q; q -> c1; c1 -> c2; (q, c2) -> add; add -> out. q is live across c1 and c2.
    sizes = {"x": 192, "q": 256, "c1": 512, "c2": 256, "add": 256, "out": 64}
    names = list(sizes)
    tensors = [act(n, sizes[n]) for n in names]
    i = {n: k for k, n in enumerate(names)}
    o = [Op(ops.OP_QUANTIZE, [i["x"]], i["q"]), Op(ops.OP_CONV2D, [i["q"]], i["c1"]),
         Op(ops.OP_CONV2D, [i["c1"]], i["c2"]), Op(ops.OP_ADD, [i["q"], i["c2"]], i["add"]),
         Op(ops.OP_MEAN, [i["add"]], i["out"])]
    arena, plan = plan_arena(tensors, o, i["x"], i["out"])
    lt = lifetimes(tensors, o, i["x"], i["out"])
    assert overlaps(plan, tensors, lt) == []
    assert arena == peak(tensors, o, lt) == 1024
    # greedy order: c1 (512) first at 0; then q, c2, add (256, by first op); q at 512 (live with c1)
    assert plan[i["c1"]] == 0 and plan[i["q"]] == 512


def test_ties_broken_by_first_op_then_index():
    # four equal activations of a chain: placed in order of their first op, each at the lowest offset
    tensors = [act(f"t{i}", 64) for i in range(4)]
    o = [Op(ops.OP_RESHAPE, [i], i + 1) for i in range(3)]
    _, plan = plan_arena(tensors, o, 0, 3)
    assert plan == {0: 0, 1: 64, 2: 0, 3: 64}


def random_dag(rng, n_ops):
    """A random DAG: op k reads 1-3 earlier activations (or the input) and writes activation k+1."""
    tensors = [act("t0", int(rng.integers(1, 5000)))]
    o = []
    for k in range(n_ops):
        n_in = int(rng.integers(1, 4))
        ins = sorted(set(int(v) for v in rng.integers(0, k + 1, n_in)))
        tensors.append(Tensor(f"t{k + 1}", DT_FLOAT32 if rng.random() < 0.3 else DT_INT8, ROLE_ACTIVATION,
                              (1, int(rng.integers(1, 3000)))))
        o.append(Op(ops.OP_CONCAT, ins, k + 1))
    return tensors, o


@pytest.mark.parametrize("seed", range(20))
def test_random_dags_never_overlap(seed):
    rng = np.random.default_rng(seed)
    tensors, o = random_dag(rng, int(rng.integers(1, 60)))
    out = len(tensors) - 1
    arena, plan = plan_arena(tensors, o, 0, out)
    lt = lifetimes(tensors, o, 0, out)
    assert sorted(plan) == list(range(len(tensors))), f"seed {seed}"
    assert overlaps(plan, tensors, lt) == [], f"seed {seed}"
    assert all(off % 64 == 0 and off + tensors[t].nbytes <= arena for t, off in plan.items()), f"seed {seed}"
    assert arena % 64 == 0 and arena >= peak(tensors, o, lt), f"seed {seed}"
    # every activation sits at 0 or right after (64-aligned) one it is live with: no needless gap
    for t, off in plan.items():
        if off:
            ends = {-(-(plan[u] + tensors[u].nbytes) // 64) * 64 for u in plan
                    if u != t and lt[u][0] <= lt[t][1] and lt[t][0] <= lt[u][1]}
            assert off in ends, f"seed {seed}: tensor {t} at {off}"


def test_deterministic():
    rng = np.random.default_rng(7)
    tensors, o = random_dag(rng, 40)
    first = plan_arena(tensors, o, 0, len(tensors) - 1)
    again = plan_arena(list(tensors), list(o), 0, len(tensors) - 1)
    assert first == again
    assert list(first[1]) == sorted(first[1])  # entries in tensor order, as the file stores them


def test_constants_are_not_planned():
    tensors = [act("x", 64), Tensor("w", DT_INT8, ROLE_CONSTANT, (64,)), act("y", 64)]
    _, plan = plan_arena(tensors, [Op(ops.OP_CONV2D, [0, 1], 2)], 0, 2)
    assert sorted(plan) == [0, 2]


def test_4096_activations_fast():
    n = 4096
    tensors = [act(f"t{i}", 64 * (1 + i % 7)) for i in range(n)]
    o = [Op(ops.OP_ADD, [i, max(i - 3, 0)], i + 1) for i in range(n - 1)]
    t0 = time.perf_counter()
    arena, plan = plan_arena(tensors, o, 0, n - 1)
    elapsed = time.perf_counter() - t0
    assert len(plan) == n and elapsed < 20, elapsed
    lt = lifetimes(tensors, o, 0, n - 1)
    assert arena <= 5 * 448 + 64  # at most 5 tensors (of <= 448 bytes) are live at once
    # spot check (the brute-force check of all pairs would be the slow thing we avoid)
    for t in range(0, n, 97):
        for u in range(t + 1, min(t + 6, n)):
            if lt[t][0] <= lt[u][1] and lt[u][0] <= lt[t][1]:
                assert plan[t] + tensors[t].nbytes <= plan[u] or plan[u] + tensors[u].nbytes <= plan[t]
