"""Offline checks of template.yaml, mostly on the CloudFormation the SAM transform produces.

What is asserted here is what API Gateway, Lambda, IAM and DynamoDB will actually be given:
API-key auth per route, the `{"detail": ...}` error bodies API Gateway answers itself, the
public webhook, least-privilege IAM per function, table keys matching the Rust code.
"""

from __future__ import annotations

import copy
import json
import re
import tomllib

import pytest
from conftest import ROOT, TEMPLATE, translate

# ----------------------------------------------------------------------------- expectations

FUNCTIONS = {
    # logical id: (cargo binary, Lambda timeout in seconds)
    "BookingsFunction": ("bookings", 15),
    "CreateIntentFunction": ("create-intent", 15),
    "WebhookFunction": ("webhook", 10),
    "ReconcileFunction": ("reconcile", 120),
}

ROUTES = {
    ("POST", "/v1/bookings"): "BookingsFunction",
    ("GET", "/v1/bookings"): "BookingsFunction",
    ("GET", "/v1/bookings/{id}"): "BookingsFunction",
    ("POST", "/v1/bookings/{id}/cancel"): "BookingsFunction",
    ("POST", "/v1/bookings/{id}/refunds"): "BookingsFunction",
    ("GET", "/v1/bookings/{id}/receipt"): "BookingsFunction",
    ("POST", "/v1/bookings/{id}/check-in"): "BookingsFunction",
    ("GET", "/v1/assets/{asset_id}/availability"): "BookingsFunction",
    ("PUT", "/v1/tariffs/{tariff_id}"): "BookingsFunction",
    ("GET", "/v1/tariffs/{tariff_id}"): "BookingsFunction",
    ("PUT", "/v1/assets/{asset_id}/tariff"): "BookingsFunction",
    ("PUT", "/v1/asset-types/{asset_type}/tariff"): "BookingsFunction",
    ("GET", "/v1/assets/{asset_id}/quote"): "BookingsFunction",
    ("POST", "/v1/payments/create-intent"): "CreateIntentFunction",
    ("POST", "/v1/payments/capture"): "CreateIntentFunction",
    ("POST", "/v1/payments/webhook"): "WebhookFunction",
}
# Stripe authenticates with its signature; every other route needs X-API-Key.
ROUTES_WITHOUT_API_KEY = {("POST", "/v1/payments/webhook")}

USER_INDEX = "user_id-created_at-index"
# PAYMENT_STATUS_INDEX in shared/src/adapters/dynamo/reconcile.rs: reconciliation's sweep.
PAYMENT_STATUS_INDEX = "payment_status-updated_at-index"
SECRET = "Ref:StripeSecretArn"
WEBHOOK_SECRET = "Ref:StripeWebhookSecretArn"

# Exactly the DynamoDB actions each function's role may use, per table (or index) ARN. A table
# that is absent is a table the function must not be granted at all.
# What each function's handlers do on which table, recorded from the code: the local stack
# gives each function its own DynamoDB client and records every request's table and IAM
# action across the integration tests (local/src/dynamo_access.rs; `make dynamo-access`
# writes the file, and the integration tests fail on an access it does not hold).
DYNAMO_ACCESS_FILE = ROOT / "tests" / "deploy" / "dynamo_access.json"
TABLE_IDS = {"bookings": "BookingsTable", "booking-slots": "SlotsTable",
             "idempotency": "IdempotencyTable", "stripe-events": "EventsTable",
             "tariffs": "TariffsTable"}  # fmt: skip


def recorded_grants() -> dict:
    recorded = json.loads(DYNAMO_ACCESS_FILE.read_text())
    binaries = {binary: logical_id for logical_id, (binary, _) in FUNCTIONS.items()}
    grants = {}
    for binary, resources in recorded.items():
        granted = grants.setdefault(binaries[binary], {})
        for resource, actions in resources.items():
            table, _, index = resource.partition("/index/")
            name = TABLE_IDS[table] + (f"/index/{index}" if index else "")
            granted[name] = set(actions)
    return grants


# Granted ahead of an integration test that makes the access: create-intent can expire a
# booking whose hold passed through the webhook's event code (capture applying what Stripe
# answered, and issue 20's expiry rule), a path no integration test takes yet. Each entry must
# stay unrecorded (test below): once a test makes the access, it moves to the record.
GRANTED_AHEAD: dict = {}


def merged(recorded: dict, ahead: dict) -> dict:
    grants = copy.deepcopy(recorded)
    for function, resources in ahead.items():
        for resource, actions in resources.items():
            grants.setdefault(function, {}).setdefault(resource, set()).update(actions)
    return grants


DYNAMODB_GRANTS = merged(recorded_grants(), GRANTED_AHEAD)


def test_grants_ahead_of_a_test_are_not_recorded_yet():
    recorded = recorded_grants()
    assert set(recorded) == set(FUNCTIONS), "every function's handlers were recorded"
    for function, resources in GRANTED_AHEAD.items():
        for resource, actions in resources.items():
            assert not actions & recorded.get(function, {}).get(resource, set()), (
                f"{function} {resource} {actions} is recorded now: drop it from GRANTED_AHEAD"
            )

