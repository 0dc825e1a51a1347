"""Serving without a server: payload parsing, contract checks, batching, the predictor's fast paths."""

from __future__ import annotations

import argparse
import asyncio
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlcd.commands.serve import resolve
from mlcd.config import Config, load_config
from mlcd.errors import UsageError
from mlcd.serving.batching import Batcher
from mlcd.serving.invocations import parse_invocations
from mlcd.serving.metrics import endpoint_of
from mlcd.serving.openapi import openapi_document
from mlcd.serving.predictor import Predictor
from mlcd.serving.protocol import RequestError, infer_response, parse_infer
from mlcd.serving.validation import InputSchema, check_columns, datatype_of, describe

TEMPLATE_CONFIG = Path(__file__).resolve().parents[2] / "template-repo" / "mlcd.yaml"
ROW: dict[str, Any] = {"island": "Biscoe", "bill_length_mm": 45.1, "bill_depth_mm": 14.5,
                       "flipper_length_mm": 215.0, "body_mass_g": 5000.0, "sex": "female"}




def oip(rows: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    names = list(rows[0])
    datatypes = {"island": "BYTES", "sex": "BYTES"}
    return {"inputs": [{"name": n, "shape": [len(rows)], "datatype": datatypes.get(n, "FP64"),
                        "data": [r[n] for r in rows]} for n in names], **extra}


def refused(call: Any, *args: Any) -> RequestError:
    with pytest.raises(RequestError) as caught:
        call(*args)
    return caught.value


# --- contract checks --------------------------------------------------------------------------------------


def test_the_schema_is_the_contracts_feature_columns(schema: InputSchema) -> None:
    assert schema.names == ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"]
    assert schema.ignored == {"species", "year"}
    assert schema.datatypes()["island"] == "BYTES" and schema.datatypes()["body_mass_g"] == "FP64"


def test_a_value_above_max_names_column_row_value_and_limit(schema: InputSchema) -> None:
    rows = [dict(ROW) for _ in range(4)]
    rows[3]["bill_length_mm"] = 900.0
    error = refused(parse_infer, oip(rows), schema)
    assert error.status == 422
    assert error.body() == {"error": "column 'bill_length_mm' row 3: 900.0 is above the contract's max 70"}


@pytest.mark.parametrize(("column", "value", "message"), [
    ("bill_length_mm", 10, "10 is below the contract's min 25"),
    ("bill_length_mm", "45", "'45' is not a number (float)"),
    ("bill_length_mm", True, "true is not a number (float)"),
    ("bill_length_mm", math.inf, "inf is not a finite number"),
    ("island", "Mars", "'Mars' is not one of the contract's allowed values ('Biscoe', 'Dream', 'Torgersen')"),
    ("island", 3, "3 is not text (category)"),
    ("island", None, "missing (null), but the contract does not allow missing values"),
    ("sex", ["male"], "a list is not text (category)"),
])
def test_each_rule_has_its_message(schema: InputSchema, column: str, value: Any, message: str) -> None:
    columns = {name: [v] for name, v in ROW.items()}
    columns[column] = [value]
    assert check_columns(schema, columns) == [f"column '{column}' row 0: {message}"]


def test_nullable_columns_take_null(schema: InputSchema) -> None:
    columns = {name: [v] for name, v in ROW.items()}
    columns["sex"] = [None]
    columns["bill_length_mm"] = [None]
    assert check_columns(schema, columns) == []


def test_unknown_and_missing_columns_are_named_and_label_is_ignored(schema: InputSchema) -> None:
    columns: dict[str, list[Any]] = {name: [v] for name, v in ROW.items() if name != "sex"}
    columns["colour"] = ["red"]
    columns["species"] = ["Adelie"]
    problems = check_columns(schema, columns)
    assert problems[0].startswith("unknown column(s) 'colour': not in the data contract")
    assert problems[1].startswith("missing column(s) 'sex'")
    assert len(problems) == 2


def test_long_values_are_cut_in_messages() -> None:
    assert len(describe("x" * 100_000)) < 40
    assert describe({"a": 1}) == "an object" and describe(None) == "null"


def test_int_and_category_datatypes(config: Config) -> None:
    from mlcd.config.model import ColumnSpec

    assert datatype_of(ColumnSpec("n", "int")) == "INT64"
    assert datatype_of(ColumnSpec("c", "category", allowed=(1, 2))) == "INT64"
    assert datatype_of(ColumnSpec("b", "category", allowed=(True, False))) == "BOOL"
    spec = ColumnSpec("n", "int", min=0, max=10)
    schema = InputSchema((spec,), frozenset())
    assert check_columns(schema, {"n": [2.0, 3]}) == []
    assert check_columns(schema, {"n": [2.5]}) == ["column 'n' row 0: 2.5 is not a whole number (int)"]
    assert check_columns(InputSchema((ColumnSpec("n", "int"),), frozenset()), {"n": [2**64]}) == [
        "column 'n' row 0: 18446744073709551616 is outside the 64-bit integer range"]
    codes = InputSchema((ColumnSpec("c", "category", allowed=(1, 2)),), frozenset())
    assert check_columns(codes, {"c": [True]}) == ["column 'c' row 0: true is not a number (category)"]


def _json_values() -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner,
                                                                                              max_size=3), max_leaves=5)


