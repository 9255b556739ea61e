from django.core.management.base import BaseCommand, CommandError

from tracker.key_rotation import secrets_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret with the newest key of FIELD_ENCRYPTION_KEYS (run after putting a new "
        "key first; then the older keys can be removed). Safe to run again: current secrets are left alone."
    )

    def handle(self, *args, **options):
        results = secrets_rotate()
        for result in results:
            self.stdout.write(
                f"{result.label}: {result.rotated} re-encrypted, {result.current} already current, "
                f"{len(result.unreadable)} unreadable"
            )
            if result.unreadable:
                self.stderr.write(f"{result.label}: no configured key decrypts the rows {', '.join(result.unreadable)}")
        rotated, current = sum(r.rotated for r in results), sum(r.current for r in results)
        unreadable = sum(len(r.unreadable) for r in results)
        self.stdout.write(f"total: {rotated} re-encrypted, {current} already current, {unreadable} unreadable")
        if unreadable:
            raise CommandError(
                f"{unreadable} stored secret(s) cannot be decrypted with FIELD_ENCRYPTION_KEYS: restore the key "
                "they were stored with, or enter those secrets again; do not drop any key until this reports 0"
            )
