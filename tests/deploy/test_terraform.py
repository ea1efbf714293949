"""Static checks of deploy/terraform: what `terraform validate` would catch without providers.

Providers cannot be downloaded here, so `terraform init/validate` cannot run. These tests parse
every .tf file (python-hcl2) and check the wiring: the environments call the stack with their
values, the stack calls the modules; the references inside each folder, the IAM policies, the
environment differences (the environments' arguments to the stack), and that the
Terraform agrees with the code: Glue jobs with the engine steps, Lambda functions with the ASL
roles, schedules with strata.toml, state machine definitions with deploy/asl, the on-premises
task queue with the steps marked on_premises, and state_in_lake on every runtime that runs steps.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "deploy" / "terraform"
MODULES = TERRAFORM / "modules"
ENVIRONMENTS = TERRAFORM / "environments"
STACK = TERRAFORM / "stack"
ASL = ROOT / "deploy" / "asl"
ONPREM_QUEUE_VARIABLE = "onprem_tasks_queue_url"
CALLBACK_RESOURCE = "arn:aws:states:::sqs:sendMessage.waitForTaskToken"
PIPELINES = ("weather_sales", "smartsensor", "shopease", "retail_marts", "totesys")
ENVS = ("dev", "prod")
MODULE_NAMES = (
    "s3",
    "iam",
    "glue",
    "lambda",
    "stepfunctions",
    "eventbridge",
    "sqs",
    "secretsmanager",
)
META_ARGUMENTS = {"source", "version", "providers", "depends_on", "count", "for_each"}
# Actions AWS does not let a policy scope to a resource: the only ones allowed on "*".
UNSCOPED_ACTIONS = {
    "cloudwatch:PutMetricData",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
}


# -- parsing -----------------------------------------------------------------------------------


_MARKERS = {"__is_block__", "__comments__"}


def _plain(value: Any) -> Any:
    """hcl2's output without its quoting: '"x"' -> 'x', block markers and comments dropped."""
    if isinstance(value, str):
        return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items() if k not in _MARKERS}
    return value


@cache
def parse(path: Path) -> dict[str, Any]:
    return _plain(hcl2.loads(path.read_text()))


def tf_files(folder: Path = TERRAFORM) -> list[Path]:
    return sorted(folder.rglob("*.tf"))


def blocks(folder: Path, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, body) of every `kind "name" {}` block (variable, output, module) in a folder."""
    for path in tf_files(folder):
        for block in parse(path).get(kind, []):
            yield from block.items()


def labelled(folder: Path, kind: str) -> dict[str, dict[str, Any]]:
    """`resource`/`data` blocks keyed "type.name"."""
    found = {}
    for path in tf_files(folder):
        for block in parse(path).get(kind, []):
            for rtype, named in block.items():
                for name, body in named.items():
                    found[f"{rtype}.{name}"] = body
    return found


def variables(folder: Path) -> dict[str, dict[str, Any]]:
    return dict(blocks(folder, "variable"))


def outputs(folder: Path) -> set[str]:
    return {name for name, _ in blocks(folder, "output")}


def module_calls(folder: Path = STACK) -> dict[str, dict[str, Any]]:
    return dict(blocks(folder, "module"))


def stack_call(env: str) -> dict[str, Any]:
    """The environment's `module "strata"` block: its arguments are the environment's values."""
    calls = module_calls(ENVIRONMENTS / env)
    assert set(calls) == {"strata"}, f"{env}: {set(calls)}"
    return calls["strata"]


def local_values(folder: Path) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for path in tf_files(folder):
        for block in parse(path).get("locals", []):
            values.update(block)
    return values


def strings(value: Any) -> Iterator[str]:
    """Every string in a parsed tree (expressions included): what references live in."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)


def folder_strings(folder: Path) -> list[str]:
    return [s for path in tf_files(folder) for s in strings(parse(path))]


def statements(value: Any) -> Iterator[dict[str, Any]]:
    """Policy statements: every mapping with `actions` (statement blocks and dynamic contents)."""
    if isinstance(value, list):
        for item in value:
            yield from statements(item)
    elif isinstance(value, dict):
        if "actions" in value:
            yield value
        for item in value.values():
            yield from statements(item)


def _var(expression: Any) -> str | None:
    ref = isinstance(expression, str) and re.fullmatch(r"\$\{var\.(\w+)\}", expression)
    return ref.group(1) if ref else None


def stack_value(env: str, name: str) -> Any:
    """What the stack's var.<name> is in an environment: the environment's argument (a literal,
    or the environment's var.X default), else the stack's default."""
    call = stack_call(env)
    if name not in call:
        declared = variables(STACK)[name]
        assert "default" in declared, f"{env}: stack var.{name} is neither passed nor defaulted"
        return declared["default"]
    if own := _var(call[name]):
        declared = variables(ENVIRONMENTS / env)[own]
        assert "default" in declared, f"{env}: var.{own} has no default"
        return declared["default"]
    return call[name]


def default(env: str, expression: Any) -> Any:
    """A stack expression resolved for an environment: a literal, `var.X` or `!var.X`."""
    if name := _var(expression):
        return stack_value(env, name)
    if isinstance(expression, str) and (ref := re.fullmatch(r"\$\{!var\.(\w+)\}", expression)):
        return not stack_value(env, ref.group(1))
    return expression


def module_folders() -> list[Path]:
    return [MODULES / name for name in MODULE_NAMES]


