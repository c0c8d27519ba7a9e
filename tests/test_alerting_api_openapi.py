"""The OpenAPI document (/api/v1/schema/) describes the alerting API as it behaves: every operation,
secrets write-only in shape (taken as strings, answered masked), strict bodies, the Alertmanager
webhook's payload. (tests/test_openapi_fuzz.py sends generated requests to all of them.)"""

SCHEMA_URL = "/api/v1/schema/?format=json"


def test_every_alerting_operation_is_documented(api):
    paths = api.get(SCHEMA_URL).json()["paths"]
    for resource in ("alert-rules", "channels", "routes", "silences"):
        assert set(paths[f"/api/v1/{resource}/"]) == {"get", "post"}, resource
        assert set(paths[f"/api/v1/{resource}/{{id}}/"]) == {"get", "put", "patch", "delete"}, resource
    assert set(paths["/api/v1/deliveries/"]) == {"get"} and set(paths["/api/v1/deliveries/{id}/"]) == {"get"}
    assert set(paths["/api/v1/channels/{id}/test/"]) == {"post"}
    assert set(paths["/api/v1/silences/{id}/expire/"]) == {"post"}
    assert set(paths["/api/v1/integrations/alertmanager/"]) == {"post"}
    # The monitoring API's root and routes are all still there.
    assert {"/api/v1/alerts/", "/api/v1/workflows/{id}/"} <= set(paths)


def test_bodies_and_answers(api):
    served = api.get(SCHEMA_URL).json()
    schemas, paths = served["components"]["schemas"], served["paths"]
    channel_in, channel_out = schemas["ChannelRequest"], schemas["Channel"]
    assert channel_in["additionalProperties"] is False and channel_in["properties"]["secrets"]["type"] == "object"
    assert channel_out["properties"]["secrets"]["type"] == "object" and "failing" in channel_out["properties"]
    assert "failing" not in channel_in["properties"] and "id" not in channel_in["properties"]
    assert set(schemas["AlertRuleRequest"]["required"]) == {"name", "kind"}
    assert "ends_at" in schemas["SilenceRequest"]["required"]
    test = paths["/api/v1/channels/{id}/test/"]["post"]
    assert test["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Delivery"}
    assert "requestBody" not in test
    # ?team= and Idempotency-Key are read when creating, so documented there only.
    create = {p["name"] for p in paths["/api/v1/alert-rules/"]["post"]["parameters"]}
    assert {"team", "Idempotency-Key"} <= create
    assert not paths["/api/v1/channels/{id}/test/"]["post"].get("parameters", [])[1:]  # the id only
    webhook = paths["/api/v1/integrations/alertmanager/"]["post"]
    payload = webhook["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert {"version", "status", "alerts", "receiver", "groupKey"} <= set(schemas[payload]["required"])
    assert {"401", "403", "400"} <= set(webhook["responses"])
