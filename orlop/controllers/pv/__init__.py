"""The PersistentVolume controller (binder): PVs and PVCs with Kubernetes' binding semantics.

Why this exists: binding a claim to a volume, releasing and reclaiming volumes, and
deciding when a claim needs dynamic provisioning is the heart of the storage control
plane.  Kubernetes does it in ``pkg/controller/volume/persistentvolume``; orlop does the
same, split in two so each half can be tested and reasoned about alone:

- :mod:`orlop.controllers.pv.decide` -- the pure decision logic (objects in, a
  ``Decision`` of writes, events and backend operations out; no I/O);
- the controller that watches PVs, PVCs and StorageClasses, calls the decisions and
  executes them through the API.
"""