COMMON_ENV = {
    "RUST_LOG": "info",
    "AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH": "true",
}
# The functions that call Stripe; the webhook never does and holds only the signing secrets.
STRIPE_ENV = {
    "STRIPE_API_BASE": {"Ref": "StripeApiBase"},
    "STRIPE_SECRET_ARN": {"Ref": "StripeSecretArn"},
}
# Every function that decides whether a booking's hold ended reads the 3-D Secure grace (issue
# 20): the webhook never does (it makes no Stripe call, and only a cancelled intent expires a
# booking there).
AUTH_GRACE_ENV = {"BOOKING_AUTH_GRACE_SECONDS": "600"}
ENVIRONMENT = {
    "BookingsFunction": {
        **COMMON_ENV,
        **STRIPE_ENV,
        "BOOKINGS_TABLE": {"Ref": "BookingsTable"},
        "SLOTS_TABLE": {"Ref": "SlotsTable"},
        "IDEMPOTENCY_TABLE": {"Ref": "IdempotencyTable"},
        # A takeover of a passed hold records Stripe's answer as the webhook would (issue 20).
        "EVENTS_TABLE": {"Ref": "EventsTable"},
        "TARIFFS_TABLE": {"Ref": "TariffsTable"},
        # How long an unpaid booking holds its slot (issue 13); 0: holds never expire.
        "BOOKING_HOLD_SECONDS": "900",
        **AUTH_GRACE_ENV,
    },
    "CreateIntentFunction": {
        **COMMON_ENV,
        **STRIPE_ENV,
        "BOOKINGS_TABLE": {"Ref": "BookingsTable"},
        "SLOTS_TABLE": {"Ref": "SlotsTable"},
        "EVENTS_TABLE": {"Ref": "EventsTable"},
        **AUTH_GRACE_ENV,
    },
    "WebhookFunction": {
        **COMMON_ENV,
        "STRIPE_WEBHOOK_SECRET_ARN": {"Ref": "StripeWebhookSecretArn"},
        # The stage's Stripe mode (test_webhook_sources.py).
        "STRIPE_LIVEMODE": {"Fn::If": ["IsProd", "true", "false"]},
        "BOOKINGS_TABLE": {"Ref": "BookingsTable"},
        "SLOTS_TABLE": {"Ref": "SlotsTable"},
        "EVENTS_TABLE": {"Ref": "EventsTable"},
    },
    "ReconcileFunction": {
        **COMMON_ENV,
        **STRIPE_ENV,
        "BOOKINGS_TABLE": {"Ref": "BookingsTable"},
        "SLOTS_TABLE": {"Ref": "SlotsTable"},
        "EVENTS_TABLE": {"Ref": "EventsTable"},
        "EXPIRING_HOLD_POLICY": {"Ref": "ExpiringHoldPolicy"},
        "CAPTURE_SAFETY_MARGIN_SECONDS": {"Ref": "CaptureSafetyMarginSeconds"},
        **AUTH_GRACE_ENV,
    },
}

# Mirrors `ensure_tables` in local/src/tables.rs, which creates the local stack's tables (named
# by the defaults of `Tables::from_env` in shared/src/runtime/config.rs). The events table is the one
# the webhook dedupes Stripe event ids in. Keep the two in step: a key the code expects and the
# template does not create fails on AWS only.
RUST_TABLES = {
    "bookings": {
        "hash": "id",
        "range": None,
        "attributes": {
            "id": "S", "user_id": "S", "created_at": "S", "payment_status": "S", "updated_at": "S",
        },
        "indexes": {
            USER_INDEX: {"hash": "user_id", "range": "created_at", "projection": "ALL"},
            PAYMENT_STATUS_INDEX: {
                "hash": "payment_status", "range": "updated_at", "projection": "INCLUDE",
            },
        },
        "ttl": None,
    },
    "booking-slots": {
        "hash": "pk",
        "range": None,
        "attributes": {"pk": "S"},
        "indexes": {},
        "ttl": None,
    },
    "idempotency": {
        "hash": "pk",
        "range": None,
        "attributes": {"pk": "S"},
        "indexes": {},
        "ttl": "expires_at",
    },
    "stripe-events": {
        "hash": "pk",
        "range": None,
        "attributes": {"pk": "S"},
        "indexes": {},
        "ttl": "expires_at",
    },
    "tariffs": {
        "hash": "pk",
        "range": None,
        "attributes": {"pk": "S"},
        "indexes": {},
        "ttl": None,
    },
}
# Rust default table name -> (template logical id, env var the functions read it from).
TABLES = {
    "bookings": ("BookingsTable", "BOOKINGS_TABLE"),
    "booking-slots": ("SlotsTable", "SLOTS_TABLE"),
    "idempotency": ("IdempotencyTable", "IDEMPOTENCY_TABLE"),
    "stripe-events": ("EventsTable", "EVENTS_TABLE"),
    "tariffs": ("TariffsTable", "TARIFFS_TABLE"),
}

