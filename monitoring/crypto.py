"""Encryption of the integration secrets Flowtower must use again (alert channels' webhook URLs,
keys and bot tokens; later n8n API keys): Fernet with keys from the environment
(settings.FLOWTOWER_ENCRYPTION_KEYS, comma-separated; the first encrypts, all decrypt), never from
the database, so a dump or backup alone reveals no secret. See docs/security.md.

Also here: the system check that stops `manage.py migrate` / `check --database default` when
stored secrets cannot be decrypted, and the re-encryption used after a key rotation."""

import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.apps import apps
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connections

SETTING = "FLOWTOWER_ENCRYPTION_KEYS"
GENERATE_KEY = 'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'

# Where encrypted secrets are stored: (app label, model, text field holding a Fernet token, or ""
# for none). Named, not imported, so monitoring/ stays independent of the apps that store them;
# the start-up check and `reencrypt_secrets` walk this list.
ENCRYPTED_FIELDS = [("alerts", "Channel", "secrets"), ("n8n_mirror", "N8nInstance", "secrets")]


class DecryptionError(ImproperlyConfigured):
    """A stored secret that no configured key decrypts (encrypted with a key no longer listed)."""


def _keys():
    return tuple(key.strip() for key in settings.FLOWTOWER_ENCRYPTION_KEYS if key.strip())


@lru_cache(maxsize=4)
def _fernet_for(keys):
    """One MultiFernet per key list (settings may change in tests); a malformed key is named by its
    position, never shown."""
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key))
        except (ValueError, TypeError):
            raise ImproperlyConfigured(
                f"{SETTING}: key {position} is not a Fernet key (32 url-safe base64-encoded bytes). "
                f"Generate one with: {GENERATE_KEY}"
            ) from None
    return MultiFernet(fernets)


def fernet():
    """The configured MultiFernet; ImproperlyConfigured naming the setting when there is no key."""
    keys = _keys()
    if not keys:
        raise ImproperlyConfigured(
            f"{SETTING} is not set, so Flowtower cannot encrypt or decrypt integration secrets "
            f"(channel webhook URLs, keys, tokens). Generate a key with: {GENERATE_KEY}"
        )
    return _fernet_for(keys)


def encrypt_json(data):
    """A dict as a Fernet token (text) under the first key; an empty dict as "" (nothing secret is
    stored, so no key is needed)."""
    if not data:
        return ""
    return fernet().encrypt(json.dumps(data, separators=(",", ":")).encode()).decode()


def decrypt_json(token):
    """The dict encrypted by encrypt_json, trying every configured key."""
    if not token:
        return {}
    try:
        return json.loads(fernet().decrypt(token.encode()))
    except InvalidToken:
        raise DecryptionError(
            f"A stored secret cannot be decrypted with any key in {SETTING}: it was encrypted with a "
            f"key that is no longer listed. Put that key back (after the new one), or enter the secret again."
        ) from None


def reencrypt(token):
    """The token encrypted again under the first key (after a rotation), "" staying ""."""
    if not token:
        return ""
    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError(f"A stored secret cannot be decrypted with any key in {SETTING}.") from None


def encrypted_columns(using="default"):
    """(model, field name) for each place in ENCRYPTED_FIELDS whose app is installed and whose table
    exists in the database (none before the first migration)."""
    tables = set(connections[using].introspection.table_names())
    for app_label, model_name, field_name in ENCRYPTED_FIELDS:
        try:
            model = apps.get_model(app_label, model_name)
        except LookupError:
            continue
        if model._meta.db_table in tables:
            yield model, field_name


@checks.register(checks.Tags.database)
def check_stored_secrets_decrypt(app_configs=None, databases=None, **kwargs):
    """Fail `migrate` and `check --database default` when secrets are stored but no configured key
    decrypts them, so a missing or wrong FLOWTOWER_ENCRYPTION_KEYS stops a deployment instead of
    failing at the first alert. Like Django's own database checks it runs only when asked for a
    database, and it queries nothing while the tables do not exist yet."""
    errors = []
    for using in databases or ():
        try:
            for model, field_name in list(encrypted_columns(using)):
                errors.extend(_undecryptable(model, field_name, using))
        except DatabaseError:
            continue  # an unreachable database is reported by whatever needs it
    return errors


def _undecryptable(model, field_name, using):
    stored = (model._default_manager.using(using).exclude(**{field_name: ""})
              .values_list("pk", field_name))
    failing = []
    for pk, token in stored.iterator():
        try:
            decrypt_json(token)
        except ImproperlyConfigured as error:
            if not _keys() or not isinstance(error, DecryptionError):
                return [_error(model, f"{SETTING} has no usable key. {error}")]
            failing.append(pk)
    if not failing:
        return []
    shown = ", ".join(str(pk) for pk in failing[:5]) + (" …" if len(failing) > 5 else "")
    return [_error(model, f"{len(failing)} stored secret(s) of {model._meta.label} (id {shown}) cannot be "
                          f"decrypted with any key in {SETTING}.")]


def _error(model, message):
    return checks.Error(
        message,
        hint=f"Set {SETTING} to the key(s) the secrets were encrypted with (comma-separated, newest first), "
             f"then run `manage.py reencrypt_secrets` before dropping an old key. See docs/security.md.",
        obj=model._meta.label,
        id="flowtower.E001",
    )
