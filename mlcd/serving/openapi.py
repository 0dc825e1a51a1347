"""The OpenAPI 3.1 document of the server, written for the model's own contract (served at ``/openapi.json``).

Request schemas describe what the server accepts, response schemas what it answers, per status code;
the fuzz test holds the server to them. Errors on ``/invocations`` have MLflow's shape (``MlflowError``),
everywhere else the Open Inference Protocol's (``Error``).
"""

from __future__ import annotations

from typing import Any

from mlcd import __version__
from mlcd.config.model import ColumnSpec
from mlcd.serving.tensors import OIP_DATATYPES
from mlcd.serving.validation import InputSchema, datatype_of

__all__ = ["openapi_document"]

_JSON = "application/json"
_BINARY = "application/octet-stream"
_ERROR = {"$ref": "#/components/schemas/Error"}
_MLFLOW_ERROR = {"$ref": "#/components/schemas/MlflowError"}
_BINARY_BODY = {"type": "string", "format": "binary",
                "description": "binary tensor data: a JSON InferenceRequest of Inference-Header-Content-Length bytes, "
                               "then the bytes of each input whose parameters.binary_data_size gives their size"}


def _value_schema(spec: ColumnSpec) -> dict[str, Any]:
    kinds = {"FP64": "number", "INT64": "integer", "BOOL": "boolean", "BYTES": "string"}
    kind = kinds[datatype_of(spec)]
    schema: dict[str, Any] = {"type": [kind, "null"] if spec.nullable else kind}
    if spec.min is not None:
        schema["minimum"] = spec.min
    if spec.max is not None:
        schema["maximum"] = spec.max
    if spec.allowed is not None:
        schema["enum"] = [*spec.allowed, None] if spec.nullable else list(spec.allowed)
    if spec.dtype == "datetime":
        schema["format"] = "date-time"
    return schema


def _column(spec: ColumnSpec) -> dict[str, Any]:
    return {"type": "array", "minItems": 1, "items": _value_schema(spec)}


def _errors(*statuses: int, mlflow: bool = False) -> dict[str, Any]:
    reasons = {
        400: "Malformed JSON or CSV, or a body that does not follow the protocol (shape, datatype, …)",
        404: "No model of that name",
        405: "Method not allowed",
        408: "The body did not arrive within --body-timeout; the connection is closed",
        413: "Body larger than the limit (--max-body-bytes)",
        415: ("Content-Type is not application/json or text/csv, or has a charset other than UTF-8" if mlflow else
              "Content-Type is not application/json, application/octet-stream or absent"),
        422: "The rows break the data contract; the message names the column, row and rule",
        503: "The model is not ready (loading, or refused: see the message), or scoring took longer than the timeout",
    }
    schema = _MLFLOW_ERROR if mlflow else _ERROR
    return {str(status): {"description": reasons[status], "content": {_JSON: {"schema": schema}}}
            for status in statuses}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