@given(st.dictionaries(st.sampled_from([*ROW, "species", "other"]), st.lists(_json_values(), min_size=1, max_size=3)))
@settings(max_examples=300, deadline=None)
def test_any_json_gets_messages_or_passes_never_an_exception(columns: dict[str, list[Any]]) -> None:
    schema = InputSchema.from_contract(load_config(str(TEMPLATE_CONFIG)).contract)
    problems = check_columns(schema, columns)
    assert all(isinstance(p, str) and len(p) < 400 for p in problems)


@given(st.fixed_dictionaries({
    "island": st.sampled_from(["Biscoe", "Dream", "Torgersen"]),
    "bill_length_mm": st.none() | st.floats(25, 70),
    "bill_depth_mm": st.none() | st.floats(10, 30),
    "flipper_length_mm": st.none() | st.integers(150, 250),
    "body_mass_g": st.none() | st.floats(2000, 7000),
    "sex": st.sampled_from([None, "female", "male"]),
}))
@settings(max_examples=200, deadline=None)
def test_rows_within_the_contract_pass(row: dict[str, Any]) -> None:
    schema = InputSchema.from_contract(load_config(str(TEMPLATE_CONFIG)).contract)
    assert check_columns(schema, {k: [v] for k, v in row.items()}) == []


# --- Open Inference Protocol ------------------------------------------------------------------------------


def test_infer_request_becomes_columns_in_contract_order(schema: InputSchema) -> None:
    body = oip([ROW, {**ROW, "sex": None}], id="req-1")
    body["inputs"].reverse()
    body["inputs"].append({"name": "species", "shape": [2], "datatype": "BYTES", "data": ["Adelie", "Gentoo"]})
    batch = parse_infer(body, schema)
    assert list(batch.columns) == schema.names
    assert batch.rows == 2 and batch.id == "req-1"
    assert batch.columns["sex"] == ["female", None]
    assert batch.outputs == ("predict", "predict_proba")


@pytest.mark.parametrize(("mutate", "status", "fragment"), [
    (lambda b: b.pop("inputs"), 400, "inputs must be a non-empty list"),
    (lambda b: b.update(inputs=[]), 400, "inputs must be a non-empty list"),
    (lambda b: b.update(id=5), 400, "id must be a string"),
    (lambda b: b["inputs"][0].update(shape=[2]), 400, "shape says 2 value(s) but data holds 1"),
    (lambda b: b["inputs"][0].update(shape=[1, 2]), 400, "shape must be [n] or [n, 1]"),
    (lambda b: b["inputs"][0].update(shape=[1, 1, 1]), 400, "shape must be [n] or [n, 1]"),
    (lambda b: b["inputs"][0].update(datatype="FLOAT"), 400, "datatype must be one of"),
    (lambda b: b["inputs"][0].update(data="Biscoe"), 400, "data must be a flat list"),
    (lambda b: b["inputs"].append(dict(b["inputs"][0])), 400, "appears more than once"),
    (lambda b: b["inputs"][1].update(shape=[2], data=[1.0, 2.0]), 400, "every input needs one value per row"),
    (lambda b: b.update(outputs=[{"name": "explain"}]), 400, "unknown output(s) 'explain'"),
    (lambda b: b["inputs"][0].update(datatype="FP64"), 400, "input 'island': datatype FP64 cannot hold 'Biscoe'"),
    (lambda b: b["inputs"][0].update(datatype="FP64", data=[1.0]), 422,
     "datatype FP64 does not fit the contract's category"),
    (lambda b: b["inputs"].pop(), 422, "missing column(s) 'sex'"),
])
def test_infer_errors(schema: InputSchema, mutate: Any, status: int, fragment: str) -> None:
    body = oip([ROW])
    mutate(body)
    error = refused(parse_infer, body, schema)
    assert error.status == status
    assert fragment in error.message


