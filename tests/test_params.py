"""The shared hyperparameter schema (gnn_unlearn/params.py) used by methods and attacks."""
import math

import pytest

from gnn_unlearn.params import POSITIVE, check_hyperparameters, checks_hyperparameters


class _Options:
    name = "toy"
    param_rules = {"width": POSITIVE}
    param_choices = {"mode": ("a", "b")}

    def __init__(self, epochs: int = 3, lr: float = 0.1, width: float = 1.0, mode: str = "a",
                 fanouts: list[int] | None = None, flag: bool = False):
        self.epochs, self.lr, self.width, self.mode, self.fanouts, self.flag = epochs, lr, width, mode, fanouts, flag


checks_hyperparameters(_Options)


@pytest.mark.parametrize("kw, err, msg", [
    ({"epochs": 2.0}, TypeError, "toy: hyperparameter epochs=2.0 has type float; expected int"),
    ({"epochs": 0}, ValueError, "epochs=0 is out of range; it must be >= 1"),
    ({"lr": True}, TypeError, "lr=True has type bool"),
    ({"lr": math.inf}, ValueError, "lr=inf must be a finite number"),
    ({"lr": 0}, ValueError, "lr=0 is out of range; it must be > 0"),
    ({"width": -1.0}, ValueError, "width=-1.0 is out of range"),           # the class's own rule
    ({"mode": "c"}, ValueError, r"mode='c' is not one of \('a', 'b'\)"),
    ({"mode": ["a"]}, TypeError, "mode=\\['a'\\] has type list"),
    ({"lr": None}, ValueError, "lr=None is not allowed; give a value"),
    ({"flag": 1}, TypeError, "flag=1 has type int; expected bool"),
])
def test_every_construction_is_checked(kw, err, msg):
    with pytest.raises(err, match=msg):
        _Options(**kw)


def test_good_values_pass_and_ints_count_as_floats():
    o = _Options(epochs=5, lr=1, width=2, mode="b", fanouts=[10, 5], flag=True)
    assert (o.epochs, o.lr, o.mode, o.fanouts) == (5, 1, "b", [10, 5])
    check_hyperparameters(_Options, {"unknown_name": object()})     # not a parameter: not checked here
