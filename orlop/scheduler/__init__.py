"""Pod scheduling: which node each pending pod runs on (``decide``: the rules; ``scheduler``: the controller).

Why this exists: orlop runs pods for its storage flows (StatefulSets with volume claim
templates), and where a pod runs decides where its local volumes live; this package is
orlop's kube-scheduler.
"""

from .scheduler import Scheduler

__all__ = ["Scheduler"]
