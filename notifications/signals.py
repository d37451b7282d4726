"""What the domain tells whoever listens (the engine subscribes in recovery/apps.py)."""

from django.dispatch import Signal

# A notification is stored, or made due again, and committed: it wants a worker.
# Sent with `notification_id`.
notification_ready = Signal()
