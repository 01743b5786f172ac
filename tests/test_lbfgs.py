"stylecourse.lbfgs.LBFGS against torch.optim.LBFGS: same closure calls, same iterates; float32; bad input."
import itertools, math

import pytest
import torch
import torch.nn.functional as F

from stylecourse.lbfgs import LBFGS, cubic_interpolate, strong_wolfe

f64 = dict(dtype=torch.float64)


@pytest.fixture(autouse=True)
def one_thread():
    "Every problem here is tiny: one thread is faster, and does not stall on a busy machine."
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ---- test problems: (loss of the parameter tensors, function making fresh initial parameters) ----

def rosenbrock(x): return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()

def _quadratic(n=20, cond=1e4, seed=0):
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, **f64))
    A = Q @ torch.diag(torch.logspace(0, math.log10(cond), n, **f64)) @ Q.T
    b = torch.randn(n, generator=g, **f64)
    return lambda x: 0.5 * x @ A @ x - b @ x

def _logistic():
    "Logistic regression, weights and bias as two tensors, plus a parameter the loss never uses (grad None)."
    g = torch.Generator().manual_seed(1)
    X = torch.randn(60, 5, generator=g, **f64)
    y = (X @ torch.randn(5, generator=g, **f64) + 0.5 * torch.randn(60, generator=g, **f64) > 0).to(torch.float64)
    loss = lambda w, b, unused: F.binary_cross_entropy_with_logits(X @ w + b, y) + 1e-3 * (w * w).sum()
    return loss, lambda: [torch.zeros(5, **f64), torch.zeros(1, **f64), torch.ones(3, **f64)]

def _least_squares():
    "Linear least squares with a 2-D weight matrix."
    g = torch.Generator().manual_seed(4)
    X, Y = torch.randn(40, 6, generator=g, **f64), torch.randn(40, 2, generator=g, **f64)
    return lambda W: ((X @ W - Y) ** 2).mean(), lambda: [torch.zeros(6, 2, **f64)]

def _mlp(dtype=torch.float64):
    "A small tanh MLP's regression loss on fixed data: four parameter tensors (not in the lesson)."
    g = torch.Generator().manual_seed(2)
    X = torch.randn(32, 3, generator=g, **f64).to(dtype)
    Y = torch.sin(X.sum(1, keepdim=True))
    W1, W2 = 0.5 * torch.randn(3, 8, generator=g, **f64), 0.5 * torch.randn(8, 1, generator=g, **f64)
    def loss(W1, b1, W2, b2):
        return ((torch.tanh(X.to(W1.device) @ W1 + b1) @ W2 + b2 - Y.to(W1.device)) ** 2).mean()
    return loss, lambda: [t.to(dtype, copy=True) for t in (W1, torch.zeros(8, **f64), W2, torch.zeros(1, **f64))]

PROBLEMS = {
    "rosenbrock-2d": (rosenbrock, lambda: [torch.tensor([-1.2, 1.0], **f64)]),
    "rosenbrock-10d": (rosenbrock, lambda: [torch.linspace(-1, 0.5, 10, **f64)]),
    "quadratic": (_quadratic(), lambda: [torch.zeros(20, **f64)]),
    "logistic": _logistic(),
    "least-squares": _least_squares(),
    "mlp": _mlp(),
    "mlp-float32": _mlp(torch.float32),
}


def run(opt_class, problem, n_steps=3, between=None, device=None, **kw):
    "Closure calls, parameters, returned loss and state counters after each `step()`."
    fn, init = PROBLEMS[problem]
    params = [p.to(device=device).requires_grad_() for p in init()]
    opt, calls, out = opt_class(params, **kw), [0], []
    def closure():
        calls[0] += 1
        opt.zero_grad()
        loss = fn(*params)
        loss.backward()
        return loss
    for i in range(n_steps):
        if between: between(opt, i)
        ret = opt.step(closure)
        st = opt.state[params[0]]
        out.append(dict(calls=calls[0], params=[p.detach().clone() for p in params], ret=float(ret.detach()),
                        n_iter=st.get("n_iter"), func_evals=st.get("func_evals")))
    return out


def assert_same_run(ours, theirs):
    for k, (a, b) in enumerate(zip(ours, theirs)):
        assert a["calls"] == b["calls"], f"step {k}: {a['calls']} closure calls, torch made {b['calls']}"
        assert (a["n_iter"], a["func_evals"]) == (b["n_iter"], b["func_evals"])
        assert a["ret"] == b["ret"]
        for pa, pb in zip(a["params"], b["params"]):
            torch.testing.assert_close(pa, pb, rtol=1e-6, atol=1e-12)


