"""Scheduled VolumeSnapshots (orlop.io/v1alpha1 SnapshotSchedule): seed 000's 定时备份 as a controller."""

from .controller import SnapshotScheduleController

__all__ = ["SnapshotScheduleController"]