def _components(schema: InputSchema) -> dict[str, Any]:
    features = schema.features
    ignored = sorted(schema.ignored)  # the label and other contract columns: accepted, not used
    # a record may leave out a nullable column (a missing key is a missing value, as in pandas)
    row = {"type": "object", "additionalProperties": False,
           "properties": {**{s.name: _value_schema(s) for s in features}, **{n: {} for n in ignored}},
           "required": [s.name for s in features if not s.nullable]}
    columnar = {"type": "object", "additionalProperties": False,
                "properties": {**{s.name: _column(s) for s in features},
                               **{n: {"type": "array", "minItems": 1} for n in ignored}},
                "required": [s.name for s in features]}
    # [n] or [n, 1] (the second dimension must be 1, which the server checks)
    shape = {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1, "maxItems": 2}
    datatypes = {"type": "string", "enum": sorted(OIP_DATATYPES)}

    def tensor(name: str, data: dict[str, Any]) -> dict[str, Any]:
        return {"type": "object", "required": ["name", "shape", "datatype", "data"],
                "properties": {"name": {"const": name}, "shape": shape, "datatype": datatypes, "data": data,
                               "parameters": {"type": "object"}}}

    tensors = [tensor(s.name, _column(s)) for s in features]
    tensors += [tensor(n, {"type": "array", "minItems": 1}) for n in ignored]
    params = {"type": "object", "maxProperties": 0, "description": "scikit-learn models take no params"}

    def invocation(key: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"type": "object", "required": [key], "additionalProperties": False,
                "properties": {key: payload, "params": params}}

    records = {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/Row"}}
    split = {"type": "object", "required": ["columns", "data"], "properties": {
        "columns": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        "data": {"type": "array", "minItems": 1, "items": {"type": "array"}},
        "index": {"type": "array"}}}
    tensor_metadata = {"type": "object", "required": ["name", "datatype", "shape"],
                       "properties": {"name": {"type": "string"}, "datatype": {"type": "string"},
                                      "shape": {"type": "array", "items": {"type": "integer"}},
                                      "parameters": {"type": "object"}}}
    return {
        "Error": {"type": "object", "required": ["error"],
                  "properties": {"error": {"type": "string"},
                                 "details": {"type": "array", "items": {"type": "string"}}}},
        "MlflowError": {"type": "object", "required": ["error_code", "message"],
                        "properties": {"error_code": {"type": "string"}, "message": {"type": "string"},
                                       "details": {"type": "array", "items": {"type": "string"}}}},
        "ServerMetadata": {"type": "object", "required": ["name", "version", "extensions"],
                           "properties": {"name": {"type": "string"}, "version": {"type": "string"},
                                          "extensions": {"type": "array", "items": {"type": "string"}}}},
        "InferenceRequest": {
            "type": "object", "required": ["inputs"],
            "properties": {
                "id": {"type": "string"},
                "parameters": {"type": "object", "properties": {
                    "binary_data_output": {"type": "boolean", "description": "every output as binary tensor data"},
                    "mlcd_log": {"type": "boolean", "description": "false: keep the rows out of the prediction log"}}},
                "inputs": {"type": "array", "minItems": 1, "items": {"oneOf": tensors}},
                "outputs": {"type": "array", "items": {
                    "type": "object", "required": ["name"],
                    "properties": {"name": {"type": "string", "enum": ["predict", "predict_proba"]},
                                   "parameters": {"type": "object", "properties": {
                                       "binary_data": {"type": "boolean"}}}}}},
            },
        },
        "InferenceResponse": {
            "type": "object", "required": ["model_name", "model_version", "outputs"],
            "properties": {
                "model_name": {"type": "string"}, "model_version": {"type": "string"}, "id": {"type": "string"},
                "outputs": {"type": "array", "items": {
                    "type": "object", "required": ["name", "datatype", "shape", "data"],
                    "properties": {"name": {"type": "string", "enum": ["predict", "predict_proba"]},
                                   "datatype": {"type": "string", "enum": ["BYTES", "FP64", "INT64", "BOOL"]},
                                   "shape": {"type": "array", "items": {"type": "integer"}},
                                   "data": {"type": "array"}, "parameters": {"type": "object"}}}},
            },
        },
        "Row": row,
        "InvocationsRequest": {"oneOf": [
            invocation("dataframe_split", split),
            invocation("dataframe_records", records),
            invocation("instances", records),
            invocation("inputs", {"oneOf": [columnar, records]}),
        ]},
        "InvocationsResponse": {"type": "object", "required": ["predictions"],
                                "properties": {"predictions": {"type": "array"}}},
        "ModelMetadata": {"type": "object", "required": ["name", "versions", "platform", "inputs", "outputs"],
                          "properties": {
                              "name": {"type": "string"}, "platform": {"type": "string"},
                              "versions": {"type": "array", "items": {"type": "string"}},
                              "inputs": {"type": "array", "items": tensor_metadata},
                              "outputs": {"type": "array", "items": tensor_metadata}}},
        "Status": {"type": "object", "properties": {"live": {"type": "boolean"}, "ready": {"type": "boolean"},
                                                    "name": {"type": "string"}, "error": {"type": "string"}}},
    }


def openapi_document(model_name: str, schema: InputSchema) -> dict[str, Any]:
    name_param = {"name": "name", "in": "path", "required": True,
                  "schema": {"type": "string", "enum": [model_name]}, "description": "the model's name"}
    ready = {"description": "Ready", "content": {_JSON: {"schema": {"$ref": "#/components/schemas/Status"}}}}
    header_length = {"name": "Inference-Header-Content-Length", "in": "header", "required": False,
                     "schema": {"type": "string", "pattern": "^[0-9]+$"},
                     "description": "binary tensor data: the size of the JSON header at the start of the body"}
    predictions = {"description": "Predictions; with binary outputs asked for, the JSON header (its size in the "
                                  "Inference-Header-Content-Length response header) and then their bytes",
                   "content": {_JSON: {"schema": {"$ref": "#/components/schemas/InferenceResponse"}},
                               _BINARY: {"schema": {"type": "string", "format": "binary"}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": f"mlcd serve: {model_name}", "version": __version__,
                 "description": "Open Inference Protocol v2 and MLflow scoring endpoints for one model, "
                                "with every request checked against the model's data contract."},
        "paths": {
            "/v2": {"get": {"summary": "Server metadata (Open Inference Protocol): name, version, extensions",
                            "operationId": "serverMetadata", "responses": {
                                "200": _json({"$ref": "#/components/schemas/ServerMetadata"}, "Server metadata")}}},
            "/v2/health/live": {"get": {"summary": "The process is up", "operationId": "live",
                                        "responses": {"200": ready}}},
            "/v2/health/ready": {"get": {"summary": "The model is loaded and verified", "operationId": "ready",
                                         "responses": {"200": ready, **_errors(503)}}},
            "/v2/models/{name}": {"get": {
                "summary": "Model metadata: one input per feature column", "operationId": "modelMetadata",
                "parameters": [name_param],
                "responses": {"200": _json({"$ref": "#/components/schemas/ModelMetadata"}, "Metadata"),
                              **_errors(404, 405, 503)}}},
            "/v2/models/{name}/ready": {"get": {
                "summary": "The model is ready", "operationId": "modelReady", "parameters": [name_param],
                "responses": {"200": ready, **_errors(404, 405, 503)}}},
            "/v2/models/{name}/infer": {"post": {
                "summary": "Score rows (Open Inference Protocol v2; JSON when there is no Content-Type)",
                "operationId": "infer", "parameters": [name_param, header_length],
                "requestBody": {"required": True, "content": {
                    _JSON: {"schema": {"$ref": "#/components/schemas/InferenceRequest"}},
                    _BINARY: {"schema": _BINARY_BODY}}},
                "responses": {"200": predictions, **_errors(400, 404, 405, 408, 413, 415, 422, 503)}}},
            "/invocations": {"post": {
                "summary": "Score rows (MLflow scoring protocol: JSON, or CSV as pandas writes it)",
                "operationId": "invocations",
                "requestBody": {"required": True, "content": {
                    _JSON: {"schema": {"$ref": "#/components/schemas/InvocationsRequest"}},
                    "text/csv": {"schema": {"type": "string", "description": "a header row, then one row per line"}}}},
                "responses": {"200": _json({"$ref": "#/components/schemas/InvocationsResponse"}, "Predictions"),
                              **_errors(400, 405, 408, 413, 415, 422, 503, mlflow=True)}}},
            "/ping": {"get": {"summary": "MLflow-style health check: 200 when ready", "operationId": "ping",
                              "responses": {"200": ready, **_errors(503)}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "operationId": "metrics", "responses": {
                "200": {"description": "Text exposition format",
                        "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
            "/openapi.json": {"get": {"summary": "This document", "operationId": "openapi",
                                      "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1")}}},
        },
        "components": {"schemas": _components(schema)},
    }
