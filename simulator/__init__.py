"""The fleet simulator: devices with physics, injected faults and look-alike non-faults.

Work in progress (issue 4): the model (`fleet`, `faults`) is here; publishing through
the broker, the `devicecare simulate` command and its throughput target are not yet.
"""
