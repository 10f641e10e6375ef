"""The Dockerfile and compose.yaml agree with the install script and the server's rules.

Docker does not run on the development machines or in CI, so these read the files: the image
must install with scripts/setup.sh, and the compose service must wait for a healthy Neo4j,
check its own health and require tokens (it binds 0.0.0.0 inside the container).
"""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_docker_image_installs_with_setup_script():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "RUN KGX_EXTRAS=local,formats,neo4j,serve scripts/setup.sh" in dockerfile
    assert "KGX_EXTRAS" in (ROOT / "scripts" / "setup.sh").read_text()
    assert 'CMD ["kgx", "serve", "--host", "0.0.0.0"' in dockerfile
    assert "HEALTHCHECK" in dockerfile and "/health" in dockerfile
    assert ".venv" in (ROOT / ".dockerignore").read_text().split()


def test_docker_compose_kgx_service_waits_for_neo4j_and_needs_tokens():
    services = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    kgx = services["kgx"]
    assert kgx["depends_on"]["neo4j"]["condition"] == "service_healthy"
    assert "healthcheck" in services["neo4j"]
    assert "/health" in " ".join(kgx["healthcheck"]["test"])
    assert kgx["command"][:2] == ["kgx", "serve"]
    assert kgx["environment"]["KGX_STORE"] == "bolt://neo4j:7687"
    assert kgx["environment"]["KGX_API_TOKENS"].startswith("${KGX_API_TOKENS:?")
    assert all(port.startswith("127.0.0.1:") for port in kgx["ports"])
