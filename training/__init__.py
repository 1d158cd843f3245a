"""Offline model work: datasets, labels, training, evaluation, export, anomaly fitting."""
