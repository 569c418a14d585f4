"""Scoring: how consistent an output is with its source, for review.

identity (SFace similarity between the source's face and the output's, with the drift threshold),
structure (SSIM on luma at a fixed working size) and review (one record per output, sorting a batch).
Models load lazily on first use; importing this package loads nothing.
"""
