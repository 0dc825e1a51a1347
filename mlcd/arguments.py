"""mlcd's command line: every command, its arguments and help. `mlcd.cli` runs what it parses."""

from __future__ import annotations

import argparse
import sys

from mlcd import __version__

VERDICTS = ["drift", "skew", "below gates", "stale", "no drift", "not enough data"]  # mlcd.monitoring.run.DriftRun


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message} (run `{self.prog} --help` for usage)", file=sys.stderr)
        raise SystemExit(2)


def _command(subparsers: argparse._SubParsersAction[Parser], name: str, module: str, help_text: str) -> Parser:
    parser = subparsers.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(_module=module, _prog=parser.prog)
    parser.add_argument("--config", metavar="PATH", help="mlcd.yaml to use (default: $MLCD_CONFIG, then ./mlcd.yaml)")
    return parser


def _window_arguments(parser: Parser) -> None:
    """Which prediction logs, and which rows of them: the same options for every monitoring command."""
    parser.add_argument("--logs", metavar="PATH",
                        help="prediction log directory or fsspec URL (default: monitoring.logs)")
    parser.add_argument("--since", metavar="ISO",
                        help="first moment of the window (default: --until minus monitoring.window)")
    parser.add_argument("--until", metavar="ISO", help="end of the window, excluded (default: now)")
    parser.add_argument("--last", metavar="N", type=int, help="the newest N logged rows instead of a time window")


