"""Uncertainty-aware surrogates of the synthesis twin (see :mod:`.estimators`) and calibration metrics."""
