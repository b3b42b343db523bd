"""GET /docs/api: the JSON API's OpenAPI document as a readable page; the raw JSON is one link away."""

from flask import Blueprint, current_app, render_template

from liquidity.web.api.openapi import openapi_document

bp = Blueprint("docs", __name__)

BOUNDS = (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<"))


def ref_name(schema):
    return schema["$ref"].rsplit("/", 1)[-1]


def describe(schema):
    """Return a schema's type in words: "Item", "list of Item (1 to 10000)", "Item or list of Item"."""
    if "$ref" in schema:
        return ref_name(schema)
    for choices in ("oneOf", "anyOf"):
        if choices in schema:
            return " or ".join(describe(choice) for choice in schema[choices])
    if schema.get("type") == "array":
        size = ""
        if "minItems" in schema or "maxItems" in schema:
            size = f" ({schema.get('minItems', 0)} to {schema.get('maxItems', 'any')})"
        return f"list of {describe(schema.get('items', {}))}{size}"
    if "enum" in schema:
        return " | ".join(map(str, schema["enum"]))
    kind = schema.get("type", "any")
    return " or ".join(kind) if isinstance(kind, list) else kind


def fields(schema, prefix=""):
    """Return (name, type, required, description, bounds) for each property, nested objects as a.b."""
    rows = []
    required = set(schema.get("required", ()))
    for name, spec in schema.get("properties", {}).items():
        bounds = ", ".join(f"{sign} {spec[key]:g}" for key, sign in BOUNDS if key in spec)
        rows.append((prefix + name, describe(spec), name in required, spec.get("description", ""), bounds))
        if spec.get("type") == "object" and "properties" in spec:
            rows.extend(fields(spec, prefix + name + "."))
        items = spec.get("items", {})
        if items.get("type") == "object" and "properties" in items:
            rows.extend(fields(items, prefix + name + "[]."))
    return rows


def operations(document):
    """Return one dict per path and method: summary, request body type and its responses."""
    found = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            body = operation.get("requestBody", {}).get("content", {})
            responses = []
            for status, response in operation.get("responses", {}).items():
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                responses.append((status, response.get("description", ""), describe(schema) if schema else ""))
            parameters = [(p["name"], p["in"], describe(p.get("schema", {})), p.get("description", ""),
                           p.get("schema", {}).get("default")) for p in operation.get("parameters", ())]
            answered = operation.get("responses", {})
            success = min((status for status in answered if status.startswith("2")), default="200")
            answer = answered.get(success, {}).get("content", {}).get("application/json", {})
            found.append({"method": method.upper(), "path": path, "summary": operation.get("summary", ""),
                          "description": operation.get("description", ""),
                          "request_example": operation.get("x-request-example"),
                          "answer_example": answer.get("example"), "answer_status": success,
                          "headers": sorted({name for response in operation.get("responses", {}).values()
                                             for name in response.get("headers", {})}),
                          "parameters": parameters,
                          "anchor": f"{method}-{path.strip('/').replace('/', '-').replace('.', '-')}",
                          "body": {kind: describe(spec["schema"]) for kind, spec in body.items()},
                          "responses": responses})
    return found


@bp.get("/docs/api")
def api():
    """Show the API: each operation, the fields of each object with units and bounds, and examples."""
    document = openapi_document(current_app.config["API_MAX_ITEMS"])
    schemas = document["components"]["schemas"]
    return render_template("docs/api.html", document=document, operations=operations(document),
                           mistakes=document["info"].get("x-common-mistakes", ()),
                           schemas=[(name, schema.get("description", ""), fields(schema), schema.get("example"))
                                    for name, schema in schemas.items()])
