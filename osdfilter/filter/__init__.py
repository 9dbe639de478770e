"""The frame filter: tiles around the mask, the classical fill, the model, compositing;
scene cuts and per-frame masks around it."""
