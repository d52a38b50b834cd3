"""The detectors' lab: backtests on simulated fleets and their evaluation.

The only part of `detectors` that may import the simulator.
"""