# Every gateway response type API Gateway (REST) knows; anything else is a typo (e.g. "API_KEY"
# for INVALID_API_KEY) that would silently leave API Gateway's default body in place.
GATEWAY_RESPONSE_TYPES = {
    "ACCESS_DENIED", "API_CONFIGURATION_ERROR", "AUTHORIZER_CONFIGURATION_ERROR",
    "AUTHORIZER_FAILURE", "BAD_REQUEST_PARAMETERS", "BAD_REQUEST_BODY", "DEFAULT_4XX",
    "DEFAULT_5XX", "EXPIRED_TOKEN", "INTEGRATION_FAILURE", "INTEGRATION_TIMEOUT",
    "INVALID_API_KEY", "INVALID_SIGNATURE", "MISSING_AUTHENTICATION_TOKEN", "QUOTA_EXCEEDED",
    "REQUEST_TOO_LARGE", "RESOURCE_NOT_FOUND", "THROTTLED", "UNAUTHORIZED",
    "UNSUPPORTED_MEDIA_TYPE", "WAF_FILTERED",
}  # fmt: skip

SAM_MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
}

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "x-amazon-apigateway-any-method"}


# ----------------------------------------------------------------------------- helpers


def of_type(resources: dict, type_: str) -> dict:
    return {k: v for k, v in resources.items() if v["Type"] == type_}


def rest_api_body(resources: dict) -> dict:
    apis = of_type(resources, "AWS::ApiGateway::RestApi")
    assert len(apis) == 1, f"expected one REST API, got {sorted(apis)}"
    return next(iter(apis.values()))["Properties"]["Body"]


def operations(body: dict):
    for path, item in body["paths"].items():
        for method, op in item.items():
            if method in HTTP_METHODS:
                yield ("ANY" if method.endswith("any-method") else method.upper()), path, op


def routes_missing_api_key(resources: dict) -> set:
    """Routes that must require X-API-Key but do not (or vice versa for the webhook)."""
    wrong = set()
    for method, path, op in operations(rest_api_body(resources)):
        requires_key = op.get("security") == [{"api_key": []}]
        if requires_key == ((method, path) in ROUTES_WITHOUT_API_KEY):
            wrong.add((method, path))
    return wrong


