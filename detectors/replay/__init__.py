"""Univariate replay profiles: one series (a CSV, a NAB file) scored point by point."""