def test_numeric_columns_take_any_numeric_datatype_that_holds_the_values(schema: InputSchema) -> None:
    body = oip([ROW])
    body["inputs"][4].update(datatype="INT32", data=[5000])
    assert parse_infer(body, schema).columns["body_mass_g"] == [5000]
    body["inputs"][4].update(datatype="INT8", data=[5200.0])
    assert refused(parse_infer, body, schema).message == "input 'body_mass_g': datatype INT8 cannot hold 5200.0 (row 0)"


def test_zero_rows_are_refused(schema: InputSchema) -> None:
    body = {"inputs": [{"name": n, "shape": [0], "datatype": "BYTES", "data": []} for n in ROW]}
    assert refused(parse_infer, body, schema).status == 422


def test_infer_response_flattens_probabilities_row_major() -> None:
    proba = np.array([[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]])
    response = infer_response(model_name="m", model_version="v", request_id="7", outputs=("predict", "predict_proba"),
                              labels=["Gentoo", "Adelie"], label_datatype="BYTES", proba=proba,
                              classes=["Adelie", "Chinstrap", "Gentoo"])
    assert response["id"] == "7"
    predict, probabilities = response["outputs"]
    assert predict == {"name": "predict", "datatype": "BYTES", "shape": [2], "data": ["Gentoo", "Adelie"]}
    assert probabilities["shape"] == [2, 3]
    assert list(probabilities["data"]) == [0.1, 0.2, 0.7, 0.5, 0.25, 0.25]
    assert probabilities["parameters"] == {"classes": ["Adelie", "Chinstrap", "Gentoo"]}
    only = infer_response(model_name="m", model_version="v", request_id=None, outputs=("predict",),
                          labels=["Gentoo"], label_datatype="BYTES", proba=proba[:1], classes=["a", "b", "c"])
    assert "id" not in only and [o["name"] for o in only["outputs"]] == ["predict"]


# --- MLflow /invocations ----------------------------------------------------------------------------------


def test_the_four_mlflow_formats_agree(schema: InputSchema) -> None:
    rows = [ROW, {**ROW, "island": "Dream"}]
    names = list(ROW)
    bodies = [
        {"dataframe_split": {"columns": names, "data": [[r[n] for n in names] for r in rows]}},
        {"dataframe_records": rows},
        {"instances": rows},
        {"inputs": {n: [r[n] for r in rows] for n in names}},
        {"inputs": rows, "params": {}},
    ]
    parsed = [parse_invocations(body, schema) for body in bodies]
    assert all(p.columns == parsed[0].columns and p.rows == 2 for p in parsed)


def test_a_key_left_out_of_a_record_is_missing(schema: InputSchema) -> None:
    record = {k: v for k, v in ROW.items() if k != "sex"}
    assert parse_invocations({"dataframe_records": [record]}, schema).columns["sex"] == [None]
    error = refused(parse_invocations, {"dataframe_records": [{k: v for k, v in ROW.items() if k != "island"}]},
                    schema)
    assert error.status == 422 and "missing column(s) 'island'" in error.message


@pytest.mark.parametrize(("body", "status", "fragment"), [
    ([ROW], 400, "exactly one of"),
    ({"dataframe_records": [ROW], "instances": [ROW]}, 400, "exactly one of"),
    ({"dataframe_records": [ROW], "extra": 1}, 400, "unexpected key(s) 'extra'"),
    ({"dataframe_records": [ROW], "params": None}, 400, "params must be an object"),
    ({"dataframe_records": [ROW], "params": {"k": 1}}, 422, "takes no params"),
    ({"dataframe_split": {"columns": ["island"], "data": [["Dream", 1]]}}, 400, "each a list of 1 value(s)"),
    ({"dataframe_split": {"columns": ["a", "a"], "data": []}}, 400, "more than once"),
    ({"instances": [1, 2]}, 400, "must be a list of objects"),
    ({"inputs": {"island": ["Dream"], "sex": []}}, 400, "different lengths"),
    ({"dataframe_records": []}, 422, "no rows"),
])
def test_invocations_errors(schema: InputSchema, body: Any, status: int, fragment: str) -> None:
    error = refused(parse_invocations, body, schema)
    assert error.status == status
    assert fragment in error.message