def integration_function(op: dict) -> str:
    uri = op["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
    match = re.search(r"\$\{(\w+)\.Arn\}", uri)
    assert match, uri
    return match.group(1)


def as_list(value):
    return value if isinstance(value, list) else [value]


def resource_id(arn) -> str:
    """A policy Resource as a short name: table logical id, table/index/<name>, or Ref:<param>."""
    if isinstance(arn, str):
        assert "*" not in arn, f"wildcard resource {arn!r}"
        return arn
    if "Fn::GetAtt" in arn and arn["Fn::GetAtt"][1] == "Arn":
        return arn["Fn::GetAtt"][0]
    if "Fn::Sub" in arn and isinstance(arn["Fn::Sub"], str):
        sub = arn["Fn::Sub"]
        assert "*" not in sub, f"wildcard resource {sub!r}"
        match = re.fullmatch(r"\$\{(\w+)\.Arn\}(/index/[\w.-]+)", sub)
        assert match, f"unexpected resource {sub!r}"
        return match.group(1) + match.group(2)
    if "Ref" in arn:
        return f"Ref:{arn['Ref']}"
    raise AssertionError(f"unexpected resource {arn!r}")


def grants(resources: dict, function_id: str) -> dict[str, dict[str, set[str]]]:
    """{service: {resource: {actions}}} from the function role's inline policies."""
    role_id = resources[function_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    role = resources[role_id]["Properties"]
    out: dict[str, dict[str, set[str]]] = {}
    for policy in role.get("Policies", []):
        for statement in as_list(policy["PolicyDocument"]["Statement"]):
            assert statement["Effect"] == "Allow"
            assert not {"NotAction", "NotResource", "NotPrincipal"} & statement.keys(), statement
            for action in as_list(statement["Action"]):
                assert "*" not in action, f"{function_id}: wildcard action {action!r}"
                service, name = action.split(":")
                for arn in as_list(statement["Resource"]):
                    out.setdefault(service, {}).setdefault(resource_id(arn), set()).add(name)
    return out


def detail_body(template: str) -> dict:
    """A gateway response template as JSON; `$context.error.messageString` is API Gateway's
    already-quoted message, so it stands for a JSON string."""
    return json.loads(template.replace("$context.error.messageString", '"message"'))


def sub_suffix(value, prefix: str) -> str:
    """`Fn::Sub` text after the given prefix, e.g. sub_suffix(x, "${AWS::StackName}-")."""
    assert isinstance(value, dict) and "Fn::Sub" in value, value
    text = value["Fn::Sub"]
    assert text.startswith(prefix), text
    return text[len(prefix) :]


# ----------------------------------------------------------------------------- API Gateway


def test_exactly_the_documented_routes_exist_and_reach_their_function(resources):
    seen = {
        (method, path): integration_function(op)
        for method, path, op in operations(rest_api_body(resources))
    }
    assert seen == ROUTES
    assert not of_type(resources, "AWS::ApiGatewayV2::Api"), "API keys need a REST API"


def test_every_route_requires_the_api_key_except_the_webhook(resources):
    body = rest_api_body(resources)
    for method, path, op in operations(body):
        if (method, path) in ROUTES_WITHOUT_API_KEY:
            assert not op.get("security"), f"{method} {path} must not require an API key"
        else:
            assert op.get("security") == [{"api_key": []}], f"{method} {path}: {op.get('security')}"
    assert routes_missing_api_key(resources) == set()
    scheme = body["components"]["securitySchemes"]["api_key"]
    assert scheme == {"type": "apiKey", "name": "x-api-key", "in": "header"}


def test_a_missing_or_wrong_api_key_is_401_invalid_api_key(resources):
    responses = rest_api_body(resources)["x-amazon-apigateway-gateway-responses"]
    # Missing and wrong keys are both INVALID_API_KEY (403 "Forbidden" by default on AWS).
    invalid_key = responses["INVALID_API_KEY"]
    assert invalid_key["statusCode"] == "401"
    assert json.loads(invalid_key["responseTemplates"]["application/json"]) == {
        "detail": "Invalid API key"
    }


def test_api_gateway_errors_have_the_detail_shape(resources):
    responses = rest_api_body(resources)["x-amazon-apigateway-gateway-responses"]
    assert set(responses) <= GATEWAY_RESPONSE_TYPES, set(responses) - GATEWAY_RESPONSE_TYPES
    required = {
        "INVALID_API_KEY": "401",
        "MISSING_AUTHENTICATION_TOKEN": "404",  # unknown route
        "THROTTLED": "429",
        "QUOTA_EXCEEDED": "429",
        "REQUEST_TOO_LARGE": "413",
        "DEFAULT_4XX": None,
        "DEFAULT_5XX": None,
    }
    for name, status in required.items():
        assert name in responses, f"gateway response {name} missing"
        assert responses[name].get("statusCode") == status, name
    for name, response in responses.items():
        templates = response["responseTemplates"]
        assert set(templates) == {"application/json"}, name
        body = detail_body(templates["application/json"])
        assert set(body) == {"detail"} and isinstance(body["detail"], str), (name, body)
    assert detail_body(
        responses["MISSING_AUTHENTICATION_TOKEN"]["responseTemplates"]["application/json"]
    ) == {"detail": "Not found"}


def test_usage_plan_throttles_the_generated_key_and_stage(resources):
    (plan_id, plan), = of_type(resources, "AWS::ApiGateway::UsagePlan").items()
    (api_id,) = of_type(resources, "AWS::ApiGateway::RestApi")
    (stage_id, stage), = of_type(resources, "AWS::ApiGateway::Stage").items()
    props = plan["Properties"]
    assert props["ApiStages"] == [{"ApiId": {"Ref": api_id}, "Stage": {"Ref": stage_id}}]
    assert props["Throttle"]["BurstLimit"] > 0 and props["Throttle"]["RateLimit"] > 0
    (key_id, key), = of_type(resources, "AWS::ApiGateway::ApiKey").items()
    assert key["Properties"]["Enabled"] is True
    assert "Value" not in key["Properties"], "the key value is generated, never in the template"
    (link,) = of_type(resources, "AWS::ApiGateway::UsagePlanKey").values()
    assert link["Properties"]["KeyId"] == {"Ref": key_id}
    assert link["Properties"]["UsagePlanId"] == {"Ref": plan_id}
    # The stage: named after the Stage parameter, traced, throttled as a whole (the key-less
    # webhook route is not covered by the usage plan).
    stage = stage["Properties"]
    assert stage["StageName"] == {"Ref": "Stage"}
    assert stage["TracingEnabled"] is True
    settings, webhook = stage["MethodSettings"]
    assert settings["ResourcePath"] == "/*" and settings["HttpMethod"] == "*"
    assert settings["ThrottlingBurstLimit"] > 0 and settings["ThrottlingRateLimit"] > 0
    # The public webhook route has its own, lower limit (issue 15): forged floods get 429 from
    # API Gateway before any Lambda runs.
    assert (webhook["ResourcePath"], webhook["HttpMethod"]) == ("/~1v1~1payments~1webhook", "POST")
    assert webhook["ThrottlingRateLimit"] == {"Ref": "WebhookThrottleRateLimit"}
    assert webhook["ThrottlingBurstLimit"] == {"Ref": "WebhookThrottleRateLimit"}


# ----------------------------------------------------------------------------- webhook URL


def test_webhook_has_a_public_function_url_and_no_other_function_does(resources):
    urls = of_type(resources, "AWS::Lambda::Url")
    assert [u["Properties"] for u in urls.values()] == [
        {"TargetFunctionArn": {"Ref": "WebhookFunction"}, "AuthType": "NONE"}
    ]
    public = [
        p["Properties"]
        for p in of_type(resources, "AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "*"
    ]
    # A public Function URL needs both permissions (lambda:InvokeFunction since October 2025).
    assert {p["Action"] for p in public} == {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}
    for p in public:
        assert p["FunctionName"] == {"Ref": "WebhookFunction"}
        if p["Action"] == "lambda:InvokeFunctionUrl":
            assert p["FunctionUrlAuthType"] == "NONE"
        else:
            assert p["InvokedViaFunctionUrl"] is True


# ----------------------------------------------------------------------------- functions


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_function_runtime_tracing_and_logging(resources, function_id):
    binary, timeout = FUNCTIONS[function_id]
    props = resources[function_id]["Properties"]
    assert props["Runtime"] == "provided.al2023"
    assert props["Architectures"] == ["arm64"]
    assert props["Handler"] == "bootstrap"
    assert props["MemorySize"] == 128
    assert props["Timeout"] == timeout
    if function_id in ROUTES.values():
        assert props["Timeout"] < 29, "API Gateway gives up at 29 s"
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert sub_suffix(props["FunctionName"], "${AWS::StackName}-") == binary
    logging = props["LoggingConfig"]
    assert logging["LogFormat"] == "JSON"
    log_group = resources[logging["LogGroup"]["Ref"]]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    # The group Lambda writes to by default, so nothing ever lands in an unmanaged one.
    assert sub_suffix(log_group["Properties"]["LogGroupName"], "/aws/lambda/${AWS::StackName}-") == binary


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_function_environment(resources, function_id):
    env = resources[function_id]["Properties"]["Environment"]["Variables"]
    assert env == ENVIRONMENT[function_id]
    # On AWS the Stripe keys come from Secrets Manager only.
    assert not {"STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRETS"} & env.keys()


def test_env_var_names_are_the_ones_the_rust_code_reads():
    sources = "\n".join(
        p.read_text() for p in sorted((ROOT / "shared" / "src").rglob("*.rs"))
    )
    names = {name for env in ENVIRONMENT.values() for name in env}
    names -= {"AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH"}  # read by lambda_http itself
    missing = sorted(n for n in names if f'"{n}"' not in sources)
    assert not missing, f"set by template.yaml, read nowhere in shared/src: {missing}"


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_function_is_built_by_cargo_lambda_in_its_own_package(sam_template, function_id):
    binary, _ = FUNCTIONS[function_id]
    function = sam_template["Resources"][function_id]
    assert function["Metadata"] == {
        "BuildMethod": "rust-cargolambda",
        "BuildProperties": {"Binary": binary},
    }
    # Built in its own package's folder, so cargo resolves that package's features alone (from
    # the workspace root, the local stack's would link a second TLS crypto provider in).
    code_uri = function["Properties"]["CodeUri"]
    workspace = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["members"]
    assert code_uri in workspace, f"CodeUri {code_uri!r} is not a workspace member"
    package = tomllib.loads((ROOT / code_uri / "Cargo.toml").read_text())["package"]["name"]
    assert package == binary, f"{code_uri} builds {package!r}, not {binary!r}"


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_iam_is_least_privilege(resources, function_id):
    granted = grants(resources, function_id)
    assert set(granted) <= {"dynamodb", "secretsmanager", "sns"}, sorted(granted)
    assert granted.get("dynamodb") == DYNAMODB_GRANTS[function_id]
    # Only reconcile publishes, and only its failed runs, to the alarm topic (its on-failure
    # destination).
    expected_sns = {"Ref:AlarmTopic": {"publish"}} if function_id == "ReconcileFunction" else None
    assert granted.get("sns") == expected_sns
    # One secret per purpose, readable and nothing else about it: the webhook reads only the
    # signing secrets, never the Stripe API key.
    secret = WEBHOOK_SECRET if function_id == "WebhookFunction" else SECRET
    assert granted.get("secretsmanager") == {secret: {"GetSecretValue"}}
    role_id = resources[function_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    role = resources[role_id]["Properties"]
    assert set(role["ManagedPolicyArns"]) == SAM_MANAGED_POLICIES
    assert "RoleName" not in role  # so CAPABILITY_IAM (not _NAMED_IAM) suffices


# ----------------------------------------------------------------------------- reconciliation


def test_reconcile_runs_every_ten_minutes_one_run_at_a_time(resources):
    props = resources["ReconcileFunction"]["Properties"]
    # One run at a time by its lease in DynamoDB (issue 20), not reserved concurrency, which a
    # new account (concurrency limit 10) cannot give.
    assert "ReservedConcurrentExecutions" not in props
    rules = of_type(resources, "AWS::Events::Rule")
    assert [r["Properties"]["ScheduleExpression"] for r in rules.values()] == ["rate(10 minutes)"]
    (rule_id, rule), = rules.items()
    assert rule["Properties"].get("State", "ENABLED") == "ENABLED"
    assert [t["Arn"] for t in rule["Properties"]["Targets"]] == [
        {"Fn::GetAtt": ["ReconcileFunction", "Arn"]}
    ]
    # A run ends well before the next one is due.
    assert props["Timeout"] < 600
    # EventBridge may invoke it, from that rule only; nothing else is granted on it.
    permissions = [
        p["Properties"]
        for p in of_type(resources, "AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Ref": "ReconcileFunction"}
    ]
    assert permissions == [
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Ref": "ReconcileFunction"},
            "Principal": "events.amazonaws.com",
            "SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]},
        }
    ]


def test_card_authorizations_policy_is_a_checked_parameter(cfn):
    """Issue 14: reconcile captures (default) or releases holds near their end; the function
    refuses to start on any other value, and CloudFormation refuses it before that."""
    params = cfn["Parameters"]
    policy = params["ExpiringHoldPolicy"]
    assert policy["Default"] == "capture"
    assert policy["AllowedValues"] == ["capture", "release"]
    margin = params["CaptureSafetyMarginSeconds"]
    assert margin["Type"] == "Number" and margin["Default"] == 43200
    # Under Stripe's 7-day authorization, and more than one 10-minute run.
    assert margin["MinValue"] >= 600 and margin["MaxValue"] < 7 * 24 * 3600


def test_reconcile_is_not_on_the_api(resources):
    routed = {integration_function(op) for _, _, op in operations(rest_api_body(resources))}
    assert "ReconcileFunction" not in routed
    assert not [
        u for u in of_type(resources, "AWS::Lambda::Url").values()
        if u["Properties"]["TargetFunctionArn"] == {"Ref": "ReconcileFunction"}
    ]


def test_the_sweep_index_projects_what_its_filter_reads(resources):
    (index,) = [
        i
        for i in resources["BookingsTable"]["Properties"]["GlobalSecondaryIndexes"]
        if i["IndexName"] == PAYMENT_STATUS_INDEX
    ]
    # The queries filter on payment_intent_id (pending bookings with an intent only) and on
    # refunds_owed (bookings whose owed refunds reconcile carries out).
    assert index["Projection"] == {
        "ProjectionType": "INCLUDE",
        "NonKeyAttributes": ["payment_intent_id", "refunds_owed"],
    }
    source = (ROOT / "shared/src/adapters/dynamo/reconcile.rs").read_text()
    assert f'"{PAYMENT_STATUS_INDEX}"' in source
    assert '"attribute_exists(payment_intent_id)"' in source
    assert '"attribute_exists(refunds_owed)"' in source


def test_iam_checks_reject_wildcards():
    with pytest.raises(AssertionError):
        resource_id("*")
    with pytest.raises(AssertionError):
        resource_id({"Fn::Sub": "${BookingsTable.Arn}/index/*"})


# ----------------------------------------------------------------------------- tables


def describe_table(props: dict) -> dict:
    def keys(schema):
        by_type = {k["KeyType"]: k["AttributeName"] for k in schema}
        return by_type["HASH"], by_type.get("RANGE")

    hash_key, range_key = keys(props["KeySchema"])
    indexes = {}
    for index in props.get("GlobalSecondaryIndexes", []):
        index_hash, index_range = keys(index["KeySchema"])
        indexes[index["IndexName"]] = {
            "hash": index_hash,
            "range": index_range,
            "projection": index["Projection"]["ProjectionType"],
        }
    ttl = props.get("TimeToLiveSpecification")
    return {
        "hash": hash_key,
        "range": range_key,
        "attributes": {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]},
        "indexes": indexes,
        "ttl": ttl["AttributeName"] if ttl and ttl["Enabled"] else None,
    }


def test_tables_match_what_the_rust_code_creates_locally(resources):
    tables = of_type(resources, "AWS::DynamoDB::Table")
    assert set(tables) == {logical_id for logical_id, _ in TABLES.values()}
    for rust_name, (logical_id, _) in TABLES.items():
        props = tables[logical_id]["Properties"]
        assert describe_table(props) == RUST_TABLES[rust_name], logical_id
        assert sub_suffix(props["TableName"], "${AWS::StackName}-") == rust_name


def test_tables_are_on_demand_recoverable_and_encrypted(resources):
    for logical_id, table in of_type(resources, "AWS::DynamoDB::Table").items():
        props = table["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST", logical_id
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert props["SSESpecification"] == {"SSEEnabled": True}, logical_id


@pytest.mark.parametrize("logical_id", ["BookingsTable", "SlotsTable", "EventsTable", "TariffsTable"])
def test_money_and_slot_state_survive_stack_mistakes(resources, logical_id):
    table = resources[logical_id]
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"
    assert table["Properties"]["DeletionProtectionEnabled"] is True


# ----------------------------------------------------------------------------- parameters, outputs


def test_no_parameter_carries_a_secret(sam_template):
    params = sam_template["Parameters"]
    assert set(params) == {
        "Stage",
        "StripeApiBase",
        "StripeSecretArn",
        "StripeWebhookSecretArn",
        "LogRetentionDays",
        "AlarmEmail",
        "WebhookReservedConcurrency",
        "WebhookThrottleRateLimit",
        "StripeWebhookSourceIps",
        "SignatureFailureAlarmThreshold",
        "ExpiringHoldPolicy",
        "CaptureSafetyMarginSeconds",
    }
    for name, param in params.items():
        assert not param.get("NoEcho"), f"{name}: secrets go to Secrets Manager, not parameters"
        if re.search(r"key|secret|token|password|credential", name, re.I):
            assert name in {"StripeSecretArn", "StripeWebhookSecretArn"}, name
    assert params["StripeWebhookSecretArn"]["AllowedPattern"] == params["StripeSecretArn"]["AllowedPattern"]
    assert "Default" not in params["StripeWebhookSecretArn"]
    arn = params["StripeSecretArn"]
    assert "Default" not in arn
    assert arn["AllowedPattern"].startswith("^arn:aws")
    assert re.fullmatch(
        arn["AllowedPattern"],
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:payments-api/dev/stripe-AbC123",
    )
    assert not re.fullmatch(arn["AllowedPattern"], "sk_live_51Hxxxxxxxxxxxxxxxxxxxx")
    assert params["Stage"]["AllowedValues"] == ["dev", "prod"]


def test_no_secret_or_key_value_in_the_template():
    text = TEMPLATE.read_text()
    assert not re.search(r"\b(sk|rk)_(live|test)_[A-Za-z0-9]{6,}", text)
    assert not re.search(r"\bwhsec_[A-Za-z0-9]{6,}", text)
    assert "test-api-key-123" not in text, "the document's key is for the local stack only"


def test_outputs(cfn, resources):
    outputs = cfn["Outputs"]
    expected = {
        "ApiUrl", "StripeWebhookApiUrl", "WebhookFunctionUrl", "ApiKeyId",
        "BookingsTableName", "SlotsTableName", "IdempotencyTableName", "EventsTableName",
        "TariffsTableName",
    }  # fmt: skip
    assert set(outputs) == expected
    assert outputs["ApiUrl"]["Value"] == {
        "Fn::Sub": "https://${PaymentsApi}.execute-api.${AWS::Region}.amazonaws.com/${Stage}"
    }
    assert outputs["StripeWebhookApiUrl"]["Value"]["Fn::Sub"].endswith("/v1/payments/webhook")
    url = outputs["WebhookFunctionUrl"]["Value"]["Fn::Sub"]
    match = re.fullmatch(r"\$\{(\w+)\.FunctionUrl\}v1/payments/webhook", url)
    assert match and resources[match.group(1)]["Type"] == "AWS::Lambda::Url", url
    key = outputs["ApiKeyId"]["Value"]["Ref"]
    assert resources[key]["Type"] == "AWS::ApiGateway::ApiKey"
    for output, logical_id in [
        ("BookingsTableName", "BookingsTable"),
        ("SlotsTableName", "SlotsTable"),
        ("IdempotencyTableName", "IdempotencyTable"),
        ("EventsTableName", "EventsTable"),
        ("TariffsTableName", "TariffsTable"),
    ]:
        assert outputs[output]["Value"] == {"Ref": logical_id}


def test_prod_stage_translates(sam_template):
    prod = translate(sam_template, {"Stage": "prod"})
    assert of_type(prod["Resources"], "AWS::ApiGateway::Stage")


# ----------------------------------------------------------------------------- the checks bite


def test_api_key_checks_bite(sam_template):
    # Dropping the API-wide ApiKeyRequired is already refused by the translator (the webhook's
    # `ApiKeyRequired: false` then has nothing to override) ...
    broken = copy.deepcopy(sam_template)
    del broken["Resources"]["PaymentsApi"]["Properties"]["Auth"]["ApiKeyRequired"]
    with pytest.raises(Exception, match="ApiKeyRequired"):
        translate(broken)
    # ... dropping it together with the webhook's override, or putting the key on the webhook,
    # is caught here.
    broken = copy.deepcopy(sam_template)
    del broken["Resources"]["PaymentsApi"]["Properties"]["Auth"]["ApiKeyRequired"]
    del broken["Resources"]["WebhookFunction"]["Properties"]["Events"]["StripeWebhook"]["Properties"]["Auth"]
    assert routes_missing_api_key(translate(broken)["Resources"]) == set(ROUTES) - ROUTES_WITHOUT_API_KEY
    broken = copy.deepcopy(sam_template)
    webhook = broken["Resources"]["WebhookFunction"]["Properties"]["Events"]["StripeWebhook"]
    webhook["Properties"]["Auth"]["ApiKeyRequired"] = True
    assert routes_missing_api_key(translate(broken)["Resources"]) == ROUTES_WITHOUT_API_KEY


def test_a_bad_function_url_auth_type_is_rejected_by_the_translator(sam_template):
    # cfn-lint 1.58 and `sam validate --lint` accept this; the SAM translator does not.
    broken = copy.deepcopy(sam_template)
    broken["Resources"]["WebhookFunction"]["Properties"]["FunctionUrlConfig"]["AuthType"] = "PUBLIC"
    with pytest.raises(Exception, match="AuthType"):
        translate(broken)


# ----------------------------------------------------------------------------- samconfig.toml


def test_samconfig():
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    assert config["version"] == 0.1
    envs = [("default", "payments-api-dev", "dev"), ("prod", "payments-api-prod", "prod")]
    for env, stack, stage in envs:
        deploy = config[env]["deploy"]["parameters"]
        stack_name = config[env].get("global", {}).get("parameters", {}).get("stack_name")
        assert deploy.get("stack_name", stack_name) == stack
        assert deploy["capabilities"] == "CAPABILITY_IAM"
        assert deploy["confirm_changeset"] is True
        assert deploy["resolve_s3"] is True
        # The secret's ARN is account-specific and left to the operator.
        expected = f"Stage={stage}"
        if env == "prod":
            # The webhook's own concurrency in production (the default deploys on a new
            # account, which has none to reserve).
            expected += " WebhookReservedConcurrency=20"
        assert deploy["parameter_overrides"] == expected
    # `lint = true` would turn `sam validate` into cfn-lint alone, which passes templates the
    # SAM translator rejects (see test_a_bad_function_url_auth_type_is_rejected_by_the_translator).
    assert "lint" not in config["default"].get("validate", {}).get("parameters", {})


# ----------------------------------------------------------------------------- alarms


def test_every_function_alarms_on_errors_and_throttles_to_the_topic(resources):
    alarms = of_type(resources, "AWS::CloudWatch::Alarm")
    for function_id in FUNCTIONS:
        for metric in ["Errors", "Throttles"]:
            found = [
                a["Properties"]
                for a in alarms.values()
                if a["Properties"].get("Namespace") == "AWS/Lambda"
                and a["Properties"]["MetricName"] == metric
                and a["Properties"]["Dimensions"]
                == [{"Name": "FunctionName", "Value": {"Ref": function_id}}]
            ]
            assert len(found) == 1, (function_id, metric)
            assert found[0]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
            assert found[0]["Threshold"] == 1
    (topic,) = of_type(resources, "AWS::SNS::Topic")
    assert topic == "AlarmTopic"


def test_the_alarm_email_is_optional(cfn):
    subscription = cfn["Resources"]["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["Protocol"] == "email"
    assert cfn["Parameters"]["AlarmEmail"]["Default"] == ""


def test_log_metric_filters_match_what_the_code_logs(resources):
    """A filter on a message the code no longer logs would never fire: check them against
    the source."""
    source = "\n".join(p.read_text() for p in (ROOT / "shared/src").rglob("*.rs"))
    filters = of_type(resources, "AWS::Logs::MetricFilter")
    patterns = {f["Properties"]["FilterPattern"] for f in filters.values()}
    assert patterns == {
        '{ $.fields.message = "webhook signature rejected" }',
        '{ $.fields.attention = "payment" }',
    }
    assert '"webhook signature rejected"' in source
    # Every place that needs a person says so with the same field.
    assert source.count('attention = "payment"') >= 4
    attention_groups = {
        f["Properties"]["LogGroupName"]["Ref"]
        for f in filters.values()
        if "attention" in f["Properties"]["FilterPattern"]
    }
    assert attention_groups == {
        "BookingsLogGroup",
        "CreateIntentLogGroup",
        "WebhookLogGroup",
        "ReconcileLogGroup",
    }
    alarms = of_type(resources, "AWS::CloudWatch::Alarm")
    for metric in ["WebhookSignatureFailures", "PaymentNeedsAttention"]:
        (alarm,) = [a for a in alarms.values() if a["Properties"]["MetricName"] == metric]
        assert alarm["Properties"]["Namespace"] == {"Fn::Sub": "${AWS::StackName}"}
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_a_failed_reconcile_run_is_reported_not_retried(resources):
    configs = [
        c["Properties"]
        for c in of_type(resources, "AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"] == {"Ref": "ReconcileFunction"}
    ]
    assert len(configs) == 1
    assert configs[0]["MaximumRetryAttempts"] == 0
    assert configs[0]["DestinationConfig"]["OnFailure"]["Destination"] == {"Ref": "AlarmTopic"}


def test_webhook_reserved_concurrency_is_a_parameter_off_by_default(cfn, resources):
    assert cfn["Parameters"]["WebhookReservedConcurrency"]["Default"] == 0
    reserved = resources["WebhookFunction"]["Properties"]["ReservedConcurrentExecutions"]
    assert reserved == {
        "Fn::If": [
            "HasWebhookReservation",
            {"Ref": "WebhookReservedConcurrency"},
            {"Ref": "AWS::NoValue"},
        ]
    }


def test_the_readme_prod_deploy_keeps_the_profiles_parameters():
    """`--parameter-overrides` replaces the profile's list as a whole: the README's prod
    command must repeat every parameter of the prod profile (the webhook's reservation)."""
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    profile = config["prod"]["deploy"]["parameters"]["parameter_overrides"].split()
    readme = (ROOT / "README.md").read_text()
    commands = [
        block for block in readme.split("```")
        if "sam deploy --config-env prod" in block and "--parameter-overrides" in block
    ]
    assert commands, "the README's prod deploy command"
    for command in commands:
        words = command.replace("\\\n", " ").split()
        for parameter in profile:
            assert parameter in words, f"{parameter} missing from: {command}"
