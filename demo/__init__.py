"""The end-to-end demo: a simulated fleet through every part of DeviceCare."""
