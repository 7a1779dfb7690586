"""extprec: gradient-flow trajectories of diagonal linear networks at any training accuracy.

Public API (everything else is an implementation module)::

    import extprec
    problem = extprec.Problem(X, y, depth=2, alpha=1.0)
    traj = extprec.solve(problem, log10_loss="-1e4")
    traj.checkpoints, traj.final, traj.status, traj.state_at(log10_loss=-50)
    extprec.save(traj, "run.json"); extprec.load("run.json")
    extprec.limits.l1_max_margin(problem)   # reference predictors of the limits
"""

from . import datasets as datasets
from . import limits as limits
from .driver import solve as solve
from .problem import Problem as Problem
from .problem import Separability as Separability
from .resume import ResumeError as ResumeError
from .results_io import load as load
from .results_io import save as save
from .trajectory import State as State
from .trajectory import Trajectory as Trajectory

__version__ = "0.1.0"

__all__ = ["Problem", "ResumeError", "Separability", "State", "Trajectory", "datasets", "limits",
           "load", "save", "solve", "__version__"]
