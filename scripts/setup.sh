#!/usr/bin/env bash
# Set up this machine for kgx: a virtualenv in .venv with kgx installed in editable mode.
#
#   scripts/setup.sh          everything: every extra of pyproject.toml except vllm (it needs a
#                             GPU): spaCy, the local models, llama.cpp and its server, torch, TRL,
#                             Neo4j, Ray (`kgx extract --engine ray`), file formats, serve and
#                             the dev tools. CI and the tests (scripts/test.sh) use this.
#   scripts/setup.sh EXTRAS   kgx with just those extras, e.g. `spacy` (what the quickstart needs)
#                             or `local,formats,neo4j,serve` (the Dockerfile; also $KGX_EXTRAS).
#
# torch comes from ../shared/wheels (the CPU build; $KGX_WHEELS to point elsewhere) when that
# folder exists, never from the multi-GB CUDA build on PyPI. llama-cpp-python publishes no wheel
# on PyPI, so pip builds it from source (about 6 minutes on 2 cores); the wheel is kept in a
# wheelhouse ($KGX_WHEELHOUSE, default ~/.cache/kgx/wheels) that later setups on this machine
# reuse, even in a fresh clone and with pip's cache off.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip)
# setuptools prints an information box on every editable install of a package whose folders are
# mapped (kgx.extractors lives in extractors/): nothing is wrong, so it is not shown.
export PYTHONWARNINGS="ignore:Editable installation"

ALL=$(.venv/bin/python - <<'PY'
import tomllib
with open("pyproject.toml", "rb") as f:
    extras = tomllib.load(f)["project"]["optional-dependencies"]
print(",".join(name for name in extras if name != "vllm"))
PY
)
EXTRAS=${1:-${KGX_EXTRAS:-$ALL}}

if [ "$EXTRAS" = spacy ]; then  # the quickstart: nothing to build, no torch
  "${PIP[@]}" install --quiet -e ".[spacy]"
  echo "kgx[spacy] is installed in .venv" >&2
  exit 0
fi

# llama.cpp built for this CPU (-march=native) also compiles its AMX kernels where the CPU has
# AMX, and those segfault at the first decode on some such machines (ggml-org/llama.cpp#20824;
# seen here with the bundled SmolLM2 on a Sapphire Rapids VM). There the build names the CPU's
# other instruction sets itself and leaves AMX out; its wheel goes to a wheelhouse of its own,
# so a native wheel built before is not taken. $CMAKE_ARGS, if set, wins.
llama_cmake_args() {
  local flags
  flags=$(grep -m 1 '^flags' /proc/cpuinfo 2>/dev/null || true)
  [[ $(uname -m) = x86_64 && " $flags " = *" amx_int8 "* ]] || return 0
  local args=(-DGGML_NATIVE=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF)
  local pair
  for pair in sse4_2:SSE42 avx:AVX avx2:AVX2 fma:FMA f16c:F16C bmi2:BMI2 avx_vnni:AVX_VNNI \
              avx512f:AVX512 avx512vbmi:AVX512_VBMI avx512_vnni:AVX512_VNNI \
              avx512_bf16:AVX512_BF16; do
    if [[ " $flags " = *" ${pair%%:*} "* ]]; then
      args+=("-DGGML_${pair#*:}=ON")
    else
      args+=("-DGGML_${pair#*:}=OFF")
    fi
  done
  echo "${args[*]}"
}

WHEELHOUSE=${KGX_WHEELHOUSE:-${XDG_CACHE_HOME:-$HOME/.cache}/kgx/wheels}
if [ -z "${CMAKE_ARGS:-}" ] && LLAMA_ARGS=$(llama_cmake_args) && [ -n "$LLAMA_ARGS" ]; then
  export CMAKE_ARGS=$LLAMA_ARGS
  WHEELHOUSE=$WHEELHOUSE/no-amx
fi
WHEELS=${KGX_WHEELS:-../shared/wheels}
mkdir -p "$WHEELHOUSE"
LINKS=(--find-links "$WHEELHOUSE")
if [ -d "$WHEELS" ]; then
  LINKS+=(--find-links "$WHEELS")
fi
"${PIP[@]}" install --quiet --upgrade pip

if [[ ",$EXTRAS," =~ ,(local|dev), ]]; then
  # Built once per machine: a wheel already in the wheelhouse is taken as it is, and installed
  # over whatever build the virtualenv had.
  LLAMA=$(grep -o '"llama-cpp-python[^"]*"' pyproject.toml | head -n 1 | tr -d '"')
  # (pip's own wheel cache is off: it would hand back a build made with other CMAKE_ARGS)
  "${PIP[@]}" wheel --quiet --no-cache-dir --no-deps --prefer-binary "${LINKS[@]}" \
    -w "$WHEELHOUSE" "${LLAMA/\[server\]/}"
  "${PIP[@]}" install --quiet --no-deps --force-reinstall \
    "$(ls -t "$WHEELHOUSE"/llama_cpp_python-*.whl | head -n 1)"
fi
"${PIP[@]}" install --quiet --prefer-binary "${LINKS[@]}" -e ".[$EXTRAS]"
if [ "$EXTRAS" = "$ALL" ]; then  # scripts/test.sh skips the setup while this stays true
  cat pyproject.toml scripts/setup.sh | sha256sum > .venv/kgx-full-setup
fi
echo "kgx[$EXTRAS] is installed in .venv ($(.venv/bin/kgx --help >/dev/null && echo ok))" >&2
