"""What each API view takes and answers, and the OpenAPI 3 document made from that. A view
loads its request with the schemas it names (`takes`) and says what it answers (`answers`);
the document is made from the app's own URL rules (so every /api/v1 route is in it, with its
methods) and from what each view says of itself, so what is documented is what is checked."""
import functools
import inspect
import json
import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import request
from marshmallow import Schema, ValidationError

from ..services import BadInput
from . import schemas

PREFIX = "/api/v1"
AUTOMATIC_METHODS = {"HEAD", "OPTIONS"}  # Flask answers these for every rule
CONVERTERS = {"int": {"type": "integer"}, "float": {"type": "number"}}
VARIABLE = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")
MEANINGS = {200: "OK", 201: "Created", 202: "Accepted: the work goes on in the background.",
            204: "Done; no content.", 304: "Not Modified: your copy (If-None-Match) is current.",
            400: "Bad input: code and field say what was wrong.",
            401: "Not signed in (with accounts on): send an API token.",
            403: "Forbidden.", 404: "No such thing, or not yours.",
            409: "Not in a state that allows this.", 413: "The request body is too large.",
            429: "Too much at once: wait and try again.",
            503: "The task queue is unavailable; nothing was kept."}
HEADERS = {"Location": "Where the new thing is.",
           "ETag": "Send it back in If-None-Match for a 304 while nothing changed.",
           "Content-Disposition": "The file name to save it as."}
DESCRIPTION = """Everything shootflow does, for scripts. Errors answer
`{"error": "…for a person…", "code": "…a stable word…", "field": "…the request field at fault…"}`.
With accounts on (`SHOOTFLOW_AUTH=on`) send `Authorization: Bearer <token>`."""


# What a view takes and answers ------------------------------------------------------------

def _paths(messages, prefix=""):
    """(field path, message) of every error in marshmallow's nested messages, in order."""
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        yield prefix, messages[0]
        return
    items = messages.items() if isinstance(messages, dict) else enumerate(messages)
    for key, value in items:
        if key == "_schema":
            path = prefix
        elif isinstance(key, int):
            path = f"{prefix}[{key}]"
        else:
            path = f"{prefix}.{key}" if prefix else str(key)
        yield from _paths(value, path)


GENERIC = {"Missing data for required field.": '"{}" is required.',
           "Field may not be null.": '"{}" may not be null.'}


def _refusal(schema, messages):
    """BadInput for the first error of a load, in words that name the field."""
    field, message = next(_paths(messages))
    if message == "Unknown field.":
        noun = getattr(schema.Meta, "noun", "this request")
        message = f'"{field[:40]}" is not a field of {noun}.'
    elif message in GENERIC:
        message = GENERIC[message].format(field)
    elif message.startswith(("Not a valid", "Invalid")):  # marshmallow's own words
        message = f'"{field}": {message[0].lower()}{message[1:]}'
    return BadInput(message, field=field or None)


def load(schema_class, data, body=True):
    """data loaded with the schema, or BadInput naming the field at fault."""
    schema = schema_class()
    if body and not isinstance(data, dict):
        example = json.dumps(getattr(schema.Meta, "example", {}))
        raise BadInput(f"Send a JSON object like {example} with Content-Type: "
                       "application/json.", code="invalid_json")
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise _refusal(schema, exc.messages) from None


def json_body():
    """The request's JSON body (None if it is not JSON), refused when nested too deeply."""
    try:
        return request.get_json(silent=True)
    except RecursionError:  # json.loads gives up on a few thousand levels of nesting
        raise BadInput("The JSON is nested too deeply: send an object such as "
                       '{"urls": ["https://example.com"]}.', code="invalid_json") from None


def _api(view):
    return view.__dict__.setdefault("__api__", {"responses": {}})


def takes(body=None, query=None):
    """Load the request's JSON body and query string with these schemas before the view runs
    (passing them as body= and args=); the OpenAPI document reads the same schemas off the
    view."""
    def decorate(view):
        @functools.wraps(view)
        def loaded(*args, **kwargs):
            if query is not None:
                kwargs["args"] = load(query, request.args, body=False)
            if body is not None:
                kwargs["body"] = load(body, json_body())
            return view(*args, **kwargs)
        _api(loaded).update(body=body, query=query)
        return loaded
    return decorate