# The full grid: line search × lr × max_iter × history_size.
GRID = list(itertools.product([None, "strong_wolfe"], [1, 0.5], [5, 20], [3, 100]))
# A half fraction of it (every pair of settings still occurs together) for the remaining problems.
HALF = [s for i, s in enumerate(GRID) if bin(i).count("1") % 2 == 0]
CASES = ([(p, *s) for p in ("rosenbrock-2d", "quadratic", "mlp") for s in GRID]
         + [(p, *s) for p in ("rosenbrock-10d", "logistic", "least-squares") for s in HALF])


@pytest.mark.parametrize("problem,line_search_fn,lr,max_iter,history_size", CASES)
def test_parity_float64(problem, line_search_fn, lr, max_iter, history_size):
    kw = dict(lr=lr, max_iter=max_iter, history_size=history_size, line_search_fn=line_search_fn)
    assert_same_run(run(LBFGS, problem, **kw), run(torch.optim.LBFGS, problem, **kw))


@pytest.mark.parametrize("kw", [
    dict(max_iter=1), dict(max_iter=1, line_search_fn="strong_wolfe"),          # max_eval = 1: no search budget
    dict(max_iter=10, max_eval=4, line_search_fn="strong_wolfe"),                # the search runs out
    dict(tolerance_change=1e-4), dict(tolerance_grad=1e-2, line_search_fn="strong_wolfe"),
    dict(lr=torch.tensor(0.5)), dict(history_size=1, line_search_fn="strong_wolfe"),
], ids=str)
@pytest.mark.parametrize("problem", ["rosenbrock-2d", "mlp"])
def test_parity_edge_settings(problem, kw):
    assert_same_run(run(LBFGS, problem, n_steps=4, **kw), run(torch.optim.LBFGS, problem, n_steps=4, **kw))


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_parity_with_budget_changes_between_steps(line_search_fn):
    "optimize_image caps max_iter/max_eval of each step() to the evaluations left: parity must survive that."
    def cap(opt, i):
        opt.param_groups[0]["max_iter"] = [20, 7, 3, 1][i]
        opt.param_groups[0]["max_eval"] = [25, 8, 2, 1][i]
    kw = dict(line_search_fn=line_search_fn, between=cap, n_steps=4)
    assert_same_run(run(LBFGS, "rosenbrock-10d", **kw), run(torch.optim.LBFGS, "rosenbrock-10d", **kw))


def test_state_is_kept_and_restored():
    "Three steps in a row equal two steps, a state_dict round trip into a new optimiser, and one more step."
    fn, init = PROBLEMS["mlp"]
    def fresh(params): return LBFGS(params, line_search_fn="strong_wolfe", history_size=5)
    def closure_for(opt, params):
        def closure():
            opt.zero_grad(); loss = fn(*params); loss.backward(); return loss
        return closure
    a = [p.requires_grad_() for p in init()]
    opt_a = fresh(a)
    for _ in range(3): opt_a.step(closure_for(opt_a, a))
    b = [p.requires_grad_() for p in init()]
    opt_b = fresh(b)
    for _ in range(2): opt_b.step(closure_for(opt_b, b))
    c = [p.detach().clone().requires_grad_() for p in b]
    opt_c = fresh(c)
    opt_c.load_state_dict(opt_b.state_dict())
    opt_c.step(closure_for(opt_c, c))
    for pa, pc in zip(a, c): torch.testing.assert_close(pa, pc, rtol=0, atol=0)
    assert opt_c.state[c[0]]["n_iter"] == opt_a.state[a[0]]["n_iter"]


def test_channels_last_parameter():
    "A parameter in channels_last memory format (an image, say) is optimised exactly like a contiguous one."
    g = torch.Generator().manual_seed(3)
    target = torch.rand(1, 3, 6, 5, generator=g, **f64)
    def final(memory_format):
        x = torch.zeros(1, 3, 6, 5, **f64).to(memory_format=memory_format).requires_grad_()
        opt = LBFGS([x], line_search_fn="strong_wolfe")
        def closure():
            opt.zero_grad(); loss = ((x - target) ** 4).sum() + (x.diff(dim=-1) ** 2).sum(); loss.backward(); return loss
        for _ in range(2): opt.step(closure)
        return x.detach()
    a, b = final(torch.channels_last), final(torch.contiguous_format)
    assert a.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)  # sums run in another order: not bitwise


def test_written_from_scratch():
    assert issubclass(LBFGS, torch.optim.Optimizer) and not issubclass(LBFGS, torch.optim.LBFGS)


