"""routes.yaml at the bottom of the gateway: its schema, each backend kind's spec, loading, the table."""

from gateway.spec.backends import BackendSpec, KindSpec, LlamaCppSpec, OpenAISpec, VLLMSpec
from gateway.spec.load import load_routes, parse_routes
from gateway.spec.schema import (
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
from gateway.spec.table import Route, RouteTable, compile_routes, redacted

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