def all_folders() -> list[Path]:
    return [*module_folders(), STACK, *(ENVIRONMENTS / env for env in ENVS)]


def _id(folder: Path) -> str:
    return str(folder.relative_to(TERRAFORM))


# -- layout and parsing ------------------------------------------------------------------------


def test_layout() -> None:
    assert sorted(p.name for p in MODULES.iterdir() if p.is_dir()) == sorted(MODULE_NAMES)
    assert sorted(p.name for p in ENVIRONMENTS.iterdir() if p.is_dir()) == sorted(ENVS)
    for folder in module_folders():
        for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf"):
            assert (folder / name).is_file(), folder / name
    for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf"):
        assert (STACK / name).is_file(), f"stack/{name}"
    for env in ENVS:
        for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf"):
            assert (ENVIRONMENTS / env / name).is_file(), f"{env}/{name}"
        for name in ("backend.hcl.example", "terraform.tfvars.example"):
            assert (ENVIRONMENTS / env / name).is_file(), f"{env}/{name}"


@pytest.mark.parametrize("path", tf_files(), ids=lambda p: str(p.relative_to(TERRAFORM)))
def test_every_file_parses(path: Path) -> None:
    assert parse(path), f"{path} is empty"


@pytest.mark.parametrize("env", ENVS)
def test_environment_pins_terraform_and_aws_provider(env: str) -> None:
    (terraform,) = parse(ENVIRONMENTS / env / "versions.tf")["terraform"]
    assert terraform["required_version"].startswith(">=")
    (providers,) = terraform["required_providers"]
    assert providers["aws"]["source"] == "hashicorp/aws"
    assert providers["aws"]["version"].startswith("~> 5.")
    assert "s3" in terraform["backend"][0], "partial S3 backend configuration"
    (provider,) = parse(ENVIRONMENTS / env / "versions.tf")["provider"]
    assert provider["aws"]["region"] == "${var.region}"
    assert provider["aws"]["default_tags"][0]["tags"]["environment"] == env


def test_stack_requires_the_aws_provider_and_configures_none() -> None:
    """A called module gets its provider from the environment (no provider block of its own)."""
    (terraform,) = parse(STACK / "versions.tf")["terraform"]
    assert terraform["required_version"].startswith(">=")
    (providers,) = terraform["required_providers"]
    assert providers["aws"]["source"] == "hashicorp/aws"
    assert "backend" not in terraform
    for path in tf_files(STACK):
        assert "provider" not in parse(path), path


@pytest.mark.parametrize("folder", all_folders(), ids=_id)
def test_variables_have_description_and_type(folder: Path) -> None:
    declared = variables(folder)
    assert declared, f"{folder} declares no variables"
    for name, body in declared.items():
        assert body.get("description"), f"{_id(folder)}: variable {name} has no description"
        assert body.get("type"), f"{_id(folder)}: variable {name} has no type"


@pytest.mark.parametrize("folder", all_folders(), ids=_id)
def test_outputs_have_descriptions(folder: Path) -> None:
    for name, body in blocks(folder, "output"):
        assert body.get("description"), f"{_id(folder)}: output {name} has no description"


# -- wiring ------------------------------------------------------------------------------------


def _check_call(caller: Path, name: str, call: dict[str, Any]) -> Path:
    """Every argument is a variable of the called module, every required variable is passed."""
    source = (caller / call["source"]).resolve()
    assert source.is_dir(), f"{_id(caller)}: module.{name} source"
    declared = variables(source)
    passed = set(call) - META_ARGUMENTS
    assert passed <= set(declared), f"{_id(caller)}: {name} undeclared {passed - set(declared)}"
    required = {v for v, body in declared.items() if "default" not in body}
    assert required <= passed, f"{_id(caller)}: module.{name} misses {required - passed}"
    return source


def test_stack_calls_match_module_variables() -> None:
    calls = module_calls(STACK)
    assert set(calls) == set(MODULE_NAMES) - {"secretsmanager"} | {"secrets"}
    for name, call in calls.items():
        assert _check_call(STACK, name, call).parent == MODULES, f"module.{name} source"


@pytest.mark.parametrize("env", ENVS)
def test_environment_calls_the_stack(env: str) -> None:
    """An environment is one call of ../../stack with its name and values, nothing else."""
    folder = ENVIRONMENTS / env
    call = stack_call(env)
    assert call["source"] == "../../stack"
    assert _check_call(folder, "strata", call) == STACK.resolve()
    assert call["env"] == env
    for kind in ("resource", "data", "locals"):
        assert not any(kind in parse(path) for path in tf_files(folder)), f"{env}: {kind}"
    # The stack's defaults are only what dev and prod agree on: the rest each environment says.
    required = {v for v, body in variables(STACK).items() if "default" not in body}
    assert {"env", "deletion_protection", "log_retention_days", "schedules"} <= required
    # Its own variables are passed through under the same name.
    for name in variables(folder):
        if name != "region":
            assert call[name] == f"${{var.{name}}}", f"{env}: var.{name}"


def test_environments_call_the_same_stack_with_their_values() -> None:
    dev, prod = (stack_call(env) for env in ENVS)
    assert dev["source"] == prod["source"] == "../../stack"
    assert dev.keys() == prod.keys()
    assert variables(ENVIRONMENTS / "dev").keys() == variables(ENVIRONMENTS / "prod").keys()
    assert outputs(ENVIRONMENTS / "dev") == outputs(ENVIRONMENTS / "prod")
    differ = {name for name in dev if dev[name] != prod[name]}
    assert differ >= {"env", "deletion_protection", "access_logging", "schedules"}