# ---- float32 and other devices ----

@pytest.mark.parametrize("kw", [dict(), dict(line_search_fn="strong_wolfe"), dict(history_size=3, max_iter=5),
                                dict(lr=0.5, line_search_fn="strong_wolfe")], ids=str)
def test_parity_float32(kw):
    "Scalars stay 0-d tensors in the parameters' dtype, as in torch: float32 runs match too."
    ours = run(LBFGS, "mlp-float32", **kw)
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in ours[-1]["params"])
    assert_same_run(ours, run(torch.optim.LBFGS, "mlp-float32", **kw))
    fn, init = PROBLEMS["mlp-float32"]
    assert fn(*ours[-1]["params"]) < 0.5 * fn(*init())


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_float32_rosenbrock_converges(line_search_fn):
    x = torch.tensor([-1.2, 1.0], requires_grad=True)
    opt = LBFGS([x], line_search_fn=line_search_fn)
    def closure():
        opt.zero_grad(); loss = rosenbrock(x); loss.backward(); return loss
    for _ in range(5): opt.step(closure)
    assert x.dtype == torch.float32
    torch.testing.assert_close(x.detach(), torch.ones(2), rtol=0, atol=1e-2)




@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("problem", ["mlp", "mlp-float32"])
@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_parity_cuda(problem, line_search_fn):
    ours = run(LBFGS, problem, line_search_fn=line_search_fn, device="cuda")
    assert all(p.is_cuda for p in ours[-1]["params"])
    assert_same_run(ours, run(torch.optim.LBFGS, problem, line_search_fn=line_search_fn, device="cuda"))


# ---- the pieces ----



def test_cubic_interpolate():
    phi, dphi = (lambda t: (t - 1.5) ** 3 - 4 * (t - 1.5)), (lambda t: 3 * (t - 1.5) ** 2 - 4)
    t_min = 1.5 + 2 / math.sqrt(3)
    for a, b in [(1.0, 4.0), (4.0, 1.0), (2.0, 3.0)]:
        assert math.isclose(cubic_interpolate(a, phi(a), dphi(a), b, phi(b), dphi(b)), t_min, rel_tol=1e-12)
    assert cubic_interpolate(0, 0, 1, 1, 2 / 3, 1) == 0.5                  # no minimum: bisect
    assert cubic_interpolate(1, 0, -1, 1, 0, -1, bounds=(1, 3)) == 2       # degenerate interval: no crash
    assert cubic_interpolate(0, 0, -1, 1, math.nan, 1) == 0.5             # a NaN loss: bisect, as torch does


@pytest.mark.parametrize("seed", range(5))
def test_strong_wolfe_conditions_hold(seed):
    fn = _quadratic(n=10, cond=100, seed=seed)
    x = torch.randn(10, generator=torch.Generator().manual_seed(seed), **f64)
    def evaluate(t):
        z = (x + t * d).requires_grad_(); loss = fn(z); loss.backward(); return loss.item(), z.grad
    x_req = x.clone().requires_grad_(); f0 = fn(x_req); f0.backward(); g0 = x_req.grad
    d = -g0
    for t0 in (1e-4, 1.0, 100.0):
        f, g, t, n = strong_wolfe(evaluate, t0, d, f0.item(), g0, float(g0 @ d))
        assert f <= f0.item() + 1e-4 * t * float(g0 @ d)
        assert abs(float(g @ d)) <= 0.9 * abs(float(g0 @ d))
        assert 1 <= n <= 26


# ---- bad input ----

def test_errors():
    x, y = torch.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="single parameter group"):
        LBFGS([{"params": [x]}, {"params": [y], "lr": 0.1}])
    with pytest.raises(ValueError, match="Unknown line_search_fn 'armijo'"):
        LBFGS([x], line_search_fn="armijo")
    with pytest.raises(ValueError, match="learning rate"):
        LBFGS([x], lr=-1)
    with pytest.raises(ValueError, match="history_size"):
        LBFGS([x], history_size=0)
    with pytest.raises(ValueError, match="real tensors"):
        LBFGS([torch.zeros(2, dtype=torch.complex64, requires_grad=True)])
    opt = LBFGS([x])
    with pytest.raises(ValueError, match="closure"):
        opt.step()
    opt.param_groups[0]["line_search_fn"] = "backtracking"
    with pytest.raises(ValueError, match="Unknown line_search_fn"):
        opt.step(lambda: (x ** 2).sum())
    with pytest.raises(ValueError, match="empty"):  # torch.optim.Optimizer's own check
        LBFGS([])
