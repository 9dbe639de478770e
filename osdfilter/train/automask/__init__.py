"""Training of the mask classifiers of ``--mask auto`` (osdfilter.masks.auto runs them)."""