def test_errors_never_echo_the_body(schema: InputSchema) -> None:
    secret = "s3cr3t-" + "x" * 5000
    for body in ({"dataframe_records": [{**ROW, "island": secret}]}, {"dataframe_records": [{**ROW, secret: 1}]}):
        error = refused(parse_invocations, body, schema)
        assert secret not in str(error.body()) and len(str(error.body())) < 1000


# --- OpenAPI, metrics labels, settings --------------------------------------------------------------------


def test_openapi_document_is_valid_openapi_31(schema: InputSchema) -> None:
    from openapi_spec_validator import validate

    document = openapi_document("penguins-classifier", schema)
    validate(document)
    row = document["components"]["schemas"]["Row"]
    assert row["properties"]["bill_length_mm"] == {"type": ["number", "null"], "minimum": 25, "maximum": 70}
    assert row["required"] == ["island"]


@pytest.mark.parametrize(("path", "endpoint"), [
    ("/v2/models/anything/infer", "/v2/models/{name}/infer"),
    ("/v2/models/x", "/v2/models/{name}"),
    ("/v2/models/x/y/z", "other"),
    ("/random/path", "other"),
    ("/metrics", "/metrics"),
])
def test_metric_labels_never_hold_raw_paths(path: str, endpoint: str) -> None:
    assert endpoint_of(path) == endpoint


def _serve_args(**given: Any) -> argparse.Namespace:
    defaults = {"host": None, "port": None, "model": None, "workers": 1, "max_body_bytes": 1 << 20,
                "timeout": 30.0, "max_batch_wait_ms": 2.0}
    return argparse.Namespace(**{**defaults, **given})


def test_serve_settings_flag_then_environment_then_config() -> None:
    env = {"MLCD_HOST": "0.0.0.0", "MLCD_PORT": "9000", "MLCD_MODEL": "/models/m.skops"}
    limits = {"header_timeout": 10.0, "body_timeout": 30.0, "max_connections": 1000}
    assert resolve(_serve_args(), {}, 8080) == {"host": "127.0.0.1", "port": 8080, "model": None, **limits}
    assert resolve(_serve_args(), env, 8080) == {"host": "0.0.0.0", "port": 9000, "model": "/models/m.skops",
                                                 **limits}
    assert resolve(_serve_args(host="::1", port=7000, model="m"), env, 8080) == {"host": "::1", "port": 7000,
                                                                                 "model": "m", **limits}
    for bad in (_serve_args(port=70000), _serve_args(workers=0), _serve_args(max_batch_wait_ms=-1)):
        with pytest.raises(UsageError):
            resolve(bad, {}, 8080)
    with pytest.raises(UsageError, match="MLCD_PORT"):
        resolve(_serve_args(), {"MLCD_PORT": "http"}, 8080)


# --- predictor and batcher --------------------------------------------------------------------------------


def _penguin_frame(rows: int, seed: int = 0) -> Any:
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "island": rng.choice(["Biscoe", "Dream", "Torgersen"], rows),
        "bill_length_mm": rng.uniform(30, 60, rows),
        "bill_depth_mm": rng.uniform(13, 21, rows),
        "flipper_length_mm": rng.uniform(170, 230, rows),
        "body_mass_g": rng.uniform(2700, 6300, rows),
        "sex": rng.choice(["female", "male"], rows).astype(object),
    })
    frame.loc[::7, "bill_length_mm"] = np.nan
    frame.loc[::5, "sex"] = np.nan
    label = np.where(frame["flipper_length_mm"] > 205, "Gentoo",
                     np.where(frame["bill_depth_mm"] > 17, "Adelie", "Chinstrap"))
    return frame, label


def _pipeline(classifier: Any) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    encode = make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore"))
    scale = make_pipeline(SimpleImputer(), StandardScaler())
    return Pipeline([("pre", ColumnTransformer([("num", scale, numeric),
                                                ("cat", encode, ["island", "sex"])])), ("model", classifier)])


