#!/usr/bin/env bash
# ansible-test bootstraps pip in its sanity venvs with a get-pip script from a
# host these machines cannot reach. Place a stand-in where ansible-test caches
# that script: it installs pip with ensurepip, then the packages it was given.
set -euo pipefail
venv_python=${VENV_PYTHON:-.venv/bin/python}
version=$("$venv_python" - <<'PY'
import inspect, re
from ansible_test._internal import python_requirements as pr
print(re.search(r"pip='([0-9.]+)'", inspect.getsource(pr.get_venv_packages)).group(1))
PY
)
cache=~/.ansible/test/cache/get_pip_${version//./_}.py
mkdir -p "$(dirname "$cache")"
cat > "$cache" <<'PY'
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)
PY
echo "get-pip stand-in for pip $version at $cache"
