"""`manage.py reencrypt_secrets`: encrypt every stored integration secret again with the first key
of FLOWTOWER_ENCRYPTION_KEYS, the step between adding a new key (first) and dropping the old one."""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from monitoring import crypto


class Command(BaseCommand):
    help = "Re-encrypt stored secrets (alert channels) with the first key in FLOWTOWER_ENCRYPTION_KEYS."

    def handle(self, *args, **options):
        crypto.fernet()  # no key: stop with the message naming the setting
        total = 0
        for model, field_name in crypto.encrypted_columns():
            total += self._reencrypt(model, field_name)
        self.stdout.write(f"Re-encrypted {total} secret(s) with the first key of {crypto.SETTING}.")

    def _reencrypt(self, model, field_name):
        """All rows of one model in one transaction: either every secret moves to the new key or none."""
        count = 0
        with transaction.atomic():
            rows = model._default_manager.select_for_update().exclude(**{field_name: ""}).only("pk", field_name)
            for row in rows.iterator(chunk_size=500):
                try:
                    value = crypto.reencrypt(getattr(row, field_name))
                except crypto.DecryptionError:
                    raise CommandError(f"{model._meta.label} {row.pk}: its secret cannot be decrypted with any key in "
                                       f"{crypto.SETTING}; nothing was changed.") from None
                model._default_manager.filter(pk=row.pk).update(**{field_name: value})
                count += 1
        return count
