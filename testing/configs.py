"""The smallest mlcd.yaml that validates, for tests that add one section to it."""

MINIMAL_CONFIG = """\
version: 1
data: {path: data.csv}
contract:
  label: y
  columns:
    y: {dtype: category}
    x: {dtype: float}
model: {name: demo, path: model.skops}
"""
