"""NOCS mAP evaluation: metrics matching the reference evaluator, tables, JSON and AP plots."""

from dualposenet_ros.evaluation.command import load_results
from dualposenet_ros.evaluation.metrics import (
    METRIC_KEYS,
    EvaluationResult,
    ResultsFormatError,
    evaluate_results,
)

__all__ = ["METRIC_KEYS", "EvaluationResult", "ResultsFormatError", "evaluate_results", "load_results"]
