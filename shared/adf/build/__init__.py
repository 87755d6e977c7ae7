"""Build ADF's publish output (ARM templates) from the factory JSON of a commit, like ADF's Publish."""

from .builder import BuildResult, build_factory, build_source, validate_factory
from .source import FactorySource, FactoryValidationError, Problem, read_source

__all__ = ["BuildResult", "FactorySource", "FactoryValidationError", "Problem", "build_factory", "build_source",
           "read_source", "validate_factory"]
