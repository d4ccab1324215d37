"""Volume snapshots (snapshot.storage.k8s.io/v1): the common snapshot controller and the CSI
snapshotter sidecar's part in one, since orlop's drivers run in process (see decide.py)."""

from .controller import SnapshotController

__all__ = ["SnapshotController"]
