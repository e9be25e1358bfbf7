"""The OpenAPI document: valid, complete (every /api/v1 rule with its methods), made from the
schemas that check the requests, browsable at /api/v1/docs with the vendored Swagger UI, and
fuzzed with schemathesis against a running app, which must never answer 500."""
import re

import pytest
import redis
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from openapi_spec_validator import validate
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from shootflow.capture.options import OptionError, read_options
from shootflow.config import database_url
from shootflow.testing.servers import ROOT, LiveServer
from shootflow.web.openapi import AUTOMATIC_METHODS
from tests.helpers import headless_chromium

API_BLUEPRINTS = ("api", "watches")


@pytest.fixture(scope="module")
def document(live_server):
    response = requests.get(f"{live_server.url}/api/v1/openapi.json", timeout=30)
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    return response.json()


def test_the_document_is_valid_openapi_3(document):
    validate(document)
    assert document["openapi"].startswith("3.")


def openapi_path(rule):
    return re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", r"{\1}", rule)


def test_every_api_rule_is_in_the_document_with_its_methods(app, document):
    rules = [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1/")]
    assert len(rules) >= 20
    wanted = {}
    for rule in rules:
        for method in rule.methods - AUTOMATIC_METHODS:
            wanted.setdefault(openapi_path(rule.rule), set()).add(method.lower())
    documented = {path: set(operations) for path, operations in document["paths"].items()}
    assert documented == wanted
    for path, operations in document["paths"].items():
        names = set(re.findall(r"{(\w+)}", path))
        for operation in operations.values():
            given = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert given == names, path
            assert "default" in operation["responses"], path


def test_our_views_say_what_they_take_and_answer(app, document):
    """A view of ours without schemas.takes/answers would be listed with a bare 200."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] in API_BLUEPRINTS:
            view = app.view_functions[rule.endpoint]
            assert view.__api__["responses"], rule.endpoint
            assert view.__doc__, rule.endpoint


@pytest.mark.parametrize("path, method, schema", [
    ("/api/v1/bundles", "post", "BundleCreate"),
    ("/api/v1/shots", "post", "ShotCreate"),
    ("/api/v1/watches", "post", "WatchCreate"),
    ("/api/v1/watches/{watch_id}", "patch", "WatchPatch"),
    ("/api/v1/watches/from-bundle/{bundle_id}", "post", "WatchFromShots"),
])
def test_request_bodies_are_the_schemas_the_views_load(app, document, path, method, schema):
    body = document["paths"][path][method]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": f"#/components/schemas/{schema}"}
    endpoint = next(rule.endpoint for rule in app.url_map.iter_rules()
                    if openapi_path(rule.rule) == path and method.upper() in rule.methods)
    assert app.view_functions[endpoint].__api__["body"].__name__ == schema


def test_the_documented_option_bounds_are_the_ones_read_options_keeps(document):
    """The option bounds in the document are written beside read_options' own: each one is
    tried here on both sides, so the two cannot drift apart unseen."""
    properties = document["components"]["schemas"]["CaptureOptions"]["properties"]
    assert set(properties) == set(read_options.__globals__["READERS"])

    def takes(name, value):
        try:
            read_options({name: value, **({"format": "jpeg"} if name == "quality" else {})})
            return True
        except OptionError:
            return False
    checked = 0
    for name, spec in properties.items():
        if "minimum" in spec:
            step = 1 if spec["type"] == "integer" else 0.01
            assert takes(name, spec["minimum"]) and takes(name, spec["maximum"]), name
            assert not takes(name, spec["minimum"] - step), name
            assert not takes(name, spec["maximum"] + step), name
            checked += 1
        if "enum" in spec:
            assert all(takes(name, value) for value in spec["enum"]) and not takes(name, "x")
            checked += 1
        if "maxLength" in spec:
            assert takes(name, "a" * spec["maxLength"]), name
            assert not takes(name, "a" * (spec["maxLength"] + 1)), name
            checked += 1
        if spec.get("type") == "boolean":
            assert takes(name, True) and not takes(name, 1), name
            checked += 1
    assert checked >= 14


def test_the_examples_in_the_document_are_accepted(ctx, live_server, document):
    base = f"{live_server.url}"
    made = {}
    for path in ("/api/v1/bundles", "/api/v1/watches"):
        body = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        response = requests.post(base + path, json=body["example"], timeout=30)
        assert response.status_code in (201, 202), response.text
        made[path] = response.json()["id"]
    assert requests.delete(f"{base}/api/v1/bundles/{made['/api/v1/bundles']}",
                           timeout=30).status_code == 204
    assert requests.delete(f"{base}/api/v1/watches/{made['/api/v1/watches']}",
                           timeout=30).status_code == 204


# The browsable page ------------------------------------------------------------------------

def test_the_docs_page_uses_the_vendored_swagger_ui(live_server):
    page = requests.get(f"{live_server.url}/api/v1/docs", timeout=30)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(source.startswith("/") for source in sources)  # nothing from a CDN
    for source in sources:
        asset = requests.get(live_server.url + source, timeout=30)
        assert asset.status_code == 200 and asset.content, source
    vendor = ROOT / "shootflow/static/vendor"
    notes = (vendor / "README.md").read_text()
    assert "swagger-ui-dist" in notes and "Apache-2.0" in notes
    assert "Apache License" in (vendor / "swagger-ui/LICENSE").read_text()


@pytest.fixture(scope="module")
def browser():
    driver = headless_chromium({"goog:loggingPrefs": {"browser": "ALL"}})
    yield driver
    driver.quit()


def test_the_docs_page_shows_every_operation_under_the_security_policy(live_server, document,
                                                                      browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    browser.get(f"{live_server.url}/api/v1/docs")
    operations = sum(len(ops) for ops in document["paths"].values())
    WebDriverWait(browser, 30, poll_frequency=0.2).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) == operations)
    shown = {element.text for element in
             browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert "/api/v1/bundles/{bundle_id}/status" in {text.replace("\u200b", "") for text in shown}
    refused = [entry["message"] for entry in browser.get_log("browser")
               if "Content Security Policy" in entry["message"]]
    assert refused == []


# Fuzzing -----------------------------------------------------------------------------------

FUZZ_DB = 9  # a Redis database of the tests' server that no worker reads


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory, new_database, redis_server, celery_app):
    """The app with its own database, media folder and queue (a Redis database no worker
    reads): the fuzz's bundles stay queued, are never captured, and leave nothing behind
    in the database the other tests share. No request waits for a capture."""
    from flask_migrate import upgrade

    from shootflow import create_app
    root = tmp_path_factory.mktemp("fuzz")
    queue = redis_server.url.rsplit("/", 1)[0] + f"/{FUZZ_DB}"
    app = create_app({"TESTING": True,
                      "SQLALCHEMY_DATABASE_URI": database_url(new_database("fuzz")),
                      "MEDIA_DIR": str(root / "media"), "BROKER_URL": queue,
                      "RESULT_BACKEND": queue, "WAITING_REQUESTS": 0})
    with app.app_context():
        upgrade()
    server = LiveServer(app)  # its Celery app is the current one: its tasks go to FUZZ_DB
    try:
        yield server
    finally:
        server.stop()
        redis.Redis.from_url(queue).flushdb()
        celery_app.set_current()  # the tests' own Celery app again, for every test after
        celery_app.set_default()


@pytest.fixture(scope="module")
def fuzzed_schema(fuzzed_app):
    return schemathesis.openapi.from_url(f"{fuzzed_app.url}/api/v1/openapi.json")


@pytest.fixture(scope="module")
def fuzzed_rows(fuzzed_app):
    """Ids of a real bundle, shot and watch of the fuzzed app, for a pass that sends requests
    to things that exist (made through its own API)."""
    base = f"{fuzzed_app.url}/api/v1"
    bundle = requests.post(f"{base}/bundles", timeout=30, json={
        "urls": ["https://one.example/", "https://two.example/"]}).json()
    shot = requests.get(f"{base}/bundles/{bundle['id']}", timeout=30).json()["shots"][0]
    watch = requests.post(f"{base}/watches", timeout=30, json={
        "url": "https://one.example/", "schedule": "@daily"}).json()
    return {"bundle_id": bundle["id"], "shot_id": shot["id"], "watch_id": watch["id"]}


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
EXAMPLES = 25  # per operation, mode and pass: within a minute in all on two cores


def fuzz(operation, mode, base_url, **fixed):
    """Send EXAMPLES requests made for the operation and check each answer; the failure of
    the smallest request that fails, None when none does (or none can be made)."""
    @given(case=operation.as_strategy(generation_mode=mode, **fixed))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def call(case):
        try:
            case.call_and_validate(base_url=base_url, checks=CHECKS, timeout=30)
        except BaseExceptionGroup as failed:  # not an Exception: Hypothesis would let it
            raise AssertionError(str(failed)) from None  # pass unseen
    try:
        call()
    except Unsatisfiable:  # only a string id in its path: no request is invalid
        assert mode is GenerationMode.NEGATIVE, operation.label
    except Exception as exc:  # every operation is tried; all failures are shown
        return exc
    return None


def test_no_request_makes_the_api_fail(fuzzed_schema, fuzzed_app, fuzzed_rows):
    """Every operation, with bodies, parameters and ids made from the document, valid
    (positive) and not (negative), and once more on a bundle, shot and watch that exist
    (deleting them last): the answer is never a 500, and is what the document says it would
    be (a documented status, media type and body)."""
    failures, operations = {}, []
    for result in fuzzed_schema.get_all_operations():
        operation = result.ok()
        operations.append(operation)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failures[f"{operation.label} ({mode.value})"] = fuzz(operation, mode,
                                                                 fuzzed_app.url)
    for operation in sorted(operations, key=lambda op: op.method.upper() == "DELETE"):
        names = set(re.findall(r"{(\w+)}", operation.path))
        if names and names <= set(fuzzed_rows):
            ids = {name: fuzzed_rows[name] for name in names}
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                failures[f"{operation.label} on {ids} ({mode.value})"] = fuzz(
                    operation, mode, fuzzed_app.url, path_parameters=ids)
    assert len(operations) >= 20
    failed = {label: exc for label, exc in failures.items() if exc is not None}
    assert not failed, "\n\n".join(f"{label}: {exc}" for label, exc in failed.items())