@pytest.mark.parametrize("kind", ["logistic", "forest"])
def test_predictor_matches_the_pipeline_exactly(schema: InputSchema, kind: str) -> None:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    frame, label = _penguin_frame(300)
    classifier = LogisticRegression(max_iter=500) if kind == "logistic" else RandomForestClassifier(
        n_estimators=20, random_state=0, n_jobs=2)
    model = _pipeline(classifier).fit(frame, label)
    predictor = Predictor(model, schema, "classification")
    assert model.get_params()["model__n_jobs"] in (None, 1)
    test, _ = _penguin_frame(80, seed=1)
    columns = {name: [None if isinstance(v, float) and math.isnan(v) else v for v in test[name].tolist()]
               for name in schema.names}
    labels, proba = predictor.predict(columns)
    assert labels.tolist() == model.predict(test).tolist()
    assert proba is not None and np.abs(proba - model.predict_proba(test)).max() == 0
    assert predictor.classes == ["Adelie", "Chinstrap", "Gentoo"] and predictor.label_datatype == "BYTES"


def test_batcher_scores_concurrent_requests_together_and_splits_results() -> None:
    calls: list[int] = []

    def predict(columns: dict[str, list[Any]], proba: bool) -> tuple[Any, Any]:
        values = columns["x"]
        calls.append(len(values))
        if "boom" in values:
            raise ValueError("the model cannot take this")
        return np.array([f"label-{v}" for v in values]), np.array([[float(len(str(v)))] for v in values])

    async def scenario() -> list[Any]:
        batcher = Batcher(predict, max_wait=0.05, max_rows=100)
        batcher.start()

        async def one(values: list[Any]) -> Any:
            with batcher.arriving():
                await asyncio.sleep(0)
            try:
                return await batcher.submit({"x": values}, len(values), True, timeout=5)
            except ValueError as exc:
                return exc

        try:
            return await asyncio.gather(*(one(v) for v in ([1], [2, 3], ["boom"], [4])))
        finally:
            await batcher.stop()

    first, second, broken, fourth = asyncio.run(scenario())
    assert first.labels == ["label-1"] and second.labels == ["label-2", "label-3"]
    assert second.proba.tolist() == [[1.0], [1.0]]
    assert isinstance(broken, ValueError)
    assert fourth.labels == ["label-4"]
    assert calls[0] == 5  # one batch with all five rows, then each request alone to find the broken one


def test_batcher_gives_up_after_the_timeout_and_carries_on() -> None:
    import time

    def slow(columns: dict[str, list[Any]], proba: bool) -> tuple[Any, Any]:
        time.sleep(0.3 if columns["x"] == ["slow"] else 0)
        return np.array(columns["x"]), None

    async def scenario() -> Any:
        batcher = Batcher(slow, max_wait=0.001, max_rows=10)
        batcher.start()
        try:
            with pytest.raises(asyncio.TimeoutError):
                await batcher.submit({"x": ["slow"]}, 1, False, timeout=0.05)
            return await batcher.submit({"x": ["fast"]}, 1, False, timeout=5)
        finally:
            await batcher.stop()

    assert asyncio.run(scenario()).labels == ["fast"]


@pytest.mark.parametrize("mutate", [
    lambda b: b["inputs"][0].update(parameters=[]),
    lambda b: b.update(outputs=[{"name": "predict", "parameters": 1}]),
])
def test_parameters_must_be_objects_as_the_document_says(schema: InputSchema, mutate: Any) -> None:
    body = oip([ROW])
    mutate(body)
    assert refused(parse_infer, body, schema).status == 400


def test_a_request_may_keep_its_rows_out_of_the_prediction_log(schema: InputSchema) -> None:
    assert parse_infer(oip([ROW]), schema).logged
    body = oip([ROW])
    body["parameters"] = {"mlcd_log": False}
    assert not parse_infer(body, schema).logged
    body["parameters"] = {"mlcd_log": "no"}
    refusal = refused(parse_infer, body, schema)
    assert refusal.status == 400 and "parameters.mlcd_log must be true or false" in str(refusal)


def test_dataframe_split_index_must_be_a_list(schema: InputSchema) -> None:
    body = {"dataframe_split": {"columns": list(ROW), "data": [list(ROW.values())], "index": 5}}
    assert refused(parse_invocations, body, schema).status == 400
    body["dataframe_split"]["index"] = [7]
    assert parse_invocations(body, schema).rows == 1
