"""The live per-device path: fault rules, the river anomaly model, findings and the worker.

Nothing here imports the simulator: the lab (`detectors.lab`) feeds simulated fleets in.
"""
