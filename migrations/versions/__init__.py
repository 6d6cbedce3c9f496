"""One file a revision; ``benefits db upgrade`` applies them in order."""
