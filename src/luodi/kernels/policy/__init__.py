"""The points policy engine: a YAML document compiled once, scored over a whole population.

``load_policy`` checks a document; ``CompiledPolicy`` scores frames (Polars) and single rows
(plain Python, the reference); ``prepare_inputs`` types raw inputs; ``explain`` and
``compare`` turn scores into what people read.
"""

from luodi.kernels.policy.document import Indicator, Policy, load_policy
from luodi.kernels.policy.engine import KEY, TOTAL, ArrowScorer, CompiledPolicy, RowScore
from luodi.kernels.policy.inputs import prepare_inputs
from luodi.kernels.policy.problems import ColumnProblem, InputError, PolicyError, PolicyProblem

__all__ = [
    "KEY",
    "TOTAL",
    "ArrowScorer",
    "ColumnProblem",
    "CompiledPolicy",
    "Indicator",
    "InputError",
    "Policy",
    "PolicyError",
    "PolicyProblem",
    "RowScore",
    "load_policy",
    "prepare_inputs",
]
