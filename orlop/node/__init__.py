"""The node agent: what a kubelet does on one machine.

Why this exists: pods bound to a node must actually run there -- their volumes mounted,
their containers started, their status posted, ``kubectl exec`` and ``kubectl logs``
served -- and they must be stopped and cleaned up when deleted.  The package keeps the
kubelet's split: the agent (``agent``) decides, a runtime (``process`` or the
simulated one in ``runtime``) runs containers, ``volumes`` mounts storage, ``server``
serves exec and logs.  Importing the package is cheap: nothing heavy is imported here.
"""
