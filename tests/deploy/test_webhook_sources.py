"""Who can reach the webhook (issue 24, item 1), on the CloudFormation the SAM transform
produces: the REST API's resource policy admits only Stripe's published webhook source
addresses to `POST /v1/payments/webhook` (the StripeWebhookSourceIps parameter; empty = open,
for dev), and every other route stays open to any address (the API key guards those). The
webhook is told its stage's Stripe mode (STRIPE_LIVEMODE).

The policy is evaluated here as API Gateway evaluates a resource policy for an API without IAM
auth: a request is let through only if some statement allows it and none denies it.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re

import pytest
from conftest import translate
from test_template import rest_api_body

# Two of the addresses Stripe publishes (https://stripe.com/files/ips/ips_webhooks.txt).
STRIPE_IPS = ["3.18.12.63", "3.130.192.231"]
ELSEWHERE = ["203.0.113.10", "2001:db8::1"]


def resolve(value, params: dict, conditions: dict):
    """The template value with Ref (to parameters), Fn::If, Fn::Join, Fn::Equals, Fn::Not
    worked out, as CloudFormation would for these parameters."""
    if isinstance(value, list):
        return [resolve(v, params, conditions) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"} and value["Ref"] in params:
        return params[value["Ref"]]
    if set(value) == {"Fn::If"}:
        name, yes, no = value["Fn::If"]
        return resolve(yes if holds(name, params, conditions) else no, params, conditions)
    if set(value) == {"Fn::Join"}:
        sep, parts = value["Fn::Join"]
        parts = resolve(parts, params, conditions)
        return sep.join(parts)
    if set(value) == {"Fn::Split"}:
        sep, text = value["Fn::Split"]
        return resolve(text, params, conditions).split(sep)
    if set(value) == {"Fn::Equals"}:
        a, b = resolve(value["Fn::Equals"], params, conditions)
        return a == b
    if set(value) == {"Fn::Not"}:
        return not resolve(value["Fn::Not"][0], params, conditions)
    if set(value) == {"Condition"}:
        return holds(value["Condition"], params, conditions)
    return {k: resolve(v, params, conditions) for k, v in value.items()}


def holds(name: str, params: dict, conditions: dict) -> bool:
    return bool(resolve(conditions[name], params, conditions))


def parameters(cfn: dict, overrides: dict) -> dict:
    out = {}
    for name, spec in cfn["Parameters"].items():
        out[name] = overrides.get(name, spec.get("Default"))
    return out


def admitted(statements: list, method: str, path: str, ip: str) -> bool:
    """API Gateway's verdict on `method path` from `ip` (stage `dev`)."""
    arn = f"execute-api:/dev/{method}{path}"
    address = ipaddress.ip_address(ip)

    def applies(statement) -> bool:
        resources = statement["Resource"]
        resources = resources if isinstance(resources, list) else [resources]
        if not any(fnmatch.fnmatchcase(arn, r) for r in resources):
            return False
        assert statement["Principal"] == "*"
        assert statement["Action"] == "execute-api:Invoke"
        for operator, tests in statement.get("Condition", {}).items():
            assert set(tests) == {"aws:SourceIp"}, tests
            ranges = tests["aws:SourceIp"]
            ranges = ranges if isinstance(ranges, list) else [ranges]
            inside = any(address in ipaddress.ip_network(r, strict=False) for r in ranges)
            if operator == "IpAddress" and not inside:
                return False
            if operator == "NotIpAddress" and inside:
                return False
            assert operator in ("IpAddress", "NotIpAddress"), operator
        return True

    allowed = any(s["Effect"] == "Allow" and applies(s) for s in statements)
    denied = any(s["Effect"] == "Deny" and applies(s) for s in statements)
    return allowed and not denied


def policy(sam_template: dict, overrides: dict) -> list:
    """The resource policy as deployed with these parameters (the SAM transform substitutes
    the parameter's value itself; `resolve` does what is left to CloudFormation)."""
    cfn = translate(sam_template, overrides)
    body = rest_api_body(cfn["Resources"])
    assert "x-amazon-apigateway-policy" in body, "the REST API has no resource policy"
    params = parameters(cfn, overrides)
    doc = resolve(body["x-amazon-apigateway-policy"], params, cfn.get("Conditions", {}))
    return doc["Statement"] if isinstance(doc["Statement"], list) else [doc["Statement"]]


def test_the_source_list_is_a_parameter_empty_by_default(sam_template):
    cfn = translate(sam_template)
    spec = cfn["Parameters"]["StripeWebhookSourceIps"]
    assert spec["Type"] == "String"
    assert spec["Default"] == ""
    assert "stripe.com/files/ips/ips_webhooks" in spec["Description"]
    pattern = spec["AllowedPattern"]
    for good in ["", ",".join(STRIPE_IPS), "3.18.12.0/24,2001:db8::/32"]:
        assert re.fullmatch(pattern, good), good
    for bad in ["3.18.12.63, 3.130.192.231", "stripe.com", "3.18.12.63,", "*"]:
        assert not re.fullmatch(pattern, bad), bad


def test_only_stripe_addresses_reach_the_webhook_route(sam_template):
    statements = policy(sam_template, {"StripeWebhookSourceIps": ",".join(STRIPE_IPS)})
    for ip in STRIPE_IPS:
        assert admitted(statements, "POST", "/v1/payments/webhook", ip), ip
    for ip in ELSEWHERE:
        assert not admitted(statements, "POST", "/v1/payments/webhook", ip), ip
    # The other routes are for our own clients wherever they are (X-API-Key guards them).
    for ip in STRIPE_IPS + ELSEWHERE:
        assert admitted(statements, "POST", "/v1/bookings", ip), ip
        assert admitted(statements, "GET", "/v1/assets/a/availability", ip), ip
        assert admitted(statements, "POST", "/v1/payments/create-intent", ip), ip


def test_an_empty_source_list_leaves_the_webhook_open_for_dev(sam_template):
    statements = policy(sam_template, {})
    for ip in STRIPE_IPS + ELSEWHERE:
        assert admitted(statements, "POST", "/v1/payments/webhook", ip), ip
        assert admitted(statements, "GET", "/v1/bookings", ip), ip


@pytest.mark.parametrize("stage, livemode", [("dev", "false"), ("prod", "true")])
def test_the_webhook_knows_its_stripe_mode_by_stage(sam_template, stage, livemode):
    cfn = translate(sam_template, {"Stage": stage})
    env = cfn["Resources"]["WebhookFunction"]["Properties"]["Environment"]["Variables"]
    params = parameters(cfn, {"Stage": stage})
    assert resolve(env["STRIPE_LIVEMODE"], params, cfn.get("Conditions", {})) == livemode


def test_the_function_url_comment_claims_no_throttle():
    from conftest import TEMPLATE

    text = TEMPLATE.read_text()
    # The Function URL reaches Lambda directly: no API Gateway throttle applies to it.
    assert "forged floods beyond it get 429 before any Lambda runs" not in text
    assert "Function URL" in text and "no throttle" in text


def test_a_refused_source_gets_a_plain_403_detail(resources):
    # API Gateway's own text for a policy denial names the API's ARN (the account id).
    responses = rest_api_body(resources)["x-amazon-apigateway-gateway-responses"]
    denied = responses.get("ACCESS_DENIED")
    assert denied, "no ACCESS_DENIED gateway response: DEFAULT_4XX would echo the ARN"
    assert denied["statusCode"] == "403"
    assert denied["responseTemplates"] == {"application/json": '{"detail": "Forbidden"}'}
