"""``--mask auto`` at run time: the detector, its pixel classifier and component scorer
(trained by osdfilter.train.automask)."""