@pytest.mark.parametrize("folder", all_folders(), ids=_id)
def test_var_and_local_references_are_declared(folder: Path) -> None:
    text, declared = folder_strings(folder), set(variables(folder))
    used_vars = {m for s in text for m in re.findall(r"\bvar\.(\w+)", s)}
    assert used_vars <= declared, f"{_id(folder)}: undeclared {used_vars - declared}"
    used_locals = {m for s in text for m in re.findall(r"\blocal\.(\w+)", s)}
    assert used_locals <= set(local_values(folder)), _id(folder)
    unused = declared - used_vars
    assert not unused, f"{_id(folder)}: variables never used: {unused}"


@pytest.mark.parametrize("folder", [STACK, *(ENVIRONMENTS / env for env in ENVS)], ids=_id)
def test_module_output_references_exist(folder: Path) -> None:
    calls = module_calls(folder)
    refs = {
        (m, out)
        for s in folder_strings(folder)
        for m, out in re.findall(r"\bmodule\.(\w+)\.(?!module\.)(\w+)", s)
    }
    assert refs, f"{_id(folder)} uses no module outputs"
    for module, output in refs:
        assert module in calls, f"{_id(folder)}: module.{module} is not called"
        source = (folder / calls[module]["source"]).resolve()
        assert output in outputs(source), f"{_id(folder)}: module.{module} has no output {output}"


@pytest.mark.parametrize("env", ENVS)
def test_environment_outputs_reexport_the_stack(env: str) -> None:
    for name, body in blocks(ENVIRONMENTS / env, "output"):
        expected = "${module.strata}" if name == "stack" else f"${{module.strata.{name}}}"
        assert body["value"] == expected, f"{env}: output {name}"


@pytest.mark.parametrize("folder", all_folders(), ids=_id)
def test_resource_and_data_references_are_declared(folder: Path) -> None:
    resources, data = labelled(folder, "resource"), labelled(folder, "data")
    for s in folder_strings(folder):
        for rtype, name in re.findall(r"(?<![\w.])(aws_\w+)\.(\w+)", s):
            assert f"{rtype}.{name}" in resources, f"{_id(folder)}: {rtype}.{name} in {s!r}"
        for rtype, name in re.findall(r"\bdata\.(aws_\w+)\.(\w+)", s):
            assert f"{rtype}.{name}" in data, f"{_id(folder)}: data.{rtype}.{name}"


# -- agreement with the code ---------------------------------------------------------------


def test_glue_jobs_are_the_engine_steps() -> None:
    from strata.aws.glue import spark_steps
    from strata.pipelines import pipeline_names

    jobs = local_values(STACK)["glue_jobs"]
    assert sorted(jobs) == sorted(pipeline_names()) == sorted(PIPELINES)
    assert {p: steps for p, steps in jobs.items()} == {p: spark_steps(p) for p in PIPELINES}
    job = labelled(MODULES / "glue", "resource")["aws_glue_job.step"]
    assert job["command"][0]["script_location"] == "${local.artifacts}/glue/${each.key}.py"
    assert job["name"] == "${local.prefix}-${each.value.pipeline}-${each.value.step}"


def test_glue_job_arguments() -> None:
    job = labelled(MODULES / "glue", "resource")["aws_glue_job.step"]
    arguments = job["default_arguments"]
    for name, value in {
        "--lake": "var.lake_uri",
        "--env": "var.env",
        "--state_dir": "/tmp/strata",
        "--state_in_lake": "true",
        "--additional-python-modules": "var.wheel_key",
    }.items():
        assert f'"{name}"' in arguments and value in arguments, name
    version = variables(MODULES / "glue")["glue_version"]
    assert float(version["default"]) >= 5.0, "Strata needs Python 3.11: Glue 5.0+"


@pytest.mark.parametrize("env", ENVS)
def test_lambda_functions_are_the_asl_roles(env: str) -> None:
    from strata.aws.asl import ROLES

    functions = stack_value(env, "lambda_functions")
    assert sorted(functions) == sorted(ROLES)
    for role, size in functions.items():
        assert 128 <= size["memory_mb"] <= 10240, role
        assert size["timeout_seconds"] <= 900, role
        assert 512 <= size["ephemeral_storage_mb"] <= 10240, role
    function = labelled(MODULES / "lambda", "resource")["aws_lambda_function.role"]
    assert function["package_type"] == "Image"
    assert function["image_uri"] == "${var.image_uri}"
    assert function["image_config"][0]["command"] == ["strata.aws.lambdas.${each.key}"]
    assert function["function_name"] == "${local.prefix}-${each.key}"
    env_vars = function["environment"][0]["variables"]
    for name in ("STRATA_ENV", "STRATA_LAKE", 'STRATA_STATE_DIR = "/tmp/strata"'):
        assert name in env_vars


def _glue_strata_arguments() -> dict[str, str]:
    """The jobs' default arguments that Strata reads (not Glue's own), with var.* stand-ins."""
    from strata.aws.glue import ARGUMENTS

    job = labelled(MODULES / "glue", "resource")["aws_glue_job.step"]
    pairs = re.findall(r'"--([\w-]+)" = ("[^"]*"|[^,}]+)', job["default_arguments"])
    stand_ins = {"var.lake_uri": "s3://lake", "var.env": "prod"}
    found = {}
    for name, value in pairs:
        if name in ARGUMENTS:
            value = value.strip()
            found[name] = value.strip('"') if value.startswith('"') else stand_ins.get(value, "4")
    return found


