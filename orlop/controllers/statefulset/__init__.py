"""The StatefulSet controller (Kubernetes' pkg/controller/statefulset, in Python).

Why this exists: StatefulSets are how the seeds' users run storage-backed workloads;
this package gives them their behaviour: stable pod names and claims, ordered or parallel
creation and scale-down, rolling updates with revisions, claim retention and status.

- ``history``: ControllerRevision naming and hashing;
- ``identity``: pod and claim identity, health, claim ownership for retention;
- ``decide``: the pure decision (objects in, a plan of writes out);
- ``controller``: ``StatefulSetController(client, informers)`` that runs the plans.
"""

from .controller import StatefulSetController

__all__ = ["StatefulSetController"]
