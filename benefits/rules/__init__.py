"""The rule language v1: documents, validation, compilation to durable_rules, evaluation.

No HTTP here: the services and the CLI use it, and so do the tests and benches.
"""
from .document import RULE_SCHEMA, diff_documents, line_of, load_document, parse_document, validate_document
from .program import Award, Grant, Program, ProfileAnswer, RewardOption, compile_program

__all__ = ["RULE_SCHEMA", "Award", "Grant", "Program", "ProfileAnswer", "RewardOption", "compile_program",
           "diff_documents", "line_of", "load_document", "parse_document", "validate_document"]