def test_glue_jobs_keep_state_in_lake() -> None:
    """Every Glue job copies the lake's state database in and out (--state_in_lake true), and
    strata.aws.glue reads the arguments the jobs get."""
    from strata.aws.glue import parse_job_args

    arguments = _glue_strata_arguments()
    assert arguments.get("state_in_lake") == "true", arguments
    assert {"lake", "env", "state_dir", "state_in_lake", "workers"} <= set(arguments)
    argv = ["--JOB_NAME", "strata-prod-totesys-refine"]
    for name, value in arguments.items():
        argv += [f"--{name}", value]
    parsed = parse_job_args(argv)
    assert parsed.state_in_lake is True
    assert parsed.lake == "s3://lake" and parsed.state_dir == "/tmp/strata"


def test_lambda_functions_keep_state_in_lake(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every function gets STRATA_STATE_IN_LAKE=true, after var.environment so that no
    override turns it off, and Settings reads that variable."""
    from strata.config import load_settings

    function = labelled(MODULES / "lambda", "resource")["aws_lambda_function.role"]
    env_vars = function["environment"][0]["variables"]
    fixed = re.fullmatch(r"\$\{merge\(var\.environment, \{(.*)\}\)\}", env_vars)
    assert fixed, f"var.environment must come first in the merge: {env_vars}"
    assert re.search(r'\bSTRATA_STATE_IN_LAKE = "true"', fixed.group(1))
    assert function["for_each"] == "${var.functions}"
    assert "STRATA_STATE_IN_LAKE" not in str(local_values(STACK))
    for env in ENVS:
        assert "STRATA_STATE_IN_LAKE" not in str(stack_call(env))
    monkeypatch.setenv("STRATA_STATE_IN_LAKE", "true")
    assert load_settings(profile="prod", config_file=ROOT / "strata.toml").state_in_lake is True


def test_lambda_handlers_exist() -> None:
    import strata.aws.lambdas as lambdas
    from strata.aws.asl import ROLES

    for role in ROLES:
        assert callable(getattr(lambdas, role)), f"strata.aws.lambdas.{role}"


def test_prod_schedules_follow_strata_toml() -> None:
    from strata.config import load_settings

    settings = load_settings(profile="prod", config_file=ROOT / "strata.toml")
    expected = {p: settings.schedules.get(p, settings.schedule) for p in PIPELINES}
    assert stack_value("prod", "schedules") == expected
    assert module_calls()["eventbridge"]["schedules"] == "${var.schedules}"
    assert expected["totesys"] == "rate(5 minutes)"
    assert expected["smartsensor"] == "cron(0 2 * * ? *)"


def test_dev_is_not_scheduled() -> None:
    from strata.config import load_settings

    settings = load_settings(profile="dev", config_file=ROOT / "strata.toml")
    assert not settings.schedule and not settings.schedules
    assert stack_value("dev", "schedules") == {}


@pytest.mark.parametrize("env", ENVS)
def test_environment_follows_profile(env: str) -> None:
    from strata.config import load_settings

    settings = load_settings(profile=env, config_file=ROOT / "strata.toml")
    assert stack_value(env, "log_retention_days") == settings.log_retention_days
    assert stack_value(env, "access_logging") is settings.access_logging
    s3 = module_calls()["s3"]
    assert default(env, s3["access_logging"]) is settings.access_logging
    assert default(env, s3["force_destroy"]) is (env == "dev")


def test_prod_enables_access_logging_and_dev_does_not() -> None:
    assert default("prod", module_calls()["s3"]["access_logging"]) is True
    assert default("dev", module_calls()["s3"]["access_logging"]) is False
    logging = labelled(MODULES / "s3", "resource")["aws_s3_bucket_logging.this"]
    assert "var.access_logging" in logging["for_each"]
    assert labelled(MODULES / "s3", "resource")["aws_s3_bucket.logs"]["count"] == (
        "${var.access_logging ? 1 : 0}"
    )


def test_prod_is_protected_and_retains_longer() -> None:
    assert stack_value("prod", "deletion_protection") is True
    assert stack_value("dev", "deletion_protection") is False
    for name in ("raw_expiration_days", "archive_after_days", "log_retention_days"):
        assert stack_value("prod", name) > stack_value("dev", name), name
    assert stack_value("prod", "raw_expiration_days") == 455  # seed 001: 90 days S3 + 365 Glacier


def test_lake_lifecycle_archives_raw_and_bronze() -> None:
    s3 = variables(MODULES / "s3")
    assert s3["archive_prefixes"]["default"] == ["raw/", "bronze/"]
    rules = labelled(MODULES / "s3", "resource")["aws_s3_bucket_lifecycle_configuration.lake"]
    text = json.dumps(rules)
    assert "noncurrent_version_expiration" in text
    assert "var.archive_after_days" in text and "var.archive_storage_class" in text
    # S3 must never expire bronze: manifests are checkpoints; housekeeping deletes loads.
    assert '"prefix": "raw/"' in text and '"prefix": "bronze/"' not in text


# -- state machines ------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_state_machines_read_deploy_asl(env: str) -> None:
    call = module_calls()["stepfunctions"]
    folder = call["definitions_dir"].replace("${path.module}", str(STACK))
    folder = folder.replace("${var.env}", stack_value(env, "env"))
    assert Path(folder).resolve() == (ASL / env).resolve()
    machine = labelled(MODULES / "stepfunctions", "resource")["aws_sfn_state_machine.pipeline"]
    assert machine["definition"] == (
        '${templatefile("${var.definitions_dir}/${each.key}.asl.json", '
        f"{{{ONPREM_QUEUE_VARIABLE} = var.{ONPREM_QUEUE_VARIABLE}}})}}"
    )
    assert machine["name"] == "${local.prefix}-${each.key}"
    assert call[ONPREM_QUEUE_VARIABLE] == "${module.sqs.onprem_tasks_queue_url}"


def _asl_missing() -> bool:
    return not ASL.is_dir()


@pytest.mark.skipif(_asl_missing(), reason="deploy/asl not generated yet")
@pytest.mark.parametrize("env", ENVS)
def test_state_machine_definitions_exist(env: str) -> None:
    for pipeline in PIPELINES:
        path = ASL / env / f"{pipeline}.asl.json"
        assert path.is_file(), f"missing {path.relative_to(ROOT)}"
        definition = json.loads(path.read_text())
        assert definition["StartAt"] in definition["States"]


def _task_targets(definition: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for state in definition["States"].values():
        parameters = state.get("Parameters") or state.get("Arguments") or {}
        if state.get("Resource") == "arn:aws:states:::lambda:invoke":
            yield "lambda", parameters["FunctionName"]
        elif state.get("Resource", "").startswith("arn:aws:states:::glue:startJobRun"):
            yield "glue", parameters["JobName"]
        elif state.get("Resource") == CALLBACK_RESOURCE:
            yield "sqs", parameters["QueueUrl"]
        elif state.get("Type") == "Task":
            raise AssertionError(f"a Task state Terraform does not provide for: {state}")


def _definition(env: str, pipeline: str) -> dict[str, Any]:
    return json.loads((ASL / env / f"{pipeline}.asl.json").read_text())


@pytest.mark.skipif(_asl_missing(), reason="deploy/asl not generated yet")
@pytest.mark.parametrize("env", ENVS)
def test_state_machines_call_what_terraform_creates(env: str) -> None:
    roles = stack_value(env, "lambda_functions")
    functions = {f"strata-{env}-{role}" for role in roles}
    jobs = {
        f"strata-{env}-{pipeline}-{step}"
        for pipeline, steps in local_values(STACK)["glue_jobs"].items()
        for step in steps
    }
    called: dict[str, set[str]] = {"lambda": set(), "glue": set(), "sqs": set()}
    for pipeline in PIPELINES:
        for kind, name in _task_targets(_definition(env, pipeline)):
            called[kind].add(name)
    assert called["lambda"] and called["lambda"] <= functions
    assert called["glue"] == jobs
    assert called["sqs"] == {f"${{{ONPREM_QUEUE_VARIABLE}}}"}


def _onprem_pipelines_in_code() -> list[str]:
    from strata.pipelines import get_pipeline

    found = []
    for name in PIPELINES:
        spec = get_pipeline(name)
        if any(step.on_premises for step in spec.build(spec.options({})).steps):
            found.append(name)
    return sorted(found)


@pytest.mark.skipif(_asl_missing(), reason="deploy/asl not generated yet")
@pytest.mark.parametrize("env", ENVS)
def test_onprem_pipelines_are_the_ones_with_onprem_steps(env: str) -> None:
    """The worker may answer the tokens of exactly the state machines that send to its queue."""
    from strata.aws.asl import CALLBACK_TIMEOUT, ONPREM_QUEUE

    declared = local_values(STACK)["onprem_pipelines"]
    assert sorted(declared) == _onprem_pipelines_in_code() == ["weather_sales"]
    sending = set()
    for pipeline in PIPELINES:
        for state in _definition(env, pipeline)["States"].values():
            if state.get("Resource") == CALLBACK_RESOURCE:
                assert state["Parameters"]["QueueUrl"] == ONPREM_QUEUE
                assert state["Parameters"]["MessageBody"]["task_token.$"] == "$$.Task.Token"
                assert state["TimeoutSeconds"] == CALLBACK_TIMEOUT
                sending.add(pipeline)
    assert sorted(sending) == sorted(declared)
    iam = module_calls()["iam"]
    assert iam["onprem_pipelines"] == "${local.onprem_pipelines}"
    assert iam["onprem_tasks_queue_arn"] == "${module.sqs.onprem_tasks_queue_arn}"


_TEMPLATE = re.compile(r"(?<![$%])[$%]\{")
_ESCAPED = re.compile(r"\$\$\{|%%\{")


@pytest.mark.skipif(_asl_missing(), reason="deploy/asl not generated yet")
@pytest.mark.parametrize("env", ENVS)
def test_definitions_hold_no_template_sequence_but_the_queue_url(env: str) -> None:
    """templatefile would interpolate any other ${...} or run a %{...} directive, and turn an
    escaped $${ or %%{ into ${ or %{: the only template sequence allowed is the queue URL."""
    for path in sorted((ASL / env).glob("*.asl.json")):
        text = path.read_text()
        assert not _ESCAPED.search(text), f"{path.name}: escaped template sequence"
        variables = set()
        for match in _TEMPLATE.finditer(text):
            sequence = re.match(r"\$\{(\w+)\}", text[match.start() :])
            assert sequence, f"{path.name}: {text[match.start() : match.start() + 40]!r}"
            variables.add(sequence.group(1))
        expected = {ONPREM_QUEUE_VARIABLE} if path.stem.split(".")[0] == "weather_sales" else set()
        assert variables == expected, path.name


@pytest.mark.skipif(_asl_missing(), reason="deploy/asl not generated yet")
@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")
def test_terraform_renders_definitions_unchanged_but_the_queue_url(tmp_path: Path) -> None:
    """Terraform's own templatefile: every definition renders to itself with only the queue URL
    put in (no provider needed: terraform console evaluates functions offline)."""
    paths = sorted(ASL.glob("*/*.asl.json"))
    assert len(paths) == len(ENVS) * len(PIPELINES)
    url = "https://sqs.eu-central-1.amazonaws.com/123456789012/strata-dev-onprem-tasks"
    placeholder = f"$${{{ONPREM_QUEUE_VARIABLE}}}"  # an HCL string holding ${...} literally
    checks = ", ".join(
        f'"{p.relative_to(ASL).as_posix()}" = '
        f'jsondecode(templatefile("{p.as_posix()}", {{ {ONPREM_QUEUE_VARIABLE} = "{url}" }})) == '
        f'jsondecode(replace(file("{p.as_posix()}"), "{placeholder}", "{url}"))'
        for p in paths
    )
    result = subprocess.run(
        ["terraform", "console"],
        input=f"jsonencode({{ {checks} }})\n",
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rendered_as_is = json.loads(json.loads(result.stdout.strip()))
    assert rendered_as_is == {p.relative_to(ASL).as_posix(): True for p in paths}
    for env in ENVS:
        text = (ASL / env / "weather_sales.asl.json").read_text()
        rendered = json.loads(text.replace(f"${{{ONPREM_QUEUE_VARIABLE}}}", url))
        assert rendered["States"]["upload"]["Parameters"]["QueueUrl"] == url


# -- IAM ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("folder", module_folders(), ids=_id)
def test_policies_grant_no_wildcard_action(folder: Path) -> None:
    for path in tf_files(folder):
        for statement in statements(parse(path)):
            if statement.get("effect", "Allow") != "Allow":
                continue
            actions = statement["actions"]
            assert isinstance(actions, list), f"{path}: actions must be a literal list"
            for action in actions:
                assert re.fullmatch(r"[a-z0-9-]+:[A-Za-z]+", action), f"{path}: {action!r}"
            resources = statement.get("resources", [])
            if isinstance(resources, list) and "*" in resources:
                assert set(actions) <= UNSCOPED_ACTIONS, f"{path}: {actions} on '*'"


def test_policies_come_from_policy_documents() -> None:
    """Inline policies are aws_iam_policy_document JSON, so the check above sees them all."""
    for folder in module_folders():
        for key, body in labelled(folder, "resource").items():
            if "policy" in body and key.split(".")[0] in (
                "aws_iam_role_policy",
                "aws_iam_user_policy",
                "aws_s3_bucket_policy",
                "aws_ecr_repository_policy",
            ):
                assert body["policy"].startswith("${data.aws_iam_policy_document."), key
            if "assume_role_policy" in body:
                assert body["assume_role_policy"].startswith("${data.aws_iam_policy_document.")
    text = "\n".join(p.read_text() for p in tf_files())
    assert "arn:aws:iam::aws:policy" not in text, "no AWS managed policies"
    assert "aws_iam_access_key" not in text, "access keys stay out of the state"


def _document(name: str) -> dict[str, Any]:
    return labelled(MODULES / "iam", "data")[f"aws_iam_policy_document.{name}"]


def _actions(document: dict[str, Any]) -> set[str]:
    return {action for statement in statements(document) for action in statement["actions"]}


def test_iam_principals() -> None:
    resources = labelled(MODULES / "iam", "resource")
    for role in ("glue", "lambda", "states", "scheduler"):
        assert f"aws_iam_role.{role}" in resources
    assert "aws_iam_user.worker" in resources
    assert _actions(_document("scheduler")) == {"states:StartExecution"}
    states = _actions(_document("states"))
    assert {"lambda:InvokeFunction", "glue:StartJobRun", "glue:GetJobRun"} <= states


def _statement(document: str, sid: str) -> dict[str, Any]:
    (found,) = [st for st in statements(_document(document)) if st.get("sid") == sid]
    return found


def test_worker_actions_are_exactly_what_its_two_processes_need() -> None:
    by_sid = {st["sid"]: set(st["actions"]) for st in statements(_document("worker"))}
    assert by_sid == {
        # strata worker weather_sales
        "ExportQueueReceive": {
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:ChangeMessageVisibility",
            "sqs:GetQueueAttributes",
            "sqs:GetQueueUrl",
        },
        "DeadLetterQueueLookup": {"sqs:GetQueueAttributes", "sqs:GetQueueUrl"},
        "GoldRead": {"s3:GetObject"},
        "WarehouseSecret": {"secretsmanager:GetSecretValue"},
        # strata tasks (the on_premises steps)
        "OnPremTasksReceive": {
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:ChangeMessageVisibility",
            "sqs:GetQueueAttributes",
        },
        "OnPremTasksAnswer": {
            "states:SendTaskSuccess",
            "states:SendTaskFailure",
            "states:SendTaskHeartbeat",
        },
        "RawUpload": {"s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"},
        "StateDatabase": {"s3:GetObject", "s3:PutObject"},
        "RunReports": {"s3:PutObject"},
        # both
        "LakeLocation": {"s3:GetBucketLocation"},
        "LakeList": {"s3:ListBucket"},
        "LakeKey": {"kms:Decrypt", "kms:GenerateDataKey"},
    }
    actions = _actions(_document("worker"))
    assert not any("*" in action for action in actions)
    assert not actions & {"s3:DeleteObject", "sqs:SendMessage", "states:StartExecution"}


def test_worker_scopes_each_permission() -> None:
    lake = "${var.lake_bucket_arn}"
    assert _statement("worker", "OnPremTasksReceive")["resources"] == [
        "${var.onprem_tasks_queue_arn}"
    ]
    assert _statement("worker", "ExportQueueReceive")["resources"] == ["${var.export_queue_arn}"]
    # Task tokens of the state machines that send on-premises tasks, nothing else.
    assert _statement("worker", "OnPremTasksAnswer")["resources"] == (
        "${local.onprem_state_machine_arns}"
    )
    iam_locals = local_values(MODULES / "iam")
    assert iam_locals["onprem_state_machine_arns"] == (
        "${[for pipeline in var.onprem_pipelines : "
        '"${local.arn_start}:states:${local.region}:${local.account}:stateMachine:'
        '${local.prefix}-${pipeline}"]}'
    )
    # S3: gold read-only; writes only under the upload prefixes, the state object, reports.
    assert _statement("worker", "GoldRead")["resources"] == (
        f'${{[for prefix in var.worker_gold_prefixes : "{lake}/${{prefix}}*"]}}'
    )
    assert _statement("worker", "RawUpload")["resources"] == (
        f'${{[for prefix in var.worker_upload_prefixes : "{lake}/${{prefix}}*"]}}'
    )
    assert _statement("worker", "StateDatabase")["resources"] == (
        f'${{[for key in local.state_objects : "{lake}/${{key}}"]}}'
    )
    assert _statement("worker", "RunReports")["resources"] == (
        f'${{[for pipeline in var.onprem_pipelines : "{lake}/_runs/${{pipeline}}/*"]}}'
    )
    writers = {
        st["sid"] for st in statements(_document("worker")) if "s3:PutObject" in st["actions"]
    }
    assert writers == {"RawUpload", "StateDatabase", "RunReports"}
    listing = _statement("worker", "LakeList")
    assert listing["resources"] == [lake]
    (condition,) = listing["condition"]
    assert (condition["test"], condition["variable"]) == ("StringLike", "s3:prefix")
    assert condition["values"] == "${local.worker_list_prefixes}"
    assert iam_locals["worker_list_prefixes"] == (
        "${concat([for prefix in concat(var.worker_gold_prefixes, var.worker_upload_prefixes) "
        ': "${prefix}*"], local.state_objects)}'
    )
    declared = variables(MODULES / "iam")
    assert declared["worker_gold_prefixes"]["default"] == ["gold/weather_sales/"]
    assert "default" not in declared["onprem_pipelines"], "the environments say which"


def test_worker_upload_prefixes_cover_what_the_upload_writes(tmp_path: Path) -> None:
    """The keys weather_sales' upload writes (pipeline._targets) fall under the prefixes the
    worker may write and list, and nothing else of raw/ does."""
    from strata.pipelines.weather_sales import pipeline as weather_sales

    prefixes = variables(MODULES / "iam")["worker_upload_prefixes"]["default"]
    assert prefixes == [f"{weather_sales.SALES_PREFIX}/", f"{weather_sales.MASTER_PREFIX}/"]
    for name in (*weather_sales.MASTER_FILES, "sales_transaction_data_20240131.csv", "x.csv"):
        (tmp_path / name).write_text("a\n")
    keys = list(weather_sales._targets(tmp_path).values())
    assert len(keys) == len(weather_sales.MASTER_FILES) + 1
    assert "raw/sales/date_key=2024-01-31/sales_data_20240131.csv" in keys
    for key in keys:
        assert any(key.startswith(prefix) for prefix in prefixes), key
        assert not key.startswith(("gold/", "_strata/")), key


def test_step_runners_reach_the_state_objects() -> None:
    """state_in_lake: every principal that runs steps may read and write its pipelines' state
    databases (_strata/state/<pipeline>.db), the worker user exactly those of its pipelines."""
    from strata.runner.lake_state import state_object

    objects = local_values(MODULES / "iam")["state_objects"]
    assert "_strata/state/${pipeline}.db" in objects
    assert state_object("${pipeline}") == "_strata/state/${pipeline}.db"
    shared = _statement("lake_read_write", "LakeObjects")
    assert shared["resources"] == ["${var.lake_bucket_arn}/*"]
    assert {"s3:GetObject", "s3:PutObject"} <= set(shared["actions"])
    for name in ("glue", "lambda"):
        document = _document(name)
        assert document["source_policy_documents"] == [
            "${data.aws_iam_policy_document.lake_read_write.json}"
        ], name
    state = _statement("worker", "StateDatabase")
    assert {"s3:GetObject", "s3:PutObject"} <= set(state["actions"])
    assert "local.state_objects" in str(state["resources"])
    # ListBucket makes a missing state object a 404 (first run), not a 403.
    assert "local.state_objects" in local_values(MODULES / "iam")["worker_list_prefixes"]


def test_state_machines_may_send_onprem_tasks() -> None:
    send = _statement("states", "SendOnPremTasks")
    assert send["actions"] == ["sqs:SendMessage"]
    assert send["resources"] == ["${var.onprem_tasks_queue_arn}"]
    assert "sqs:SendMessage" not in _actions(_document("worker"))


def test_secret_readers() -> None:
    secrets = local_values(STACK)["secrets"]
    readers = {key: set(s["readers"]) for key, s in secrets.items()}
    assert readers["weather_sales/warehouse_url"] == {"worker"}
    assert all(r <= {"ingest", "process", "load", "notify", "worker"} for r in readers.values())
    assert all(key.endswith("warehouse_url") for key, r in readers.items() if "load" in r)


def test_secret_values_stay_out_of_terraform() -> None:
    for folder in all_folders():
        for key, body in labelled(folder, "resource").items():
            assert not key.startswith("aws_secretsmanager_secret_version."), key
            assert "secret_string" not in body, key
    secret = labelled(MODULES / "secretsmanager", "resource")["aws_secretsmanager_secret.this"]
    assert secret["name"] == "strata/${var.env}/${each.key}"


def test_export_queue() -> None:
    resources = labelled(MODULES / "sqs", "resource")
    queue, dlq = resources["aws_sqs_queue.export"], resources["aws_sqs_queue.dlq"]
    for q in (queue, dlq):
        assert q["fifo_queue"] is True and q["content_based_deduplication"] is False
    assert queue["name"] == "${local.name}.fifo"
    declared = variables(MODULES / "sqs")
    assert declared["name"]["default"] == "weather-sales-export"
    assert declared["max_receive_count"]["default"] == 5
    assert declared["visibility_timeout_seconds"]["default"] == 60
    assert "var.max_receive_count" in queue["redrive_policy"]


def test_onprem_tasks_queue() -> None:
    from strata.aws.asl import CALLBACK_TIMEOUT
    from strata.aws.tasks import TaskWorker

    resources = labelled(MODULES / "sqs", "resource")
    queue, dlq = (
        resources["aws_sqs_queue.onprem_tasks"],
        resources["aws_sqs_queue.onprem_tasks_dlq"],
    )
    assert local_values(MODULES / "sqs")["tasks_name"] == "strata-${var.env}-onprem-tasks"
    assert queue["name"] == "${local.tasks_name}"
    assert dlq["name"] == "${local.tasks_name}-dlq"
    for q in (queue, dlq):  # standard queues: no FIFO flag, no .fifo suffix
        assert not q.get("fifo_queue") and not q["name"].endswith(".fifo")
        assert q["sqs_managed_sse_enabled"] is True
    redrive = queue["redrive_policy"]
    assert "deadLetterTargetArn = aws_sqs_queue.onprem_tasks_dlq.arn" in redrive
    assert "maxReceiveCount = var.tasks_max_receive_count" in redrive
    allow = resources["aws_sqs_queue_redrive_allow_policy.onprem_tasks_dlq"]
    assert allow["queue_url"] == "${aws_sqs_queue.onprem_tasks_dlq.id}"
    assert "[aws_sqs_queue.onprem_tasks.arn]" in allow["redrive_allow_policy"]
    declared = variables(MODULES / "sqs")
    assert declared["tasks_max_receive_count"]["default"] == 3
    assert queue["visibility_timeout_seconds"] == "${var.tasks_visibility_timeout_seconds}"
    visibility = declared["tasks_visibility_timeout_seconds"]["default"]
    assert visibility == 900
    worker_default = TaskWorker.__dataclass_fields__["visibility_timeout"].default
    assert visibility == worker_default
    # A message must outlive the task's timeout (Step Functions waits that long), and no
    # more than SQS allows.
    assert queue["message_retention_seconds"] == "${var.tasks_message_retention_seconds}"
    retention = declared["tasks_message_retention_seconds"]["default"]
    assert CALLBACK_TIMEOUT < retention <= 14 * 24 * 3600
    outs = outputs(MODULES / "sqs")
    assert {"onprem_tasks_queue_url", "onprem_tasks_queue_arn"} <= outs
    for env in ENVS:
        assert "onprem_tasks_queue_url" in outputs(ENVIRONMENTS / env)
    assert "onprem_tasks_queue_url" in outputs(STACK)


# -- formatting and the Lambda image ------------------------------------------------------


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")
def test_terraform_fmt() -> None:
    result = subprocess.run(
        ["terraform", "fmt", "-check", "-recursive", str(TERRAFORM)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"terraform fmt would change: {result.stdout}"


def test_lambda_dockerfile() -> None:
    text = (ROOT / "deploy" / "lambda" / "Dockerfile").read_text()
    assert re.search(r"^FROM public\.ecr\.aws/lambda/python:3\.11$", text, re.M)
    assert "[aws]" in text
    assert re.search(r'^CMD \["strata\.aws\.lambdas\.ingest"\]$', text, re.M)


def test_docs_name_existing_outputs_and_variables() -> None:
    text = (ROOT / "docs" / "deploy-aws.md").read_text()
    named = set(re.findall(r"terraform output (?:-raw |-json )?(\w+)", text))
    assert {"lake_uri", "artifacts_bucket", "lambda_repository_url"} <= named
    for env in ENVS:
        assert named <= outputs(ENVIRONMENTS / env), named - outputs(ENVIRONMENTS / env)
    assert "-target=module.strata.module.lambda.aws_ecr_repository.images" in text
    assert "-target=module.s3 " not in text, "module addresses are under module.strata"
    assert "aws_ecr_repository.images" in labelled(MODULES / "lambda", "resource")
    for variable in re.findall(r"-var (\w+)=", text):
        assert variable in variables(ENVIRONMENTS / "prod"), variable
