"""conftest.py's ALL_SKIPPED_EXIT: a pytest run in which every test skipped exits
77 (ctest's SKIP_RETURN_CODE for the e2e tests), one in which a test ran exits as
usual. Runs pytest on tiny modules next to a copy of this conftest."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

MODULES = {
    "all_skipped": "import pytest\ndef test_a():\n    pytest.skip('a')\ndef test_b():\n    pytest.skip('b')\n",
    "module_skipped": "import pytest\npytest.skip('no build', allow_module_level=True)\n",
    "one_passed": "import pytest\ndef test_a():\n    pass\ndef test_b():\n    pytest.skip('b')\n",
    "one_failed": "import pytest\ndef test_a():\n    assert False\ndef test_b():\n    pytest.skip('b')\n",
}


@pytest.mark.parametrize("module, want", [("all_skipped", 77), ("module_skipped", 77), ("one_passed", 0),
                                          ("one_failed", 1)])
def test_exit_status(tmp_path: Path, module: str, want: int):
    for helper in ("conftest.py", "processes.py"):  # conftest.py imports processes.py
        shutil.copy(Path(__file__).with_name(helper), tmp_path / helper)
    (tmp_path / f"test_{module}.py").write_text(MODULES[module])
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == want, proc.stdout + proc.stderr
