"""Masks: mask images, the per-run mask plan, and the automatic OSD detector (auto/)."""
