"""Peak and ring search on detector images (no Qt)."""
