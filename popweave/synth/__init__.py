"""A synthetic city with social-determinant gradients and planted, documented truths."""

from popweave.synth.city import City, build_city
from popweave.synth.params import CONDITIONS, Params

__all__ = ["CONDITIONS", "City", "Params", "build_city"]
