"""What a string must be to be stored as text: no NUL (PostgreSQL refuses it), no lone surrogate (no UTF-8)."""


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored, or None."""
    if "\x00" in text:
        return "must not contain NUL characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "must not contain a lone surrogate (\\ud800-\\udfff): it is no character"
    return None
