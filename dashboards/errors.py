"""Errors of the dashboards package, under the project's one base class."""

from __future__ import annotations

from devicecare.errors import DeviceCareError


class DashboardError(DeviceCareError):
    """A dashboard cannot be built, checked or pushed; the message names which and why."""