def answers(status, schema=None, *, errors=(), headers=(), description=None, parameters=()):
    """Say what a view answers: status with schema (None: no body; a string: that media
    type), the error statuses it may give besides, the response headers it sets and the
    request headers it reads (OpenAPI parameters). Read by the OpenAPI document; may be
    given once per status."""
    def decorate(view):
        api = _api(view)
        api["responses"][status] = (schema, description, tuple(headers))
        api["errors"] = api.get("errors", ()) + tuple(errors)
        api["parameters"] = api.get("parameters", ()) + tuple(parameters)
        return view
    return decorate


# The document ------------------------------------------------------------------------------

def document(app):
    """The document as a dict, made once per app."""
    made = app.extensions.get("shootflow.openapi")
    if made is None:
        made = app.extensions["shootflow.openapi"] = build(app)
    return made


def _resolve(converter, spec):
    """spec with each Schema class in it replaced by a reference to its component."""
    if isinstance(spec, type) and issubclass(spec, Schema):
        return converter.resolve_nested_schema(spec)
    if isinstance(spec, dict):
        return {key: _resolve(converter, value) for key, value in spec.items()}
    if isinstance(spec, list):
        return [_resolve(converter, value) for value in spec]
    return spec


def owned2properties(self, field, ret, **_kwargs):
    """An Owned field is described by its spec; null is said only where the owner takes it."""
    if not isinstance(field, schemas.Owned):
        return {}
    if not field.spec.get("nullable"):
        ret.pop("nullable", None)
    return _resolve(self, field.spec)


def _path(rule):
    """The rule's path in OpenAPI's words ({name} for <converter:name>), and its parameters."""
    parameters = []

    def variable(match):
        converter, name = match.groups()
        parameters.append({"name": name, "in": "path", "required": True,
                           "schema": CONVERTERS.get(converter, {"type": "string"})})
        return "{" + name + "}"
    return VARIABLE.sub(variable, rule.rule), parameters


def _content(schema, example=None):
    if isinstance(schema, str):  # a media type: text, JSON of no set shape, or a file
        shape = ({"type": "string"} if schema.startswith("text/") else {"type": "object"}
                 if schema.endswith("json") else {"type": "string", "format": "binary"})
        return {schema: {"schema": shape}}
    media = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {"application/json": media}


def _answer(status, schema, description, headers):
    answer = {"description": description or MEANINGS.get(status, "OK")}
    if schema is not None:
        answer["content"] = _content(schema)
    if headers:
        answer["headers"] = {name: {"description": HEADERS[name], "schema": {"type": "string"}}
                             for name in headers}
    return answer


def _operation(endpoint, view, path_parameters):
    # A view that does not say what it takes and answers (takes, answers) is still
    # listed, with what its docstring says.
    api = getattr(view, "__api__", {"responses": {200: (None, None, ())}})
    summary, _, description = inspect.cleandoc(view.__doc__ or endpoint).partition("\n")
    operation = {"operationId": endpoint.replace(".", "_"), "tags": [endpoint.split(".")[0]],
                 "summary": summary,
                 "parameters": [*path_parameters, *api.get("parameters", ())]}
    if description.strip():
        operation["description"] = " ".join(description.split())
    if api.get("query") is not None:
        operation["parameters"].append({"in": "query", "schema": api["query"]})
    if api.get("body") is not None:
        body = api["body"]
        operation["requestBody"] = {"required": True, "content": _content(
            body, getattr(body.Meta, "example", None))}
    responses = {str(status): _answer(status, *answer)
                 for status, answer in sorted(api["responses"].items())}
    for status in sorted(set(api.get("errors", ()))):
        responses[str(status)] = _answer(status, None if status == 304 else schemas.Error,
                                         None, ())
    responses["default"] = {"description": "Any other error.",
                            "content": _content(schemas.Error)}
    operation["responses"] = responses
    return operation


def build(app):
    plugin = MarshmallowPlugin()
    spec = APISpec(title="shootflow", version="1", openapi_version="3.0.3", plugins=[plugin],
                   info={"description": DESCRIPTION})
    plugin.converter.add_attribute_function(owned2properties)
    spec.components.schema("Error", schema=schemas.Error)
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule):
        if rule.rule != PREFIX and not rule.rule.startswith(PREFIX + "/"):
            continue
        path, parameters = _path(rule)
        view = app.view_functions[rule.endpoint]
        spec.path(path=path, operations={
            method.lower(): _operation(rule.endpoint, view, parameters)
            for method in sorted(rule.methods - AUTOMATIC_METHODS)})
    return spec.to_dict()
