"""The README and docs a user's clone has: true, complete and self-contained."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
# The project's own code: every top-level package (not the virtualenv, node_modules or tests).
SOURCES = [
    path
    for package in ROOT.iterdir()
    if (package / "__init__.py").exists() and package.name != "tests"
    for path in package.rglob("*.py")
]


def test_the_readme_cites_nothing_outside_the_repository():
    assert "../" not in README
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README):
        if not target.startswith(("http://", "https://", "mailto:")):
            assert (ROOT / target).exists(), target


def test_the_architecture_page_describes_every_websocket_frame():
    page = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    consumer = (ROOT / "realtime" / "consumers.py").read_text()
    client_frames = set(re.findall(r'"(\w+)": self\._\w+,', consumer)) | {"auth"}
    server_frames = set(re.findall(r'"type": "(\w+)"', consumer))
    assert {"tool_execute", "execution_cancel", "execution_subscribe"} <= client_frames
    assert {"execution_result", "execution_progress", "error"} <= server_frames
    for frame in client_frames | server_frames:
        assert f"| `{frame}` |" in page, frame
    for code in ("4001", "1009", "4029"):
        assert code in page


def test_requirements_comments_name_only_files_that_exist():
    for name in ("requirements.txt", "requirements-dev.txt"):
        for line in (ROOT / name).read_text().splitlines():
            comment = line.partition("#")[2]
            for mentioned in re.findall(r"[\w.-]+\.(?:txt|toml|cfg|ini)\b", comment):
                assert (ROOT / mentioned).exists(), (name, mentioned)


def _environment_variables() -> set[str]:
    names: set[str] = set()
    for path in SOURCES:
        text = path.read_text()
        names |= set(re.findall(r'\benv\.\w+\(\s*"([A-Z][A-Z0-9_]+)"', text))
        names |= set(re.findall(r'os\.environ\.get\(\s*"([A-Z][A-Z0-9_]+)"', text))
        names |= set(re.findall(r'os\.environ\[\s*"([A-Z][A-Z0-9_]+)"\s*\]', text))
    names |= set(re.findall(r"^([A-Z][A-Z0-9_]+) \?=", (ROOT / "Makefile").read_text(), re.MULTILINE))
    names.discard("DJANGO_SETTINGS_MODULE")  # set by the project itself
    return names


def test_the_settings_tables_list_every_environment_variable():
    names = _environment_variables()
    assert {"DATABASE_URL", "REDIS_URL", "PORT", "HOST", "ADMIN_PASSWORD"} <= names
    missing = sorted(name for name in names if f"| `{name}` |" not in README)
    assert missing == []


def test_the_readme_tells_a_new_user_how_to_get_in():
    assert "make run PORT=" in README and "HOST=" in README
    assert "manage.py changepassword" in README
    assert "/api-auth/login/" in README
    assert "docker compose exec web python manage.py create_token" in README
    assert "ADMIN_PASSWORD" in README.split("## Docker", 1)[1]
