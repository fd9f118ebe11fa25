"""gca_lite: a reproducible companion to "Cross-attention Secretly Performs Orthogonal Alignment
in Recommendation Models" (Lee et al., arXiv 2510.09435), built on the ABXI base model."""

__version__ = "0.1.0"