def build_parser() -> Parser:
    parser = Parser(
        prog="mlcd",
        description="Continuous delivery for machine learning: data tests, training with lineage, "
        "evaluation and gates, driven by GitHub Actions.",
        epilog="Exit codes: 0 ok, 2 config or usage error, 3 a check or gate failed, 4 input missing, "
        "5 an external tool failed, 6 model file unsafe, 7 GitHub API refused or unreachable, "
        "8 Docker engine or registry failed, 9 a deployment failed (the previous version was restored), "
        "10 another promotion to the environment is running. MLCD_DEBUG=1 shows tracebacks.",
    )
    parser.add_argument("--version", action="version", version=f"mlcd {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=Parser)

    config = commands.add_parser("config", help="work with mlcd.yaml")
    config_commands = config.add_subparsers(title="config commands", metavar="COMMAND", parser_class=Parser)
    validate = _command(config_commands, "validate", "mlcd.commands.config_validate",
                        "validate mlcd.yaml against the schema, listing every problem at file:line:column")
    validate.add_argument("file", nargs="?", help="file to validate (default: the mlcd.yaml in use)")
    config_commands.add_parser("schema", help="print the JSON schema of mlcd.yaml").set_defaults(
        _module="mlcd.commands.config_schema")
    _command(config_commands, "stages", "mlcd.commands.config_stages",
             "print deploy.stages, one per line (on GitHub Actions also the outputs stage-1 … stage-N)")

    data = commands.add_parser("data", help="data tests")
    data_commands = data.add_subparsers(title="data commands", metavar="COMMAND", parser_class=Parser)
    data_test = _command(data_commands, "test", "mlcd.commands.data_test",
                         "validate a dataset against the contract: schema, quality, leakage and drift")
    data_test.add_argument("path", nargs="?", help="CSV or Parquet file (default: data.path in mlcd.yaml)")
    data_test.add_argument("--reference", metavar="PATH", help="reference data for drift (overrides data.reference)")
    data_test.add_argument("--if-present", action="store_true",
                           help="when the file does not exist yet (the pipeline makes it), say so and exit 0 "
                                "(output tested: false) instead of 4")
    data_test.add_argument("--reference-rev", metavar="REV",
                           help="git revision whose DVC-tracked data is the drift reference")
    data_test.add_argument("--json", metavar="FILE", default="data-test.json", help="machine-readable result")
    data_test.add_argument("--markdown", metavar="FILE", default="data-test.md", help="report section")

    _command(data_commands, "update", "mlcd.commands.data_update",
              "bring DVC-tracked data to its newest version: dvc update the imports, dvc pull the rest")

    train = _command(commands, "train", "mlcd.commands.train",
                     "run the DVC pipeline (dvc repro) and record lineage next to the model")
    train.add_argument("--check-reproducible", action="store_true",
                       help="retrain from the same inputs and fail if metrics or holdout predictions differ")
    train.add_argument("--force", action="store_true", help="rerun every stage even if its inputs are unchanged")

    evaluate = _command(commands, "evaluate", "mlcd.commands.evaluate",
                        "compute metrics and per-slice metrics on the holdout and apply the absolute gates")
    evaluate.add_argument("--no-fail", action="store_true",
                          help="exit 0 even if a gate fails (verdicts are still written); for DVC stages")

    compare = _command(commands, "compare", "mlcd.commands.compare",
                       "compare the head's metrics with the base branch and production and apply every gate")
    compare.add_argument("--base", metavar="REV", help="base revision (default: origin/$GITHUB_BASE_REF on a PR)")
    compare.add_argument("--production", metavar="REV",
                         help="production revision (default: the newest <model>#production#N tag)")
    compare.add_argument("--data-test", metavar="FILE", default=None,
                         help="data test result to gate on (e.g. data-test.json)")
    compare.add_argument("--base-predictions", metavar="FILE",
                         help="the base model's predictions on the same holdout, for a paired noise test")
    compare.add_argument("--output", metavar="FILE", default="comparison.json")
    compare.add_argument("--no-fail", action="store_true", help="exit 0 even if a gate fails")

    report = _command(commands, "report", "mlcd.commands.report",
                      "render the pull-request report (Markdown) from a comparison")
    report.add_argument("--comparison", metavar="FILE", default="comparison.json")
    report.add_argument("--output", metavar="FILE", default="report.md")
    report.add_argument("--failed", metavar="STAGE",
                        help="the report of a run that stopped before a comparison: STAGE failed (e.g. training); "
                             "with --data-test, the data tests' result too")
    report.add_argument("--data-test", metavar="FILE", help="with --failed: the result `mlcd data test` wrote")
    report.add_argument("--shadow", metavar="FILE",
                        help="`mlcd shadow --json` result (shadow.json): a section, and gates.max_prediction_churn "
                             "among the gates")

    drift = _command(commands, "drift", "mlcd.commands.drift",
                     "compare logged production inputs and predictions with the training data; exit 3 on drift")
    _window_arguments(drift)
    drift.add_argument("--reference", metavar="FILE",
                       help="training data of the model in production (default: data.splits.train)")
    drift.add_argument("--reference-predictions", metavar="FILE",
                       help="the model's predictions on reference data (a prediction or y_pred column); "
                            "default: compare predictions with the reference's labels")
    drift.add_argument("--json", metavar="FILE", default="drift.json", help="machine-readable result")
    drift.add_argument("--markdown", metavar="FILE", default="drift.md", help="report")

    drift.add_argument("--if-configured", action="store_true",
                       help="with no prediction logs configured (a new repository), say what to set and exit 0 "
                            "(output verdict: not configured) instead of 2; a model older than "
                            "monitoring.max_model_age still fails (verdict stale)")
    drift.add_argument("--reference-rev", metavar="REV",
                       help="reference: the DVC-tracked training split at this git revision; 'production' for the "
                            "newest <model>#production#N tag (the checked-out commit when there is none)")
    drift.add_argument("--labels", metavar="PATH",
                       help="labels that arrived for the window's predictions (default: monitoring.labels.path): "
                            "production metrics below the gates fail the run too (verdict: below gates)")

    feedback = _command(commands, "feedback", "mlcd.commands.feedback",
                        "join labels that arrived later to the logged predictions; metrics, slices and gates on "
                        "production traffic; exit 3 when a gate fails")
    feedback.add_argument("--labels", metavar="PATH",
                          help="CSV or Parquet file, directory or fsspec URL: contract.label and an id "
                               "(default: monitoring.labels.path)")
    pairing = feedback.add_mutually_exclusive_group()
    pairing.add_argument("--id-column", metavar="NAME",
                         help="its column of logged request ids (default: monitoring.labels.id_column or request_id)")
    pairing.add_argument("--key", metavar="COLUMN",
                         help="pair by a column in the labels and in every logged row (default: monitoring.labels.key)")
    _window_arguments(feedback)
    feedback.add_argument("--min-rows", metavar="N", type=int, help="fewest joined rows (default: drift.min_rows)")
    feedback.add_argument("--output", metavar="FILE", default="feedback-metrics.json", help="evaluate's format")
    feedback.add_argument("--json", metavar="FILE", default="feedback.json", help="machine-readable result")
    feedback.add_argument("--markdown", metavar="FILE", default="feedback.md", help="report")
    feedback.add_argument("--no-fail", action="store_true", help="exit 0 even if a gate fails")

    shadow = _command(commands, "shadow", "mlcd.commands.shadow",
                      "replay logged production traffic through the candidate model: how many predictions "
                      "change, by how much, per slice; exit 3 when the churn gate (gates.max_prediction_churn) fails")
    candidate = shadow.add_mutually_exclusive_group()
    candidate.add_argument("--model", metavar="FILE", help="the candidate model file (default: model.path)")
    candidate.add_argument("--image", metavar="REF",
                           help="the candidate image (`mlcd package`'s), run hardened as `mlcd smoke` runs it and "
                                "scored through its endpoint: what would be promoted")
    _window_arguments(shadow)
    shadow.add_argument("--sample", metavar="N", type=int,
                        help="replay at most N rows of the window, drawn at random (default: every row)")
    shadow.add_argument("--seed", metavar="N", type=int, default=0, help="seed of --sample (default: 0)")
    shadow.add_argument("--json", metavar="FILE", default="shadow.json", help="machine-readable result")
    shadow.add_argument("--markdown", metavar="FILE", default="shadow.md", help="report")
    shadow.add_argument("--if-configured", action="store_true",
                        help="with no prediction logs configured, say what to set and exit 0 instead of 2")
    shadow.add_argument("--timeout", metavar="SECONDS", type=float, default=60.0,
                        help="with --image: how long the image may take to become ready (default: 60)")

    alert = _command(commands, "alert", "mlcd.commands.alert",
                     "put a drift report on GitHub: open or update the one drift issue, or note on it that "
                     "drift cleared")
    alert.add_argument("--report", metavar="FILE", default="drift.md", help="the report (mlcd drift --markdown)")
    alert.add_argument("--verdict", choices=VERDICTS, required=True,
                       help="mlcd drift's output 'verdict': drift, skew, below gates and stale open or update the "
                            "issue, 'no drift' notes on it that drift cleared, 'not enough data' changes nothing")
    alert.add_argument("--columns", metavar="A,B", help="the drifted columns, for the title")
    alert.add_argument("--metrics", metavar="A,B", help="the metrics below their gates in production, for the title")
    alert.add_argument("--title", metavar="TEXT", help="issue title (default: names the drifted columns)")
    alert.add_argument("--label", metavar="NAME", default="mlcd-drift", help="label that finds the issue "
                                                                             "(default: mlcd-drift)")
    alert.add_argument("--repo", metavar="OWNER/NAME", help="repository (default: $GITHUB_REPOSITORY)")

    dispatch = _command(commands, "dispatch", "mlcd.commands.dispatch",
                        "start a workflow run (workflow_dispatch), e.g. the retraining workflow after drift")
    dispatch.add_argument("workflow", metavar="WORKFLOW", help="the workflow's file name (mlcd-retrain.yml) or id")
    dispatch.add_argument("--ref", metavar="BRANCH", help="branch or tag to run on (default: $GITHUB_REF_NAME)")
    dispatch.add_argument("--input", metavar="NAME=VALUE", action="append", help="a workflow input (repeatable)")
    dispatch.add_argument("--repo", metavar="OWNER/NAME", help="repository (default: $GITHUB_REPOSITORY)")

    propose = _command(commands, "propose", "mlcd.commands.propose",
                       "commit the tracked files this run changed (dvc.lock, metrics, .dvc files) on a branch, "
                       "push it, and open or update its pull request with the report")
    propose.add_argument("--branch", metavar="NAME", default="mlcd/retrain", help="branch (default: mlcd/retrain)")
    propose.add_argument("--base", metavar="BRANCH", help="pull request base (default: $GITHUB_REF_NAME)")
    propose.add_argument("--title", metavar="TEXT", default="Retrain the model on the newest data",
                         help="pull request title and commit message")
    propose.add_argument("--body", metavar="FILE", default="report.md", help="pull request body (mlcd report)")
    propose.add_argument("--remote", metavar="NAME", default="origin", help="git remote (default: origin)")
    propose.add_argument("--repo", metavar="OWNER/NAME", help="repository (default: $GITHUB_REPOSITORY)")

    serve = _command(commands, "serve", "mlcd.commands.serve",
                     "serve the model over HTTP: Open Inference Protocol v2, MLflow /invocations, /metrics")
    serve.add_argument("--model", metavar="PATH", help="model file (default: $MLCD_MODEL, then model.path)")
    serve.add_argument("--host", help="address to listen on (default: $MLCD_HOST, then 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: $MLCD_PORT, then package.port, 8080)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes, each with its own model copy")
    serve.add_argument("--max-body-bytes", type=int, default=1 << 20, metavar="N",
                       help="larger request bodies get 413 (default: 1 MiB)")
    serve.add_argument("--timeout", type=float, default=30.0, metavar="S",
                       help="seconds a request may wait for its prediction before 503 (default: 30)")
    serve.add_argument("--max-batch-wait-ms", type=float, default=2.0, metavar="MS",
                       help="how long a batch waits for requests already on their way (default: 2)")
    serve.add_argument("--header-timeout", type=float, metavar="S",
                       help="seconds a connection may take to send a request's headers before it is closed "
                            "(default: $MLCD_HEADER_TIMEOUT, then 10)")
    serve.add_argument("--body-timeout", type=float, metavar="S",
                       help="seconds a request's body may take to arrive after its headers before 408 "
                            "(default: $MLCD_BODY_TIMEOUT, then 30)")
    serve.add_argument("--max-connections", type=int, metavar="N",
                       help="open connections per worker; requests on more get 503 (default: "
                            "$MLCD_MAX_CONNECTIONS, then 1000)")
    serve.add_argument("--prediction-log", metavar="DIR|URL",
                       help="log scored rows to this directory or fsspec URL; `off` for none (default: "
                            "$MLCD_PREDICTION_LOG, then monitoring.prediction_log.path, else off)")
    serve.add_argument("--log-sample-rate", type=float, metavar="R",
                       help="share of rows logged, 0 to 1 (default: $MLCD_LOG_SAMPLE_RATE, then mlcd.yaml, 1)")
    serve.add_argument("--log-rotate-mb", type=float, metavar="MB",
                       help="start a new log file at this size (default: $MLCD_LOG_ROTATE_MB, then mlcd.yaml, 64)")
    serve.add_argument("--log-rotate-minutes", type=float, metavar="MIN",
                       help="start a new log file at this age (default: $MLCD_LOG_ROTATE_MINUTES, then mlcd.yaml, 60)")

    predict = _command(commands, "predict", "mlcd.commands.predict",
                       "score a CSV or Parquet file with the model (or its image), checking every row against the "
                       "contract")
    predict.add_argument("model", metavar="MODEL|IMAGE",
                         help="a model file (.skops), or an image built by `mlcd package` (run hardened on 127.0.0.1)")
    predict.add_argument("input", help="rows to score (.csv, .parquet)")
    predict.add_argument("output", help="where to write predictions (.csv, .parquet)")
    predict.add_argument("--chunk-rows", type=int, default=50_000, metavar="N", help="rows per chunk (default: 50000)")
    predict.add_argument("--timeout", type=float, default=60.0, metavar="S",
                         help="seconds an image may take to become ready (default: 60)")

    comment = _command(commands, "comment", "mlcd.commands.comment",
                       "publish the report on the pull request: one sticky comment, and a check run with --conclusion")
    comment.add_argument("--body", metavar="FILE", required=True, help="Markdown report to publish (e.g. report.md)")
    comment.add_argument("--pr", metavar="N", type=int, help="pull request number (default: from $GITHUB_EVENT_PATH)")
    comment.add_argument("--repo", metavar="OWNER/NAME", help="repository (default: $GITHUB_REPOSITORY)")
    comment.add_argument("--sha", metavar="SHA",
                         help="commit for the check run (default: the pull request's head, then $GITHUB_SHA)")
    comment.add_argument("--conclusion", choices=["success", "failure"],
                         help="also create the 'mlcd / gates' check run (or commit status) with this conclusion")
    comment.add_argument("--title", metavar="TEXT", help="check run title (default: Gates passed / Gates failed)")
    comment.add_argument("--out", metavar="FILE", default="mlcd-comment.md",
                         help="where the comment goes when it cannot be posted (no token, no pull request)")

    package = _command(commands, "package", "mlcd.commands.package",
                       "build the model's serving image (Dockerfile, labels, SBOM) with the Docker engine")
    package.add_argument("--tag", metavar="TAG", help="image tag (default: package.image or the model name, "
                                                      ":model-<sha256[:12]>)")
    package.add_argument("--base-image", metavar="IMAGE", help="base image (default: package.base_image); "
                                                               "pin it as name@sha256:…")
    package.add_argument("--wheelhouse", metavar="DIR",
                         help="hermetic build: install mlcd and every dependency from the wheels in DIR, no index")
    package.add_argument("--context-dir", metavar="DIR",
                         help="where the Dockerfile and build context are written (default: .mlcd/image)")
    package.add_argument("--sbom", metavar="FILE", default="sbom.cdx.json", help="CycloneDX SBOM of the image")

    smoke = _command(commands, "smoke", "mlcd.commands.smoke",
                     "run the image hardened; check readiness, parity with the model offline, 4xx answers, latency")
    smoke.add_argument("image", metavar="IMAGE", help="image to test (tag or id)")
    smoke.add_argument("--timeout", metavar="S", type=float, default=60.0, help="seconds to wait for readiness")
    smoke.add_argument("--golden", metavar="FILE", help="rows to score, CSV or Parquet (default: the holdout)")
    smoke.add_argument("--report", metavar="FILE", default="smoke.json", help="machine-readable result")

    push = _command(commands, "push", "mlcd.commands.push",
                    "tag the image with the git SHA and model version, push it, verify the registry's digest")
    push.add_argument("image", metavar="IMAGE", help="local image to push (tag or id)")
    push.add_argument("--to", metavar="REGISTRY/REPO", help="target repository (default: package.image)")
    push.add_argument("--digest-file", metavar="FILE", default="image-digest.txt",
                      help="where the pushed image's digest is written")

    init = _command(commands, "init", "mlcd.commands.init",
                    "add mlcd's GitHub workflows and a first mlcd.yaml (a data contract inferred from --data) "
                    "to this repository; never overwrites a file you changed unless --force")
    init.add_argument("--data", metavar="FILE", help="data file (CSV or Parquet) to infer the data contract from")
    init.add_argument("--label", metavar="COLUMN", help="the column the model predicts (with --data)")
    init.add_argument("--force", action="store_true", help="replace files that differ from what init writes")
    init.add_argument("--ref", metavar="OWNER/NAME@SHA",
                      help="the commit of mlcd's reusable workflows the callers pin (default: the release this mlcd "
                           "is); for a fork, or a commit that is not a release")
    init.add_argument("--train", metavar="SCRIPT",
                      help="your training script: also write the DVC pipeline (dvc.yaml: `mlcd split`, then the "
                           "script, then `mlcd evaluate`), params.yaml, requirements.txt if missing, and a local "
                           "DVC remote (with --data and --label)")

    upgrade = _command(commands, "upgrade", "mlcd.commands.upgrade",
                       "move every pin of mlcd's workflows in .github/workflows to the installed release, "
                       "changing nothing else, and show the changelog")
    upgrade.add_argument("--ref", metavar="OWNER/NAME@SHA",
                         help="pin this commit instead (a fork, or a commit that is not a release)")
    upgrade.add_argument("--dry-run", action="store_true", help="say what would move, write nothing")

    split = _command(commands, "split", "mlcd.commands.split",
                     "split data.path into data.splits (train, test): seeded, stratified by the label for "
                     "classification, rows without a label dropped")
    split.add_argument("--test-size", metavar="FRACTION", type=float, default=0.2,
                       help="share of the labelled rows held out for evaluation (default: 0.2)")
    split.add_argument("--seed", type=int, default=42, help="the split's random seed (default: 42)")

    doctor = _command(commands, "doctor", "mlcd.commands.doctor",
                      "check this runner: Python, git, the Docker engine, the DVC remote, GPUs; one line each "
                      "with the fix")
    doctor.add_argument("--gpu", action="store_true", help="fail when no NVIDIA GPU is visible")

    promote = _command(commands, "promote", "mlcd.commands.promote",
                       "promote an image by digest to an environment: re-check its gates against what runs there, "
                       "deploy, verify, and record it (git tags, GitHub Deployment)")
    promote.add_argument("what", nargs="?", metavar="VERSION|DIGEST",
                         help="a registered version (v1.2.0), a digest (sha256:…) or image@sha256:… "
                              "(default: the image in deploy/ENV.yaml)")
    promote.add_argument("--to", metavar="ENV", required=True, help="the environment (deploy.environments)")
    promote.add_argument("--plan", action="store_true",
                         help="check only: write the approval evidence (Markdown) and exit 3 if it would be refused")
    promote.add_argument("--via-pr", action="store_true",
                         help="propose it instead: a pull request that writes deploy/ENV.yaml, with the evidence")
    promote.add_argument("--base", metavar="BRANCH", default="main", help="base branch of --via-pr (default: main)")
    promote.add_argument("--register-as", metavar="VERSION",
                         help="version to register a new digest as (default: the next patch version)")
    promote.add_argument("--data-test", metavar="FILE", help="data test result (data-test.json) to gate on")
    promote.add_argument("--smoke", metavar="FILE", help="`mlcd smoke` report to show in the evidence")
    promote.add_argument("--shadow", metavar="FILE",
                         help="`mlcd shadow --json` result (shadow.json): shown in the evidence, and "
                              "gates.max_prediction_churn refuses a larger churn")
    promote.add_argument("--golden", metavar="FILE", help="rows for the parity check (default: the holdout)")
    promote.add_argument("--require-parity", action="store_true",
                         help="fail if parity cannot be checked (the model file is not here)")
    promote.add_argument("--evidence", metavar="FILE", default="promotion-evidence.md",
                         help="where the approval evidence (Markdown) is written")
    promote.add_argument("--if-configured", action="store_true",
                         help="when deploy.environments does not name ENV (a new repository), say which settings "
                              "to add and exit 0 instead of 2")

    rollback = _command(commands, "rollback", "mlcd.commands.rollback",
                        "put the version that ran before (or --to VERSION) back in an environment, verified and "
                        "recorded like a promotion")
    rollback.add_argument("environment", metavar="ENV")
    rollback.add_argument("--to", metavar="VERSION", help="version to return to (default: the one before the current)")
    rollback.add_argument("--golden", metavar="FILE", help="rows for the parity check (default: the holdout)")
    rollback.add_argument("--require-parity", action="store_true", help="fail if parity cannot be checked")

    status = _command(commands, "status", "mlcd.commands.status",
                      "what runs in each environment, since when, by whom, and its last promotions")
    status.add_argument("--last", metavar="N", type=int, default=5, help="promotions shown per environment")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.add_argument("--no-fetch", action="store_true", help="read local tags only, do not fetch from the remote")

    environments = commands.add_parser("env", help="GitHub environments")
    env_commands = environments.add_subparsers(title="env commands", metavar="COMMAND", parser_class=Parser)
    env_setup = _command(env_commands, "setup", "mlcd.commands.env_setup",
                         "create or update the GitHub environments of mlcd.yaml: reviewers, branches, wait timer")
    env_setup.add_argument("--repo", metavar="OWNER/NAME", help="repository (default: $GITHUB_REPOSITORY)")
    env_setup.add_argument("--environment", metavar="ENV", action="append",
                           help="only this environment (repeatable; default: all)")
    return parser
