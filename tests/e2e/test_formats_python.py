"""Formats end to end: the JSON Schemas agree with the C++ readers and writer,
and our locks interoperate with the real Python `kernels` (both directions).

Runs the built `kernel-lock lock-fmt` / `requirements-fmt` (hidden maintenance
commands) from $KERNEL_LOCK_BUILD_DIR.
"""

import json
import os
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

SOURCE = Path(os.environ.get("KERNEL_LOCK_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BUILD = Path(os.environ.get("KERNEL_LOCK_BUILD_DIR", SOURCE / "build"))
SHARED = SOURCE / "fixtures"  # holds python-kernels/: files written by Python `kernels`
FIXTURES = SOURCE / "fixtures"
CLI = BUILD / "cli" / "kernel-lock"

PYTHON_LOCKS = sorted((SHARED / "python-kernels").glob("*/kernels.lock"))
GOOD_LOCKS = PYTHON_LOCKS + sorted((FIXTURES / "requirements").glob("*/kernel*.lock"))
GOOD_YAML = sorted((FIXTURES / "requirements").glob("*/kernels.yaml"))
GOOD_TOML = sorted((FIXTURES / "requirements").glob("*/pyproject.toml")) + sorted(
    (SHARED / "python-kernels").glob("*/pyproject.toml")
)


def schema(name):
    validator_cls = jsonschema.Draft202012Validator
    document = json.loads((SOURCE / "core" / "schema" / name).read_text())
    validator_cls.check_schema(document)
    return validator_cls(document)


LOCK_SCHEMA = schema("lockfile.schema.json")
REQ_SCHEMA = schema("requirements.schema.json")


def run(*args):
    if not CLI.exists():
        pytest.fail(f"{CLI} is not built; build the kernel-lock target first")
    return subprocess.run([str(CLI), *map(str, args)], capture_output=True)


def lock_fmt(path, *flags):
    result = run("lock-fmt", path, *flags)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


def manifest(name):
    return sorted(json.loads((FIXTURES / "bad" / name).read_text()).items())


def schema_rejects_json(validator, raw):
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return True
    return not validator.is_valid(document)


def schema_rejects_yaml(raw):
    try:
        document = yaml.safe_load(raw)
    except yaml.YAMLError:
        return True
    return not REQ_SCHEMA.is_valid(document)


# ---- schema <-> code ---------------------------------------------------------


@pytest.mark.parametrize("path", GOOD_LOCKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_good_locks_and_our_output_match_the_schema(path):
    LOCK_SCHEMA.validate(json.loads(path.read_text()))
    LOCK_SCHEMA.validate(json.loads(lock_fmt(path)))
    LOCK_SCHEMA.validate(json.loads(lock_fmt(path, "--python")))


@pytest.mark.parametrize("path", GOOD_YAML, ids=lambda p: p.parent.name)
def test_good_kernels_yaml_match_the_schema_and_parse(path):
    REQ_SCHEMA.validate(yaml.safe_load(path.read_text()))
    result = run("requirements-fmt", path)
    assert result.returncode == 0, result.stderr.decode()
    parsed = json.loads(result.stdout)
    listed = yaml.safe_load(path.read_text())["kernels"]
    ids = list(listed) if isinstance(listed, dict) else [k["repo-id"] for k in listed]
    assert [k["repo-id"] for k in parsed["kernels"]] == ids


@pytest.mark.parametrize("path", GOOD_TOML, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_good_pyproject_parse_like_python(path):
    import tomllib

    result = run("requirements-fmt", path)
    assert result.returncode == 0, result.stderr.decode()
    parsed = json.loads(result.stdout)
    deps = tomllib.loads(path.read_text())["tool"]["kernels"]["dependencies"]
    assert [k["repo-id"] for k in parsed["kernels"]] == list(deps)  # file order, as Python reads it
    for entry in parsed["kernels"]:
        value = deps[entry["repo-id"]]
        if isinstance(value, int):
            assert entry["version"] == value
        elif isinstance(value, str):
            assert entry["tags"] == value


@pytest.mark.parametrize("name,expected", manifest("lock.expected.json"), ids=lambda x: x if isinstance(x, str) else "")
def test_bad_locks_are_rejected_by_reader_and_schema(name, expected):
    path = FIXTURES / "bad" / name
    result = run("lock-fmt", path)
    assert result.returncode == 3, (result.returncode, result.stderr.decode())
    assert expected["error"] in result.stderr.decode(errors="replace")
    # "schema": false marks checks JSON Schema cannot express; keep the flag honest.
    assert schema_rejects_json(LOCK_SCHEMA, path.read_bytes()) == expected["schema"]


@pytest.mark.parametrize("name,expected", manifest("yaml.expected.json"), ids=lambda x: x if isinstance(x, str) else "")
def test_bad_kernels_yaml_are_rejected_by_reader_and_schema(name, expected):
    path = FIXTURES / "bad" / name
    result = run("requirements-fmt", path)
    assert result.returncode == 3, (result.returncode, result.stderr.decode())
    assert expected["error"] in result.stderr.decode(errors="replace")
    assert schema_rejects_yaml(path.read_bytes()) == expected["schema"]


@pytest.mark.parametrize("name,expected", manifest("toml.expected.json"), ids=lambda x: x if isinstance(x, str) else "")
def test_bad_pyproject_are_rejected(name, expected):
    result = run("requirements-fmt", FIXTURES / "bad" / name)
    assert result.returncode == 3, (result.returncode, result.stderr.decode())
    assert expected["error"] in result.stderr.decode(errors="replace")


# ---- interop with the Python writers and readers ------------------------------


@pytest.mark.parametrize("path", PYTHON_LOCKS, ids=lambda p: p.parent.name)
def test_python_written_variants_locks_round_trip(path):
    original = path.read_bytes()
    assert lock_fmt(path) == original + b"\n"
    assert run("lock-fmt", path, "--check").returncode == 7  # only the trailing newline differs


def test_our_writer_matches_python_json_dumps():
    # The Python `kernels lock` of the variants shape wrote json.dump(locks, indent=2):
    # our bytes (extra keys, non-ASCII included) must equal Python's plus a newline.
    path = FIXTURES / "requirements" / "locked" / "kernel.lock"
    ours = lock_fmt(path).decode("ascii")
    assert ours == json.dumps(json.loads(ours), indent=2) + "\n"
    assert "\\u00e9" in ours
    assert run("lock-fmt", path, "--check").returncode == 0


LEGACY_READER = """
import json, sys
from kernels.lockfile import KernelLock  # Python kernels <= 0.16: the variants shape
out = []
for kernel in json.load(open(sys.argv[1])):
    lock = KernelLock.from_json(kernel)
    out.append({"repo_id": lock.repo_id, "sha": lock.sha,
                "variants": {name: [v.hash, v.hash_type] for name, v in lock.variants.items()}})
print(json.dumps(out))
"""


def legacy_python_read(path):
    """Reads a lock with the variants-shape reader of an older Python kernels.

    KERNEL_LOCK_LEGACY_KERNELS_PATH names a directory holding that package (e.g.
    `pip install --no-deps --target DIR kernels==0.16.2 kernels-data`); it runs
    with the reference interpreter, whose huggingface_hub it shares.
    """
    legacy = os.environ.get("KERNEL_LOCK_LEGACY_KERNELS_PATH")
    if not legacy:
        pytest.skip("set KERNEL_LOCK_LEGACY_KERNELS_PATH to a kernels<=0.16 install to run the variants-shape reader")
    import sys

    env = dict(os.environ, PYTHONPATH=legacy)
    return subprocess.run([sys.executable, "-c", LEGACY_READER, str(path)], capture_output=True, env=env, text=True)


def test_variant_objects_are_valid_python_kwargs():
    # Python reads a variant as VariantLock(**obj) with fields hash and hash_type,
    # and ignores extra kernel keys: check our full lock honours that.
    lock = json.loads(lock_fmt(FIXTURES / "requirements" / "locked" / "kernel.lock"))
    for kernel in lock:
        for name, variant in kernel["variants"].items():
            assert set(variant) == {"hash", "hash_type"}, name


def test_legacy_python_reads_our_lock(tmp_path):
    path = tmp_path / "kernel.lock"
    path.write_bytes(lock_fmt(FIXTURES / "requirements" / "locked" / "kernel.lock"))
    result = legacy_python_read(path)
    assert result.returncode == 0, result.stderr
    ours = json.loads(path.read_text())
    seen = json.loads(result.stdout)
    assert [k["repo_id"] for k in seen] == [k["repo_id"] for k in ours]
    for theirs, kernel in zip(seen, ours):
        assert theirs["sha"] == kernel["sha"]
        assert theirs["variants"] == {n: [v["hash"], v["hash_type"]] for n, v in kernel["variants"].items()}


def test_legacy_python_rejects_what_we_reject():
    result = legacy_python_read(FIXTURES / "bad" / "lock" / "variant-extra-key.lock")
    assert result.returncode != 0 and "unexpected keyword argument 'files'" in result.stderr


def test_python_0172_reads_our_python_shape_lock():
    from kernels._rust import KernelLocks, KernelVersion

    source = FIXTURES / "requirements" / "locked" / "kernel.lock"
    ours = json.loads(source.read_text())
    locks = KernelLocks.from_json(lock_fmt(source, "--python").decode())
    seen = {dep.repo_id: (dep, lock) for dep, lock in locks.items()}
    assert sorted(seen) == sorted(k["repo_id"] for k in ours)
    for kernel in ours:
        dep, lock = seen[kernel["repo_id"]]
        assert lock.commit == kernel["sha"]
        if "version" in kernel["requirement"]:
            assert dep.version == KernelVersion.Version(kernel["requirement"]["version"])
        else:  # a tag range has no Python spelling: pinned to the commit
            assert dep.version == KernelVersion.Revision(kernel["sha"])


def test_python_0172_written_lock_reads_and_writes_back_byte_for_byte(tmp_path):
    from kernels._rust import KernelDependency, KernelLock, KernelLocks, KernelVersion

    locks = KernelLocks(
        {
            KernelDependency("kernels-test/versions", KernelVersion.Version(2)): KernelLock("f" * 40),
            KernelDependency("kernels-community/relu", KernelVersion.Version(1)): KernelLock("0123456789" * 4),
            KernelDependency("kernels-community/activation", KernelVersion.Revision("v0.1.0")): KernelLock(
                "ABCDEF0123" * 4
            ),
        }
    )
    path = tmp_path / "kernels.lock"
    path.write_text(locks.to_json())
    assert lock_fmt(path, "--python") == path.read_bytes()
    ours = json.loads(lock_fmt(path))
    assert [k["repo_id"] for k in ours] == sorted(d.repo_id for d in locks.keys())
    by_id = {k["repo_id"]: k for k in ours}
    for dep, lock in locks.items():
        assert by_id[dep.repo_id]["sha"] == lock.commit
        assert by_id[dep.repo_id]["variants"] == {}
    assert by_id["kernels-community/activation"]["requirement"] == {"revision": "v0.1.0"}
    assert by_id["kernels-test/versions"]["requirement"] == {"version": 2}


def test_python_0172_cannot_read_the_variants_shape():
    # Documented in docs/formats.md: kernels 0.17.2 rejects every unknown key, so it
    # reads only `lock-fmt --python` output, not kernel.lock itself.
    from kernels._rust import KernelLocks

    with pytest.raises(ValueError, match="unknown field `repo_id`"):
        KernelLocks.from_json(PYTHON_LOCKS[0].read_text())
