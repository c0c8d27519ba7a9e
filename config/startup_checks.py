"""Checks the server entry points (config.asgi, config.wsgi) run before serving anything, so a
deployment mistake stops the start with a clear message instead of answering every page with a 500."""

from django.conf import settings
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import ManifestFilesMixin, staticfiles_storage
from django.core.exceptions import ImproperlyConfigured

COLLECTSTATIC = "python manage.py collectstatic --noinput"
# What collectstatic skips by default, so the comparison below matches what it collects.
IGNORED = ["CVS", ".*", "*~"]


def require_collected_static_files():
    """With DEBUG off, pages link static files by the hashed names in collectstatic's manifest; a
    file missing from it makes every page that links it a 500 (whitenoise's manifest is strict).
    Refuse to start instead when the manifest is missing or lacks a file the apps ship."""
    if settings.DEBUG or not isinstance(staticfiles_storage, ManifestFilesMixin):
        return
    manifest, _ = staticfiles_storage.load_manifest()  # paths {} when the file is missing
    where = f"{settings.STATIC_ROOT}/{staticfiles_storage.manifest_name}"
    if not manifest:
        raise ImproperlyConfigured(
            f"Static files are not collected (no manifest at {where}), so every page would fail. "
            f"Run `{COLLECTSTATIC}` before starting the server (the Dockerfile does it when building the image)."
        )
    missing = sorted(set(_shipped_static_files()) - set(manifest))
    if missing:
        raise ImproperlyConfigured(
            f"Collected static files are out of date: {len(missing)} file(s) are missing from {where}, "
            f"e.g. {missing[0]}. Run `{COLLECTSTATIC}` again after every upgrade."
        )


def _shipped_static_files():
    """The paths collectstatic would collect, as the manifest names them."""
    for finder in finders.get_finders():
        for path, storage in finder.list(IGNORED):
            prefix = getattr(storage, "prefix", None)
            yield f"{prefix}/{path}".replace("\\", "/") if prefix else path.replace("\\", "/")
