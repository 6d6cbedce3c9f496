"""Rule documents: ``default.yaml`` is the bank's programme. Shipped inside the wheel as ``benefits.programmes``."""
