"""routes.yaml at the bottom of the gateway: its schema, each backend kind's spec, loading, the table."""

from gateway.rules.backends import BackendSpec, KindSpec, LlamaCppSpec, OpenAISpec, SGLangSpec, VLLMSpec
from gateway.rules.load import load_routes, parse_routes
from gateway.rules.schema import (
    POLICIES,
    BreakerSpec,
    ClassifierSpec,
    CostSpec,
    EstimatorSpec,
    HealthSpec,
    HedgeSpec,
    PolicyName,
    Price,
    RetrySpec,
    RoutesFile,
    RouteSpec,
    ShadowSpec,
    TenantSpec,
    TierSpec,
    VerifySpec,
)
from gateway.rules.table import Route, RouteTable, compile_routes, redacted

__all__ = [
    "POLICIES",
    "BackendSpec",
    "BreakerSpec",
    "ClassifierSpec",
    "CostSpec",
    "EstimatorSpec",
    "HealthSpec",
    "HedgeSpec",
    "KindSpec",
    "LlamaCppSpec",
    "OpenAISpec",
    "PolicyName",
    "Price",
    "RetrySpec",
    "Route",
    "RouteSpec",
    "RouteTable",
    "RoutesFile",
    "SGLangSpec",
    "ShadowSpec",
    "TenantSpec",
    "TierSpec",
    "VLLMSpec",
    "VerifySpec",
    "compile_routes",
    "load_routes",
    "parse_routes",
    "redacted",
]
